// amqp091-go meeting faults Warren injects, and recovering the way amqp091-go documents:
// it never reconnects by itself; NotifyClose delivers the *Error of a non-graceful close
// ("to reconnect after a transport or protocol error, register a listener here and re-run
// your setup process"), NotifyPublish's chan is closed when the channel is, NotifyBlocked
// reports connection.blocked/unblocked.
package warrentesting

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func dial(t *testing.T, name string) *amqp.Connection {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(amqpURL, amqp.Config{Properties: props})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	return conn
}

// roundtrip publishes with confirms on a fresh channel and gets the message back.
func roundtrip(t *testing.T, conn *amqp.Connection, queue string) {
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatalf("declare: %v", err)
	}
	if _, err := ch.QueuePurge(queue, false); err != nil {
		t.Fatalf("purge: %v", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if err := ch.Publish("", queue, false, false, amqp.Publishing{Body: []byte("after")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case c := <-confirms:
		if !c.Ack {
			t.Fatalf("nacked: %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no confirm within 5 s")
	}
	msg, ok, err := ch.Get(queue, true)
	if err != nil || !ok || string(msg.Body) != "after" {
		t.Fatalf("get: %v %v %q", err, ok, msg.Body)
	}
}

func closeError(t *testing.T, errs chan *amqp.Error, what string) *amqp.Error {
	select {
	case e := <-errs:
		if e == nil {
			t.Fatalf("%s closed without an error", what)
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no close within 5 s", what)
	}
	return nil
}

func TestConnectionDropNotifiesCloseAndRedialWorks(t *testing.T) {
	reset(t)
	conn := dial(t, "drop")
	errs := conn.NotifyClose(make(chan *amqp.Error, 1))
	injectFault(t, "drop", map[string]interface{}{"action": "drop_connection"})
	e := closeError(t, errs, "connection")
	if e.Code != amqp.FrameError || e.Server {
		t.Fatalf("want a client-side 501 (the socket ended), got %+v", e)
	}
	if !conn.IsClosed() {
		t.Fatal("connection not closed")
	}
	again := dial(t, "drop-again")
	defer again.Close()
	roundtrip(t, again, "go-drop")
}

func TestWithheldConfirmNeverArrivesUntilTheChannelCloses(t *testing.T) {
	reset(t)
	conn := dial(t, "confirm")
	defer conn.Close()
	ch, _ := conn.Channel()
	chErrs := ch.NotifyClose(make(chan *amqp.Error, 1))
	ch.QueueDeclare("go-confirm", false, false, false, false, nil)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	injectFault(t, "confirm", map[string]interface{}{"action": "withhold_confirms", "count": 1})
	if err := ch.Publish("", "go-confirm", false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := api("POST", "/api/warren/wait", map[string]interface{}{
		"queue": "go-confirm", "messages_ready": 1, "timeout_ms": 5000}); status != 200 {
		t.Fatalf("message not queued: %s", body)
	}
	select {
	case c := <-confirms:
		t.Fatalf("a withheld confirm arrived: %+v", c)
	case <-time.After(500 * time.Millisecond):
	}
	injectFault(t, "confirm", map[string]interface{}{"action": "close_channel", "code": 406,
		"text": "confirm withheld"})
	if e := closeError(t, chErrs, "channel"); e.Code != 406 {
		t.Fatalf("channel closed with %+v", e)
	}
	select {
	case c, ok := <-confirms:
		if ok {
			t.Fatalf("a confirm after the close: %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NotifyPublish chan not closed with the channel")
	}
	roundtrip(t, conn, "go-confirm")
}

func TestForcedChannelCloseNotifiesTheChannelAndANewChannelWorks(t *testing.T) {
	reset(t)
	conn := dial(t, "chclose")
	defer conn.Close()
	ch, _ := conn.Channel()
	chErrs := ch.NotifyClose(make(chan *amqp.Error, 1))
	injectFault(t, "chclose", map[string]interface{}{"action": "close_channel", "code": 406,
		"text": "injected"})
	e := closeError(t, chErrs, "channel")
	if e.Code != 406 || e.Reason != "PRECONDITION_FAILED - injected" || !e.Server {
		t.Fatalf("channel closed with %+v", e)
	}
	if conn.IsClosed() {
		t.Fatal("the connection closed too")
	}
	roundtrip(t, conn, "go-chclose")
}

func TestConnectionBlockedAndUnblockedReachNotifyBlocked(t *testing.T) {
	reset(t)
	conn := dial(t, "blocky")
	defer conn.Close()
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	next := func() amqp.Blocking {
		select {
		case b := <-blocks:
			return b
		case <-time.After(5 * time.Second):
			t.Fatal("no connection.blocked/unblocked within 5 s")
		}
		return amqp.Blocking{}
	}
	injectFault(t, "blocky", map[string]interface{}{"action": "block", "reason": "low on memory"})
	if b := next(); !b.Active || b.Reason != "low on memory" {
		t.Fatalf("want blocked, got %+v", b)
	}
	injectFault(t, "blocky", map[string]interface{}{"action": "unblock"})
	if b := next(); b.Active {
		t.Fatalf("want unblocked, got %+v", b)
	}
	roundtrip(t, conn, "go-blocky")
}

func TestNackedConfirmArrivesAsAckFalse(t *testing.T) {
	reset(t)
	conn := dial(t, "nack")
	defer conn.Close()
	ch, _ := conn.Channel()
	ch.QueueDeclare("go-nack", false, false, false, false, nil)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2))
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	injectFault(t, "nack", map[string]interface{}{"action": "nack_confirms", "count": 1})
	for i, want := range []bool{false, true} {
		ch.Publish("", "go-nack", false, false, amqp.Publishing{Body: []byte("m")})
		select {
		case c := <-confirms:
			if c.Ack != want || c.DeliveryTag != uint64(i+1) {
				t.Fatalf("publish %d: %+v, want ack=%v", i+1, c, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no confirm within 5 s")
		}
	}
}

func TestResetClosesConnectionsAndForgetsQueues(t *testing.T) {
	reset(t)
	conn := dial(t, "before-reset")
	errs := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, _ := conn.Channel()
	ch.QueueDeclare("go-leftover", false, false, false, false, nil)
	reset(t)
	if e := closeError(t, errs, "connection"); e.Code != 320 {
		t.Fatalf("want 320, got %+v", e)
	}
	fresh := dial(t, "after-reset")
	defer fresh.Close()
	probe, _ := fresh.Channel()
	_, err := probe.QueueDeclarePassive("go-leftover", false, false, false, false, nil)
	if e, ok := err.(*amqp.Error); !ok || e.Code != 404 {
		t.Fatalf("want 404, got %v", err)
	}
}
