mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::BasicProperties;
use lapin::options::*;
use lapin::types::FieldTable;

#[tokio::test]
async fn publish_and_consume_through_the_default_exchange() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.basic_publish(
        "",
        q.name().as_str(),
        BasicPublishOptions::default(),
        b"hi",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().as_str(),
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let d = within(consumer.next())
        .await
        .expect("a delivery")
        .expect("ok");
    assert_eq!(d.data, b"hi");
    d.ack(BasicAckOptions::default()).await.unwrap();
    conn.close(200, "bye").await.unwrap();
}
