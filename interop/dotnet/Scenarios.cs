// RabbitMQ.Client for .NET as Debian ships it with mono (libmono-rabbitmq4.0-cil: the 2007-2008
// LShift/Rabbit Technologies client, speaking AMQP 0-8/0-9) against the broker whose URL is
// args[0]. Prints one line `SCENARIO <id> pass|fail|na [detail]` for every id of
// ../scenarios.txt (interop/README.md describes each scenario).
//
// The client predates AMQP 0-9-1: it offers protocols 0-8 and 0-9 only. RabbitMQ accepts the
// 0-9 protocol header (AMQP 1 1 0 9) and serves it as 0-9-1, so this runs with AMQP_0_9.

using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

class Na : Exception { public Na(string why) : base(why) { } }
class Check : Exception { public Check(string what) : base(what) { } }

class Collector : DefaultBasicConsumer
{
    public readonly BlockingCollection<BasicGetResult> Deliveries = new BlockingCollection<BasicGetResult>();
    public bool AckOnDelivery;
    public Collector(IModel m) : base(m) { }
    public override void HandleBasicDeliver(string consumerTag, ulong deliveryTag, bool redelivered,
        string exchange, string routingKey, IBasicProperties props, byte[] body)
    {
        if (AckOnDelivery) Model.BasicAck(deliveryTag, false);
        Deliveries.Add(new BasicGetResult(deliveryTag, redelivered, exchange, routingKey, 0, props, body));
    }
    public BasicGetResult Next()
    {
        BasicGetResult r;
        if (!Deliveries.TryTake(out r, Scenarios.WaitMs)) throw new Check("no delivery within " + Scenarios.WaitMs + " ms");
        return r;
    }
}

static class Scenarios
{
    public const int WaitMs = 5000;
    static Uri uri;
    static string user, pass, vhost;
    static string connectFailure;
    static string detail; // set by a scenario that passes with a remark
    static int connectFailures;

    static int Main(string[] args)
    {
        uri = new Uri(args[0]);
        string[] userinfo = uri.UserInfo.Split(new[] { ':' }, 2);
        user = Uri.UnescapeDataString(userinfo[0]);
        pass = userinfo.Length > 1 ? Uri.UnescapeDataString(userinfo[1]) : "";
        string path = uri.AbsolutePath.TrimStart('/');
        vhost = path.Length == 0 ? "/" : Uri.UnescapeDataString(path);

        var all = new List<KeyValuePair<string, Action<IConnection>>>();
        var na = new Dictionary<string, string>();
        Action<string, Action<IConnection>> add = (id, f) => all.Add(new KeyValuePair<string, Action<IConnection>>(id, f));
        Action<string, string> addNa = (id, why) => { na[id] = why; add(id, null); };
        add("connect", Connect);
        addNa("connect_amqplain", "the client always answers connection.start with PLAIN and has no way to pick or plug in another SASL mechanism");
        add("declare_exchanges", DeclareExchanges);
        add("declare_queues", DeclareQueues);
        add("bind_unbind", BindUnbind);
        add("route_default", RouteDefault);
        add("route_direct", RouteDirect);
        add("route_fanout", RouteFanout);
        add("route_topic", RouteTopic);
        add("route_headers", RouteHeaders);
        add("mandatory_return", MandatoryReturn);
        addNa("confirms_sync", "IModel has no confirm.select (publisher confirms postdate this client)");
        addNa("confirms_async", "IModel has no confirm.select (publisher confirms postdate this client)");
        add("manual_ack", ManualAck);
        addNa("nack_requeue", "IModel has no basic.nack (RabbitMQ extension postdating this client); only BasicReject");
        add("reject", Reject);
        add("prefetch_fair", PrefetchFair);
        add("basic_get", BasicGet);
        add("large_message", LargeMessage);
        add("empty_message", EmptyMessage);
        add("properties_roundtrip", PropertiesRoundtrip);
        add("headers_types", HeadersTypes);
        add("passive_missing_404", PassiveMissing404);
        addNa("exchange_to_exchange", "IModel has no exchange.bind (RabbitMQ extension postdating this client)");
        add("tx_commit", TxCommit);
        add("tx_rollback", TxRollback);
        add("channels_100", Channels100);
        add("close_requeues", CloseRequeues);
        addNa("server_cancel", "IBasicConsumer has no basic.cancel handler and the client does not announce consumer_cancel_notify");
        add("rpc_reply_to", RpcReplyTo);
        add("clean_close", CleanClose);
        add("queue_arg_invalid", QueueArgInvalid);
        add("message_ttl", MessageTtl);
        add("dead_letter", DeadLetter);
        add("retry_with_delay", RetryWithDelay);
        add("max_length", MaxLength);
        add("priority_queue", PriorityQueue);
        add("single_active_consumer", SingleActiveConsumer);
        add("sender_selected", SenderSelected);
        add("queue_expiry", QueueExpiry);
        add("consumer_priority", ConsumerPriority);
        add("quorum_queue", QuorumQueue);
        add("stream_queue", StreamQueue);
        add("vhost_user_tls", VhostUserTls);

        var only = args.Length > 1 ? new HashSet<string>(args[1].Split(',')) : null;
        foreach (var e in all)
        {
            if (only != null && !only.Contains(e.Key)) continue;
            string verdict;
            IConnection c = null;
            detail = null;
            try
            {
                if (na.ContainsKey(e.Key)) throw new Na(na[e.Key]);
                c = Open(0);
                e.Value(c);
                verdict = detail == null ? "pass" : "pass " + detail;
            }
            catch (Na n) { verdict = "na " + n.Message; }
            catch (Exception ex)
            {
                verdict = "fail " + Describe(ex);
                Console.Error.WriteLine(e.Key + ": " + ex);
            }
            finally
            {
                if (c != null && c.IsOpen) { try { c.Abort(2000); } catch (Exception) { } }
            }
            Console.WriteLine("SCENARIO " + e.Key + " " + verdict);
            Console.Out.Flush();
        }
        Environment.Exit(0);
        return 0;
    }

    static string Describe(Exception ex)
    {
        var sb = new StringBuilder(ex.GetType().Name + ": " + ex.Message);
        if (ex.InnerException != null) sb.Append(" <- " + ex.InnerException.GetType().Name + ": " + ex.InnerException.Message);
        return sb.ToString().Replace('\n', ' ').Replace('\r', ' ');
    }

    /// Connects with a bounded wait: the client blocks forever in CreateConnection when the
    /// broker answers its protocol header with a different one and closes.
    static IConnection Open(ushort heartbeat)
    {
        if (connectFailures >= 2) throw new Check("not tried again, connecting failed twice: " + connectFailure);
        var f = new ConnectionFactory();
        f.Protocol = Protocols.AMQP_0_9;
        f.HostName = uri.Host;
        f.Port = uri.Port > 0 ? uri.Port : 5672;
        f.UserName = user;
        f.Password = pass;
        f.VirtualHost = vhost;
        f.RequestedHeartbeat = heartbeat;
        IConnection conn = null;
        Exception err = null;
        var t = new Thread(() => { try { conn = f.CreateConnection(); } catch (Exception ex) { err = ex; } });
        t.IsBackground = true;
        t.Start();
        if (!t.Join(WaitMs))
        {
            connectFailures++;
            connectFailure = "connection handshake (AMQP 0-9 protocol header) did not complete within " + WaitMs + " ms";
            throw new Check(connectFailure);
        }
        if (err != null)
        {
            connectFailures++;
            connectFailure = Describe(err);
            throw new Check("connect: " + connectFailure);
        }
        connectFailures = 0;
        return conn;
    }

    // ------------------------------------------------------------------ helpers

    static void Ok(bool ok, string what) { if (!ok) throw new Check(what); }

    static string Name(string kind) { return "interop.dotnet." + kind + "." + Guid.NewGuid().ToString("N").Substring(0, 12); }

    static byte[] B(string s) { return Encoding.UTF8.GetBytes(s); }
    static string S(byte[] b) { return Encoding.UTF8.GetString(b); }

    // QueueDeclare(name, passive, durable, exclusive, autoDelete, nowait, arguments)
    static string ExclusiveQueue(IModel m) { return m.QueueDeclare("", false, false, true, false, false, null); }

    static void Publish(IModel m, string x, string key, string body, IBasicProperties p = null)
    {
        m.BasicPublish(x, key, p, B(body));
    }

    static BasicGetResult Get(IModel m, string q, bool noAck = true)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(WaitMs);
        while (true)
        {
            var r = m.BasicGet(q, noAck);
            if (r != null) return r;
            if (DateTime.UtcNow > deadline) throw new Check("no message on " + q + " within " + WaitMs + " ms");
            Thread.Sleep(10);
        }
    }

    /// Publishes a marker through the default exchange and returns what arrives ahead of it.
    static List<string> DrainUntilMarker(IModel m, string q)
    {
        string marker = "marker-" + Guid.NewGuid();
        Publish(m, "", q, marker);
        var got = new List<string>();
        while (true)
        {
            string body = S(Get(m, q).Body);
            if (body == marker) return got;
            got.Add(body);
        }
    }

    static string Show(List<string> l) { return "[" + string.Join(", ", l) + "]"; }
    static bool Same(List<string> got, params string[] want) { return got.SequenceEqual(want); }

    static IDictionary Table(params object[] kv)
    {
        var h = new Hashtable();
        for (int i = 0; i < kv.Length; i += 2) h[kv[i]] = kv[i + 1];
        return h;
    }

    // --------------------------------------------------------------- scenarios

    static void Connect(IConnection unused)
    {
        var c = Open(30);
        try
        {
            Ok(c.Heartbeat == 30, "negotiated heartbeat " + c.Heartbeat + ", want 30");
            var m = c.CreateModel();
            ExclusiveQueue(m);
            m.Close();
        }
        finally { c.Close(WaitMs); }
    }

    static void DeclareExchanges(IConnection c)
    {
        var m = c.CreateModel();
        var names = new List<string>();
        try
        {
            foreach (var type in new[] { ExchangeType.Direct, ExchangeType.Fanout, ExchangeType.Topic, "headers" })
            {
                string x = Name(type);
                names.Add(x);
                // ExchangeDeclare(name, type, passive, durable, autoDelete, internal, nowait, arguments)
                m.ExchangeDeclare(x, type, false, false, false, false, false, null);
                m.ExchangeDeclare(x, type, false, false, false, false, false, null);
                m.ExchangeDeclare(x, type, true, false, false, false, false, null);
            }
        }
        finally { foreach (var x in names) m.ExchangeDelete(x, false, false); }
    }

    static void DeclareQueues(IConnection c)
    {
        var m = c.CreateModel();
        string gen = m.QueueDeclare();
        Ok(gen.StartsWith("amq.gen-"), "server-named queue " + gen);
        string excl = Name("exclusive"), auto = Name("autodelete"), durable = Name("durable");
        m.QueueDeclare(excl, false, false, true, false, false, null);
        m.QueueDeclare(auto, false, false, false, true, false, null);
        m.QueueDeclare(durable, false, true, false, false, false, null);
        try
        {
            Publish(m, "", excl, "1");
            Publish(m, "", excl, "2");
            Ok(m.QueueDeclare(excl, true, false, false, false, false, null) == excl, "passive declare names the queue");
            // IModel.QueueDeclare returns only the queue name: declare-ok's message count is
            // not exposed, so the count is read from queue.purge-ok instead.
            var deadline = DateTime.UtcNow.AddMilliseconds(WaitMs);
            uint n = 0;
            while ((n += m.QueuePurge(excl, false)) < 2 && DateTime.UtcNow < deadline) Thread.Sleep(10);
            Ok(n == 2, "queue.purge-ok message count " + n + ", want 2");
        }
        finally
        {
            m.QueueDelete(durable, false, false, false);
            m.QueueDelete(auto, false, false, false);
            m.QueueDelete(excl, false, false, false);
            m.QueueDelete(gen, false, false, false);
        }
    }

    static string DeclareExchange(IModel m, string type)
    {
        string x = Name(type);
        m.ExchangeDeclare(x, type);
        return x;
    }

    static void BindUnbind(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "direct");
        try
        {
            string q = ExclusiveQueue(m);
            m.QueueBind(q, x, "k", false, null);
            Publish(m, x, "k", "bound");
            var got = DrainUntilMarker(m, q);
            Ok(Same(got, "bound"), "bound queue got " + Show(got));
            m.QueueUnbind(q, x, "k", null);
            Publish(m, x, "k", "unbound");
            got = DrainUntilMarker(m, q);
            Ok(got.Count == 0, "after unbind the queue got " + Show(got));
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void RouteDefault(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        Publish(m, "", q, "default");
        var got = DrainUntilMarker(m, q);
        Ok(Same(got, "default"), "default exchange delivered " + Show(got));
    }

    static void RouteDirect(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "direct");
        try
        {
            string red = ExclusiveQueue(m), blue = ExclusiveQueue(m);
            m.QueueBind(red, x, "red", false, null);
            m.QueueBind(blue, x, "blue", false, null);
            Publish(m, x, "red", "r");
            Publish(m, x, "blue", "b");
            Publish(m, x, "green", "g");
            var r = DrainUntilMarker(m, red);
            var b = DrainUntilMarker(m, blue);
            Ok(Same(r, "r"), "red queue got " + Show(r));
            Ok(Same(b, "b"), "blue queue got " + Show(b));
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void RouteFanout(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "fanout");
        try
        {
            var qs = new List<string>();
            for (int i = 0; i < 3; i++)
            {
                string q = ExclusiveQueue(m);
                m.QueueBind(q, x, "key-" + i, false, null);
                qs.Add(q);
            }
            Publish(m, x, "whatever", "all");
            foreach (var q in qs)
            {
                var got = DrainUntilMarker(m, q);
                Ok(Same(got, "all"), "fanout queue got " + Show(got));
            }
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void RouteTopic(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "topic");
        try
        {
            string star = ExclusiveQueue(m), hash = ExclusiveQueue(m);
            m.QueueBind(star, x, "*.orange.*", false, null);
            m.QueueBind(hash, x, "lazy.#", false, null);
            foreach (var key in new[] { "quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox" })
                Publish(m, x, key, key);
            var st = DrainUntilMarker(m, star);
            var ha = DrainUntilMarker(m, hash);
            Ok(Same(st, "quick.orange.rabbit", "lazy.orange.elephant"), "*.orange.* got " + Show(st));
            Ok(Same(ha, "lazy.orange.elephant", "lazy"), "lazy.# got " + Show(ha));
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void RouteHeaders(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "headers");
        try
        {
            string allQ = ExclusiveQueue(m), anyQ = ExclusiveQueue(m);
            m.QueueBind(allQ, x, "", false, Table("x-match", "all", "format", "pdf", "type", "report"));
            m.QueueBind(anyQ, x, "", false, Table("x-match", "any", "format", "pdf", "type", "log"));
            var msgs = new[] { new[] { "m1", "pdf", "report" }, new[] { "m2", "zip", "log" }, new[] { "m3", "zip", "report" }, new[] { "m4", "pdf", null } };
            foreach (var msg in msgs)
            {
                var p = m.CreateBasicProperties();
                p.Headers = msg[2] == null ? Table("format", msg[1]) : Table("format", msg[1], "type", msg[2]);
                Publish(m, x, "", msg[0], p);
            }
            var a = DrainUntilMarker(m, allQ);
            var o = DrainUntilMarker(m, anyQ);
            Ok(Same(a, "m1"), "x-match all got " + Show(a));
            Ok(Same(o, "m1", "m2", "m4"), "x-match any got " + Show(o));
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void MandatoryReturn(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "direct");
        try
        {
            var returns = new BlockingCollection<BasicReturnEventArgs>();
            m.BasicReturn += (model, args) => returns.Add(args);
            m.BasicPublish(x, "nobody-home", true, false, null, B("lost"));
            BasicReturnEventArgs r;
            Ok(returns.TryTake(out r, WaitMs), "no basic.return within " + WaitMs + " ms");
            Ok(r.ReplyCode == 312, "reply code " + r.ReplyCode);
            Ok(r.ReplyText == "NO_ROUTE", "reply text " + r.ReplyText);
            Ok(r.Exchange == x && r.RoutingKey == "nobody-home", "returned exchange/key " + r.Exchange + "/" + r.RoutingKey);
            Ok(S(r.Body) == "lost", "returned body");
        }
        finally { m.ExchangeDelete(x, false, false); }
    }

    static void ManualAck(IConnection c)
    {
        var m = c.CreateModel();
        string q = Name("manual-ack");
        m.QueueDeclare(q, false, false, false, false, false, null);
        try
        {
            for (int i = 0; i < 10; i++) Publish(m, "", q, "m" + i);
            var col = new Collector(m);
            string tag = m.BasicConsume(q, false, null, col);
            var got = new List<string>();
            for (int i = 0; i < 10; i++)
            {
                var d = col.Next();
                got.Add(S(d.Body));
                m.BasicAck(d.DeliveryTag, false);
            }
            m.BasicCancel(tag);
            Ok(Same(got, Enumerable.Range(0, 10).Select(i => "m" + i).ToArray()), "consumed " + Show(got));
            m.Close(); // acked messages must not come back when the channel closes
            var m2 = c.CreateModel();
            Ok(m2.BasicGet(q, true) == null, "a message is left after acking all");
        }
        finally
        {
            var cl = c.CreateModel();
            uint left = cl.QueueDelete(q, false, false, false);
            Ok(left == 0, "queue.delete-ok reports " + left + " messages left");
        }
    }

    static void Reject(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        Publish(m, "", q, "gone");
        var r = Get(m, q, false);
        m.BasicReject(r.DeliveryTag, false);
        var left = DrainUntilMarker(m, q);
        Ok(left.Count == 0, "after reject the queue still has " + Show(left));
    }

    static void PrefetchFair(IConnection c)
    {
        var setup = c.CreateModel();
        string q = ExclusiveQueue(setup);
        var ma = c.CreateModel();
        var mb = c.CreateModel();
        ma.BasicQos(0, 1, false);
        mb.BasicQos(0, 1, false);
        var a = new Collector(ma);
        ma.BasicConsume(q, false, null, a);
        Publish(setup, "", q, "p0");
        a.Next(); // A holds this one, unacked
        var b = new Collector(mb) { AckOnDelivery = true };
        mb.BasicConsume(q, false, null, b);
        for (int i = 1; i < 10; i++) Publish(setup, "", q, "p" + i);
        var gotB = new List<string>();
        for (int i = 1; i < 10; i++) gotB.Add(S(b.Next().Body));
        Ok(a.Deliveries.Count == 0, "consumer A got more while holding an unacked message");
        Ok(gotB.Count == 9, "consumer B got " + Show(gotB));
    }

    static void BasicGet(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        for (int i = 0; i < 3; i++) Publish(m, "", q, "g" + i);
        var r = Get(m, q);
        Ok(S(r.Body) == "g0", "first get returns " + S(r.Body));
        Ok(r.MessageCount == 2, "message count after first get " + r.MessageCount);
        var r2 = m.BasicGet(q, false);
        Ok(r2 != null && r2.MessageCount == 1, "second get count " + (r2 == null ? "empty" : r2.MessageCount.ToString()));
        m.BasicAck(r2.DeliveryTag, false);
        var r3 = m.BasicGet(q, true);
        Ok(r3 != null && r3.MessageCount == 0, "third get count");
        Ok(m.BasicGet(q, true) == null, "empty queue gives get-empty");
    }

    static void LargeMessage(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        var body = new byte[1 << 20];
        new Random().NextBytes(body);
        m.BasicPublish("", q, null, body);
        var back = Get(m, q).Body;
        Ok(back.SequenceEqual(body), "1 MiB body came back with " + back.Length + " bytes, not equal");
    }

    static void EmptyMessage(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        m.BasicPublish("", q, null, new byte[0]);
        Ok(Get(m, q).Body.Length == 0, "zero-byte body");
    }

    static void PropertiesRoundtrip(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        long ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var p = m.CreateBasicProperties();
        p.ContentType = "application/json";
        p.ContentEncoding = "gzip";
        p.Headers = Table("h", "v");
        p.DeliveryMode = 2;
        p.Priority = 7;
        p.CorrelationId = "corr-1";
        p.ReplyTo = "reply.queue";
        p.Expiration = "60000";
        p.MessageId = "msg-1";
        p.Timestamp = new AmqpTimestamp(ts);
        p.Type = "kind";
        p.UserId = user;
        p.AppId = "interop-dotnet";
        Publish(m, "", q, "props", p);
        var r = Get(m, q).BasicProperties;
        var bad = new List<string>();
        if (r.ContentType != "application/json") bad.Add("content-type=" + r.ContentType);
        if (r.ContentEncoding != "gzip") bad.Add("content-encoding=" + r.ContentEncoding);
        object hv = r.Headers == null ? null : r.Headers["h"];
        if (!(hv is byte[]) || S((byte[])hv) != "v") bad.Add("headers h=" + hv);
        if (r.DeliveryMode != 2) bad.Add("delivery-mode=" + r.DeliveryMode);
        if (r.Priority != 7) bad.Add("priority=" + r.Priority);
        if (r.CorrelationId != "corr-1") bad.Add("correlation-id=" + r.CorrelationId);
        if (r.ReplyTo != "reply.queue") bad.Add("reply-to=" + r.ReplyTo);
        if (r.Expiration != "60000") bad.Add("expiration=" + r.Expiration);
        if (r.MessageId != "msg-1") bad.Add("message-id=" + r.MessageId);
        if (!r.IsTimestampPresent() || r.Timestamp.UnixTime != ts) bad.Add("timestamp=" + r.Timestamp.UnixTime);
        if (r.Type != "kind") bad.Add("type=" + r.Type);
        if (r.UserId != user) bad.Add("user-id=" + r.UserId);
        if (r.AppId != "interop-dotnet") bad.Add("app-id=" + r.AppId);
        Ok(bad.Count == 0, "properties differ: " + string.Join(", ", bad));
    }

    /// Strings come back as byte[] (the client reads every 'S' as bytes).
    static bool SameValue(object sent, object got)
    {
        if (sent == null || got == null) return sent == null && got == null;
        if (sent is string) return got is byte[] && S((byte[])got) == (string)sent;
        if (sent is byte[]) return got is byte[] && ((byte[])got).SequenceEqual((byte[])sent);
        if (sent is IDictionary)
        {
            var a = (IDictionary)sent;
            var g = got as IDictionary;
            if (g == null || g.Count != a.Count) return false;
            foreach (DictionaryEntry kv in a)
                if (!g.Contains(kv.Key) || !SameValue(kv.Value, g[kv.Key])) return false;
            return true;
        }
        if (sent is IList)
        {
            var a = (IList)sent;
            var g = got as IList;
            if (g == null || g.Count != a.Count) return false;
            for (int i = 0; i < a.Count; i++) if (!SameValue(a[i], g[i])) return false;
            return true;
        }
        if (sent is BinaryTableValue)
            return got is BinaryTableValue && ((BinaryTableValue)got).Bytes.SequenceEqual(((BinaryTableValue)sent).Bytes);
        if (sent is AmqpTimestamp) return got is AmqpTimestamp && ((AmqpTimestamp)got).UnixTime == ((AmqpTimestamp)sent).UnixTime;
        return sent.GetType() == got.GetType() && sent.Equals(got);
    }

    static string ShowValue(object v)
    {
        if (v == null) return "null";
        if (v is byte[]) return "byte[" + BitConverter.ToString((byte[])v) + "]";
        if (v is BinaryTableValue) return "BinaryTableValue[" + BitConverter.ToString(((BinaryTableValue)v).Bytes) + "]";
        if (v is IList) return "[" + string.Join(", ", ((IList)v).Cast<object>().Select(ShowValue)) + "]";
        return v + " (" + v.GetType().Name + ")";
    }

    static void HeadersTypes(IConnection c)
    {
        var m = c.CreateModel();
        string q = ExclusiveQueue(m);
        // Every field type this client's table writer accepts (mono's copy writes more than the
        // 0-8/0-9 set: bool, byte, short, long, float, double, array and byte array too).
        var h = new Hashtable();
        h["string"] = "text \u00fcn\u00efc\u00f8d\u00e9";
        h["string_bytes"] = new byte[] { 0, 1, 0xfe, 0xff };
        h["bool_true"] = true;
        h["bool_false"] = false;
        h["byte"] = (byte)200;
        h["short"] = (short)-30000;
        h["int"] = -2000000000;
        h["long"] = -9000000000000000000L;
        h["float"] = 1.5f;
        h["double"] = 2.25e100;
        h["decimal"] = -123.45m;
        h["timestamp"] = new AmqpTimestamp(1700000000);
        h["table"] = Table("inner", "x", "n", 1);
        h["array"] = new ArrayList { "a", 2, true, new ArrayList { 3L } };
        h["bytes"] = new BinaryTableValue(new byte[] { 0, 1, 0xfe, 0xff });
        h["void"] = null;
        var p = m.CreateBasicProperties();
        p.Headers = h;
        Publish(m, "", q, "types", p);
        var got = Get(m, q).BasicProperties.Headers;
        Ok(got != null, "no headers came back");
        var bad = new List<string>();
        foreach (DictionaryEntry kv in h)
        {
            if (!got.Contains(kv.Key) || !SameValue(kv.Value, got[kv.Key])) bad.Add(kv.Key + "=" + ShowValue(got[kv.Key]));
        }
        if (got.Count != h.Count) bad.Add("keys " + string.Join(",", got.Keys.Cast<object>()));
        Ok(bad.Count == 0, "headers differ: " + string.Join("; ", bad));
    }

    static void PassiveMissing404(IConnection c)
    {
        var m = c.CreateModel();
        string q = Name("missing");
        try
        {
            m.QueueDeclare(q, true, false, false, false, false, null);
            throw new Check("passive declare of a missing queue succeeded");
        }
        catch (OperationInterruptedException e)
        {
            var r = e.ShutdownReason;
            Ok(r.ReplyCode == 404, "reply code " + r.ReplyCode);
            Ok(r.ReplyText.StartsWith("NOT_FOUND"), "reply text " + r.ReplyText);
        }
        Ok(!m.IsOpen, "channel closed by the broker");
        Ok(c.IsOpen, "connection stays open");
    }

    static void TxCommit(IConnection c)
    {
        var tx = c.CreateModel();
        var other = c.CreateModel();
        string q = ExclusiveQueue(other);
        tx.TxSelect();
        Publish(tx, "", q, "tx");
        Thread.Sleep(50);
        Ok(other.BasicGet(q, true) == null, "uncommitted publish is visible");
        tx.TxCommit();
        Ok(S(Get(other, q).Body) == "tx", "committed publish arrives");
        Ok(other.BasicGet(q, true) == null, "exactly one message after commit");
    }

    static void TxRollback(IConnection c)
    {
        var tx = c.CreateModel();
        var other = c.CreateModel();
        string q = ExclusiveQueue(other);
        tx.TxSelect();
        Publish(tx, "", q, "rolled-back");
        tx.TxRollback();
        Publish(tx, "", q, "committed");
        tx.TxCommit();
        string first = S(Get(other, q).Body);
        Ok(first == "committed", "first message after rollback+commit is " + first);
        Ok(other.BasicGet(q, true) == null, "rolled-back message arrived");
    }

    static void Channels100(IConnection c)
    {
        var setup = c.CreateModel();
        string q = ExclusiveQueue(setup);
        var models = new List<IModel>();
        for (int i = 0; i < 100; i++) models.Add(c.CreateModel());
        for (int i = 0; i < 100; i++)
        {
            models[i].QueueDeclare(q, true, false, false, false, false, null);
            Publish(models[i], "", q, "ch" + i);
        }
        foreach (var m in models) m.Close();
        Ok(models.All(m => !m.IsOpen), "all 100 channels closed");
        var deadline = DateTime.UtcNow.AddMilliseconds(WaitMs);
        var seen = new HashSet<string>();
        while (seen.Count < 100 && DateTime.UtcNow < deadline)
        {
            var r = setup.BasicGet(q, true);
            if (r == null) { Thread.Sleep(10); continue; }
            seen.Add(S(r.Body));
        }
        Ok(seen.Count == 100, "got " + seen.Count + " of the 100 messages");
        Ok(c.IsOpen, "connection open after closing 100 channels");
    }

    static void CloseRequeues(IConnection c)
    {
        var owner = c.CreateModel();
        string q = ExclusiveQueue(owner);
        var m = c.CreateModel();
        var col = new Collector(m);
        m.BasicConsume(q, false, null, col);
        Publish(owner, "", q, "held");
        var d = col.Next();
        Ok(!d.Redelivered, "first delivery not redelivered");
        m.Close();
        var r = Get(owner, q);
        Ok(S(r.Body) == "held", "same message back");
        Ok(r.Redelivered, "redelivered set after the channel closed");
    }

    static void RpcReplyTo(IConnection c)
    {
        const string pseudo = "amq.rabbitmq.reply-to";
        var rc = Open(0);
        try
        {
            IModel requester = c.CreateModel(), responder = rc.CreateModel();
            // This client's QueueDeclare gives back only the name, not the counts.
            Ok(requester.QueueDeclare(pseudo, true, false, false, false, false, null) == pseudo, "passive declare names the pseudo-queue");
            string q = ExclusiveQueue(responder);
            var requests = new Collector(responder);
            var replies = new Collector(requester);
            responder.BasicConsume(q, true, null, requests);
            requester.BasicConsume(pseudo, true, null, replies);
            string id = Guid.NewGuid().ToString();
            var p = requester.CreateBasicProperties();
            p.ReplyTo = pseudo;
            p.CorrelationId = id;
            Publish(requester, "", q, "6*7", p);
            var req = requests.Next();
            string replyTo = req.BasicProperties.ReplyTo;
            Ok(replyTo != null && replyTo.StartsWith(pseudo + "."), "request reply-to " + replyTo);
            var rp = responder.CreateBasicProperties();
            rp.CorrelationId = req.BasicProperties.CorrelationId;
            Publish(responder, "", replyTo, "42", rp);
            var reply = replies.Next();
            Ok(S(reply.Body) == "42" && reply.BasicProperties.CorrelationId == id,
                "reply " + S(reply.Body) + " correlation " + reply.BasicProperties.CorrelationId);
        }
        finally
        {
            rc.Close(WaitMs);
        }
    }

    static void CleanClose(IConnection c)
    {
        var down = new ManualResetEvent(false);
        ShutdownEventArgs reason = null;
        c.ConnectionShutdown += (conn, args) => { reason = args; down.Set(); };
        var m = c.CreateModel();
        ExclusiveQueue(m);
        c.Close(WaitMs);
        Ok(!c.IsOpen, "connection still open");
        Ok(down.WaitOne(WaitMs), "no shutdown event within " + WaitMs + " ms");
        Ok(reason.Initiator == ShutdownInitiator.Application, "close initiated by " + reason.Initiator);
        Ok(reason.ReplyCode == 200, "close code " + reason.ReplyCode);
        Ok(c.ShutdownReport == null || c.ShutdownReport.Count == 0,
            "shutdown report: " + string.Join("; ", (c.ShutdownReport ?? new ArrayList()).Cast<object>()));
    }

    // -------------------------------------------------------- queue extensions

    /// A named exclusive queue with arguments (gone when the connection closes).
    static string ArgQueue(IModel m, string q, IDictionary args)
    {
        return m.QueueDeclare(q, false, false, true, false, false, args);
    }

    /// The client does not expose declare-ok's message count: a queue is seen empty when
    /// basic.get answers get-empty. A message that is still there is put back with
    /// basic.reject(requeue) (it keeps its expiry), until get-empty or the wait ends.
    static void WaitEmpty(IModel m, string q, string what)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(WaitMs);
        while (true)
        {
            var r = m.BasicGet(q, false);
            if (r == null) return;
            m.BasicReject(r.DeliveryTag, true);
            if (DateTime.UtcNow > deadline) throw new Check(what + ": still holds " + S(r.Body) + " after " + WaitMs + " ms");
            Thread.Sleep(20);
        }
    }

    /// Every body in q, by basic.get until get-empty.
    static List<string> GetAll(IModel m, string q)
    {
        var got = new List<string>();
        for (BasicGetResult r; (r = m.BasicGet(q, true)) != null; ) got.Add(S(r.Body));
        return got;
    }

    /// Table strings come back as byte[].
    static string Str(object v) { return v is byte[] ? S((byte[])v) : v == null ? null : v.ToString(); }

    static void CheckDeath(IDictionary h, int i, string queue, string reason, long count)
    {
        var deaths = h == null ? null : h["x-death"] as IList;
        Ok(deaths != null, "x-death is " + (h == null ? "absent" : ShowValue(h["x-death"])));
        Ok(deaths.Count > i, "x-death has " + deaths.Count + " entries, want entry " + i);
        var d = deaths[i] as IDictionary;
        Ok(d != null, "x-death[" + i + "] is " + ShowValue(deaths[i]));
        object n = d["count"];
        bool isInt = n is long || n is int || n is short || n is byte || n is sbyte || n is uint || n is ushort;
        Ok(Str(d["queue"]) == queue && Str(d["reason"]) == reason && isInt && Convert.ToInt64(n) == count,
            "x-death[" + i + "] = {queue " + Str(d["queue"]) + ", reason " + Str(d["reason"]) + ", count " + ShowValue(n)
            + "}, want {" + queue + ", " + reason + ", " + count + "}");
    }

    static void QueueArgInvalid(IConnection c)
    {
        var m = c.CreateModel();
        string q = Name("maxprio");
        try
        {
            ArgQueue(m, q, Table("x-max-priority", 256));
            throw new Check("declare with x-max-priority 256 succeeded");
        }
        catch (OperationInterruptedException e)
        {
            var r = e.ShutdownReason;
            Ok(r.ReplyCode == 406, "reply code " + r.ReplyCode);
            string want = "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '" + q + "' in vhost '/': {max_value_exceeded,256}";
            Ok(r.ReplyText == want, "reply text " + r.ReplyText + ", want " + want);
        }
        Ok(!m.IsOpen, "channel closed by the broker");
        Ok(c.IsOpen, "connection stays open");
    }

    static void MessageTtl(IConnection c)
    {
        var m = c.CreateModel();
        string ttl = ArgQueue(m, Name("ttl"), Table("x-message-ttl", 100));
        string plain = ExclusiveQueue(m);
        Publish(m, "", ttl, "queue-ttl");
        var p = m.CreateBasicProperties();
        p.Expiration = "50";
        Publish(m, "", plain, "message-ttl", p);
        WaitEmpty(m, ttl, "queue with x-message-ttl 100");
        WaitEmpty(m, plain, "queue with a message of expiration 50");
        Publish(m, "", plain, "stays");
        Thread.Sleep(300);
        var r = Get(m, plain);
        Ok(S(r.Body) == "stays", "message without expiration: got " + S(r.Body));
        detail = "empty seen as basic.get-empty (declare-ok's message count is not exposed by this client)";
    }

    static void DeadLetter(IConnection c)
    {
        var m = c.CreateModel();
        string dlx = DeclareExchange(m, "fanout");
        try
        {
            string dlq = ExclusiveQueue(m);
            m.QueueBind(dlq, dlx, "", false, null);
            string work = ArgQueue(m, Name("work"), Table("x-dead-letter-exchange", dlx));
            Publish(m, "", work, "doomed");
            var r = Get(m, work, false);
            m.BasicReject(r.DeliveryTag, false);
            var dead = Get(m, dlq);
            Ok(S(dead.Body) == "doomed", "dead-lettered body " + S(dead.Body));
            var h = dead.BasicProperties.Headers;
            CheckDeath(h, 0, work, "rejected", 1);
            Ok(Str(h["x-first-death-reason"]) == "rejected", "x-first-death-reason " + ShowValue(h["x-first-death-reason"]));
            Ok(Str(h["x-first-death-queue"]) == work, "x-first-death-queue " + ShowValue(h["x-first-death-queue"]));
        }
        finally { m.ExchangeDelete(dlx, false, false); }
    }

    /// CreateConnection on a thread, bounded: the connection, or the exception it threw.
    static IConnection ConnectBounded(Func<IConnection> connect, out Exception err)
    {
        IConnection conn = null;
        Exception e = null;
        var t = new Thread(() => { try { conn = connect(); } catch (Exception ex) { e = ex; } });
        t.IsBackground = true;
        t.Start();
        if (!t.Join(WaitMs)) throw new Check("connecting did not complete within " + WaitMs + " ms");
        err = e;
        return conn;
    }

    // TLS through the client's SslOption (Enabled, ServerName; it has no CA setting or
    // validation callback: SslHelper accepts a certificate when the platform's chain and name
    // checks leave no SslPolicyErrors beyond AcceptablePolicyErrors, None here). So the test CA
    // goes where Mono's TLS (btls) looks for trust anchors: the current user's store,
    // $XDG_CONFIG_HOME/.mono/new-certs/Trust/<subject hash>.0, which dotnet/run makes in a temp
    // dir of its own for this process. Mono matches DNS names only (not IP SANs), so ServerName
    // is the certificate's DNS name localhost when the URL's host is 127.0.0.1.
    static void VhostUserTls(IConnection unused)
    {
        string tlsUrl = Environment.GetEnvironmentVariable("INTEROP_TLS_URL");
        string caFile = Environment.GetEnvironmentVariable("INTEROP_TLS_CA");
        string refusedUrl = Environment.GetEnvironmentVariable("INTEROP_PLAIN_URL_FOR_USER");
        if (string.IsNullOrEmpty(tlsUrl) || string.IsNullOrEmpty(caFile) || string.IsNullOrEmpty(refusedUrl))
            throw new Na("no TLS set-up given");
        string store = Environment.GetEnvironmentVariable("INTEROP_DOTNET_TRUST_HOME");
        Ok(!string.IsNullOrEmpty(store) && Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") == store,
            "dotnet/run did not give this process a trust store of its own (XDG_CONFIG_HOME)");

        var tu = new Uri(tlsUrl);
        string[] ui = tu.UserInfo.Split(new[] { ':' }, 2);
        string tlsUser = Uri.UnescapeDataString(ui[0]);
        string tlsVhost = Uri.UnescapeDataString(tu.AbsolutePath.TrimStart('/'));
        var f = new ConnectionFactory();
        f.Protocol = Protocols.AMQP_0_9;
        f.UserName = tlsUser;
        f.Password = Uri.UnescapeDataString(ui[1]);
        f.VirtualHost = tlsVhost;
        string serverName = tu.Host == "127.0.0.1" ? "localhost" : tu.Host;
        var ssl = new SslOption(serverName); // the name the certificate must carry
        ssl.Enabled = true;
        ssl.Version = System.Security.Authentication.SslProtocols.Tls12;
        // ConnectionFactory.CreateConnection builds its endpoint from HostName and Port without
        // the Ssl option (it connects in the clear whatever f.Ssl says), so the endpoint with the
        // SslOption goes through the protocol's public CreateFrameHandler and CreateConnection.
        var endpoint = new AmqpTcpEndpoint(Protocols.AMQP_0_9, tu.Host, tu.Port, ssl);
        var proto = (RabbitMQ.Client.Impl.AbstractProtocolBase)Protocols.AMQP_0_9;
        Exception err;
        var c = ConnectBounded(() => proto.CreateConnection(f, false, proto.CreateFrameHandler(endpoint)), out err);
        if (err != null) throw new Check("TLS connect: " + Describe(err));
        string x = "tls-x." + Guid.NewGuid().ToString("N"), q = "tls-q." + Guid.NewGuid().ToString("N");
        string denied = "denied." + Guid.NewGuid().ToString("N");
        string text403 = null;
        var body = new byte[1024 + 16];
        for (int i = 0; i < 1024; i++) body[i] = (byte)i;
        Array.Copy(Guid.NewGuid().ToByteArray(), 0, body, 1024, 16);
        try
        {
            var m = c.CreateModel();
            m.ExchangeDeclare(x, "direct");
            m.QueueDeclare(q, false, false, false, false, false, null);
            m.QueueBind(q, x, "k", false, null);
            m.BasicPublish(x, "k", null, body); // a named exchange: "" is amq.default, outside ^tls-.*
            var g = Get(m, q);
            Ok(g.Body.SequenceEqual(body), "basic.get gave other bytes (" + g.Body.Length + ")");
            try
            {
                c.CreateModel().QueueDeclare(denied, false, false, false, false, false, null);
                throw new Check("queue " + denied + " was declared outside the user's configure permission");
            }
            catch (OperationInterruptedException e)
            {
                var r = e.ShutdownReason;
                // RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not.
                string tail = "access to queue '" + denied + "' in vhost '" + tlsVhost + "' refused for user '" + tlsUser + "'";
                Ok(r.ReplyCode == 403 && (r.ReplyText == "ACCESS_REFUSED - configure " + tail || r.ReplyText == "ACCESS_REFUSED - " + tail),
                    "channel closed with " + r.ReplyCode + " " + r.ReplyText);
                text403 = r.ReplyText.StartsWith("ACCESS_REFUSED - configure ")
                    ? "403 text as RabbitMQ 4.x's (naming 'configure')" : "403 text as RabbitMQ 3.10's (without 'configure')";
            }
            var cc = c.CreateModel();
            cc.QueueDelete(q, false, false, false);
            cc.ExchangeDelete(x, false, false);
        }
        finally
        {
            if (c.IsOpen) c.Close();
        }

        var pu = new Uri(refusedUrl);
        var pf = new ConnectionFactory();
        pf.Protocol = Protocols.AMQP_0_9;
        pf.HostName = pu.Host;
        pf.Port = pu.Port;
        pf.UserName = tlsUser;
        pf.Password = Uri.UnescapeDataString(pu.UserInfo.Split(new[] { ':' }, 2)[1]);
        pf.VirtualHost = "/";
        // Through the protocol as above: the factory's CreateConnection wraps every failure in
        // BrokerUnreachableException "None of the specified endpoints were reachable".
        var plainEndpoint = new AmqpTcpEndpoint(Protocols.AMQP_0_9, pu.Host, pu.Port);
        var rc = ConnectBounded(() => proto.CreateConnection(pf, false, proto.CreateFrameHandler(plainEndpoint)), out err);
        if (rc != null) { rc.Close(); throw new Check(tlsUser + " logged in to vhost '/'"); }
        string wantRefused = "NOT_ALLOWED - access to vhost '/' refused for user '" + tlsUser + "'";
        string all = Describe(err);
        var oie = err as OperationInterruptedException ?? err.InnerException as OperationInterruptedException;
        if (oie != null && oie.ShutdownReason != null)
        {
            Ok(oie.ShutdownReason.ReplyCode == 530 && oie.ShutdownReason.ReplyText == wantRefused,
                "connection closed with " + oie.ShutdownReason.ReplyCode + " " + oie.ShutdownReason.ReplyText);
        }
        else
        {
            Ok(all.Contains("530") || all.Contains(wantRefused), "connect failed with " + all);
        }
        detail = "TLS 1.2, SslOption(ServerName = " + serverName + "), the test CA in a private Mono user trust store; " + text403 + "; vhost '/' refused: "
            + err.GetType().Name + (oie != null ? " with 530 and the text" : ": " + all);
    }

    static void QuorumQueue(IConnection c)
    {
        string q = Name("quorum"), dlx = Name("qdlx"), dlq = Name("qdlq");
        try
        {
            var bad = c.CreateModel();
            try
            {
                bad.QueueDeclare(q, false, false, false, false, false, Table("x-queue-type", "quorum"));
                throw new Check("a non-durable quorum queue was declared");
            }
            catch (OperationInterruptedException e)
            {
                var r = e.ShutdownReason;
                Ok(r.ReplyCode == 406, "reply code " + r.ReplyCode);
                Ok(r.ReplyText.Contains("invalid property 'non-durable'"), "reply text " + r.ReplyText);
            }
            var m = c.CreateModel();
            m.ExchangeDeclare(dlx, "fanout");
            m.QueueDeclare(dlq, false, false, false, false, false, null);
            m.QueueBind(dlq, dlx, "", false, null);
            m.QueueDeclare(q, false, true, false, false, false,
                Table("x-queue-type", "quorum", "x-delivery-limit", 1, "x-dead-letter-exchange", dlx));
            var p = m.CreateBasicProperties();
            p.DeliveryMode = 1;
            Publish(m, "", q, "quorum", p); // unconfirmed: IModel has no confirm.select
            var g = Get(m, q, false);
            Ok(S(g.Body) == "quorum", "body " + S(g.Body));
            Ok(!g.Redelivered, "first delivery flagged redelivered");
            var h = g.BasicProperties.Headers;
            object first = h == null ? null : h["x-delivery-count"];
            // RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
            Ok(first == null || (IsInt(first) && Convert.ToInt64(first) == 0), "first delivery has x-delivery-count " + ShowValue(first));
            m.BasicReject(g.DeliveryTag, true);
            g = Get(m, q, false);
            Ok(S(g.Body) == "quorum", "body " + S(g.Body));
            Ok(g.Redelivered, "second delivery not flagged redelivered");
            h = g.BasicProperties.Headers;
            object count = h == null ? null : h["x-delivery-count"];
            Ok(IsInt(count) && Convert.ToInt64(count) == 1, "second delivery has x-delivery-count " + ShowValue(count));
            m.BasicReject(g.DeliveryTag, true);
            var dead = Get(m, dlq);
            Ok(S(dead.Body) == "quorum", "dead-lettered body " + S(dead.Body));
            h = dead.BasicProperties.Headers;
            var deaths = h == null ? null : h["x-death"] as IList;
            Ok(deaths != null && deaths.Count > 0, "x-death is " + (h == null ? "absent" : ShowValue(h["x-death"])));
            var d = deaths[0] as IDictionary;
            Ok(d != null && Str(d["reason"]) == "delivery_limit" && Str(d["queue"]) == q,
                "x-death[0] = {reason " + (d == null ? "?" : Str(d["reason"])) + ", queue " + (d == null ? "?" : Str(d["queue"])) + "}");
            Ok(m.BasicGet(q, true) == null, "the quorum queue still holds the message");
        }
        finally
        {
            var clean = c.CreateModel();
            clean.QueueDelete(q, false, false, false);
            clean.QueueDelete(dlq, false, false, false);
            clean.ExchangeDelete(dlx, false, false);
            clean.Close();
        }
        // Every other step ran and held; the one this client cannot take makes the verdict.
        throw new Na("IModel has no confirm.select (publisher confirms postdate this client), so step 3's confirmed publish cannot be expressed; "
            + "the other steps ran unconfirmed and held (406 non-durable, x-delivery-count 1 on redelivery, dead-lettered with reason delivery_limit)");
    }

    static void StreamQueue(IConnection c)
    {
        string sq = Name("stream");
        try
        {
            var bad = c.CreateModel();
            try
            {
                bad.QueueDeclare(sq, false, false, false, false, false, Table("x-queue-type", "stream"));
                throw new Check("a non-durable stream was declared");
            }
            catch (OperationInterruptedException e)
            {
                var r = e.ShutdownReason;
                string want = "PRECONDITION_FAILED - invalid property 'non-durable' for queue '" + sq + "' in vhost '/'";
                Ok(r.ReplyCode == 406 && r.ReplyText == want, "non-durable declare: " + r.ReplyCode + " " + r.ReplyText);
            }
            var m = c.CreateModel();
            m.QueueDeclare(sq, false, true, false, false, false, Table("x-queue-type", "stream"));
            var p = m.CreateBasicProperties();
            p.DeliveryMode = 2;
            for (int i = 0; i < 5; i++) Publish(m, "", sq, "m" + i, p); // unconfirmed: IModel has no confirm.select
            StreamConsume(c, sq, "first", 0);
            StreamConsume(c, sq, 3, 3);
            var other = Open(0);
            try
            {
                other.CreateModel().BasicGet(sq, false);
                throw new Check("basic.get on a stream succeeded");
            }
            catch (OperationInterruptedException e)
            {
                var r = e.ShutdownReason;
                string want = "NOT_IMPLEMENTED - basic.get not supported by stream queues queue '" + sq + "' in vhost '/'";
                Ok(r.ReplyCode == 540 && r.ReplyText == want, "basic.get: " + r.ReplyCode + " " + r.ReplyText);
                Ok(!other.IsOpen && other.CloseReason != null && other.CloseReason.ReplyCode == 540,
                    "basic.get did not close the connection (its close reason: " + other.CloseReason + ")");
            }
            finally
            {
                if (other.IsOpen) { try { other.Abort(2000); } catch (Exception) { } }
            }
            m.QueueDelete(sq, false, false, false);
        }
        finally
        {
            var clean = c.CreateModel();
            clean.QueueDelete(sq, false, false, false);
            clean.Close();
        }
        // Every other step ran and held; the one this client cannot take makes the verdict.
        throw new Na("IModel has no confirm.select (publisher confirms postdate this client), so step 2's confirmed publishes cannot be expressed; "
            + "the other steps ran with unconfirmed publishes and held (406 non-durable, m0..m4 from 'first' and m3, m4 from 3 with long x-stream-offset headers, basic.get 540)");
    }

    /// Consumes stream sq from x-stream-offset offset (prefetch 10, manual acks): m{from}..m4, each
    /// with header x-stream-offset a long (the client reads 'l' as long, 'I' as int), and no more.
    static void StreamConsume(IConnection c, string sq, object offset, int from)
    {
        var m = c.CreateModel();
        m.BasicQos(0, 10, false);
        var col = new Collector(m);
        // The client's basic.consume table is AMQP 0-8's "filter": the arguments field of 0-9-1.
        m.BasicConsume(sq, false, Table("x-stream-offset", offset), col);
        for (int i = from; i < 5; i++)
        {
            var d = col.Next();
            var h = d.BasicProperties.Headers;
            object o = h == null ? null : h["x-stream-offset"];
            Ok(S(d.Body) == "m" + i && o is long && (long)o == i,
                "x-stream-offset " + offset + ": got " + S(d.Body) + " with x-stream-offset " + ShowValue(o)
                    + (o == null ? "" : " (" + o.GetType().Name + ")") + ", want m" + i + " with a long " + i);
            m.BasicAck(d.DeliveryTag, false);
        }
        BasicGetResult extra;
        Ok(!col.Deliveries.TryTake(out extra, 200), "x-stream-offset " + offset + ": an extra delivery " + (extra == null ? "" : S(extra.Body)));
        m.Close();
    }

    static bool IsInt(object n)
    {
        return n is long || n is int || n is short || n is byte || n is sbyte || n is uint || n is ushort;
    }

    static void RetryWithDelay(IConnection c)
    {
        var m = c.CreateModel();
        string work = Name("work"), delay = Name("delay");
        ArgQueue(m, work, Table("x-dead-letter-exchange", "", "x-dead-letter-routing-key", delay));
        ArgQueue(m, delay, Table("x-message-ttl", 50, "x-dead-letter-exchange", "", "x-dead-letter-routing-key", work));
        Publish(m, "", work, "job");
        for (int round = 1; round <= 3; round++)
        {
            var r = Get(m, work, false);
            m.BasicReject(r.DeliveryTag, false);
        }
        var last = Get(m, work);
        Ok(S(last.Body) == "job", "body " + S(last.Body));
        var h = last.BasicProperties.Headers;
        var deaths = h == null ? null : h["x-death"] as IList;
        Ok(deaths != null && deaths.Count == 2, "x-death " + (h == null ? "absent" : ShowValue(h["x-death"])) + ", want 2 entries");
        CheckDeath(h, 0, delay, "expired", 3);
        CheckDeath(h, 1, work, "rejected", 3);
    }

    static void MaxLength(IConnection c)
    {
        var m = c.CreateModel();
        string head = ArgQueue(m, Name("drophead"), Table("x-max-length", 2));
        foreach (var b in new[] { "1", "2", "3", "4" }) Publish(m, "", head, b);
        var got = GetAll(m, head);
        Ok(Same(got, "3", "4"), "drop-head queue holds " + Show(got) + ", want [3, 4]");
        string rej = ArgQueue(m, Name("rejectpub"), Table("x-max-length", 2, "x-overflow", "reject-publish"));
        foreach (var b in new[] { "1", "2", "3" }) Publish(m, "", rej, b);
        got = GetAll(m, rej);
        Ok(Same(got, "1", "2"), "reject-publish queue holds " + Show(got) + ", want [1, 2]");
        detail = "reject-publish's nack not seen: IModel has no confirm.select; the queue kept the first two";
    }

    static void PriorityQueue(IConnection c)
    {
        var m = c.CreateModel();
        string q = ArgQueue(m, Name("prio"), Table("x-max-priority", 10));
        foreach (byte prio in new byte[] { 1, 9, 5 })
        {
            var p = m.CreateBasicProperties();
            p.Priority = prio;
            Publish(m, "", q, "p" + prio, p);
        }
        // basic.consume follows the publishes on the same channel: all three are queued by then.
        var col = new Collector(m);
        m.BasicConsume(q, true, null, col);
        var got = new List<string>();
        for (int i = 0; i < 3; i++) got.Add(S(col.Next().Body));
        Ok(Same(got, "p9", "p5", "p1"), "delivered in order " + Show(got) + ", want [p9, p5, p1]");
    }

    static void SingleActiveConsumer(IConnection c)
    {
        var ma = c.CreateModel();
        var mb = c.CreateModel();
        string q = ArgQueue(ma, Name("sac"), Table("x-single-active-consumer", true));
        var a = new Collector(ma);
        var b = new Collector(mb);
        string tagA = ma.BasicConsume(q, true, null, a);
        mb.BasicConsume(q, true, null, b);
        for (int i = 0; i < 3; i++) Publish(ma, "", q, "s" + i);
        for (int i = 0; i < 3; i++)
        {
            string body = S(a.Next().Body);
            Ok(body == "s" + i, "active consumer A got " + body + ", want s" + i);
        }
        BasicGetResult extra;
        Ok(!b.Deliveries.TryTake(out extra, 100), "inactive consumer B got " + (extra == null ? "" : S(extra.Body)));
        ma.BasicCancel(tagA);
        for (int i = 3; i < 5; i++) Publish(ma, "", q, "s" + i);
        for (int i = 3; i < 5; i++)
        {
            string body = S(b.Next().Body);
            Ok(body == "s" + i, "consumer B got " + body + " after A's cancel, want s" + i);
        }
        Ok(a.Deliveries.Count == 0, "cancelled consumer A got more");
    }

    static void QueueExpiry(IConnection c)
    {
        var m = c.CreateModel();
        string idle = Name("expires"), used = Name("expires");
        try
        {
            // The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
            m.QueueDeclare(used, false, false, false, false, false, Table("x-expires", 200));
            string tag = m.BasicConsume(used, true, null, new Collector(m));
            m.QueueDeclare(idle, false, false, false, false, false, Table("x-expires", 200));
            var start = DateTime.UtcNow;
            while (true)
            {
                // Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than
                // the 200 ms: RabbitMQ renews the lease on a passive declare too.
                var probe = c.CreateModel();
                try
                {
                    probe.QueueDeclare(idle, true, false, false, false, false, null);
                }
                catch (OperationInterruptedException e)
                {
                    Ok(e.ShutdownReason.ReplyCode == 404, "reply code " + e.ShutdownReason.ReplyCode + " " + e.ShutdownReason.ReplyText);
                    break;
                }
                probe.Close();
                Ok((DateTime.UtcNow - start).TotalMilliseconds < WaitMs, "queue with x-expires 200 and no consumer still there after 5 s");
                Thread.Sleep(300);
            }
            detail = "idle queue gone after " + (int)(DateTime.UtcNow - start).TotalMilliseconds + " ms; consumed one still there";
            var again = c.CreateModel();
            again.QueueDeclare(used, true, false, false, false, false, null); // throws if the consumed queue expired too
            again.Close();
            m.BasicCancel(tag);
        }
        finally
        {
            var cleanup = c.CreateModel();
            cleanup.QueueDelete(idle, false, false, false);
            cleanup.QueueDelete(used, false, false, false);
            cleanup.Close();
        }
    }

    static void ConsumerPriority(IConnection c)
    {
        var ma = c.CreateModel();
        var mb = c.CreateModel();
        string q = ExclusiveQueue(ma);
        ma.BasicQos(0, 2, false);
        var a = new Collector(ma);
        var b = new Collector(mb);
        // B first: the priority, not the order of registration, gives A the first messages.
        mb.BasicConsume(q, true, null, b);
        // The client's basic.consume table is AMQP 0-8's "filter": the arguments field of 0-9-1.
        ma.BasicConsume(q, false, Table("x-priority", 10), a);
        for (int i = 0; i < 5; i++) Publish(ma, "", q, "c" + i);
        var gotA = new List<string>();
        var gotB = new List<string>();
        for (int i = 0; i < 2; i++) gotA.Add(S(a.Next().Body));
        for (int i = 0; i < 3; i++) gotB.Add(S(b.Next().Body));
        BasicGetResult extra;
        bool more = a.Deliveries.TryTake(out extra, 200);
        Ok(Same(gotA, "c0", "c1") && Same(gotB, "c2", "c3", "c4") && !more,
            "A (x-priority 10, prefetch 2, no acks) got " + Show(gotA) + (more ? " then " + S(extra.Body) : "") + ", B got " + Show(gotB));
        detail = "BasicConsume(q, false, filter: {x-priority: 10}, consumer)";
    }

    static void SenderSelected(IConnection c)
    {
        var m = c.CreateModel();
        string x = DeclareExchange(m, "direct");
        try
        {
            var keys = new[] { "k1", "k2", "k3" };
            var qs = new List<string>();
            foreach (var k in keys)
            {
                string q = ExclusiveQueue(m);
                m.QueueBind(q, x, k, false, null);
                qs.Add(q);
            }
            var p = m.CreateBasicProperties();
            p.Headers = Table("CC", new ArrayList { "k2" }, "BCC", new ArrayList { "k3" });
            Publish(m, x, "k1", "selected", p);
            for (int i = 0; i < keys.Length; i++)
            {
                var r = Get(m, qs[i]);
                Ok(S(r.Body) == "selected", "queue bound with " + keys[i] + " got " + S(r.Body));
                var h = r.BasicProperties.Headers;
                Ok(h == null || !h.Contains("BCC"), "copy in the queue bound with " + keys[i] + " carries BCC");
                var rest = DrainUntilMarker(m, qs[i]);
                Ok(rest.Count == 0, "queue bound with " + keys[i] + " got extra copies " + Show(rest));
            }
        }
        finally { m.ExchangeDelete(x, false, false); }
    }
}
