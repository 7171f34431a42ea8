// The RabbitMQ Java client (com.rabbitmq:amqp-client 5, as packaged by Debian) against the broker
// whose URL is args[0]. Prints one line `SCENARIO <id> pass|fail|na [detail]` for every id of
// ../scenarios.txt (interop/README.md describes each scenario).

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import com.rabbitmq.client.SaslConfig;
import com.rabbitmq.client.SaslMechanism;
import com.rabbitmq.client.ShutdownSignalException;
import com.rabbitmq.client.impl.LongStringHelper;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public class Scenarios {
    static final long WAIT_MS = 5000;
    static String url;
    static String user;

    interface Body { void run(Connection c) throws Exception; }

    static final class Na extends Exception { Na(String why) { super(why); } }

    static final class Check extends Exception { Check(String what) { super(what); } }

    public static void main(String[] args) throws Exception {
        url = args[0];
        user = factory().getUsername();
        Map<String, Body> all = new LinkedHashMap<>();
        all.put("connect", Scenarios::connect);
        all.put("connect_amqplain", Scenarios::connectAmqplain);
        all.put("declare_exchanges", Scenarios::declareExchanges);
        all.put("declare_queues", Scenarios::declareQueues);
        all.put("bind_unbind", Scenarios::bindUnbind);
        all.put("route_default", Scenarios::routeDefault);
        all.put("route_direct", Scenarios::routeDirect);
        all.put("route_fanout", Scenarios::routeFanout);
        all.put("route_topic", Scenarios::routeTopic);
        all.put("route_headers", Scenarios::routeHeaders);
        all.put("mandatory_return", Scenarios::mandatoryReturn);
        all.put("confirms_sync", Scenarios::confirmsSync);
        all.put("confirms_async", Scenarios::confirmsAsync);
        all.put("manual_ack", Scenarios::manualAck);
        all.put("nack_requeue", Scenarios::nackRequeue);
        all.put("reject", Scenarios::reject);
        all.put("prefetch_fair", Scenarios::prefetchFair);
        all.put("basic_get", Scenarios::basicGet);
        all.put("large_message", Scenarios::largeMessage);
        all.put("empty_message", Scenarios::emptyMessage);
        all.put("properties_roundtrip", Scenarios::propertiesRoundtrip);
        all.put("headers_types", Scenarios::headersTypes);
        all.put("passive_missing_404", Scenarios::passiveMissing404);
        all.put("exchange_to_exchange", Scenarios::exchangeToExchange);
        all.put("tx_commit", Scenarios::txCommit);
        all.put("tx_rollback", Scenarios::txRollback);
        all.put("channels_100", Scenarios::channels100);
        all.put("close_requeues", Scenarios::closeRequeues);
        all.put("server_cancel", Scenarios::serverCancel);
        all.put("rpc_reply_to", Scenarios::rpcReplyTo);
        all.put("clean_close", Scenarios::cleanClose);
        all.put("queue_arg_invalid", Scenarios::queueArgInvalid);
        all.put("message_ttl", Scenarios::messageTtl);
        all.put("dead_letter", Scenarios::deadLetter);
        all.put("retry_with_delay", Scenarios::retryWithDelay);
        all.put("max_length", Scenarios::maxLength);
        all.put("priority_queue", Scenarios::priorityQueue);
        all.put("single_active_consumer", Scenarios::singleActiveConsumer);
        all.put("sender_selected", Scenarios::senderSelected);
        all.put("queue_expiry", Scenarios::queueExpiry);
        all.put("consumer_priority", Scenarios::consumerPriority);
        all.put("quorum_queue", Scenarios::quorumQueue);
        all.put("stream_queue", Scenarios::streamQueue);
        all.put("vhost_user_tls", Scenarios::vhostUserTls);

        List<String> only = args.length > 1 ? Arrays.asList(args[1].split(",")) : null;
        for (Map.Entry<String, Body> e : all.entrySet()) {
            if (only != null && !only.contains(e.getKey())) continue;
            String verdict;
            Connection c = null;
            try {
                c = factory().newConnection("interop-java-" + e.getKey());
                e.getValue().run(c);
                verdict = "pass";
            } catch (Na na) {
                verdict = "na " + na.getMessage();
            } catch (Throwable t) {
                verdict = "fail " + describe(t);
                t.printStackTrace();
            } finally {
                if (c != null && c.isOpen()) {
                    try { c.abort(2000); } catch (Throwable ignored) { }
                }
            }
            System.out.println("SCENARIO " + e.getKey() + " " + verdict);
            System.out.flush();
        }
        System.exit(0);
    }

    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder(t.getClass().getSimpleName());
        if (t.getMessage() != null) sb.append(": ").append(t.getMessage());
        Throwable cause = t.getCause();
        if (cause != null && cause != t) {
            sb.append(" <- ").append(cause.getClass().getSimpleName());
            if (cause.getMessage() != null) sb.append(": ").append(cause.getMessage());
        }
        return sb.toString().replace('\n', ' ');
    }

    static ConnectionFactory factory() throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setUri(url);
        f.setConnectionTimeout((int) WAIT_MS);
        f.setHandshakeTimeout((int) WAIT_MS);
        f.setShutdownTimeout((int) WAIT_MS);
        f.setChannelRpcTimeout((int) WAIT_MS);
        f.setAutomaticRecoveryEnabled(false);
        f.setTopologyRecoveryEnabled(false);
        return f;
    }

    // ---------------------------------------------------------------- helpers

    static void check(boolean ok, String what) throws Check {
        if (!ok) throw new Check(what);
    }

    static String name(String kind) {
        return "interop.java." + kind + "." + UUID.randomUUID().toString().substring(0, 12);
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static String s(byte[] bytes) { return new String(bytes, StandardCharsets.UTF_8); }

    static String exclusiveQueue(Channel ch) throws IOException {
        return ch.queueDeclare("", false, true, false, null).getQueue();
    }

    /** basic.get (auto-ack unless told otherwise) until a message arrives; bounded. */
    static GetResponse get(Channel ch, String q, boolean autoAck) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            GetResponse r = ch.basicGet(q, autoAck);
            if (r != null) return r;
            if (System.currentTimeMillis() > deadline) throw new Check("no message on " + q + " within " + WAIT_MS + " ms");
            Thread.sleep(10);
        }
    }

    /**
     * Publishes a marker to q through the default exchange and returns the bodies that arrive
     * before it: everything routed to q earlier on the same channel is ahead of the marker.
     */
    static List<String> drainUntilMarker(Channel ch, String q) throws Exception {
        String marker = "marker-" + UUID.randomUUID();
        ch.basicPublish("", q, null, b(marker));
        List<String> got = new ArrayList<>();
        while (true) {
            String body = s(get(ch, q, true).getBody());
            if (body.equals(marker)) return got;
            got.add(body);
        }
    }

    static List<String> sorted(List<String> l) { List<String> c = new ArrayList<>(l); Collections.sort(c); return c; }

    static int passiveCount(Channel ch, String q) throws IOException {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    static void waitCount(Channel ch, String q, int want) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        int n;
        while ((n = passiveCount(ch, q)) != want) {
            if (System.currentTimeMillis() > deadline) throw new Check("queue " + q + " holds " + n + " messages, want " + want);
            Thread.sleep(10);
        }
    }

    /** A consumer that queues its deliveries and records a server-sent cancel. */
    static class Collector extends DefaultConsumer {
        final LinkedBlockingQueue<Object[]> deliveries = new LinkedBlockingQueue<>();
        final CountDownLatch cancelled = new CountDownLatch(1);
        Collector(Channel ch) { super(ch); }
        @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
            deliveries.add(new Object[] {env, props, body});
        }
        @Override public void handleCancel(String tag) { cancelled.countDown(); }
        Object[] next() throws Exception {
            Object[] d = deliveries.poll(WAIT_MS, TimeUnit.MILLISECONDS);
            if (d == null) throw new Check("no delivery within " + WAIT_MS + " ms");
            return d;
        }
    }

    // -------------------------------------------------------------- scenarios

    static void connect(Connection c) throws Exception {
        ConnectionFactory f = factory();
        f.setRequestedHeartbeat(30);
        Connection hc = f.newConnection("interop-java-heartbeat");
        try {
            check(hc.getHeartbeat() == 30, "negotiated heartbeat " + hc.getHeartbeat() + ", want 30");
            Channel ch = hc.createChannel();
            exclusiveQueue(ch);
            ch.close();
        } finally {
            hc.close((int) WAIT_MS);
        }
    }

    /** AMQPLAIN is not built into the client; SaslConfig/SaslMechanism is its public plug-in point. */
    static final class AmqplainConfig implements SaslConfig {
        public SaslMechanism getSaslMechanism(String[] offered) {
            if (!Arrays.asList(offered).contains("AMQPLAIN")) return null;
            return new SaslMechanism() {
                public String getName() { return "AMQPLAIN"; }
                public LongString handleChallenge(LongString challenge, String username, String password) {
                    // The response is a field table without its length prefix.
                    try {
                        ByteArrayOutputStream buf = new ByteArrayOutputStream();
                        DataOutputStream out = new DataOutputStream(buf);
                        for (String[] kv : new String[][] {{"LOGIN", username}, {"PASSWORD", password}}) {
                            byte[] k = b(kv[0]), v = b(kv[1]);
                            out.writeByte(k.length); out.write(k);
                            out.writeByte('S'); out.writeInt(v.length); out.write(v);
                        }
                        return LongStringHelper.asLongString(buf.toByteArray());
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }
            };
        }
    }

    static void connectAmqplain(Connection c) throws Exception {
        ConnectionFactory f = factory();
        f.setSaslConfig(new AmqplainConfig());
        Connection ac = f.newConnection("interop-java-amqplain");
        try {
            Channel ch = ac.createChannel();
            String q = exclusiveQueue(ch);
            ch.basicPublish("", q, null, b("amqplain"));
            check(s(get(ch, q, true).getBody()).equals("amqplain"), "message over an AMQPLAIN connection");
        } finally {
            ac.close((int) WAIT_MS);
        }
    }

    static void declareExchanges(Connection c) throws Exception {
        Channel ch = c.createChannel();
        List<String> names = new ArrayList<>();
        try {
            for (String type : new String[] {"direct", "fanout", "topic", "headers"}) {
                String x = name(type);
                names.add(x);
                ch.exchangeDeclare(x, type, false, false, null);
                ch.exchangeDeclare(x, type, false, false, null);
                ch.exchangeDeclarePassive(x);
            }
        } finally {
            for (String x : names) ch.exchangeDelete(x);
        }
    }

    static void declareQueues(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String gen = ch.queueDeclare().getQueue();
        check(gen.startsWith("amq.gen-"), "server-named queue " + gen);
        String excl = name("exclusive");
        ch.queueDeclare(excl, false, true, false, null);
        String auto = name("autodelete");
        ch.queueDeclare(auto, false, false, true, null);
        String durable = name("durable");
        ch.queueDeclare(durable, true, false, false, null);
        try {
            ch.basicPublish("", excl, null, b("1"));
            ch.basicPublish("", excl, null, b("2"));
            waitCount(ch, excl, 2);
            AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive(excl);
            check(ok.getMessageCount() == 2, "passive declare message count " + ok.getMessageCount());
            check(ok.getConsumerCount() == 0, "consumer count " + ok.getConsumerCount());
        } finally {
            ch.queueDelete(durable);
            ch.queueDelete(auto);
            ch.queueDelete(excl);
            ch.queueDelete(gen);
        }
    }

    static void bindUnbind(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("direct");
        ch.exchangeDeclare(x, "direct");
        try {
            String q = exclusiveQueue(ch);
            ch.queueBind(q, x, "k");
            ch.basicPublish(x, "k", null, b("bound"));
            check(drainUntilMarker(ch, q).equals(List.of("bound")), "bound queue gets the message");
            ch.queueUnbind(q, x, "k");
            ch.basicPublish(x, "k", null, b("unbound"));
            List<String> got = drainUntilMarker(ch, q);
            check(got.isEmpty(), "after unbind the queue got " + got);
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void routeDefault(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.basicPublish("", q, null, b("default"));
        check(drainUntilMarker(ch, q).equals(List.of("default")), "default exchange routes by queue name");
    }

    static void routeDirect(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("direct");
        ch.exchangeDeclare(x, "direct");
        try {
            String red = exclusiveQueue(ch), blue = exclusiveQueue(ch);
            ch.queueBind(red, x, "red");
            ch.queueBind(blue, x, "blue");
            ch.basicPublish(x, "red", null, b("r"));
            ch.basicPublish(x, "blue", null, b("b"));
            ch.basicPublish(x, "green", null, b("g"));
            List<String> r = drainUntilMarker(ch, red), bl = drainUntilMarker(ch, blue);
            check(r.equals(List.of("r")), "red queue got " + r);
            check(bl.equals(List.of("b")), "blue queue got " + bl);
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void routeFanout(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("fanout");
        ch.exchangeDeclare(x, "fanout");
        try {
            List<String> qs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String q = exclusiveQueue(ch);
                ch.queueBind(q, x, "key-" + i);
                qs.add(q);
            }
            ch.basicPublish(x, "whatever", null, b("all"));
            for (String q : qs) {
                List<String> got = drainUntilMarker(ch, q);
                check(got.equals(List.of("all")), "fanout queue got " + got);
            }
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void routeTopic(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("topic");
        ch.exchangeDeclare(x, "topic");
        try {
            String star = exclusiveQueue(ch), hash = exclusiveQueue(ch);
            ch.queueBind(star, x, "*.orange.*");
            ch.queueBind(hash, x, "lazy.#");
            for (String key : new String[] {"quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"}) {
                ch.basicPublish(x, key, null, b(key));
            }
            List<String> st = drainUntilMarker(ch, star), ha = drainUntilMarker(ch, hash);
            check(st.equals(List.of("quick.orange.rabbit", "lazy.orange.elephant")), "*.orange.* got " + st);
            check(ha.equals(List.of("lazy.orange.elephant", "lazy")), "lazy.# got " + ha);
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void routeHeaders(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("headers");
        ch.exchangeDeclare(x, "headers");
        try {
            String allQ = exclusiveQueue(ch), anyQ = exclusiveQueue(ch);
            ch.queueBind(allQ, x, "", Map.of("x-match", "all", "format", "pdf", "type", "report"));
            ch.queueBind(anyQ, x, "", Map.of("x-match", "any", "format", "pdf", "type", "log"));
            String[][] msgs = {
                {"m1", "pdf", "report"}, {"m2", "zip", "log"}, {"m3", "zip", "report"}, {"m4", "pdf", null},
            };
            for (String[] m : msgs) {
                Map<String, Object> h = new HashMap<>();
                h.put("format", m[1]);
                if (m[2] != null) h.put("type", m[2]);
                ch.basicPublish(x, "", new AMQP.BasicProperties.Builder().headers(h).build(), b(m[0]));
            }
            List<String> a = drainUntilMarker(ch, allQ), o = drainUntilMarker(ch, anyQ);
            check(a.equals(List.of("m1")), "x-match all got " + a);
            check(o.equals(List.of("m1", "m2", "m4")), "x-match any got " + o);
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void mandatoryReturn(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("direct");
        ch.exchangeDeclare(x, "direct");
        try {
            LinkedBlockingQueue<Object[]> returns = new LinkedBlockingQueue<>();
            ch.addReturnListener((code, text, exchange, key, props, body) ->
                returns.add(new Object[] {code, text, exchange, key, body}));
            ch.basicPublish(x, "nobody-home", true, null, b("lost"));
            Object[] r = returns.poll(WAIT_MS, TimeUnit.MILLISECONDS);
            check(r != null, "no basic.return within " + WAIT_MS + " ms");
            check((Integer) r[0] == 312, "reply code " + r[0]);
            check("NO_ROUTE".equals(r[1]), "reply text " + r[1]);
            check(x.equals(r[2]) && "nobody-home".equals(r[3]), "returned exchange/key " + r[2] + "/" + r[3]);
            check(s((byte[]) r[4]).equals("lost"), "returned body");
        } finally {
            ch.exchangeDelete(x);
        }
    }

    static void confirmsSync(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.confirmSelect();
        for (int i = 0; i < 100; i++) ch.basicPublish("", q, null, b("c" + i));
        ch.waitForConfirmsOrDie(WAIT_MS);
        check(passiveCount(ch, q) == 100, "queue holds " + passiveCount(ch, q) + " after 100 confirmed publishes");
    }

    static void confirmsAsync(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.confirmSelect();
        ConcurrentSkipListSet<Long> outstanding = new ConcurrentSkipListSet<>();
        AtomicInteger nacks = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(1);
        ch.addConfirmListener(new ConfirmListener() {
            void settle(long tag, boolean multiple) {
                if (multiple) outstanding.headSet(tag, true).clear(); else outstanding.remove(tag);
                if (outstanding.isEmpty()) done.countDown();
            }
            public void handleAck(long tag, boolean multiple) { settle(tag, multiple); }
            public void handleNack(long tag, boolean multiple) { nacks.incrementAndGet(); settle(tag, multiple); }
        });
        for (int i = 0; i < 100; i++) outstanding.add(ch.getNextPublishSeqNo() + i);
        for (int i = 0; i < 100; i++) ch.basicPublish("", q, null, b("c" + i));
        check(done.await(WAIT_MS, TimeUnit.MILLISECONDS), outstanding.size() + " publishes unconfirmed after " + WAIT_MS + " ms");
        check(nacks.get() == 0, nacks.get() + " nacks");
        check(passiveCount(ch, q) == 100, "queue holds " + passiveCount(ch, q));
    }

    static void manualAck(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = name("manual-ack");
        ch.queueDeclare(q, false, false, false, null);
        try {
            for (int i = 0; i < 10; i++) ch.basicPublish("", q, null, b("m" + i));
            Collector col = new Collector(ch);
            String tag = ch.basicConsume(q, false, col);
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                Object[] d = col.next();
                got.add(s((byte[]) d[2]));
                ch.basicAck(((Envelope) d[0]).getDeliveryTag(), false);
            }
            ch.basicCancel(tag);
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 10; i++) want.add("m" + i);
            check(got.equals(want), "consumed " + got);
            ch.close(); // acked messages must not come back when the channel closes
            Channel ch2 = c.createChannel();
            check(passiveCount(ch2, q) == 0, "queue holds " + passiveCount(ch2, q) + " after acking all");
            check(ch2.basicGet(q, true) == null, "a message is left after acking all");
            ch2.queueDelete(q);
        } catch (Exception e) {
            Channel cl = c.createChannel();
            cl.queueDelete(q);
            throw e;
        }
    }

    static void nackRequeue(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.basicPublish("", q, null, b("again"));
        GetResponse first = get(ch, q, false);
        check(!first.getEnvelope().isRedeliver(), "first delivery is not redelivered");
        ch.basicNack(first.getEnvelope().getDeliveryTag(), false, true);
        GetResponse second = get(ch, q, false);
        check(s(second.getBody()).equals("again"), "same message back");
        check(second.getEnvelope().isRedeliver(), "redelivered flag set after nack with requeue");
        ch.basicAck(second.getEnvelope().getDeliveryTag(), false);
    }

    static void reject(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.basicPublish("", q, null, b("gone"));
        GetResponse r = get(ch, q, false);
        ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        List<String> left = drainUntilMarker(ch, q);
        check(left.isEmpty(), "after reject the queue still has " + left);
    }

    static void prefetchFair(Connection c) throws Exception {
        Channel setup = c.createChannel();
        String q = exclusiveQueue(setup);
        Channel chA = c.createChannel(), chB = c.createChannel();
        chA.basicQos(1);
        chB.basicQos(1);
        Collector a = new Collector(chA);
        chA.basicConsume(q, false, a);
        setup.basicPublish("", q, null, b("p0"));
        a.next(); // A holds this one, unacked
        Collector bc = new Collector(chB) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
                super.handleDelivery(tag, env, props, body);
                try { getChannel().basicAck(env.getDeliveryTag(), false); } catch (IOException ignored) { }
            }
        };
        chB.basicConsume(q, false, bc);
        for (int i = 1; i < 10; i++) setup.basicPublish("", q, null, b("p" + i));
        List<String> gotB = new ArrayList<>();
        for (int i = 1; i < 10; i++) gotB.add(s((byte[]) bc.next()[2]));
        check(a.deliveries.isEmpty(), "consumer A got more while holding an unacked message");
        check(gotB.size() == 9, "consumer B got " + gotB);
    }

    static void basicGet(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        for (int i = 0; i < 3; i++) ch.basicPublish("", q, null, b("g" + i));
        waitCount(ch, q, 3);
        GetResponse r = ch.basicGet(q, true);
        check(r != null && s(r.getBody()).equals("g0"), "first get returns g0");
        check(r.getMessageCount() == 2, "message count after first get " + r.getMessageCount());
        GetResponse r2 = ch.basicGet(q, false);
        check(r2 != null && r2.getMessageCount() == 1, "second get count " + (r2 == null ? "empty" : r2.getMessageCount()));
        ch.basicAck(r2.getEnvelope().getDeliveryTag(), false);
        GetResponse r3 = ch.basicGet(q, true);
        check(r3 != null && r3.getMessageCount() == 0, "third get count");
        check(ch.basicGet(q, true) == null, "empty queue gives get-empty");
    }

    static void largeMessage(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        byte[] body = new byte[1 << 20];
        new Random().nextBytes(body);
        ch.basicPublish("", q, null, body);
        byte[] back = get(ch, q, true).getBody();
        check(Arrays.equals(body, back), "1 MiB body came back with " + back.length + " bytes, equal=false");
    }

    static void emptyMessage(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        ch.basicPublish("", q, null, new byte[0]);
        check(get(ch, q, true).getBody().length == 0, "zero-byte body");
    }

    static void propertiesRoundtrip(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        Date ts = new Date((System.currentTimeMillis() / 1000) * 1000);
        AMQP.BasicProperties p = new AMQP.BasicProperties.Builder()
            .contentType("application/json").contentEncoding("gzip")
            .headers(Map.of("h", "v")).deliveryMode(2).priority(7)
            .correlationId("corr-1").replyTo("reply.queue").expiration("60000")
            .messageId("msg-1").timestamp(ts).type("kind").userId(user).appId("interop-java")
            .build();
        ch.basicPublish("", q, p, b("props"));
        AMQP.BasicProperties r = get(ch, q, true).getProps();
        List<String> bad = new ArrayList<>();
        if (!"application/json".equals(r.getContentType())) bad.add("content-type=" + r.getContentType());
        if (!"gzip".equals(r.getContentEncoding())) bad.add("content-encoding=" + r.getContentEncoding());
        if (r.getHeaders() == null || !"v".equals(String.valueOf(r.getHeaders().get("h")))) bad.add("headers=" + r.getHeaders());
        if (!Integer.valueOf(2).equals(r.getDeliveryMode())) bad.add("delivery-mode=" + r.getDeliveryMode());
        if (!Integer.valueOf(7).equals(r.getPriority())) bad.add("priority=" + r.getPriority());
        if (!"corr-1".equals(r.getCorrelationId())) bad.add("correlation-id=" + r.getCorrelationId());
        if (!"reply.queue".equals(r.getReplyTo())) bad.add("reply-to=" + r.getReplyTo());
        if (!"60000".equals(r.getExpiration())) bad.add("expiration=" + r.getExpiration());
        if (!"msg-1".equals(r.getMessageId())) bad.add("message-id=" + r.getMessageId());
        if (!ts.equals(r.getTimestamp())) bad.add("timestamp=" + r.getTimestamp());
        if (!"kind".equals(r.getType())) bad.add("type=" + r.getType());
        if (!user.equals(r.getUserId())) bad.add("user-id=" + r.getUserId());
        if (!"interop-java".equals(r.getAppId())) bad.add("app-id=" + r.getAppId());
        check(bad.isEmpty(), "properties differ: " + bad);
    }

    /** LongStrings come back for strings; compare them as strings, byte arrays by content. */
    static boolean same(Object sent, Object got) {
        if (sent == null || got == null) return sent == got;
        if (sent instanceof String) return got instanceof LongString && sent.equals(got.toString());
        if (sent instanceof byte[]) return got instanceof byte[] && Arrays.equals((byte[]) sent, (byte[]) got);
        if (sent instanceof Map) {
            if (!(got instanceof Map)) return false;
            Map<?, ?> a = (Map<?, ?>) sent, g = (Map<?, ?>) got;
            if (!a.keySet().equals(g.keySet())) return false;
            for (Object k : a.keySet()) if (!same(a.get(k), g.get(k))) return false;
            return true;
        }
        if (sent instanceof List) {
            if (!(got instanceof List)) return false;
            List<?> a = (List<?>) sent, g = (List<?>) got;
            if (a.size() != g.size()) return false;
            for (int i = 0; i < a.size(); i++) if (!same(a.get(i), g.get(i))) return false;
            return true;
        }
        return sent.getClass() == got.getClass() && sent.equals(got);
    }

    static void headersTypes(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = exclusiveQueue(ch);
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("string", "text ünïcødé");
        h.put("byte", (byte) -7);
        h.put("short", (short) -30000);
        h.put("int", -2000000000);
        h.put("long", -9000000000000000000L);
        h.put("bool_true", true);
        h.put("bool_false", false);
        h.put("float", 1.5f);
        h.put("double", 2.25e100);
        h.put("decimal", new BigDecimal("-123.45"));
        h.put("timestamp", new Date(1700000000L * 1000));
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("inner", "x");
        nested.put("n", 1);
        h.put("table", nested);
        h.put("array", Arrays.asList("a", 2, true, Arrays.asList(3L)));
        h.put("bytes", new byte[] {0, 1, (byte) 0xfe, (byte) 0xff});
        h.put("void", null);
        ch.basicPublish("", q, new AMQP.BasicProperties.Builder().headers(h).build(), b("types"));
        Map<String, Object> got = get(ch, q, true).getProps().getHeaders();
        check(got != null, "no headers came back");
        List<String> bad = new ArrayList<>();
        for (String k : h.keySet()) {
            Object g = got.get(k);
            if (!got.containsKey(k) || !same(h.get(k), g)) {
                bad.add(k + "=" + (g instanceof byte[] ? Arrays.toString((byte[]) g) : g)
                    + (g == null ? "" : " (" + g.getClass().getSimpleName() + ")"));
            }
        }
        if (!got.keySet().equals(h.keySet())) bad.add("keys " + got.keySet());
        check(bad.isEmpty(), "headers differ: " + bad);
    }

    static void passiveMissing404(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = name("missing");
        try {
            ch.queueDeclarePassive(q);
            throw new Check("passive declare of a missing queue succeeded");
        } catch (IOException e) {
            check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
            ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
            check(!sse.isHardError(), "channel error, not connection error");
            AMQP.Channel.Close close = (AMQP.Channel.Close) sse.getReason();
            check(close.getReplyCode() == 404, "reply code " + close.getReplyCode());
            check(close.getReplyText().startsWith("NOT_FOUND"), "reply text " + close.getReplyText());
        }
        check(!ch.isOpen(), "channel closed by the broker");
        check(c.isOpen(), "connection stays open");
    }

    static void exchangeToExchange(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String a = name("src"), bx = name("dst");
        ch.exchangeDeclare(a, "direct");
        ch.exchangeDeclare(bx, "direct");
        try {
            ch.exchangeBind(bx, a, "k");
            String q = exclusiveQueue(ch);
            ch.queueBind(q, bx, "k");
            ch.basicPublish(a, "k", null, b("e2e"));
            ch.basicPublish(a, "other", null, b("no"));
            List<String> got = drainUntilMarker(ch, q);
            check(got.equals(List.of("e2e")), "queue behind exchange B got " + got);
            ch.exchangeUnbind(bx, a, "k");
        } finally {
            ch.exchangeDelete(a);
            ch.exchangeDelete(bx);
        }
    }

    static void txCommit(Connection c) throws Exception {
        Channel tx = c.createChannel(), other = c.createChannel();
        String q = exclusiveQueue(other);
        tx.txSelect();
        tx.basicPublish("", q, null, b("tx"));
        Thread.sleep(50);
        check(other.basicGet(q, true) == null, "uncommitted publish is visible");
        tx.txCommit();
        GetResponse r = get(other, q, true);
        check(s(r.getBody()).equals("tx"), "committed publish arrives");
        check(other.basicGet(q, true) == null, "exactly one message after commit");
    }

    static void txRollback(Connection c) throws Exception {
        Channel tx = c.createChannel(), other = c.createChannel();
        String q = exclusiveQueue(other);
        tx.txSelect();
        tx.basicPublish("", q, null, b("rolled-back"));
        tx.txRollback();
        tx.basicPublish("", q, null, b("committed"));
        tx.txCommit();
        GetResponse r = get(other, q, true);
        check(s(r.getBody()).equals("committed"), "first message after rollback+commit is " + s(r.getBody()));
        check(other.basicGet(q, true) == null, "rolled-back message arrived");
    }

    static void channels100(Connection c) throws Exception {
        Channel setup = c.createChannel();
        String q = exclusiveQueue(setup);
        List<Channel> chans = new ArrayList<>();
        for (int i = 0; i < 100; i++) chans.add(c.createChannel());
        check(chans.stream().map(Channel::getChannelNumber).distinct().count() == 100, "100 distinct channel numbers");
        for (int i = 0; i < 100; i++) {
            Channel ch = chans.get(i);
            ch.queueDeclarePassive(q);
            ch.basicPublish("", q, null, b("ch" + i));
        }
        for (Channel ch : chans) ch.close();
        waitCount(setup, q, 100);
        check(c.isOpen(), "connection open after closing 100 channels");
    }

    static void closeRequeues(Connection c) throws Exception {
        Channel owner = c.createChannel();
        String q = exclusiveQueue(owner);
        Channel ch = c.createChannel();
        Collector col = new Collector(ch);
        ch.basicConsume(q, false, col);
        owner.basicPublish("", q, null, b("held"));
        Object[] d = col.next();
        check(!((Envelope) d[0]).isRedeliver(), "first delivery not redelivered");
        ch.close();
        GetResponse r = get(owner, q, true);
        check(s(r.getBody()).equals("held"), "same message back");
        check(r.getEnvelope().isRedeliver(), "redelivered set after the channel closed");
    }

    static void serverCancel(Connection c) throws Exception {
        Channel ch = c.createChannel(), other = c.createChannel();
        String q = name("cancel");
        ch.queueDeclare(q, false, false, false, null);
        Collector col = new Collector(ch);
        ch.basicConsume(q, true, col);
        other.queueDelete(q);
        check(col.cancelled.await(WAIT_MS, TimeUnit.MILLISECONDS), "no basic.cancel seen within " + WAIT_MS + " ms");
        check(ch.isOpen(), "channel stays open after a server cancel");
    }

    static void rpcReplyTo(Connection c) throws Exception {
        String pseudo = "amq.rabbitmq.reply-to";
        Connection rc = factory().newConnection("interop-java-rpc-responder");
        try {
            Channel requester = c.createChannel(), responder = rc.createChannel();
            AMQP.Queue.DeclareOk ok = requester.queueDeclarePassive(pseudo);
            check(ok.getMessageCount() == 0 && ok.getConsumerCount() == 1,
                "passive declare of " + pseudo + ": " + ok.getMessageCount() + " messages, " + ok.getConsumerCount() + " consumers");
            String q = exclusiveQueue(responder);
            Collector requests = new Collector(responder), replies = new Collector(requester);
            responder.basicConsume(q, true, requests);
            requester.basicConsume(pseudo, true, replies);
            String id = UUID.randomUUID().toString();
            requester.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(pseudo).correlationId(id).build(), b("6*7"));
            AMQP.BasicProperties req = (AMQP.BasicProperties) requests.next()[1];
            String replyTo = req.getReplyTo();
            check(replyTo != null && replyTo.startsWith(pseudo + "."), "request reply-to " + replyTo);
            responder.basicPublish("", replyTo, new AMQP.BasicProperties.Builder().correlationId(req.getCorrelationId()).build(), b("42"));
            Object[] reply = replies.next();
            String corr = ((AMQP.BasicProperties) reply[1]).getCorrelationId();
            check(s((byte[]) reply[2]).equals("42") && id.equals(corr), "reply " + s((byte[]) reply[2]) + " correlation " + corr);
        } finally {
            rc.close((int) WAIT_MS);
        }
    }

    static void cleanClose(Connection c) throws Exception {
        AtomicReference<ShutdownSignalException> sig = new AtomicReference<>();
        CountDownLatch down = new CountDownLatch(1);
        c.addShutdownListener(e -> { sig.set(e); down.countDown(); });
        Channel ch = c.createChannel();
        exclusiveQueue(ch);
        c.close((int) WAIT_MS);
        check(!c.isOpen(), "connection still open");
        check(down.await(WAIT_MS, TimeUnit.MILLISECONDS), "no shutdown signal within " + WAIT_MS + " ms");
        ShutdownSignalException e = sig.get();
        check(e == c.getCloseReason(), "listener and getCloseReason agree");
        check(e.isInitiatedByApplication(), "close initiated by the application");
        check(e.isHardError(), "connection-level close");
        AMQP.Connection.Close reason = (AMQP.Connection.Close) e.getReason();
        check(reason.getReplyCode() == 200, "close code " + reason.getReplyCode());
        check(e.getCause() == null, "close had an error: " + e.getCause());
    }

    // -------------------------------------------------------------- queue extensions

    /** A named exclusive queue with arguments (gone when the connection closes). */
    static String argQueue(Channel ch, String q, Map<String, Object> args) throws IOException {
        return ch.queueDeclare(q, false, true, false, args).getQueue();
    }

    static Map<String, Object> args(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    /** Publishes under confirms (the channel is in confirm mode), one at a time; true for each ack. */
    static List<Boolean> publishConfirmed(Channel ch, String q, AMQP.BasicProperties props, String... bodies) throws Exception {
        List<Boolean> acks = new ArrayList<>();
        for (String body : bodies) {
            ch.basicPublish("", q, props, b(body));
            acks.add(ch.waitForConfirms(WAIT_MS));
        }
        return acks;
    }

    /** Checks x-death[i] against queue, reason and count. */
    @SuppressWarnings("unchecked")
    static void checkDeath(Map<String, Object> h, int i, String queue, String reason, long count) throws Check {
        check(h != null && h.get("x-death") instanceof List, "x-death is " + (h == null ? "absent" : h.get("x-death")));
        List<Object> deaths = (List<Object>) h.get("x-death");
        check(deaths.size() > i, "x-death has " + deaths.size() + " entries, want entry " + i);
        Map<String, Object> d = (Map<String, Object>) deaths.get(i);
        Object n = d.get("count");
        check(String.valueOf(d.get("queue")).equals(queue) && String.valueOf(d.get("reason")).equals(reason)
                && n instanceof Number && ((Number) n).longValue() == count,
            "x-death[" + i + "] = {queue " + d.get("queue") + ", reason " + d.get("reason") + ", count " + n
                + "}, want {" + queue + ", " + reason + ", " + count + "}");
    }

    static void queueArgInvalid(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String q = name("maxprio");
        try {
            ch.queueDeclare(q, false, true, false, args("x-max-priority", 256));
            throw new Check("declare with x-max-priority 256 succeeded");
        } catch (IOException e) {
            check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
            ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
            check(!sse.isHardError(), "channel error, not connection error");
            AMQP.Channel.Close close = (AMQP.Channel.Close) sse.getReason();
            check(close.getReplyCode() == 406, "reply code " + close.getReplyCode());
            String want = "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '" + q
                + "' in vhost '/': {max_value_exceeded,256}";
            check(want.equals(close.getReplyText()), "reply text " + close.getReplyText() + ", want " + want);
        }
        check(c.isOpen(), "connection stays open");
    }

    static void messageTtl(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String ttl = argQueue(ch, name("ttl"), args("x-message-ttl", 100));
        String plain = exclusiveQueue(ch);
        ch.basicPublish("", ttl, null, b("queue-ttl"));
        ch.basicPublish("", plain, new AMQP.BasicProperties.Builder().expiration("50").build(), b("message-ttl"));
        waitCount(ch, ttl, 0);
        waitCount(ch, plain, 0);
        ch.basicPublish("", plain, null, b("stays"));
        waitCount(ch, plain, 1);
        Thread.sleep(300);
        GetResponse r = ch.basicGet(plain, true);
        check(r != null && s(r.getBody()).equals("stays"), "message without expiration gone after 300 ms");
    }

    static void deadLetter(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String dlx = name("dlx");
        ch.exchangeDeclare(dlx, "fanout");
        try {
            String dlq = exclusiveQueue(ch);
            ch.queueBind(dlq, dlx, "");
            String work = argQueue(ch, name("work"), args("x-dead-letter-exchange", dlx));
            ch.basicPublish("", work, null, b("doomed"));
            GetResponse r = get(ch, work, false);
            ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
            GetResponse dead = get(ch, dlq, true);
            check(s(dead.getBody()).equals("doomed"), "dead-lettered body " + s(dead.getBody()));
            Map<String, Object> h = dead.getProps().getHeaders();
            checkDeath(h, 0, work, "rejected", 1);
            check("rejected".equals(String.valueOf(h.get("x-first-death-reason"))), "x-first-death-reason " + h.get("x-first-death-reason"));
            check(work.equals(String.valueOf(h.get("x-first-death-queue"))), "x-first-death-queue " + h.get("x-first-death-queue"));
        } finally {
            ch.exchangeDelete(dlx);
        }
    }

    @SuppressWarnings("unchecked")
    // amqps with the test CA as the only trust anchor (a KeyStore fed to a TrustManagerFactory,
    // ConnectionFactory.useSslProtocol(SSLContext)) and host name verification (the certificate's
    // IP SAN against the URL's 127.0.0.1): client 5.0 has no enableHostnameVerification (5.4+), so
    // a SocketConfigurator sets the JDK's endpoint identification on the SSLSocket before connect.
    static void vhostUserTls(Connection unused) throws Exception {
        String tlsUrl = System.getenv("INTEROP_TLS_URL");
        String caFile = System.getenv("INTEROP_TLS_CA");
        String refusedUrl = System.getenv("INTEROP_PLAIN_URL_FOR_USER");
        if (tlsUrl == null || caFile == null || refusedUrl == null
                || tlsUrl.isEmpty() || caFile.isEmpty() || refusedUrl.isEmpty()) throw new Na("no TLS set-up given");
        java.security.KeyStore trust = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
        trust.load(null, null);
        try (java.io.InputStream in = new java.io.FileInputStream(caFile)) {
            trust.setCertificateEntry("interop-ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        javax.net.ssl.TrustManagerFactory tmf =
            javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        ConnectionFactory f = new ConnectionFactory();
        f.setUri(tlsUrl);
        f.setConnectionTimeout((int) WAIT_MS);
        f.setHandshakeTimeout((int) WAIT_MS);
        f.setChannelRpcTimeout((int) WAIT_MS);
        f.setAutomaticRecoveryEnabled(false);
        f.useSslProtocol(ctx);
        f.setSocketConfigurator(socket -> {
            socket.setTcpNoDelay(true);
            javax.net.ssl.SSLParameters p = ((javax.net.ssl.SSLSocket) socket).getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            ((javax.net.ssl.SSLSocket) socket).setSSLParameters(p);
        });
        String tlsUser = f.getUsername();
        String vhost = f.getVirtualHost();
        String x = "tls-x." + UUID.randomUUID(), q = "tls-q." + UUID.randomUUID(), denied = "denied." + UUID.randomUUID();
        byte[] body = new byte[1024 + 16];
        for (int i = 0; i < 1024; i++) body[i] = (byte) i;
        byte[] random = new byte[16];
        new Random().nextBytes(random);
        System.arraycopy(random, 0, body, 1024, 16);
        Connection c = f.newConnection("interop-java-vhost_user_tls");
        try {
            Channel ch = c.createChannel();
            ch.exchangeDeclare(x, "direct", false);
            ch.queueDeclare(q, false, false, false, null);
            ch.queueBind(q, x, "k");
            ch.basicPublish(x, "k", null, body); // a named exchange: "" is amq.default, outside ^tls-.*
            GetResponse r = get(ch, q, true);
            check(Arrays.equals(r.getBody(), body), "basic.get gave other bytes (" + r.getBody().length + ")");
            try {
                c.createChannel().queueDeclare(denied, false, false, false, null);
                throw new Check("queue " + denied + " was declared outside the user's configure permission");
            } catch (IOException e) {
                check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
                Object reason = ((ShutdownSignalException) e.getCause()).getReason();
                check(reason instanceof AMQP.Channel.Close, "reason " + reason);
                AMQP.Channel.Close close = (AMQP.Channel.Close) reason;
                // RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not.
                String tail = "access to queue '" + denied + "' in vhost '" + vhost + "' refused for user '" + tlsUser + "'";
                String text = close.getReplyText();
                check(close.getReplyCode() == 403
                        && (text.equals("ACCESS_REFUSED - configure " + tail) || text.equals("ACCESS_REFUSED - " + tail)),
                    "channel closed with " + close.getReplyCode() + " " + close.getReplyText());
            }
            Channel cc = c.createChannel();
            cc.queueDelete(q);
            cc.exchangeDelete(x);
        } finally {
            if (c.isOpen()) c.close();
        }
        ConnectionFactory plain = new ConnectionFactory();
        plain.setUri(refusedUrl);
        plain.setConnectionTimeout((int) WAIT_MS);
        plain.setHandshakeTimeout((int) WAIT_MS);
        plain.setAutomaticRecoveryEnabled(false);
        try {
            plain.newConnection().close();
            throw new Check(tlsUser + " logged in to vhost '/'");
        } catch (IOException e) {
            check(e.getCause() instanceof ShutdownSignalException, "refused with " + describe(e));
            Object reason = ((ShutdownSignalException) e.getCause()).getReason();
            check(reason instanceof AMQP.Connection.Close, "reason " + reason);
            AMQP.Connection.Close close = (AMQP.Connection.Close) reason;
            String want = "NOT_ALLOWED - access to vhost '/' refused for user '" + tlsUser + "'";
            check(close.getReplyCode() == 530 && close.getReplyText().equals(want),
                "connection closed with " + close.getReplyCode() + " " + close.getReplyText());
        }
    }

    static void quorumQueue(Connection c) throws Exception {
        String q = name("quorum"), dlx = name("qdlx"), dlq = name("qdlq");
        try {
            Channel bad = c.createChannel();
            try {
                bad.queueDeclare(q, false, false, false, args("x-queue-type", "quorum"));
                throw new Check("a non-durable quorum queue was declared");
            } catch (IOException e) {
                check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
                ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
                check(!sse.isHardError(), "channel error, not connection error");
                AMQP.Channel.Close close = (AMQP.Channel.Close) sse.getReason();
                check(close.getReplyCode() == 406, "reply code " + close.getReplyCode());
                check(close.getReplyText().contains("invalid property 'non-durable'"), "reply text " + close.getReplyText());
            }
            Channel ch = c.createChannel();
            ch.exchangeDeclare(dlx, "fanout");
            ch.queueDeclare(dlq, false, false, false, null);
            ch.queueBind(dlq, dlx, "");
            ch.queueDeclare(q, true, false, false,
                args("x-queue-type", "quorum", "x-delivery-limit", 1, "x-dead-letter-exchange", dlx));
            ch.confirmSelect();
            AMQP.BasicProperties transient_ = new AMQP.BasicProperties.Builder().deliveryMode(1).build();
            check(publishConfirmed(ch, q, transient_, "quorum").equals(List.of(true)), "publish nacked");
            GetResponse r = get(ch, q, false);
            check(s(r.getBody()).equals("quorum"), "body " + s(r.getBody()));
            check(!r.getEnvelope().isRedeliver(), "first delivery flagged redelivered");
            Map<String, Object> h = r.getProps().getHeaders();
            Object first = h == null ? null : h.get("x-delivery-count");
            // RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
            check(first == null || (first instanceof Number && ((Number) first).longValue() == 0),
                "first delivery has x-delivery-count " + first);
            ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
            r = get(ch, q, false);
            check(s(r.getBody()).equals("quorum"), "body " + s(r.getBody()));
            check(r.getEnvelope().isRedeliver(), "second delivery not flagged redelivered");
            h = r.getProps().getHeaders();
            Object count = h == null ? null : h.get("x-delivery-count");
            check(count instanceof Number && ((Number) count).longValue() == 1, "second delivery has x-delivery-count " + count);
            ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
            GetResponse dead = get(ch, dlq, true);
            check(s(dead.getBody()).equals("quorum"), "dead-lettered body " + s(dead.getBody()));
            h = dead.getProps().getHeaders();
            check(h != null && h.get("x-death") instanceof List && !((List<Object>) h.get("x-death")).isEmpty(),
                "x-death is " + (h == null ? "absent" : h.get("x-death")));
            Map<String, Object> d = (Map<String, Object>) ((List<Object>) h.get("x-death")).get(0);
            check("delivery_limit".equals(String.valueOf(d.get("reason"))) && q.equals(String.valueOf(d.get("queue"))),
                "x-death[0] " + d);
            check(ch.basicGet(q, true) == null, "the quorum queue still holds the message");
        } finally {
            Channel clean = c.createChannel();
            clean.queueDelete(q);
            clean.queueDelete(dlq);
            clean.exchangeDelete(dlx);
            clean.close();
        }
    }

    static void streamQueue(Connection c) throws Exception {
        String sq = name("stream");
        try {
            Channel bad = c.createChannel();
            try {
                bad.queueDeclare(sq, false, false, false, args("x-queue-type", "stream"));
                throw new Check("a non-durable stream was declared");
            } catch (IOException e) {
                check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
                ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
                check(!sse.isHardError(), "channel error, not connection error");
                AMQP.Channel.Close close = (AMQP.Channel.Close) sse.getReason();
                String want = "PRECONDITION_FAILED - invalid property 'non-durable' for queue '" + sq + "' in vhost '/'";
                check(close.getReplyCode() == 406 && close.getReplyText().equals(want),
                    "non-durable declare: " + close.getReplyCode() + " " + close.getReplyText());
            }
            Channel ch = c.createChannel();
            ch.queueDeclare(sq, true, false, false, args("x-queue-type", "stream"));
            ch.confirmSelect();
            AMQP.BasicProperties persistent = new AMQP.BasicProperties.Builder().deliveryMode(2).build();
            check(publishConfirmed(ch, sq, persistent, "m0", "m1", "m2", "m3", "m4")
                .equals(List.of(true, true, true, true, true)), "a publish was nacked");
            streamConsume(c, sq, "first", 0);
            streamConsume(c, sq, 3, 3);
            Connection other = factory().newConnection("interop-java-stream-get");
            try {
                other.createChannel().basicGet(sq, false);
                throw new Check("basic.get on a stream succeeded");
            } catch (IOException e) {
                check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
                ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
                check(sse.isHardError(), "basic.get closed the channel, not the connection");
                AMQP.Connection.Close close = (AMQP.Connection.Close) sse.getReason();
                String want = "NOT_IMPLEMENTED - basic.get not supported by stream queues queue '" + sq + "' in vhost '/'";
                check(close.getReplyCode() == 540 && close.getReplyText().equals(want),
                    "basic.get: " + close.getReplyCode() + " " + close.getReplyText());
            } finally {
                if (other.isOpen()) other.abort(2000);
            }
            ch.queueDelete(sq);
        } finally {
            Channel clean = c.createChannel();
            clean.queueDelete(sq);
            clean.close();
        }
    }

    /** Consumes stream sq from x-stream-offset offset (prefetch 10, manual acks): m{from}..m4, each
     *  with header x-stream-offset a Long (the client reads 'l' as Long, 'I' as Integer), and no more. */
    static void streamConsume(Connection c, String sq, Object offset, int from) throws Exception {
        Channel ch = c.createChannel();
        ch.basicQos(10);
        Collector col = new Collector(ch);
        ch.basicConsume(sq, false, args("x-stream-offset", offset), col);
        for (int i = from; i < 5; i++) {
            Object[] d = col.next();
            Envelope env = (Envelope) d[0];
            Map<String, Object> h = ((AMQP.BasicProperties) d[1]).getHeaders();
            Object o = h == null ? null : h.get("x-stream-offset");
            check(s((byte[]) d[2]).equals("m" + i) && o instanceof Long && (Long) o == i,
                "x-stream-offset " + offset + ": got " + s((byte[]) d[2]) + " with x-stream-offset " + o
                    + (o == null ? "" : " (" + o.getClass().getSimpleName() + ")") + ", want m" + i + " with Long " + i);
            ch.basicAck(env.getDeliveryTag(), false);
        }
        Object[] extra = col.deliveries.poll(200, TimeUnit.MILLISECONDS);
        check(extra == null, "x-stream-offset " + offset + ": an extra delivery " + (extra == null ? "" : s((byte[]) extra[2])));
        ch.close();
    }

    static void retryWithDelay(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String work = name("work"), delay = name("delay");
        argQueue(ch, work, args("x-dead-letter-exchange", "", "x-dead-letter-routing-key", delay));
        argQueue(ch, delay, args("x-message-ttl", 50, "x-dead-letter-exchange", "", "x-dead-letter-routing-key", work));
        ch.basicPublish("", work, null, b("job"));
        for (int round = 1; round <= 3; round++) {
            GetResponse r = get(ch, work, false);
            ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        }
        GetResponse r = get(ch, work, true);
        check(s(r.getBody()).equals("job"), "body " + s(r.getBody()));
        Map<String, Object> h = r.getProps().getHeaders();
        Object deaths = h == null ? null : h.get("x-death");
        check(deaths instanceof List && ((List<?>) deaths).size() == 2, "x-death " + deaths + ", want 2 entries");
        checkDeath(h, 0, delay, "expired", 3);
        checkDeath(h, 1, work, "rejected", 3);
    }

    static void maxLength(Connection c) throws Exception {
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String head = argQueue(ch, name("drophead"), args("x-max-length", 2));
        List<Boolean> acks = publishConfirmed(ch, head, null, "1", "2", "3", "4");
        check(acks.equals(List.of(true, true, true, true)), "drop-head confirms " + acks);
        List<String> got = new ArrayList<>();
        for (GetResponse r; (r = ch.basicGet(head, true)) != null; ) got.add(s(r.getBody()));
        check(got.equals(List.of("3", "4")), "drop-head queue holds " + got + ", want [3, 4]");
        String rej = argQueue(ch, name("rejectpub"), args("x-max-length", 2, "x-overflow", "reject-publish"));
        acks = publishConfirmed(ch, rej, null, "1", "2", "3");
        check(acks.equals(List.of(true, true, false)), "reject-publish confirms " + acks + ", want [true, true, false]");
        waitCount(ch, rej, 2);
    }

    static void priorityQueue(Connection c) throws Exception {
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String q = argQueue(ch, name("prio"), args("x-max-priority", 10));
        for (int p : new int[] {1, 9, 5}) {
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().priority(p).build(), b("p" + p));
        }
        ch.waitForConfirmsOrDie(WAIT_MS);
        Collector col = new Collector(ch);
        ch.basicConsume(q, true, col);
        List<String> got = new ArrayList<>();
        for (int i = 0; i < 3; i++) got.add(s((byte[]) col.next()[2]));
        check(got.equals(List.of("p9", "p5", "p1")), "delivered in order " + got + ", want [p9, p5, p1]");
    }

    static void singleActiveConsumer(Connection c) throws Exception {
        Channel chA = c.createChannel(), chB = c.createChannel();
        String q = argQueue(chA, name("sac"), args("x-single-active-consumer", true));
        Collector a = new Collector(chA), bc = new Collector(chB);
        String tagA = chA.basicConsume(q, true, a);
        chB.basicConsume(q, true, bc);
        for (int i = 0; i < 3; i++) chA.basicPublish("", q, null, b("s" + i));
        for (int i = 0; i < 3; i++) {
            String body = s((byte[]) a.next()[2]);
            check(body.equals("s" + i), "active consumer A got " + body + ", want s" + i);
        }
        Object[] extra = bc.deliveries.poll(100, TimeUnit.MILLISECONDS);
        check(extra == null, "inactive consumer B got " + (extra == null ? "" : s((byte[]) extra[2])));
        chA.basicCancel(tagA);
        for (int i = 3; i < 5; i++) chA.basicPublish("", q, null, b("s" + i));
        for (int i = 3; i < 5; i++) {
            String body = s((byte[]) bc.next()[2]);
            check(body.equals("s" + i), "consumer B got " + body + " after A's cancel, want s" + i);
        }
        check(a.deliveries.isEmpty(), "cancelled consumer A got more");
    }

    static void queueExpiry(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String idle = name("expires"), used = name("expires");
        try {
            // The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
            ch.queueDeclare(used, false, false, false, args("x-expires", 200));
            String tag = ch.basicConsume(used, true, new Collector(ch));
            ch.queueDeclare(idle, false, false, false, args("x-expires", 200));
            long start = System.currentTimeMillis();
            while (true) {
                // Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than
                // the 200 ms: RabbitMQ renews the lease on a passive declare too.
                Channel probe = c.createChannel();
                try {
                    probe.queueDeclarePassive(idle);
                } catch (IOException e) {
                    check(e.getCause() instanceof ShutdownSignalException, "cause " + e.getCause());
                    AMQP.Channel.Close close = (AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason();
                    check(close.getReplyCode() == 404, "reply code " + close.getReplyCode() + " " + close.getReplyText());
                    break;
                }
                probe.close();
                check(System.currentTimeMillis() - start < WAIT_MS, "queue with x-expires 200 and no consumer still there after 5 s");
                Thread.sleep(300);
            }
            Channel probe = c.createChannel();
            probe.queueDeclarePassive(used); // throws if the consumed queue expired too
            probe.close();
            ch.basicCancel(tag);
        } finally {
            Channel cleanup = c.createChannel();
            cleanup.queueDelete(idle);
            cleanup.queueDelete(used);
            cleanup.close();
        }
    }

    static void consumerPriority(Connection c) throws Exception {
        Channel chA = c.createChannel(), chB = c.createChannel();
        String q = exclusiveQueue(chA);
        chA.basicQos(2);
        Collector a = new Collector(chA), bc = new Collector(chB);
        // B first: the priority, not the order of registration, gives A the first messages.
        chB.basicConsume(q, true, bc);
        chA.basicConsume(q, false, args("x-priority", 10), a);
        for (int i = 0; i < 5; i++) chA.basicPublish("", q, null, b("c" + i));
        List<String> gotA = new ArrayList<>(), gotB = new ArrayList<>();
        for (int i = 0; i < 2; i++) gotA.add(s((byte[]) a.next()[2]));
        for (int i = 0; i < 3; i++) gotB.add(s((byte[]) bc.next()[2]));
        Object[] extra = a.deliveries.poll(200, TimeUnit.MILLISECONDS);
        check(gotA.equals(List.of("c0", "c1")) && gotB.equals(List.of("c2", "c3", "c4")) && extra == null,
            "A (x-priority 10, prefetch 2, no acks) got " + gotA + (extra == null ? "" : " then " + s((byte[]) extra[2]))
                + ", B got " + gotB);
    }

    static void senderSelected(Connection c) throws Exception {
        Channel ch = c.createChannel();
        String x = name("direct");
        ch.exchangeDeclare(x, "direct");
        try {
            String[] keys = {"k1", "k2", "k3"};
            List<String> qs = new ArrayList<>();
            for (String k : keys) {
                String q = exclusiveQueue(ch);
                ch.queueBind(q, x, k);
                qs.add(q);
            }
            Map<String, Object> h = new HashMap<>();
            h.put("CC", List.of("k2"));
            h.put("BCC", List.of("k3"));
            ch.basicPublish(x, "k1", new AMQP.BasicProperties.Builder().headers(h).build(), b("selected"));
            for (int i = 0; i < keys.length; i++) {
                GetResponse r = get(ch, qs.get(i), true);
                check(s(r.getBody()).equals("selected"), "queue bound with " + keys[i] + " got " + s(r.getBody()));
                Map<String, Object> got = r.getProps().getHeaders();
                check(got == null || !got.containsKey("BCC"), "copy in the queue bound with " + keys[i] + " carries BCC: " + got);
                List<String> rest = drainUntilMarker(ch, qs.get(i));
                check(rest.isEmpty(), "queue bound with " + keys[i] + " got extra copies " + rest);
            }
        } finally {
            ch.exchangeDelete(x);
        }
    }
}
