//! Sender-selected distribution: the CC and BCC headers name more routing keys for the same
//! exchange; BCC is taken out of the message before any queue sees it, CC stays.

use crate::broker::dead_letter::string_array;
use crate::broker::message::MessageContent;
use crate::error::AmqpError;
use crate::protocol::wire::finish;
use crate::protocol::{BasicProperties, FieldTable, FieldValue};
use bytes::Bytes;

/// CC and BCC must be arrays (of long strings; other elements are ignored), or RabbitMQ
/// refuses the message.
fn check(headers: &FieldTable) -> Result<(), AmqpError> {
    for key in ["CC", "BCC"] {
        match headers.get(key) {
            None | Some(FieldValue::Array(_)) => {}
            Some(other) => {
                return Err(AmqpError::precondition_failed(format!(
                    "invalid message: {{unacceptable_type_in_header,\"{key}\",{}}}",
                    other.type_name()
                )));
            }
        }
    }
    Ok(())
}

/// The content to queue (without BCC) and the extra routing keys (CC, then BCC). Only
/// messages whose headers carry CC or BCC come here.
pub fn keys(content: MessageContent<'_>) -> Result<(MessageContent<'_>, Vec<String>), AmqpError> {
    let raw: &[u8] = match &content {
        MessageContent::Frames { raw_properties, .. } => raw_properties,
        MessageContent::Borrowed { raw_properties, .. } => raw_properties,
    };
    let Ok(mut props) = finish(BasicProperties::decode(raw)) else {
        return Ok((content, Vec::new()));
    };
    let Some(headers) = props.headers.as_mut() else {
        return Ok((content, Vec::new()));
    };
    check(headers)?;
    let mut keys = string_array(headers.get("CC"));
    let bcc_at = headers.0.iter().position(|(k, _)| k == "BCC");
    let Some(at) = bcc_at else {
        return Ok((content, keys));
    };
    let (_, bcc) = headers.0.remove(at);
    keys.extend(string_array(Some(&bcc)));
    let body = match content {
        MessageContent::Frames { body, .. } => body,
        MessageContent::Borrowed { body, .. } => Bytes::copy_from_slice(body),
    };
    let content = MessageContent::Frames {
        raw_properties: props.to_bytes(),
        body,
    };
    Ok((content, keys))
}
