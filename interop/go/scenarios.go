// Stock amqp091-go (Debian golang-github-rabbitmq-amqp091-go-dev) against the broker at
// os.Args[1], running every id listed in os.Args[2] (interop/scenarios.txt).
// Prints one line per id: SCENARIO <id> pass|fail|na [detail].
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var brokerURL string

type naError struct{ why string }

func (e naError) Error() string { return e.why }

func uniq(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "interop.go." + prefix + "." + hex.EncodeToString(b)
}

func check(cond bool, format string, a ...interface{}) {
	if !cond {
		panic(fmt.Errorf(format, a...))
	}
}

func must(err error, what string) {
	if err != nil {
		panic(fmt.Errorf("%s: %v", what, err))
	}
}

func dial() *amqp.Connection {
	c, err := amqp.DialConfig(brokerURL, amqp.Config{Heartbeat: 30 * time.Second})
	must(err, "connect")
	return c
}

func channel(c *amqp.Connection) *amqp.Channel {
	ch, err := c.Channel()
	must(err, "channel.open")
	return ch
}

// tmpQueue declares a server-named exclusive queue (gone when the connection closes).
func tmpQueue(ch *amqp.Channel) string {
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(err, "queue.declare")
	return q.Name
}

// deleteExchange removes an exchange from a fresh channel (the scenario's may be closed).
func deleteExchange(c *amqp.Connection, x string) {
	if ch, err := c.Channel(); err == nil {
		ch.ExchangeDelete(x, false, false)
		ch.Close()
	}
}

func publish(ch *amqp.Channel, exchange, key string, msg amqp.Publishing) {
	must(ch.Publish(exchange, key, false, false, msg), "basic.publish")
}

func text(s string) amqp.Publishing { return amqp.Publishing{Body: []byte(s)} }

// getOne polls basic.get until a message arrives or 5 s pass.
func getOne(ch *amqp.Channel, q string, autoAck bool) (amqp.Delivery, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := ch.Get(q, autoAck)
		must(err, "basic.get")
		if ok {
			return d, true
		}
		if time.Now().After(deadline) {
			return d, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drain gets messages until the sentinel body arrives (published after the messages under
// test through the default exchange, so everything before it has been routed), returning
// the bodies before the sentinel, sorted.
func drainUntilSentinel(ch *amqp.Channel, q string) []string {
	publish(ch, "", q, text("sentinel"))
	var got []string
	for {
		d, ok := getOne(ch, q, true)
		check(ok, "queue %s: sentinel did not arrive within 5 s (got %v)", q, got)
		if string(d.Body) == "sentinel" {
			sort.Strings(got)
			return got
		}
		got = append(got, string(d.Body))
	}
}

func eq(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

func recvDelivery(c <-chan amqp.Delivery, timeout time.Duration) (amqp.Delivery, bool) {
	select {
	case d, ok := <-c:
		return d, ok
	case <-time.After(timeout):
		return amqp.Delivery{}, false
	}
}

func loginUser() string {
	u, err := amqp.ParseURI(brokerURL)
	must(err, "parse url")
	return u.Username
}

// ---------------------------------------------------------------- scenarios

func connect() string {
	c := dial()
	defer c.Close()
	check(c.Config.Heartbeat == 30*time.Second, "negotiated heartbeat %v, want 30s", c.Config.Heartbeat)
	ch := channel(c)
	tmpQueue(ch)
	return fmt.Sprintf("heartbeat %v", c.Config.Heartbeat)
}

func connectAmqplain() string {
	u, err := amqp.ParseURI(brokerURL)
	must(err, "parse url")
	c, err := amqp.DialConfig(brokerURL, amqp.Config{
		Heartbeat: 30 * time.Second,
		SASL:      []amqp.Authentication{&amqp.AMQPlainAuth{Username: u.Username, Password: u.Password}},
	})
	must(err, "connect with AMQPLAIN")
	defer c.Close()
	check(c.Config.SASL[0].Mechanism() == "AMQPLAIN", "mechanism used: %s", c.Config.SASL[0].Mechanism())
	tmpQueue(channel(c))
	return ""
}

func declareExchanges() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	for _, kind := range []string{"direct", "fanout", "topic", "headers"} {
		x := uniq(kind)
		must(ch.ExchangeDeclare(x, kind, false, false, false, false, nil), "exchange.declare "+kind)
		must(ch.ExchangeDeclare(x, kind, false, false, false, false, nil), "equivalent redeclare "+kind)
		must(ch.ExchangeDeclarePassive(x, kind, false, false, false, false, nil), "passive declare "+kind)
		must(ch.ExchangeDelete(x, false, false), "exchange.delete "+kind)
	}
	return ""
}

func declareQueues() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(err, "server-named declare")
	check(strings.HasPrefix(q.Name, "amq.gen-"), "server-named queue is %q", q.Name)
	_, err = ch.QueueDeclare(uniq("excl"), false, false, true, false, nil)
	must(err, "exclusive declare")
	ad := uniq("autodel")
	_, err = ch.QueueDeclare(ad, false, true, false, false, nil)
	must(err, "auto-delete declare")
	dur := uniq("durable")
	_, err = ch.QueueDeclare(dur, true, false, false, false, nil)
	must(err, "durable declare")
	defer func() {
		cc := channel(c)
		cc.QueueDelete(dur, false, false, false)
		cc.QueueDelete(ad, false, false, false)
	}()
	publish(ch, "", dur, text("one"))
	publish(ch, "", dur, text("two"))
	// the count is eventually consistent in RabbitMQ too: poll for up to 5 s
	var p amqp.Queue
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, err = ch.QueueDeclarePassive(dur, true, false, false, false, nil)
		must(err, "passive declare")
		if p.Messages == 2 || time.Now().After(deadline) {
			break
		}
	}
	check(p.Messages == 2, "passive declare reports %d messages, want 2", p.Messages)
	n, err := ch.QueueDelete(dur, false, false, false)
	must(err, "queue.delete durable")
	check(n == 2, "delete-ok message count %d, want 2", n)
	_, err = ch.QueueDelete(ad, false, false, false)
	must(err, "queue.delete auto-delete")
	return ""
}

func bindUnbind() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("direct")
	must(ch.ExchangeDeclare(x, "direct", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	q := tmpQueue(ch)
	must(ch.QueueBind(q, "k", x, false, nil), "queue.bind")
	publish(ch, x, "k", text("bound"))
	got := drainUntilSentinel(ch, q)
	check(eq(got, []string{"bound"}), "while bound got %v", got)
	must(ch.QueueUnbind(q, "k", x, nil), "queue.unbind")
	publish(ch, x, "k", text("unbound"))
	got = drainUntilSentinel(ch, q)
	check(eq(got, nil), "after unbind got %v", got)
	return ""
}

func routeDefault() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	publish(ch, "", q, text("default"))
	d, ok := getOne(ch, q, true)
	check(ok && string(d.Body) == "default", "default exchange did not deliver by queue name")
	check(d.Exchange == "" && d.RoutingKey == q, "delivered with exchange %q key %q", d.Exchange, d.RoutingKey)
	return ""
}

func routeDirect() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("direct")
	must(ch.ExchangeDeclare(x, "direct", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	a, b := tmpQueue(ch), tmpQueue(ch)
	must(ch.QueueBind(a, "red", x, false, nil), "bind red")
	must(ch.QueueBind(b, "blue", x, false, nil), "bind blue")
	publish(ch, x, "red", text("r"))
	publish(ch, x, "blue", text("b"))
	publish(ch, x, "green", text("g"))
	ga, gb := drainUntilSentinel(ch, a), drainUntilSentinel(ch, b)
	check(eq(ga, []string{"r"}), "red queue got %v", ga)
	check(eq(gb, []string{"b"}), "blue queue got %v", gb)
	return ""
}

func routeFanout() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("fanout")
	must(ch.ExchangeDeclare(x, "fanout", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	qs := []string{tmpQueue(ch), tmpQueue(ch), tmpQueue(ch)}
	for i, q := range qs {
		must(ch.QueueBind(q, fmt.Sprintf("key%d", i), x, false, nil), "queue.bind")
	}
	publish(ch, x, "whatever", text("all"))
	for _, q := range qs {
		g := drainUntilSentinel(ch, q)
		check(eq(g, []string{"all"}), "queue got %v", g)
	}
	return ""
}

func routeTopic() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("topic")
	must(ch.ExchangeDeclare(x, "topic", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	star, hash := tmpQueue(ch), tmpQueue(ch)
	must(ch.QueueBind(star, "*.orange.*", x, false, nil), "bind *.orange.*")
	must(ch.QueueBind(hash, "lazy.#", x, false, nil), "bind lazy.#")
	for _, k := range []string{"quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"} {
		publish(ch, x, k, text(k))
	}
	gs, gh := drainUntilSentinel(ch, star), drainUntilSentinel(ch, hash)
	check(eq(gs, []string{"lazy.orange.elephant", "quick.orange.rabbit"}), "*.orange.* got %v", gs)
	check(eq(gh, []string{"lazy", "lazy.orange.elephant"}), "lazy.# got %v", gh)
	return ""
}

func routeHeaders() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("headers")
	must(ch.ExchangeDeclare(x, "headers", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	all, any := tmpQueue(ch), tmpQueue(ch)
	must(ch.QueueBind(all, "", x, false, amqp.Table{"x-match": "all", "format": "pdf", "type": "report"}), "bind all")
	must(ch.QueueBind(any, "", x, false, amqp.Table{"x-match": "any", "format": "pdf", "type": "log"}), "bind any")
	pub := func(body string, h amqp.Table) { publish(ch, x, "", amqp.Publishing{Headers: h, Body: []byte(body)}) }
	pub("both", amqp.Table{"format": "pdf", "type": "report"})
	pub("log", amqp.Table{"format": "zip", "type": "log"})
	pub("none", amqp.Table{"format": "zip", "type": "report"})
	pub("half", amqp.Table{"format": "pdf"})
	ga, gy := drainUntilSentinel(ch, all), drainUntilSentinel(ch, any)
	check(eq(ga, []string{"both"}), "x-match all got %v", ga)
	check(eq(gy, []string{"both", "half", "log"}), "x-match any got %v", gy)
	return ""
}

func mandatoryReturn() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	key := uniq("nowhere")
	must(ch.Publish("amq.direct", key, true, false, text("lost")), "basic.publish")
	select {
	case r := <-returns:
		check(r.ReplyCode == 312, "reply code %d", r.ReplyCode)
		check(r.ReplyText == "NO_ROUTE", "reply text %q", r.ReplyText)
		check(r.Exchange == "amq.direct" && r.RoutingKey == key && string(r.Body) == "lost", "returned %q/%q body %q", r.Exchange, r.RoutingKey, r.Body)
	case <-time.After(5 * time.Second):
		panic(errors.New("no basic.return within 5 s"))
	}
	return ""
}

// confirmsSync publishes and waits for each confirmation before the next publish. It reads the
// NotifyPublish channel rather than DeferredConfirmation.Wait: in amqp091-go 1.5.0 (Debian's) the
// deferred confirmation is registered only after the frame is sent, so a broker that acks fast
// enough beats it and Wait hangs until its context ends (rabbitmq/amqp091-go#182, fixed in 1.8).
func confirmsSync() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	q := tmpQueue(ch)
	for i := 0; i < 100; i++ {
		publish(ch, "", q, text(fmt.Sprint(i)))
		select {
		case cf := <-confirms:
			check(cf.Ack, "publish %d nacked", i)
			check(cf.DeliveryTag == uint64(i+1), "confirmation tag %d, want %d", cf.DeliveryTag, i+1)
		case <-time.After(5 * time.Second):
			panic(fmt.Errorf("publish %d not confirmed within 5 s", i))
		}
	}
	p, err := ch.QueueDeclarePassive(q, false, false, true, false, nil)
	must(err, "passive declare")
	check(p.Messages == 100, "queue holds %d, want 100", p.Messages)
	return ""
}

func confirmsAsync() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 100))
	q := tmpQueue(ch)
	for i := 0; i < 100; i++ {
		publish(ch, "", q, text(fmt.Sprint(i)))
	}
	timeout := time.After(5 * time.Second)
	for want := uint64(1); want <= 100; want++ {
		select {
		case cf := <-confirms:
			check(cf.Ack, "tag %d nacked", cf.DeliveryTag)
			check(cf.DeliveryTag == want, "confirmation tag %d, want %d", cf.DeliveryTag, want)
		case <-timeout:
			panic(fmt.Errorf("only %d of 100 confirmations within 5 s", want-1))
		}
	}
	return ""
}

func manualAck() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	for i := 0; i < 10; i++ {
		publish(ch, "", q, amqp.Publishing{DeliveryMode: 2, ContentType: "text/plain", Body: []byte(fmt.Sprint(i))})
	}
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	must(err, "basic.consume")
	for i := 0; i < 10; i++ {
		d, ok := recvDelivery(ds, 5*time.Second)
		check(ok, "got %d of 10 deliveries within 5 s", i)
		check(string(d.Body) == fmt.Sprint(i), "delivery %d has body %q", i, d.Body)
		check(d.ContentType == "text/plain", "content type %q", d.ContentType)
		must(d.Ack(false), "basic.ack")
	}
	must(ch.Close(), "channel.close")
	ch2 := channel(c)
	p, err := ch2.QueueDeclarePassive(q, false, false, true, false, nil)
	must(err, "passive declare")
	check(p.Messages == 0, "queue still holds %d after acks", p.Messages)
	return ""
}

func nackRequeue() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	publish(ch, "", q, text("again"))
	d, ok := getOne(ch, q, false)
	check(ok, "message did not arrive")
	check(!d.Redelivered, "first delivery already redelivered")
	must(d.Nack(false, true), "basic.nack")
	d2, ok := getOne(ch, q, false)
	check(ok, "nacked message did not come back")
	check(string(d2.Body) == "again" && d2.Redelivered, "came back with body %q redelivered=%v", d2.Body, d2.Redelivered)
	must(d2.Ack(false), "basic.ack")
	return ""
}

func reject() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	publish(ch, "", q, text("drop"))
	d, ok := getOne(ch, q, false)
	check(ok, "message did not arrive")
	must(d.Reject(false), "basic.reject")
	must(ch.Close(), "channel.close") // an unsettled message would be requeued here
	ch2 := channel(c)
	p, err := ch2.QueueDeclarePassive(q, false, false, true, false, nil)
	must(err, "passive declare")
	check(p.Messages == 0, "rejected message still there (%d)", p.Messages)
	_, ok, err = ch2.Get(q, true)
	must(err, "basic.get")
	check(!ok, "rejected message still delivered")
	return ""
}

func prefetchFair() string {
	c := dial()
	defer c.Close()
	chA, chB := channel(c), channel(c)
	q := tmpQueue(chA)
	must(chA.Qos(1, 0, false), "basic.qos A")
	must(chB.Qos(1, 0, false), "basic.qos B")
	da, err := chA.Consume(q, "A", false, false, false, false, nil)
	must(err, "consume A")
	publish(chA, "", q, text("first"))
	first, ok := recvDelivery(da, 5*time.Second)
	check(ok && string(first.Body) == "first", "consumer A did not get the first message")
	db, err := chB.Consume(q, "B", false, false, false, false, nil)
	must(err, "consume B")
	for i := 0; i < 6; i++ {
		publish(chA, "", q, text(fmt.Sprint(i)))
	}
	for i := 0; i < 6; i++ {
		d, ok := recvDelivery(db, 5*time.Second)
		check(ok, "consumer B got %d of 6", i)
		check(string(d.Body) == fmt.Sprint(i), "B got %q, want %d", d.Body, i)
		select {
		case extra := <-da:
			panic(fmt.Errorf("consumer A got %q while holding an unacked message", extra.Body))
		default:
		}
		must(d.Ack(false), "ack B")
	}
	select {
	case extra := <-da:
		panic(fmt.Errorf("consumer A got %q while holding an unacked message", extra.Body))
	case <-time.After(100 * time.Millisecond):
	}
	must(first.Ack(false), "ack A")
	return ""
}

func basicGet() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	for _, b := range []string{"a", "b", "c"} {
		publish(ch, "", q, text(b))
	}
	d, ok := getOne(ch, q, false)
	check(ok, "get returned empty")
	check(string(d.Body) == "a", "first get body %q", d.Body)
	check(d.MessageCount == 2, "first get-ok message count %d, want 2", d.MessageCount)
	must(d.Ack(false), "ack")
	d, ok = getOne(ch, q, true)
	check(ok && d.MessageCount == 1 && string(d.Body) == "b", "second get: ok=%v count=%d body %q", ok, d.MessageCount, d.Body)
	d, ok = getOne(ch, q, true)
	check(ok && d.MessageCount == 0 && string(d.Body) == "c", "third get: ok=%v count=%d body %q", ok, d.MessageCount, d.Body)
	_, ok, err := ch.Get(q, true)
	must(err, "basic.get on empty queue")
	check(!ok, "empty queue did not give get-empty")
	return ""
}

func largeMessage() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	body := make([]byte, 1<<20)
	rand.Read(body)
	publish(ch, "", q, amqp.Publishing{Body: body})
	d, ok := getOne(ch, q, true)
	check(ok, "1 MiB message did not arrive")
	check(bytes.Equal(d.Body, body), "body differs (len %d)", len(d.Body))
	return fmt.Sprintf("frame_max %d", c.Config.FrameSize)
}

func emptyMessage() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	publish(ch, "", q, amqp.Publishing{ContentType: "x/empty"})
	d, ok := getOne(ch, q, true)
	check(ok, "empty message did not arrive")
	check(len(d.Body) == 0 && d.ContentType == "x/empty", "got body len %d type %q", len(d.Body), d.ContentType)
	return ""
}

func propertiesRoundtrip() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	ts := time.Unix(1700000000, 0)
	sent := amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "gzip",
		Headers:         amqp.Table{"h1": "v1", "h2": int32(7)},
		DeliveryMode:    2,
		Priority:        5,
		CorrelationId:   "corr-1",
		ReplyTo:         "reply.q",
		Expiration:      "60000",
		MessageId:       "msg-1",
		Timestamp:       ts,
		Type:            "kind",
		UserId:          loginUser(),
		AppId:           "interop-go",
		Body:            []byte("props"),
	}
	publish(ch, "", q, sent)
	d, ok := getOne(ch, q, true)
	check(ok, "message did not arrive")
	type pair struct {
		name      string
		got, want interface{}
	}
	for _, p := range []pair{
		{"content-type", d.ContentType, sent.ContentType},
		{"content-encoding", d.ContentEncoding, sent.ContentEncoding},
		{"headers", d.Headers, sent.Headers},
		{"delivery-mode", d.DeliveryMode, sent.DeliveryMode},
		{"priority", d.Priority, sent.Priority},
		{"correlation-id", d.CorrelationId, sent.CorrelationId},
		{"reply-to", d.ReplyTo, sent.ReplyTo},
		{"expiration", d.Expiration, sent.Expiration},
		{"message-id", d.MessageId, sent.MessageId},
		{"timestamp", d.Timestamp.Unix(), ts.Unix()},
		{"type", d.Type, sent.Type},
		{"user-id", d.UserId, sent.UserId},
		{"app-id", d.AppId, sent.AppId},
		{"body", string(d.Body), "props"},
	} {
		check(reflect.DeepEqual(p.got, p.want), "%s: got %#v, want %#v", p.name, p.got, p.want)
	}
	return ""
}

func headersTypes() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	ts := time.Unix(1700000000, 0)
	h := amqp.Table{
		"string":  "text ü",
		"int8":    int8(-8),
		"uint8":   byte(200),
		"int16":   int16(-1600),
		"int32":   int32(-320000),
		"int64":   int64(-64000000000),
		"true":    true,
		"false":   false,
		"float":   float32(1.5),
		"double":  float64(-2.25),
		"decimal": amqp.Decimal{Scale: 2, Value: 12345},
		"time":    ts,
		"table":   amqp.Table{"inner": "v", "n": int32(1), "deeper": amqp.Table{"x": int64(2)}},
		"array":   []interface{}{"a", int32(1), true, amqp.Table{"k": "v"}, []interface{}{int16(2)}},
		"bytes":   []byte{0, 1, 2, 255},
		"void":    nil,
	}
	publish(ch, "", q, amqp.Publishing{Headers: h, Body: []byte("h")})
	d, ok := getOne(ch, q, true)
	check(ok, "message did not arrive")
	var bad []string
	for k, want := range h {
		got, present := d.Headers[k]
		if k == "time" {
			if t, isT := got.(time.Time); isT && t.Unix() == ts.Unix() {
				continue
			}
		} else if present && reflect.DeepEqual(got, want) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%s: got %T %#v want %T %#v (present=%v)", k, got, got, want, want, present))
	}
	check(len(d.Headers) == len(h), "got %d headers, sent %d", len(d.Headers), len(h))
	sort.Strings(bad)
	check(len(bad) == 0, "%s", strings.Join(bad, "; "))
	return ""
}

func passiveMissing404() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	name := uniq("missing")
	_, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
	check(err != nil, "passive declare of a missing queue succeeded")
	var ae *amqp.Error
	check(errors.As(err, &ae), "error is %T %v, not *amqp.Error", err, err)
	check(ae.Code == 404, "reply code %d (%s)", ae.Code, ae.Reason)
	want := fmt.Sprintf("NOT_FOUND - no queue '%s' in vhost ", name)
	check(strings.HasPrefix(ae.Reason, want), "reply text %q", ae.Reason)
	// the channel is closed, the connection still works
	tmpQueue(channel(c))
	return ""
}

func exchangeToExchange() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	a, b := uniq("src"), uniq("dst")
	must(ch.ExchangeDeclare(a, "direct", false, false, false, false, nil), "declare A")
	defer deleteExchange(c, a)
	must(ch.ExchangeDeclare(b, "fanout", false, false, false, false, nil), "declare B")
	defer deleteExchange(c, b)
	must(ch.ExchangeBind(b, "k", a, false, nil), "exchange.bind")
	q := tmpQueue(ch)
	must(ch.QueueBind(q, "", b, false, nil), "queue.bind")
	publish(ch, a, "k", text("via-e2e"))
	publish(ch, a, "other", text("unrouted"))
	g := drainUntilSentinel(ch, q)
	check(eq(g, []string{"via-e2e"}), "queue got %v", g)
	must(ch.ExchangeUnbind(b, "k", a, false, nil), "exchange.unbind")
	return ""
}

func txCommit() string {
	c := dial()
	defer c.Close()
	tx, other := channel(c), channel(c)
	q := tmpQueue(other)
	must(tx.Tx(), "tx.select")
	publish(tx, "", q, text("tx"))
	time.Sleep(100 * time.Millisecond)
	_, ok, err := other.Get(q, true)
	must(err, "basic.get")
	check(!ok, "uncommitted publish is visible")
	must(tx.TxCommit(), "tx.commit")
	d, ok := getOne(other, q, true)
	check(ok && string(d.Body) == "tx", "committed publish did not arrive")
	return ""
}

func txRollback() string {
	c := dial()
	defer c.Close()
	tx := channel(c)
	q := tmpQueue(tx)
	must(tx.Tx(), "tx.select")
	publish(tx, "", q, text("rolled-back"))
	must(tx.TxRollback(), "tx.rollback")
	publish(tx, "", q, text("committed"))
	must(tx.TxCommit(), "tx.commit")
	d, ok := getOne(tx, q, true)
	check(ok, "nothing arrived after commit")
	check(string(d.Body) == "committed", "first message is %q", d.Body)
	_, ok, err := tx.Get(q, true)
	must(err, "basic.get")
	check(!ok, "more messages than the committed one")
	return ""
}

func channels100() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	q := tmpQueue(ch)
	var chans []*amqp.Channel
	for i := 0; i < 100; i++ {
		chans = append(chans, channel(c))
	}
	for i, x := range chans {
		publish(x, "", q, text(fmt.Sprint(i)))
	}
	for i, x := range chans {
		must(x.Close(), fmt.Sprintf("close channel %d", i))
	}
	p, err := ch.QueueDeclarePassive(q, false, false, true, false, nil)
	must(err, "passive declare")
	check(p.Messages == 100, "queue holds %d, want 100", p.Messages)
	return ""
}

func closeRequeues() string {
	c := dial()
	defer c.Close()
	ch1, ch2 := channel(c), channel(c)
	q := tmpQueue(ch2)
	publish(ch2, "", q, text("held"))
	ds, err := ch1.Consume(q, "", false, false, false, false, nil)
	must(err, "basic.consume")
	d, ok := recvDelivery(ds, 5*time.Second)
	check(ok && string(d.Body) == "held", "no delivery")
	check(!d.Redelivered, "first delivery already redelivered")
	must(ch1.Close(), "channel.close")
	d2, ok := getOne(ch2, q, true)
	check(ok, "unacked message did not come back")
	check(string(d2.Body) == "held" && d2.Redelivered, "came back with body %q redelivered=%v", d2.Body, d2.Redelivered)
	return ""
}

func serverCancel() string {
	c := dial()
	defer c.Close()
	ch1, ch2 := channel(c), channel(c)
	q := uniq("cancel")
	_, err := ch1.QueueDeclare(q, false, true, false, false, nil)
	must(err, "queue.declare")
	cancels := ch1.NotifyCancel(make(chan string, 1))
	ds, err := ch1.Consume(q, "ctag-"+q, false, false, false, false, nil)
	must(err, "basic.consume")
	_, err = ch2.QueueDelete(q, false, false, false)
	must(err, "queue.delete")
	select {
	case tag := <-cancels:
		check(tag == "ctag-"+q, "cancel for tag %q", tag)
	case <-time.After(5 * time.Second):
		panic(errors.New("no basic.cancel within 5 s"))
	}
	_, open := recvDelivery(ds, 5*time.Second)
	check(!open, "deliveries channel still open after the cancel")
	check(!ch1.IsClosed(), "channel closed by the cancel")
	tmpQueue(ch1)
	return ""
}

func rpcReplyTo() string {
	const pseudo = "amq.rabbitmq.reply-to"
	rc, sc := dial(), dial()
	defer rc.Close()
	defer sc.Close()
	requester, responder := channel(rc), channel(sc)
	ok, err := requester.QueueDeclarePassive(pseudo, false, false, false, false, nil)
	must(err, "passive queue.declare")
	check(ok.Messages == 0 && ok.Consumers == 1, "passive declare of %s: %d messages, %d consumers", pseudo, ok.Messages, ok.Consumers)
	q := tmpQueue(responder)
	requests, err := responder.Consume(q, "", true, false, false, false, nil)
	must(err, "basic.consume")
	tag := "replies-" + q
	replies, err := requester.Consume(pseudo, tag, true, false, false, false, nil)
	must(err, "basic.consume of "+pseudo)
	id := uniq("call")
	publish(requester, "", q, amqp.Publishing{Body: []byte("6*7"), ReplyTo: pseudo, CorrelationId: id})
	req, got := recvDelivery(requests, 5*time.Second)
	check(got, "no request within 5 s")
	check(strings.HasPrefix(req.ReplyTo, pseudo+"."), "request reply-to %q", req.ReplyTo)
	publish(responder, "", req.ReplyTo, amqp.Publishing{Body: []byte("42"), CorrelationId: req.CorrelationId})
	reply, got := recvDelivery(replies, 5*time.Second)
	check(got, "no reply within 5 s")
	check(reply.ConsumerTag == tag, "reply for consumer %q", reply.ConsumerTag)
	check(string(reply.Body) == "42" && reply.CorrelationId == id, "reply %q correlation %q", reply.Body, reply.CorrelationId)
	return "Consume(amq.rabbitmq.reply-to, autoAck)"
}

func cleanClose() string {
	c := dial()
	closes := c.NotifyClose(make(chan *amqp.Error, 1))
	tmpQueue(channel(c))
	must(c.Close(), "connection.close")
	select {
	case e, ok := <-closes:
		check(!ok && e == nil, "close notification carried an error: %v", e)
	case <-time.After(5 * time.Second):
		panic(errors.New("close notification did not arrive"))
	}
	check(c.IsClosed(), "connection not closed")
	return ""
}

// ---------------------------------------------------------------- queue extensions

// argQueue declares a named exclusive queue with arguments (gone when the connection closes).
func argQueue(ch *amqp.Channel, name string, args amqp.Table) string {
	q, err := ch.QueueDeclare(name, false, false, true, false, args)
	must(err, "queue.declare "+name)
	return q.Name
}

// waitCount polls a passive declare until the queue holds want messages or 5 s pass.
func waitCount(ch *amqp.Channel, q string, want int) int {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, err := ch.QueueDeclarePassive(q, false, false, true, false, nil)
		must(err, "passive declare")
		if p.Messages == want || time.Now().After(deadline) {
			return p.Messages
		}
	}
}

// publishConfirmed publishes under confirms and returns each publish's ack (true) or nack.
func publishConfirmed(ch *amqp.Channel, confirms <-chan amqp.Confirmation, key string, msgs ...amqp.Publishing) []bool {
	var acks []bool
	for i, m := range msgs {
		publish(ch, "", key, m)
		select {
		case cf := <-confirms:
			acks = append(acks, cf.Ack)
		case <-time.After(5 * time.Second):
			panic(fmt.Errorf("publish %d not confirmed within 5 s", i))
		}
	}
	return acks
}

func asInt64(v interface{}) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

// checkDeath checks x-death[i] against queue, reason and count.
func checkDeath(h amqp.Table, i int, queue, reason string, count int64) {
	deaths, ok := h["x-death"].([]interface{})
	check(ok, "x-death is %T %#v", h["x-death"], h["x-death"])
	check(len(deaths) > i, "x-death has %d entries, want entry %d", len(deaths), i)
	d, ok := deaths[i].(amqp.Table)
	check(ok, "x-death[%d] is %T", i, deaths[i])
	n, isInt := asInt64(d["count"])
	check(d["queue"] == queue && d["reason"] == reason && isInt && n == count,
		"x-death[%d] = {queue %v, reason %v, count %#v}, want {%s, %s, %d}", i, d["queue"], d["reason"], d["count"], queue, reason, count)
}

func queueArgInvalid() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	name := uniq("maxprio")
	_, err := ch.QueueDeclare(name, false, false, true, false, amqp.Table{"x-max-priority": int32(256)})
	check(err != nil, "declare with x-max-priority 256 succeeded")
	var ae *amqp.Error
	check(errors.As(err, &ae), "error is %T %v, not *amqp.Error", err, err)
	check(ae.Code == 406, "reply code %d (%s)", ae.Code, ae.Reason)
	want := fmt.Sprintf("PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': {max_value_exceeded,256}", name)
	check(ae.Reason == want, "reply text %q, want %q", ae.Reason, want)
	tmpQueue(channel(c))
	return ""
}

func messageTTL() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	ttl := argQueue(ch, uniq("ttl"), amqp.Table{"x-message-ttl": int32(100)})
	plain := tmpQueue(ch)
	publish(ch, "", ttl, text("queue-ttl"))
	publish(ch, "", plain, amqp.Publishing{Expiration: "50", Body: []byte("message-ttl")})
	n := waitCount(ch, ttl, 0)
	check(n == 0, "queue with x-message-ttl 100 still holds %d", n)
	n = waitCount(ch, plain, 0)
	check(n == 0, "message with expiration 50 still there (%d)", n)
	publish(ch, "", plain, text("stays"))
	check(waitCount(ch, plain, 1) == 1, "message without expiration did not arrive")
	time.Sleep(300 * time.Millisecond)
	d, ok, err := ch.Get(plain, true)
	must(err, "basic.get")
	check(ok && string(d.Body) == "stays", "message without expiration gone after 300 ms")
	return ""
}

func deadLetter() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	dlx := uniq("dlx")
	must(ch.ExchangeDeclare(dlx, "fanout", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, dlx)
	dlq := tmpQueue(ch)
	must(ch.QueueBind(dlq, "", dlx, false, nil), "queue.bind")
	work := argQueue(ch, uniq("work"), amqp.Table{"x-dead-letter-exchange": dlx})
	publish(ch, "", work, text("doomed"))
	d, ok := getOne(ch, work, false)
	check(ok, "message did not arrive in the work queue")
	must(d.Reject(false), "basic.reject")
	dead, ok := getOne(ch, dlq, true)
	check(ok, "rejected message did not reach the dead-letter queue")
	check(string(dead.Body) == "doomed", "dead-lettered body %q", dead.Body)
	checkDeath(dead.Headers, 0, work, "rejected", 1)
	check(dead.Headers["x-first-death-reason"] == "rejected", "x-first-death-reason %#v", dead.Headers["x-first-death-reason"])
	check(dead.Headers["x-first-death-queue"] == work, "x-first-death-queue %#v", dead.Headers["x-first-death-queue"])
	return ""
}

func quorumQueue() string {
	c := dial()
	defer c.Close()
	q, dlx, dlq := uniq("quorum"), uniq("qdlx"), uniq("qdlq")
	defer func() {
		if ch, err := c.Channel(); err == nil {
			ch.QueueDelete(q, false, false, false)
			ch.QueueDelete(dlq, false, false, false)
			ch.ExchangeDelete(dlx, false, false)
			ch.Close()
		}
	}()
	_, err := channel(c).QueueDeclare(q, false, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	check(err != nil, "a non-durable quorum queue was declared")
	var ae *amqp.Error
	check(errors.As(err, &ae), "error is %T %v, not *amqp.Error", err, err)
	check(ae.Code == 406, "reply code %d (%s)", ae.Code, ae.Reason)
	check(strings.Contains(ae.Reason, "invalid property 'non-durable'"), "reply text %q", ae.Reason)
	ch := channel(c)
	must(ch.ExchangeDeclare(dlx, "fanout", false, false, false, false, nil), "exchange.declare")
	_, err = ch.QueueDeclare(dlq, false, false, false, false, nil)
	must(err, "queue.declare "+dlq)
	must(ch.QueueBind(dlq, "", dlx, false, nil), "queue.bind")
	_, err = ch.QueueDeclare(q, true, false, false, false,
		amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(1), "x-dead-letter-exchange": dlx})
	must(err, "queue.declare "+q)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	acks := publishConfirmed(ch, confirms, q, amqp.Publishing{DeliveryMode: amqp.Transient, Body: []byte("quorum")})
	check(acks[0], "publish nacked")
	d, ok := getOne(ch, q, false)
	check(ok && string(d.Body) == "quorum", "the message did not arrive")
	check(!d.Redelivered, "first delivery flagged redelivered")
	first, present := d.Headers["x-delivery-count"]
	// RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
	n, isInt := asInt64(first)
	check(!present || (isInt && n == 0), "first delivery has x-delivery-count %#v", first)
	must(d.Reject(true), "basic.reject")
	d, ok = getOne(ch, q, false)
	check(ok && string(d.Body) == "quorum", "the requeued message did not come back")
	check(d.Redelivered, "second delivery not flagged redelivered")
	n, isInt = asInt64(d.Headers["x-delivery-count"])
	check(isInt && n == 1, "second delivery has x-delivery-count %#v", d.Headers["x-delivery-count"])
	must(d.Reject(true), "basic.reject")
	dead, ok := getOne(ch, dlq, true)
	check(ok && string(dead.Body) == "quorum", "the message did not reach the dead-letter queue")
	deaths, _ := dead.Headers["x-death"].([]interface{})
	check(len(deaths) > 0, "x-death %#v", dead.Headers["x-death"])
	death, _ := deaths[0].(amqp.Table)
	check(death["reason"] == "delivery_limit" && death["queue"] == q, "x-death[0] %#v", deaths[0])
	_, ok, err = ch.Get(q, true)
	must(err, "basic.get")
	check(!ok, "the quorum queue still holds the message")
	if !present {
		return "first delivery x-delivery-count absent"
	}
	return fmt.Sprintf("first delivery x-delivery-count %v", first)
}

func streamQueue() string {
	c := dial()
	defer c.Close()
	s := uniq("stream")
	defer func() {
		if ch, err := c.Channel(); err == nil {
			ch.QueueDelete(s, false, false, false)
			ch.Close()
		}
	}()
	_, err := channel(c).QueueDeclare(s, false, false, false, false, amqp.Table{"x-queue-type": "stream"})
	check(err != nil, "a non-durable stream was declared")
	var ae *amqp.Error
	check(errors.As(err, &ae), "error is %T %v, not *amqp.Error", err, err)
	want := fmt.Sprintf("PRECONDITION_FAILED - invalid property 'non-durable' for queue '%s' in vhost '/'", s)
	check(ae.Code == 406 && ae.Reason == want, "non-durable declare: %d %q", ae.Code, ae.Reason)
	ch := channel(c)
	_, err = ch.QueueDeclare(s, true, false, false, false, amqp.Table{"x-queue-type": "stream"})
	must(err, "queue.declare "+s)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 5))
	var msgs []amqp.Publishing
	for i := 0; i < 5; i++ {
		msgs = append(msgs, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprintf("m%d", i))})
	}
	for i, ack := range publishConfirmed(ch, confirms, s, msgs...) {
		check(ack, "publish m%d nacked", i)
	}
	consume := func(offset interface{}, want []int) {
		cc := channel(c)
		must(cc.Qos(10, 0, false), "basic.qos")
		ds, err := cc.Consume(s, "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
		must(err, "basic.consume")
		for _, i := range want {
			d, ok := recvDelivery(ds, 5*time.Second)
			check(ok, "x-stream-offset %#v: m%d did not arrive", offset, i)
			o, isLong := d.Headers["x-stream-offset"].(int64) // amqp091-go reads 'l' as int64, 'I' as int32
			check(string(d.Body) == fmt.Sprintf("m%d", i) && isLong && o == int64(i),
				"x-stream-offset %#v: got %q with x-stream-offset %#v, want m%d with int64(%d)", offset, d.Body, d.Headers["x-stream-offset"], i, i)
			must(d.Ack(false), "basic.ack")
		}
		extra, more := recvDelivery(ds, 200*time.Millisecond)
		check(!more, "x-stream-offset %#v: an extra delivery %q", offset, extra.Body)
		cc.Close()
	}
	consume("first", []int{0, 1, 2, 3, 4})
	consume(int64(3), []int{3, 4})
	other := dial()
	defer other.Close()
	_, _, err = channel(other).Get(s, false)
	check(err != nil, "basic.get on a stream succeeded")
	check(errors.As(err, &ae), "basic.get: error is %T %v, not *amqp.Error", err, err)
	want = fmt.Sprintf("NOT_IMPLEMENTED - basic.get not supported by stream queues queue '%s' in vhost '/'", s)
	check(ae.Code == 540 && ae.Reason == want, "basic.get: %d %q", ae.Code, ae.Reason)
	check(other.IsClosed(), "basic.get left the connection open")
	_, err = ch.QueueDelete(s, false, false, false)
	must(err, "queue.delete")
	return "Channel.Consume(..., amqp.Table{\"x-stream-offset\": ...}); x-stream-offset headers are int64 ('l'); basic.get closes the connection with 540"
}

func retryWithDelay() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	work, delay := uniq("work"), uniq("delay")
	argQueue(ch, work, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": delay})
	argQueue(ch, delay, amqp.Table{"x-message-ttl": int32(50), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": work})
	publish(ch, "", work, text("job"))
	for round := 1; round <= 3; round++ {
		d, ok := getOne(ch, work, false)
		check(ok, "delivery %d did not arrive in the work queue", round)
		must(d.Reject(false), "basic.reject")
	}
	d, ok := getOne(ch, work, true)
	check(ok, "fourth delivery did not arrive in the work queue")
	check(string(d.Body) == "job", "body %q", d.Body)
	deaths, _ := d.Headers["x-death"].([]interface{})
	check(len(deaths) == 2, "x-death has %d entries, want 2: %#v", len(deaths), d.Headers["x-death"])
	checkDeath(d.Headers, 0, delay, "expired", 3)
	checkDeath(d.Headers, 1, work, "rejected", 3)
	return ""
}

func maxLength() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	head := argQueue(ch, uniq("drophead"), amqp.Table{"x-max-length": int32(2)})
	acks := publishConfirmed(ch, confirms, head, text("1"), text("2"), text("3"), text("4"))
	check(reflect.DeepEqual(acks, []bool{true, true, true, true}), "drop-head confirms %v", acks)
	var got []string
	for {
		d, ok, err := ch.Get(head, true)
		must(err, "basic.get")
		if !ok {
			break
		}
		got = append(got, string(d.Body))
	}
	check(eq(got, []string{"3", "4"}), "drop-head queue holds %v, want [3 4]", got)
	reject := argQueue(ch, uniq("rejectpub"), amqp.Table{"x-max-length": int32(2), "x-overflow": "reject-publish"})
	acks = publishConfirmed(ch, confirms, reject, text("1"), text("2"), text("3"))
	check(reflect.DeepEqual(acks, []bool{true, true, false}), "reject-publish confirms %v, want [true true false]", acks)
	n := waitCount(ch, reject, 2)
	check(n == 2, "reject-publish queue holds %d, want 2", n)
	return ""
}

func priorityQueue() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	q := argQueue(ch, uniq("prio"), amqp.Table{"x-max-priority": int32(10)})
	var msgs []amqp.Publishing
	for _, p := range []uint8{1, 9, 5} {
		msgs = append(msgs, amqp.Publishing{Priority: p, Body: []byte(fmt.Sprint(p))})
	}
	acks := publishConfirmed(ch, confirms, q, msgs...)
	check(reflect.DeepEqual(acks, []bool{true, true, true}), "confirms %v", acks)
	ds, err := ch.Consume(q, "", true, false, false, false, nil)
	must(err, "basic.consume")
	var got []string
	for i := 0; i < 3; i++ {
		d, ok := recvDelivery(ds, 5*time.Second)
		check(ok, "got %d of 3 deliveries within 5 s", i)
		got = append(got, string(d.Body))
	}
	check(reflect.DeepEqual(got, []string{"9", "5", "1"}), "delivered in order %v, want [9 5 1]", got)
	return ""
}

func singleActiveConsumer() string {
	c := dial()
	defer c.Close()
	chA, chB := channel(c), channel(c)
	q := argQueue(chA, uniq("sac"), amqp.Table{"x-single-active-consumer": true})
	da, err := chA.Consume(q, "A", true, false, false, false, nil)
	must(err, "consume A")
	db, err := chB.Consume(q, "B", true, false, false, false, nil)
	must(err, "consume B")
	for i := 0; i < 3; i++ {
		publish(chA, "", q, text(fmt.Sprint(i)))
	}
	for i := 0; i < 3; i++ {
		d, ok := recvDelivery(da, 5*time.Second)
		check(ok, "active consumer A got %d of 3", i)
		check(string(d.Body) == fmt.Sprint(i), "A got %q, want %d", d.Body, i)
	}
	select {
	case extra := <-db:
		panic(fmt.Errorf("inactive consumer B got %q", extra.Body))
	case <-time.After(100 * time.Millisecond):
	}
	must(chA.Cancel("A", false), "basic.cancel A")
	for i := 3; i < 5; i++ {
		publish(chA, "", q, text(fmt.Sprint(i)))
	}
	for i := 3; i < 5; i++ {
		d, ok := recvDelivery(db, 5*time.Second)
		check(ok, "consumer B got %d of 2 after A's cancel", i-3)
		check(string(d.Body) == fmt.Sprint(i), "B got %q, want %d", d.Body, i)
	}
	return ""
}

func queueExpiry() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	idle, used := uniq("expires"), uniq("expires")
	defer func() {
		if cc, err := c.Channel(); err == nil {
			cc.QueueDelete(idle, false, false, false)
			cc.QueueDelete(used, false, false, false)
			cc.Close()
		}
	}()
	args := amqp.Table{"x-expires": int32(200)}
	// The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
	_, err := ch.QueueDeclare(used, false, false, false, false, args)
	must(err, "queue.declare "+used)
	_, err = ch.Consume(used, "used", true, false, false, false, nil)
	must(err, "basic.consume")
	_, err = ch.QueueDeclare(idle, false, false, false, false, args)
	must(err, "queue.declare "+idle)
	start := time.Now()
	for {
		// Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than the
		// 200 ms: RabbitMQ renews the lease on a passive declare too.
		probe := channel(c)
		_, err := probe.QueueDeclarePassive(idle, false, false, false, false, nil)
		if err != nil {
			var ae *amqp.Error
			check(errors.As(err, &ae) && ae.Code == 404, "passive declare: %v", err)
			break
		}
		probe.Close()
		check(time.Since(start) < 5*time.Second, "queue with x-expires 200 and no consumer still there after 5 s")
		time.Sleep(300 * time.Millisecond)
	}
	gone := time.Since(start)
	probe := channel(c)
	_, err = probe.QueueDeclarePassive(used, false, false, false, false, nil)
	must(err, "passive declare of the consumed queue")
	probe.Close()
	must(ch.Cancel("used", false), "basic.cancel")
	return fmt.Sprintf("idle queue gone after %d ms (*amqp.Error 404); consumed one still there", gone.Milliseconds())
}

func consumerPriority() string {
	c := dial()
	defer c.Close()
	chA, chB := channel(c), channel(c)
	q := tmpQueue(chA)
	must(chA.Qos(2, 0, false), "basic.qos A")
	// B first: the priority, not the order of registration, gives A the first messages.
	db, err := chB.Consume(q, "B", true, false, false, false, nil)
	must(err, "consume B")
	da, err := chA.Consume(q, "A", false, false, false, false, amqp.Table{"x-priority": int32(10)})
	must(err, "consume A")
	for i := 0; i < 5; i++ {
		publish(chA, "", q, text(fmt.Sprint(i)))
	}
	var gotA, gotB []string
	for i := 0; i < 2; i++ {
		d, ok := recvDelivery(da, 5*time.Second)
		check(ok, "consumer A got %v of 2", gotA)
		gotA = append(gotA, string(d.Body))
	}
	for i := 0; i < 3; i++ {
		d, ok := recvDelivery(db, 5*time.Second)
		check(ok, "consumer B got %v of 3 (A got %v)", gotB, gotA)
		gotB = append(gotB, string(d.Body))
	}
	extra, more := recvDelivery(da, 200*time.Millisecond)
	check(eq(gotA, []string{"0", "1"}) && eq(gotB, []string{"2", "3", "4"}) && !more,
		"A (x-priority 10, prefetch 2, no acks) got %v (then %q), B got %v", gotA, extra.Body, gotB)
	return "Channel.Consume(..., amqp.Table{\"x-priority\": int32(10)})"
}

func senderSelected() string {
	c := dial()
	defer c.Close()
	ch := channel(c)
	x := uniq("direct")
	must(ch.ExchangeDeclare(x, "direct", false, false, false, false, nil), "exchange.declare")
	defer deleteExchange(c, x)
	keys := []string{"k1", "k2", "k3"}
	var qs []string
	for _, k := range keys {
		q := tmpQueue(ch)
		must(ch.QueueBind(q, k, x, false, nil), "queue.bind "+k)
		qs = append(qs, q)
	}
	publish(ch, x, "k1", amqp.Publishing{
		Headers: amqp.Table{"CC": []interface{}{"k2"}, "BCC": []interface{}{"k3"}},
		Body:    []byte("selected"),
	})
	for i, q := range qs {
		d, ok := getOne(ch, q, true)
		check(ok, "queue bound with %s got nothing", keys[i])
		check(string(d.Body) == "selected", "queue bound with %s got %q", keys[i], d.Body)
		_, bcc := d.Headers["BCC"]
		check(!bcc, "copy in the queue bound with %s carries BCC: %#v", keys[i], d.Headers)
		rest := drainUntilSentinel(ch, q)
		check(eq(rest, nil), "queue bound with %s got extra copies %v", keys[i], rest)
	}
	return ""
}

// tlsSetup is the vhost_user_tls set-up interop/run exports, with the user and vhost of the TLS
// URL; na when it gave none.
func tlsSetup() (tlsURL, ca, refused, user, vhost string) {
	tlsURL, ca, refused = os.Getenv("INTEROP_TLS_URL"), os.Getenv("INTEROP_TLS_CA"), os.Getenv("INTEROP_PLAIN_URL_FOR_USER")
	if tlsURL == "" || ca == "" || refused == "" {
		panic(naError{"no TLS set-up given"})
	}
	u, err := amqp.ParseURI(tlsURL)
	must(err, "INTEROP_TLS_URL")
	return tlsURL, ca, refused, u.Username, u.Vhost
}

// recordingConn keeps what the broker sent, to read a connection.close the client does not surface.
type recordingConn struct {
	net.Conn
	got bytes.Buffer
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

// connectionClose finds a connection.close method frame in bytes the broker sent.
func connectionClose(b []byte) (code uint16, text string, ok bool) {
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b[3:7]))
		if len(b) < 8+size {
			break
		}
		payload := b[7 : 7+size]
		if b[0] == 1 && size >= 7 && binary.BigEndian.Uint16(payload[0:2]) == 10 && binary.BigEndian.Uint16(payload[2:4]) == 50 {
			n := int(payload[6])
			if 7+n <= size {
				return binary.BigEndian.Uint16(payload[4:6]), string(payload[7 : 7+n]), true
			}
		}
		b = b[8+size:]
	}
	return 0, "", false
}

// vhostUserTLS: amqp.DialTLS with RootCAs = the test CA (amqp091-go sets ServerName to the
// URL's host, and crypto/tls checks it against the certificate's IP SAN).
func vhostUserTLS() string {
	tlsURL, caFile, refusedURL, user, vhost := tlsSetup()
	pem, err := os.ReadFile(caFile)
	must(err, "read the CA")
	pool := x509.NewCertPool()
	check(pool.AppendCertsFromPEM(pem), "no certificate in %s", caFile)
	c, err := amqp.DialTLS(tlsURL, &tls.Config{RootCAs: pool})
	must(err, "DialTLS")
	defer c.Close()
	version := map[uint16]string{tls.VersionTLS12: "TLS 1.2", tls.VersionTLS13: "TLS 1.3"}[c.ConnectionState().Version]
	x, q, denied := "tls-"+uniq("x"), "tls-"+uniq("q"), "denied."+uniq("q") // the user may configure ^tls-.* only
	body := make([]byte, 1024+16)
	for i := range body[:1024] {
		body[i] = byte(i)
	}
	rand.Read(body[1024:])
	ch := channel(c)
	defer func() {
		if cc, err := c.Channel(); err == nil {
			cc.QueueDelete(q, false, false, false)
			cc.ExchangeDelete(x, false, false)
			cc.Close()
		}
	}()
	must(ch.ExchangeDeclare(x, "direct", false, false, false, false, nil), "exchange.declare")
	_, err = ch.QueueDeclare(q, false, false, false, false, nil)
	must(err, "queue.declare")
	must(ch.QueueBind(q, "k", x, false, nil), "queue.bind")
	publish(ch, x, "k", amqp.Publishing{Body: body}) // a named exchange: "" is amq.default, outside ^tls-.*
	d, ok := getOne(ch, q, true)
	check(ok && bytes.Equal(d.Body, body), "basic.get gave %q", d.Body)
	_, err = channel(c).QueueDeclare(denied, false, false, false, false, nil)
	var e *amqp.Error
	check(errors.As(err, &e), "queue %s declared outside the user's configure permission (err %v)", denied, err)
	// RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not.
	tail := fmt.Sprintf("access to queue '%s' in vhost '%s' refused for user '%s'", denied, vhost, user)
	text403 := map[string]string{
		"ACCESS_REFUSED - configure " + tail: "403 text as RabbitMQ 4.x's (naming 'configure')",
		"ACCESS_REFUSED - " + tail:           "403 text as RabbitMQ 3.10's (without 'configure')",
	}[e.Reason]
	check(e.Code == 403 && text403 != "", "channel closed with %d %q", e.Code, e.Reason)

	// amqp091-go 1.5 (connection.go openVhost) answers any failure of connection.open with its
	// own ErrVhost (403 "no access to this vhost"); the broker's close is read off the socket.
	var rec *recordingConn
	dialer := func(network, addr string) (net.Conn, error) {
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		rec = &recordingConn{Conn: conn}
		return rec, nil
	}
	r, err := amqp.DialConfig(refusedURL, amqp.Config{Dial: dialer})
	if err == nil {
		r.Close()
	}
	check(err == amqp.ErrVhost, "%s logged in to vhost '/' or failed otherwise: %v", user, err)
	code, text, ok := connectionClose(rec.got.Bytes())
	wantRefused := fmt.Sprintf("NOT_ALLOWED - access to vhost '/' refused for user '%s'", user)
	check(ok && code == 530 && text == wantRefused, "the broker's connection.close: %v %d %q", ok, code, text)
	return fmt.Sprintf("%s, amqp.DialTLS(url, &tls.Config{RootCAs: CA}); %s; vhost '/' refused: amqp.ErrVhost (the client's own 403 \"%s\"), the broker's close on the wire 530 with the text", version, text403, amqp.ErrVhost.Reason)
}

var scenarios = map[string]func() string{
	"connect":                connect,
	"connect_amqplain":       connectAmqplain,
	"declare_exchanges":      declareExchanges,
	"declare_queues":         declareQueues,
	"bind_unbind":            bindUnbind,
	"route_default":          routeDefault,
	"route_direct":           routeDirect,
	"route_fanout":           routeFanout,
	"route_topic":            routeTopic,
	"route_headers":          routeHeaders,
	"mandatory_return":       mandatoryReturn,
	"confirms_sync":          confirmsSync,
	"confirms_async":         confirmsAsync,
	"manual_ack":             manualAck,
	"nack_requeue":           nackRequeue,
	"reject":                 reject,
	"prefetch_fair":          prefetchFair,
	"basic_get":              basicGet,
	"large_message":          largeMessage,
	"empty_message":          emptyMessage,
	"properties_roundtrip":   propertiesRoundtrip,
	"headers_types":          headersTypes,
	"passive_missing_404":    passiveMissing404,
	"exchange_to_exchange":   exchangeToExchange,
	"tx_commit":              txCommit,
	"tx_rollback":            txRollback,
	"channels_100":           channels100,
	"close_requeues":         closeRequeues,
	"server_cancel":          serverCancel,
	"clean_close":            cleanClose,
	"queue_arg_invalid":      queueArgInvalid,
	"message_ttl":            messageTTL,
	"dead_letter":            deadLetter,
	"retry_with_delay":       retryWithDelay,
	"max_length":             maxLength,
	"priority_queue":         priorityQueue,
	"single_active_consumer": singleActiveConsumer,
	"sender_selected":        senderSelected,
	"rpc_reply_to":           rpcReplyTo,
	"queue_expiry":           queueExpiry,
	"consumer_priority":      consumerPriority,
	"quorum_queue":           quorumQueue,
	"stream_queue":           streamQueue,
	"vhost_user_tls":         vhostUserTLS,
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func run(id string) {
	f, ok := scenarios[id]
	if !ok {
		fmt.Printf("SCENARIO %s fail no implementation in the go client\n", id)
		return
	}
	type result struct {
		detail string
		err    interface{}
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: r}
			}
		}()
		done <- result{detail: f()}
	}()
	select {
	case r := <-done:
		switch e := r.err.(type) {
		case nil:
			fmt.Printf("SCENARIO %s pass %s\n", id, oneLine(r.detail))
		case naError:
			fmt.Printf("SCENARIO %s na %s\n", id, oneLine(e.why))
		default:
			fmt.Printf("SCENARIO %s fail %s\n", id, oneLine(fmt.Sprint(e)))
		}
	case <-time.After(20 * time.Second):
		fmt.Printf("SCENARIO %s fail timed out after 20 s\n", id)
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: scenarios AMQP_URL scenarios.txt")
		os.Exit(2)
	}
	brokerURL = os.Args[1]
	f, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := strings.TrimSpace(sc.Text())
		if id == "" || strings.HasPrefix(id, "#") {
			continue
		}
		run(id)
	}
}
