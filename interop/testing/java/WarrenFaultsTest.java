// The RabbitMQ Java client 5 meeting faults Warren injects, under the JUnit 5 extension,
// recovering the way the client documents: automatic connection recovery (on by default
// since 4.0) reconnects after a dropped socket or a connection.close the application did
// not ask for, and re-declares the topology, channels included; a channel the broker closes is not recovered and its ShutdownSignalException
// carries channel.close; waitForConfirms(timeout) throws TimeoutException; BlockedListener
// hears connection.blocked/unblocked.
import static org.junit.jupiter.api.Assertions.*;

import com.rabbitmq.client.*;
import java.io.IOException;
import java.util.concurrent.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(WarrenExtension.class)
class WarrenFaultsTest {
  static Connection connect(WarrenExtension.Warren warren, String name) throws Exception {
    ConnectionFactory f = new ConnectionFactory();
    f.setHost("127.0.0.1");
    f.setPort(warren.port);
    f.setNetworkRecoveryInterval(100);
    return f.newConnection(name);
  }

  static void roundtrip(Channel ch, String queue) throws Exception {
    ch.confirmSelect();
    ch.queueDeclare(queue, false, false, false, null);
    ch.queuePurge(queue);
    ch.basicPublish("", queue, null, "after".getBytes());
    assertTrue(ch.waitForConfirms(5000));
    GetResponse got = ch.basicGet(queue, true);
    assertEquals("after", new String(got.getBody()));
  }

  @Test
  void connectionDropIsRecoveredAutomatically(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "drop");
    Channel ch = conn.createChannel();
    ch.queueDeclare("java-drop", false, false, false, null);
    CountDownLatch recovered = new CountDownLatch(1);
    ((Recoverable) conn).addRecoveryListener(new RecoveryListener() {
      public void handleRecovery(Recoverable r) { recovered.countDown(); }
      public void handleRecoveryStarted(Recoverable r) {}
    });
    warren.injectFault("drop", "{\"action\": \"drop_connection\"}");
    assertTrue(recovered.await(5, TimeUnit.SECONDS), "no recovery within 5 s");
    roundtrip(ch, "java-drop"); // the same Channel object, recovered
    conn.close();
  }

  @Test
  void withheldConfirmTimesOutAndTheChannelCloseEndsTheWait(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "confirm");
    Channel ch = conn.createChannel();
    ch.confirmSelect();
    ch.queueDeclare("java-confirm", false, false, false, null);
    warren.injectFault("confirm", "{\"action\": \"withhold_confirms\", \"count\": 1}");
    ch.basicPublish("", "java-confirm", null, "m".getBytes());
    assertThrows(TimeoutException.class, () -> ch.waitForConfirms(500));
    warren.injectFault("confirm", "{\"action\": \"close_channel\", \"channel\": " + ch.getChannelNumber()
        + ", \"code\": 406, \"text\": \"confirm withheld\"}");
    ShutdownSignalException e = assertThrows(ShutdownSignalException.class, () -> ch.waitForConfirms(5000));
    assertEquals(406, ((AMQP.Channel.Close) e.getReason()).getReplyCode());
    roundtrip(conn.createChannel(), "java-confirm");
    conn.close();
  }

  @Test
  void nackedConfirmMakesWaitForConfirmsFalse(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "nack");
    Channel ch = conn.createChannel();
    ch.confirmSelect();
    ch.queueDeclare("java-nack", false, false, false, null);
    warren.injectFault("nack", "{\"action\": \"nack_confirms\", \"count\": 1}");
    ch.basicPublish("", "java-nack", null, "nacked".getBytes());
    assertFalse(ch.waitForConfirms(5000));
    ch.basicPublish("", "java-nack", null, "acked".getBytes());
    assertTrue(ch.waitForConfirms(5000));
    conn.close();
  }

  @Test
  void forcedChannelCloseReachesTheShutdownListener(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "chclose");
    Channel ch = conn.createChannel();
    CompletableFuture<ShutdownSignalException> closed = new CompletableFuture<>();
    ch.addShutdownListener(closed::complete);
    warren.injectFault("chclose", "{\"action\": \"close_channel\", \"channel\": " + ch.getChannelNumber()
        + ", \"code\": 406, \"text\": \"injected\"}");
    ShutdownSignalException e = closed.get(5, TimeUnit.SECONDS);
    assertFalse(e.isHardError());
    AMQP.Channel.Close close = (AMQP.Channel.Close) e.getReason();
    assertEquals(406, close.getReplyCode());
    assertEquals("PRECONDITION_FAILED - injected", close.getReplyText());
    assertTrue(conn.isOpen());
    roundtrip(conn.createChannel(), "java-chclose");
    conn.close();
  }

  @Test
  void connectionBlockedAndUnblockedReachTheBlockedListener(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "blocky");
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    conn.addBlockedListener(new BlockedListener() {
      public void handleBlocked(String reason) { events.add("blocked: " + reason); }
      public void handleUnblocked() { events.add("unblocked"); }
    });
    warren.injectFault("blocky", "{\"action\": \"block\", \"reason\": \"low on memory\"}");
    assertEquals("blocked: low on memory", events.poll(5, TimeUnit.SECONDS));
    warren.injectFault("blocky", "{\"action\": \"unblock\"}");
    assertEquals("unblocked", events.poll(5, TimeUnit.SECONDS));
    conn.close();
  }

  @Test
  void resetClosesConnectionsWhichRecoverAndForgetsQueues(WarrenExtension.Warren warren) throws Exception {
    Connection conn = connect(warren, "before-reset");
    CountDownLatch recovered = new CountDownLatch(1);
    ((Recoverable) conn).addRecoveryListener(new RecoveryListener() {
      public void handleRecovery(Recoverable r) { recovered.countDown(); }
      public void handleRecoveryStarted(Recoverable r) {}
    });
    CompletableFuture<ShutdownSignalException> closed = new CompletableFuture<>();
    conn.addShutdownListener(closed::complete);
    // A queue declared without recovery: automatic recovery would declare it again.
    ConnectionFactory plain = new ConnectionFactory();
    plain.setPort(warren.port);
    plain.setAutomaticRecoveryEnabled(false);
    Connection once = plain.newConnection("no-recovery");
    once.createChannel().queueDeclare("java-leftover", false, false, false, null);
    warren.reset();
    // 320 CONNECTION_FORCED, not initiated by the application: automatic recovery reconnects.
    assertEquals(320, ((AMQP.Connection.Close) closed.get(5, TimeUnit.SECONDS).getReason()).getReplyCode());
    assertTrue(recovered.await(5, TimeUnit.SECONDS), "no recovery within 5 s");
    IOException e = assertThrows(IOException.class,
        () -> conn.createChannel().queueDeclarePassive("java-leftover"));
    assertEquals(404, ((AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason()).getReplyCode());
    assertFalse(once.isOpen());
    conn.close();
  }
}
