// Stock @cloudamqp/amqp-client (npm, pinned by package-lock.json), its low-level AMQPClient /
// AMQPChannel API, against the broker at process.argv[2], running every id listed in
// process.argv[3] (interop/scenarios.txt).
// Prints one line per id: SCENARIO <id> pass|fail|na [detail].
'use strict';

const { AMQPClient, AMQPError } = require('@cloudamqp/amqp-client');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { isDeepStrictEqual } = require('node:util');
const h = require('../lib/harness.js');
const { NA, sleep, show, check, within, sameList } = h;

const brokerURL = process.argv[2];
const uniq = (prefix) => h.uniqueName('amqp-client-js', prefix);
const urlWith = (params) => h.urlWith(brokerURL, params);
const loginUser = () => h.loginOf(brokerURL).user;
const bodyOf = (m) => Buffer.from(m.body || new Uint8Array(0)).toString('utf8');

class Scope extends h.Scope {
  async connect() {
    const client = new AMQPClient(urlWith({ heartbeat: 30 }));
    client.errors = [];
    client.onerror = (e) => client.errors.push(e);
    this.conns.push(client);
    await within(client.connect(), 5000, 'connect');
    return client;
  }

  // A channel whose server-side close is recorded (the default handler only logs it).
  async channel(c) {
    const ch = await within(c.channel(), 5000, 'channel.open');
    ch.errors = [];
    ch.onerror = (reason) => ch.errors.push(reason);
    return ch;
  }

  async closeConnection(c) {
    try {
      if (!c.closed) await within(c.close(), 5000, 'connection.close');
    } finally {
      if (c.socket) c.socket.destroy();
    }
  }
}

// A server-named exclusive queue (gone when the connection closes).
async function tmpQueue(ch) {
  const q = await ch.queueDeclare('', { exclusive: true, durable: false, autoDelete: false });
  return q.name;
}

// Deletes an exchange when the scenario ends.
const deleteExchangeLater = (scope, c, x) => scope.deferOnChannel(c, (ch) => ch.exchangeDelete(x));

// basic.get polled until a message arrives or 5 s pass; null when none came.
const getOne = (ch, q, noAck) => h.poll(() => within(ch.basicGet(q, { noAck }), 5000, 'basic.get'), (m) => m);

const drainUntilSentinel = (ch, q) =>
  h.drainUntilSentinel(
    q,
    () => ch.basicPublish('', q, 'sentinel'),
    async () => {
      const m = await getOne(ch, q, true);
      return m ? bodyOf(m) : undefined;
    },
  );

// A callback consumer whose deliveries can be awaited one by one.
async function consumer(ch, q, params) {
  const inbox = new h.Inbox();
  inbox.cons = await within(ch.basicConsume(q, params, inbox.push), 5000, 'basic.consume');
  return inbox;
}

// The queue's message count once it is `want` (or after 5 s), from passive declares.
const countEventually = (ch, q, want) =>
  h.countEventually(() => within(ch.queueDeclare(q, { passive: true }), 5000, 'passive queue.declare'), want);

// ---------------------------------------------------------------- scenarios

const scenarios = {
  async connect(s) {
    const c = await s.connect();
    check(c.heartbeat === 30, `negotiated heartbeat ${c.heartbeat}, want 30`);
    await tmpQueue(await s.channel(c));
    return `heartbeat ${c.heartbeat}`;
  },

  async connect_amqplain() {
    throw new NA('amqp-client always answers connection.start with PLAIN; it has no other SASL mechanism');
  },

  async declare_exchanges(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    for (const kind of ['direct', 'fanout', 'topic', 'headers']) {
      const x = uniq(kind);
      const params = { durable: false, autoDelete: false, internal: false };
      await ch.exchangeDeclare(x, kind, params);
      deleteExchangeLater(s, c, x);
      await ch.exchangeDeclare(x, kind, params); // equivalent redeclare
      await ch.exchangeDeclare(x, kind, { ...params, passive: true });
      await ch.exchangeDelete(x);
    }
  },

  async declare_queues(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const gen = await ch.queueDeclare('', { exclusive: true, durable: false });
    check(gen.name.startsWith('amq.gen-'), `server-named queue is ${show(gen.name)}`);
    await ch.queueDeclare(uniq('excl'), { exclusive: true, durable: false });
    const ad = uniq('autodel');
    await ch.queueDeclare(ad, { autoDelete: true, durable: false });
    const dur = uniq('durable');
    await ch.queueDeclare(dur, { durable: true });
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(dur);
      await cc.queueDelete(ad);
    });
    await ch.basicPublish('', dur, 'one');
    await ch.basicPublish('', dur, 'two');
    const n = await countEventually(ch, dur, 2);
    check(n === 2, `passive declare reports ${n} messages, want 2`);
    const del = await ch.queueDelete(dur);
    check(del.messageCount === 2, `delete-ok message count ${del.messageCount}, want 2`);
    await ch.queueDelete(ad);
  },

  async bind_unbind(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('direct');
    await ch.exchangeDeclare(x, 'direct', { durable: false });
    deleteExchangeLater(s, c, x);
    const q = await tmpQueue(ch);
    await ch.queueBind(q, x, 'k');
    await ch.basicPublish(x, 'k', 'bound');
    let got = await drainUntilSentinel(ch, q);
    check(sameList(got, ['bound']), `while bound got ${show(got)}`);
    await ch.queueUnbind(q, x, 'k');
    await ch.basicPublish(x, 'k', 'unbound');
    got = await drainUntilSentinel(ch, q);
    check(sameList(got, []), `after unbind got ${show(got)}`);
  },

  async route_default(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    await ch.basicPublish('', q, 'default');
    const m = await getOne(ch, q, true);
    check(m && bodyOf(m) === 'default', 'default exchange did not deliver by queue name');
    check(m.exchange === '' && m.routingKey === q, `delivered with exchange ${show(m.exchange)} key ${show(m.routingKey)}`);
  },

  async route_direct(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('direct');
    await ch.exchangeDeclare(x, 'direct', { durable: false });
    deleteExchangeLater(s, c, x);
    const a = await tmpQueue(ch);
    const b = await tmpQueue(ch);
    await ch.queueBind(a, x, 'red');
    await ch.queueBind(b, x, 'blue');
    await ch.basicPublish(x, 'red', 'r');
    await ch.basicPublish(x, 'blue', 'b');
    await ch.basicPublish(x, 'green', 'g');
    const ga = await drainUntilSentinel(ch, a);
    const gb = await drainUntilSentinel(ch, b);
    check(sameList(ga, ['r']), `red queue got ${show(ga)}`);
    check(sameList(gb, ['b']), `blue queue got ${show(gb)}`);
  },

  async route_fanout(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('fanout');
    await ch.exchangeDeclare(x, 'fanout', { durable: false });
    deleteExchangeLater(s, c, x);
    const qs = [await tmpQueue(ch), await tmpQueue(ch), await tmpQueue(ch)];
    for (const [i, q] of qs.entries()) await ch.queueBind(q, x, `key${i}`);
    await ch.basicPublish(x, 'whatever', 'all');
    for (const q of qs) {
      const g = await drainUntilSentinel(ch, q);
      check(sameList(g, ['all']), `queue got ${show(g)}`);
    }
  },

  async route_topic(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('topic');
    await ch.exchangeDeclare(x, 'topic', { durable: false });
    deleteExchangeLater(s, c, x);
    const star = await tmpQueue(ch);
    const hash = await tmpQueue(ch);
    await ch.queueBind(star, x, '*.orange.*');
    await ch.queueBind(hash, x, 'lazy.#');
    for (const k of ['quick.orange.rabbit', 'lazy.orange.elephant', 'lazy', 'quick.brown.fox']) await ch.basicPublish(x, k, k);
    const gs = await drainUntilSentinel(ch, star);
    const gh = await drainUntilSentinel(ch, hash);
    check(sameList(gs, ['lazy.orange.elephant', 'quick.orange.rabbit']), `*.orange.* got ${show(gs)}`);
    check(sameList(gh, ['lazy', 'lazy.orange.elephant']), `lazy.# got ${show(gh)}`);
  },

  async route_headers(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('headers');
    await ch.exchangeDeclare(x, 'headers', { durable: false });
    deleteExchangeLater(s, c, x);
    const all = await tmpQueue(ch);
    const any = await tmpQueue(ch);
    await ch.queueBind(all, x, '', { 'x-match': 'all', format: 'pdf', type: 'report' });
    await ch.queueBind(any, x, '', { 'x-match': 'any', format: 'pdf', type: 'log' });
    const pub = (body, headers) => ch.basicPublish(x, '', body, { headers });
    await pub('both', { format: 'pdf', type: 'report' });
    await pub('log', { format: 'zip', type: 'log' });
    await pub('none', { format: 'zip', type: 'report' });
    await pub('half', { format: 'pdf' });
    const ga = await drainUntilSentinel(ch, all);
    const gy = await drainUntilSentinel(ch, any);
    check(sameList(ga, ['both']), `x-match all got ${show(ga)}`);
    check(sameList(gy, ['both', 'half', 'log']), `x-match any got ${show(gy)}`);
  },

  async mandatory_return(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const returned = new Promise((resolve) => {
      ch.onReturn = resolve;
    });
    const key = uniq('nowhere');
    await ch.basicPublish('amq.direct', key, 'lost', {}, true);
    const r = await within(returned, 5000, 'basic.return');
    check(r.replyCode === 312, `reply code ${r.replyCode}`);
    check(r.replyText === 'NO_ROUTE', `reply text ${show(r.replyText)}`);
    check(r.exchange === 'amq.direct' && r.routingKey === key && bodyOf(r) === 'lost', `returned ${show(r.exchange)}/${show(r.routingKey)} body ${show(bodyOf(r))}`);
  },

  // In confirm mode basicPublish's promise settles on the broker's ack/nack: awaited per publish.
  async confirms_sync(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    await ch.confirmSelect();
    const q = await tmpQueue(ch);
    for (let i = 0; i < 100; i++) {
      const tag = await within(ch.basicPublish('', q, String(i)), 5000, `confirm of publish ${i}`);
      check(tag === i + 1, `confirmation tag ${tag}, want ${i + 1}`);
    }
    const n = await countEventually(ch, q, 100);
    check(n === 100, `queue holds ${n}, want 100`);
    return 'awaited basicPublish promise';
  },

  async confirms_async() {
    throw new NA('amqp-client reports confirms only through the promise basicPublish returns; it has no callback/listener form');
  },

  async manual_ack(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    for (let i = 0; i < 10; i++) await ch.basicPublish('', q, String(i), { deliveryMode: 2, contentType: 'text/plain' });
    const cons = await consumer(ch, q, { noAck: false });
    for (let i = 0; i < 10; i++) {
      const m = await cons.next();
      check(m, `got ${i} of 10 deliveries within 5 s`);
      check(bodyOf(m) === String(i), `delivery ${i} has body ${show(bodyOf(m))}`);
      check(m.properties.contentType === 'text/plain', `content type ${show(m.properties.contentType)}`);
      check(m.properties.deliveryMode === 2, `delivery mode ${show(m.properties.deliveryMode)}`);
      await m.ack();
    }
    await ch.close();
    const ch2 = await s.channel(c);
    const ok = await ch2.queueDeclare(q, { passive: true });
    check(ok.messageCount === 0, `queue still holds ${ok.messageCount} after acks`);
  },

  async nack_requeue(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    await ch.basicPublish('', q, 'again');
    const m = await getOne(ch, q, false);
    check(m, 'message did not arrive');
    check(!m.redelivered, 'first delivery already redelivered');
    await m.nack(true);
    const m2 = await getOne(ch, q, false);
    check(m2, 'nacked message did not come back');
    check(bodyOf(m2) === 'again' && m2.redelivered, `came back with body ${show(bodyOf(m2))} redelivered=${m2.redelivered}`);
    await m2.ack();
  },

  async reject(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    await ch.basicPublish('', q, 'drop');
    const m = await getOne(ch, q, false);
    check(m, 'message did not arrive');
    await m.reject(false);
    await ch.close(); // an unsettled message would be requeued here
    const ch2 = await s.channel(c);
    const ok = await ch2.queueDeclare(q, { passive: true });
    check(ok.messageCount === 0, `rejected message still there (${ok.messageCount})`);
    const again = await ch2.basicGet(q, { noAck: true });
    check(again === null, 'rejected message still delivered');
  },

  async prefetch_fair(s) {
    const c = await s.connect();
    const chA = await s.channel(c);
    const chB = await s.channel(c);
    const q = await tmpQueue(chA);
    await chA.basicQos(1);
    await chB.basicQos(1);
    const a = await consumer(chA, q, { noAck: false, tag: 'A' });
    await chA.basicPublish('', q, 'first');
    const first = await a.next();
    check(first && bodyOf(first) === 'first', 'consumer A did not get the first message');
    const b = await consumer(chB, q, { noAck: false, tag: 'B' });
    for (let i = 0; i < 6; i++) await chA.basicPublish('', q, String(i));
    for (let i = 0; i < 6; i++) {
      const m = await b.next();
      check(m, `consumer B got ${i} of 6`);
      check(bodyOf(m) === String(i), `B got ${show(bodyOf(m))}, want ${i}`);
      check(a.pending() === 0, 'consumer A got a message while holding an unacked one');
      await m.ack();
    }
    const extra = await a.next(100);
    check(extra === undefined, () => `consumer A got ${show(extra && bodyOf(extra))} while holding an unacked message`);
    await first.ack();
  },

  async basic_get(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    for (const b of ['a', 'b', 'c']) await ch.basicPublish('', q, b);
    let m = await getOne(ch, q, false);
    check(m, 'get returned empty');
    check(bodyOf(m) === 'a', `first get body ${show(bodyOf(m))}`);
    check(m.messageCount === 2, `first get-ok message count ${m.messageCount}, want 2`);
    await m.ack();
    m = await getOne(ch, q, true);
    check(m && m.messageCount === 1 && bodyOf(m) === 'b', () => `second get: ${m && show([m.messageCount, bodyOf(m)])}`);
    m = await getOne(ch, q, true);
    check(m && m.messageCount === 0 && bodyOf(m) === 'c', () => `third get: ${m && show([m.messageCount, bodyOf(m)])}`);
    const empty = await ch.basicGet(q, { noAck: true });
    check(empty === null, 'empty queue did not give get-empty');
  },

  async large_message(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    const body = crypto.randomBytes(1 << 20);
    await ch.basicPublish('', q, body);
    const m = await getOne(ch, q, true);
    check(m, '1 MiB message did not arrive');
    const got = Buffer.from(m.body);
    check(body.equals(got), `body differs (len ${got.length})`);
    return `frame_max ${c.frameMax}`;
  },

  async empty_message(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    await ch.basicPublish('', q, null, { contentType: 'x/empty' });
    const m = await getOne(ch, q, true);
    check(m, 'empty message did not arrive');
    check(m.bodySize === 0 && m.body.byteLength === 0 && m.properties.contentType === 'x/empty', `got body len ${m.body && m.body.byteLength} type ${show(m.properties.contentType)}`);
  },

  // 13 of the 14 properties: amqp-client's publish cannot set cluster-id (deprecated in 0-9-1).
  async properties_roundtrip(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    const sent = {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: { h1: 'v1', h2: 7 },
      deliveryMode: 2,
      priority: 5,
      correlationId: 'corr-1',
      replyTo: 'reply.q',
      expiration: '60000',
      messageId: 'msg-1',
      timestamp: new Date(1700000000 * 1000),
      type: 'kind',
      userId: loginUser(),
      appId: 'interop-amqp-client-js',
    };
    await ch.basicPublish('', q, 'props', sent);
    const m = await getOne(ch, q, true);
    check(m, 'message did not arrive');
    const bad = [];
    for (const [k, want] of Object.entries(sent)) {
      const got = m.properties[k];
      if (!isDeepStrictEqual(got, want)) bad.push(`${k}: got ${show(got)}, want ${show(want)}`);
    }
    if (bodyOf(m) !== 'props') bad.push(`body ${show(bodyOf(m))}`);
    check(bad.length === 0, bad.join('; '));
  },

  // Every field type amqp-client can encode: it picks the type from the JS value (string S,
  // boolean t, integer number I, bigint l, fractional number f, or d beyond 2^32, Date T, object F,
  // Array A, Uint8Array x, null V). It cannot send b, B, s, u, i or D.
  async headers_types(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    const sent = {
      string: 'text ü',
      int32: -320000,
      int64: -64000000000n,
      true: true,
      false: false,
      float: 1.5,
      double: -5000000000.25,
      time: new Date(1700000000 * 1000),
      table: { inner: 'v', n: 1, deeper: { x: 2n } },
      array: ['a', 1, true, { k: 'v' }, [2]],
      bytes: new Uint8Array([0, 1, 2, 255]),
      void: null,
    };
    // 64-bit integers come back as plain numbers.
    const want = {
      ...sent,
      int64: -64000000000,
      table: { inner: 'v', n: 1, deeper: { x: 2 } },
    };
    await ch.basicPublish('', q, 'h', { headers: sent });
    const m = await getOne(ch, q, true);
    check(m, 'message did not arrive');
    const got = m.properties.headers || {};
    const norm = (v) => (v instanceof Uint8Array ? Array.from(v) : v);
    const bad = [];
    for (const [k, w] of Object.entries(want)) {
      if (!(k in got)) bad.push(`${k}: missing`);
      else if (!isDeepStrictEqual(norm(got[k]), norm(w))) bad.push(`${k}: got ${show(got[k])}, want ${show(w)}`);
    }
    const extra = Object.keys(got).filter((k) => !(k in want));
    if (extra.length) bad.push(`unexpected headers ${show(extra)}`);
    check(bad.length === 0, bad.sort().join('; '));
    return 'S I l t f d T F A x V';
  },

  async passive_missing_404(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const name = uniq('missing');
    let err;
    try {
      await within(ch.queueDeclare(name, { passive: true }), 5000, 'passive queue.declare');
    } catch (e) {
      err = e;
    }
    check(err, 'passive declare of a missing queue succeeded');
    check(err instanceof AMQPError, `error is ${show(err)}, not an AMQPError`);
    // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
    const code = /\((\d+)\)$/.exec(err.message);
    check(code && code[1] === '404', `error message ${show(err.message)}`);
    const want = `NOT_FOUND - no queue '${name}' in vhost `;
    check(err.message.includes(want), `error message ${show(err.message)}`);
    check(ch.closed, 'channel still open after the 404');
    // the channel is closed, the connection still works
    await tmpQueue(await s.channel(c));
  },

  async exchange_to_exchange(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const a = uniq('src');
    const b = uniq('dst');
    await ch.exchangeDeclare(a, 'direct', { durable: false });
    deleteExchangeLater(s, c, a);
    await ch.exchangeDeclare(b, 'fanout', { durable: false });
    deleteExchangeLater(s, c, b);
    await ch.exchangeBind(b, a, 'k');
    const q = await tmpQueue(ch);
    await ch.queueBind(q, b, '');
    await ch.basicPublish(a, 'k', 'via-e2e');
    await ch.basicPublish(a, 'other', 'unrouted');
    const g = await drainUntilSentinel(ch, q);
    check(sameList(g, ['via-e2e']), `queue got ${show(g)}`);
    await ch.exchangeUnbind(b, a, 'k');
  },

  async tx_commit(s) {
    const c = await s.connect();
    const tx = await s.channel(c);
    const other = await s.channel(c);
    const q = await tmpQueue(other);
    await tx.txSelect();
    await tx.basicPublish('', q, 'tx');
    await sleep(100);
    const early = await other.basicGet(q, { noAck: true });
    check(early === null, 'uncommitted publish is visible');
    await within(tx.txCommit(), 5000, 'tx.commit');
    const m = await getOne(other, q, true);
    check(m && bodyOf(m) === 'tx', 'committed publish did not arrive');
  },

  async tx_rollback(s) {
    const c = await s.connect();
    const tx = await s.channel(c);
    const q = await tmpQueue(tx);
    await tx.txSelect();
    await tx.basicPublish('', q, 'rolled-back');
    await within(tx.txRollback(), 5000, 'tx.rollback');
    await tx.basicPublish('', q, 'committed');
    await within(tx.txCommit(), 5000, 'tx.commit');
    const m = await getOne(tx, q, true);
    check(m, 'nothing arrived after commit');
    check(bodyOf(m) === 'committed', `first message is ${show(bodyOf(m))}`);
    const more = await tx.basicGet(q, { noAck: true });
    check(more === null, 'more messages than the committed one');
  },

  async channels_100(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = await tmpQueue(ch);
    const chans = [];
    for (let i = 0; i < 100; i++) chans.push(await s.channel(c));
    check(new Set(chans.map((x) => x.id)).size === 100, 'channel ids repeat');
    for (const [i, x] of chans.entries()) await x.basicPublish('', q, String(i));
    for (const [i, x] of chans.entries()) await within(x.close(), 5000, `close channel ${i}`);
    const n = await countEventually(ch, q, 100);
    check(n === 100, `queue holds ${n}, want 100`);
  },

  async close_requeues(s) {
    const c = await s.connect();
    const ch1 = await s.channel(c);
    const ch2 = await s.channel(c);
    const q = await tmpQueue(ch2);
    await ch2.basicPublish('', q, 'held');
    const cons = await consumer(ch1, q, { noAck: false });
    const m = await cons.next();
    check(m && bodyOf(m) === 'held', 'no delivery');
    check(!m.redelivered, 'first delivery already redelivered');
    await ch1.close();
    const m2 = await getOne(ch2, q, true);
    check(m2, 'unacked message did not come back');
    check(bodyOf(m2) === 'held' && m2.redelivered, `came back with body ${show(bodyOf(m2))} redelivered=${m2.redelivered}`);
  },

  async server_cancel(s) {
    const c = await s.connect();
    const ch1 = await s.channel(c);
    const ch2 = await s.channel(c);
    const q = uniq('cancel');
    await ch1.queueDeclare(q, { autoDelete: true, durable: false });
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(q);
    });
    const tag = `ctag-${q}`;
    const { cons } = await consumer(ch1, q, { noAck: false, tag });
    check(cons.tag === tag, `consume-ok tag ${show(cons.tag)}`);
    const ended = cons.wait().then(
      () => ({ how: 'resolved (client-side close)' }),
      (e) => ({ how: 'rejected', err: e }),
    );
    await ch2.queueDelete(q);
    const r = await within(ended, 5000, 'basic.cancel');
    check(r.err instanceof AMQPError && /cancelled by the server/.test(r.err.message), `consumer ${r.how} ${r.err ? r.err.message : ''}`);
    check(!ch1.consumers.has(tag), 'consumer still registered after the cancel');
    check(!ch1.closed && ch1.errors.length === 0, `channel closed by the cancel: ${ch1.errors.join('; ')}`);
    await tmpQueue(ch1);
  },

  async rpc_reply_to(s) {
    const requester = await s.channel(await s.connect());
    const responder = await s.channel(await s.connect());
    const pseudo = 'amq.rabbitmq.reply-to';
    const ok = await within(requester.queueDeclare(pseudo, { passive: true }), 5000, 'passive queue.declare');
    check(ok.messageCount === 0 && ok.consumerCount === 1, `passive declare of ${pseudo}: ${show(ok)}`);
    const q = await tmpQueue(responder);
    const requests = await consumer(responder, q, { noAck: true });
    const replies = await consumer(requester, pseudo, { noAck: true });
    const id = crypto.randomUUID();
    await requester.basicPublish('', q, '6*7', { replyTo: pseudo, correlationId: id });
    const req = await requests.next();
    check(req, 'no request within 5 s');
    const replyTo = req.properties.replyTo;
    check(typeof replyTo === 'string' && replyTo.startsWith(`${pseudo}.`), `request reply-to ${show(replyTo)}`);
    await responder.basicPublish('', replyTo, '42', { correlationId: req.properties.correlationId });
    const reply = await replies.next();
    check(reply, 'no reply within 5 s');
    check(reply.consumerTag === replies.cons.tag, `reply for consumer ${show(reply.consumerTag)}`);
    check(bodyOf(reply) === '42' && reply.properties.correlationId === id, `reply ${show(bodyOf(reply))} correlation ${show(reply.properties.correlationId)}`);
    return 'basicConsume(amq.rabbitmq.reply-to, { noAck: true })';
  },

  async clean_close(s) {
    const c = await s.connect();
    let disconnected = false;
    c.ondisconnect = (e) => {
      disconnected = e || true;
    };
    await tmpQueue(await s.channel(c));
    await within(c.close(), 5000, 'connection.close');
    check(c.closed, 'connection not marked closed');
    await sleep(50); // let the socket's close event run
    check(!disconnected, `disconnect callback fired: ${disconnected}`);
    check(c.errors.length === 0, `connection errors: ${c.errors.map((e) => e.message).join('; ')}`);
  },

  async queue_arg_invalid(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = uniq('badarg');
    s.deferOnChannel(c, (cc) => cc.queueDelete(q));
    let err;
    try {
      await within(ch.queueDeclare(q, { durable: false }, { 'x-max-priority': 256 }), 5000, 'queue.declare');
    } catch (e) {
      err = e;
    }
    check(err, 'declare with x-max-priority 256 succeeded');
    check(err instanceof AMQPError, `error is ${show(err)}, not an AMQPError`);
    // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
    const code = /\((\d+)\)$/.exec(err.message);
    check(code && code[1] === '406', `error message ${show(err.message)}`);
    const want = `PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '${q}' in vhost '/': {max_value_exceeded,256}`;
    check(err.message.includes(`: ${want} (406)`), `error message ${show(err.message)}`);
    check(ch.closed, 'channel still open after the 406');
    await tmpQueue(await s.channel(c)); // the connection still works
    return 'AMQPError "... (406)"';
  },

  async message_ttl(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const ttl = (await ch.queueDeclare('', { exclusive: true, durable: false }, { 'x-message-ttl': 100 })).name;
    await ch.basicPublish('', ttl, 'short-lived');
    let n = await countEventually(ch, ttl, 0);
    check(n === 0, `queue with x-message-ttl 100 still holds ${n}`);
    const plain = await tmpQueue(ch);
    await ch.basicPublish('', plain, 'expires', { expiration: '50' });
    n = await countEventually(ch, plain, 0);
    check(n === 0, `message with expiration 50 still there (${n})`);
    await ch.basicPublish('', plain, 'stays');
    await sleep(300);
    n = await countEventually(ch, plain, 1);
    check(n === 1, `plain queue holds ${n} after 300 ms, want the message without expiration`);
    const m = await getOne(ch, plain, true);
    check(m && bodyOf(m) === 'stays', () => `got ${show(m && bodyOf(m))}`);
  },

  async dead_letter(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const dlx = uniq('dlx');
    await ch.exchangeDeclare(dlx, 'fanout', { durable: false });
    deleteExchangeLater(s, c, dlx);
    const dlq = await tmpQueue(ch);
    await ch.queueBind(dlq, dlx, '');
    const src = (await ch.queueDeclare('', { exclusive: true, durable: false }, { 'x-dead-letter-exchange': dlx })).name;
    await ch.basicPublish('', src, 'dead');
    const m = await getOne(ch, src, false);
    check(m, 'message did not arrive');
    await m.reject(false);
    const d = await getOne(ch, dlq, true);
    check(d && bodyOf(d) === 'dead', 'the rejected message did not reach the dead-letter queue');
    const hs = d.properties.headers || {};
    const deaths = hs['x-death'];
    check(Array.isArray(deaths) && deaths.length > 0, `x-death ${show(deaths)}`);
    const first = deaths[0];
    check(isDeepStrictEqual([first.queue, first.reason, first.count], [src, 'rejected', 1]), `x-death[0] ${show(first)}`);
    check(hs['x-first-death-reason'] === 'rejected', `x-first-death-reason ${show(hs['x-first-death-reason'])}`);
    const n = await countEventually(ch, src, 0);
    check(n === 0, `the rejected message is still in its queue (${n})`);
  },

  async quorum_queue(s) {
    const c = await s.connect();
    const q = uniq('quorum');
    const dlx = uniq('qdlx');
    const dlq = uniq('qdlq');
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(q);
      await cc.queueDelete(dlq);
      await cc.exchangeDelete(dlx);
    });
    const bad = await s.channel(c);
    let err;
    try {
      await within(bad.queueDeclare(q, { durable: false }, { 'x-queue-type': 'quorum' }), 5000, 'queue.declare');
    } catch (e) {
      err = e;
    }
    check(err, 'a non-durable quorum queue was declared');
    check(err instanceof AMQPError, `error is ${show(err)}, not an AMQPError`);
    // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
    const code = /\((\d+)\)$/.exec(err.message);
    check(code && code[1] === '406', `error message ${show(err.message)}`);
    check(err.message.includes("invalid property 'non-durable'"), `error message ${show(err.message)}`);
    const ch = await s.channel(c);
    await ch.confirmSelect();
    await ch.exchangeDeclare(dlx, 'fanout', { durable: false });
    await ch.queueDeclare(dlq, { durable: false });
    await ch.queueBind(dlq, dlx, '');
    await ch.queueDeclare(q, { durable: true }, { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-exchange': dlx });
    await within(ch.basicPublish('', q, 'quorum', { deliveryMode: 1 }), 5000, 'publisher confirm');
    let m = await getOne(ch, q, false);
    check(m && bodyOf(m) === 'quorum', 'the message did not arrive');
    check(m.redelivered === false, 'first delivery flagged redelivered');
    const first = (m.properties.headers || {})['x-delivery-count'];
    // RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
    check(first === undefined || Number(first) === 0, `first delivery has x-delivery-count ${show(first)}`);
    await m.reject(true);
    m = await getOne(ch, q, false);
    check(m && bodyOf(m) === 'quorum', 'the requeued message did not come back');
    check(m.redelivered === true, 'second delivery not flagged redelivered');
    const count = (m.properties.headers || {})['x-delivery-count'];
    check(['number', 'bigint'].includes(typeof count) && Number(count) === 1, `second delivery has x-delivery-count ${show(count)}`);
    await m.reject(true);
    const d = await getOne(ch, dlq, true);
    check(d && bodyOf(d) === 'quorum', 'the message did not reach the dead-letter queue');
    const deaths = (d.properties.headers || {})['x-death'];
    check(Array.isArray(deaths) && deaths.length > 0, `x-death ${show(deaths)}`);
    check(deaths[0].reason === 'delivery_limit' && deaths[0].queue === q, `x-death[0] ${show(deaths[0])}`);
    const left = await within(ch.basicGet(q, { noAck: true }), 5000, 'basic.get');
    check(!left, 'the quorum queue still holds the message');
    return `queueDeclare(q, { durable: true }, { 'x-queue-type': 'quorum', ... }), reject(true); first delivery x-delivery-count ${first === undefined ? 'absent' : first}`;
  },

  async stream_queue(s) {
    const c = await s.connect();
    const sq = uniq('stream');
    s.deferOnChannel(c, (cc) => cc.queueDelete(sq));
    const bad = await s.channel(c);
    let err;
    try {
      await within(bad.queueDeclare(sq, { durable: false }, { 'x-queue-type': 'stream' }), 5000, 'queue.declare');
    } catch (e) {
      err = e;
    }
    check(err, 'a non-durable stream was declared');
    check(err instanceof AMQPError, `error is ${show(err)}, not an AMQPError`);
    // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
    let want = `PRECONDITION_FAILED - invalid property 'non-durable' for queue '${sq}' in vhost '/' (406)`;
    check(/^channel \d+ closed: /.test(err.message) && err.message.endsWith(`: ${want}`), `error message ${show(err.message)}`);
    const ch = await s.channel(c);
    await ch.confirmSelect();
    await ch.queueDeclare(sq, { durable: true }, { 'x-queue-type': 'stream' });
    for (let i = 0; i < 5; i++) await within(ch.basicPublish('', sq, `m${i}`, { deliveryMode: 2 }), 5000, 'publisher confirm');
    // The client reads every integer field type as a Number; for this scenario its field reader
    // gives a long ('l') as a BigInt, so that the header's type can be checked.
    const { AMQPView } = require('@cloudamqp/amqp-client/amqp-view');
    const getField = AMQPView.prototype.getField;
    const consume = async (offset, from) => {
      const cc = await s.channel(c);
      await cc.basicQos(10);
      const inbox = await consumer(cc, sq, { noAck: false, args: { 'x-stream-offset': offset } });
      for (let i = from; i < 5; i++) {
        const m = await inbox.next();
        const o = m && (m.properties.headers || {})['x-stream-offset'];
        check(m && bodyOf(m) === `m${i}` && o === BigInt(i),
          () => `x-stream-offset ${show(offset)}: got ${show(m && bodyOf(m))} with x-stream-offset ${show(o)}, want m${i} with a long ${i}`);
        await m.ack();
      }
      const extra = await inbox.next(200);
      check(extra === undefined, () => `x-stream-offset ${show(offset)}: an extra delivery ${show(bodyOf(extra))}`);
      await cc.close();
    };
    AMQPView.prototype.getField = function (offset, littleEndian) {
      const r = getField.call(this, offset, littleEndian);
      if (this.getUint8(offset) === 'l'.charCodeAt(0)) r[0] = BigInt(r[0]);
      return r;
    };
    try {
      await consume('first', 0);
      await consume(3, 3);
    } finally {
      AMQPView.prototype.getField = getField;
    }
    const other = await s.connect();
    const och = await s.channel(other);
    let got;
    err = undefined;
    try {
      got = await within(och.basicGet(sq, { noAck: false }), 5000, 'basic.get');
    } catch (e) {
      err = e;
    }
    check(err, `basic.get on a stream succeeded: ${show(got)}`);
    want = `connection closed: NOT_IMPLEMENTED - basic.get not supported by stream queues queue '${sq}' in vhost '/' (540)`;
    check(err instanceof AMQPError && err.message === want, `basic.get rejected with ${show(err.message)}`);
    await ch.queueDelete(sq);
    return "basicConsume(q, { noAck: false, args: { 'x-stream-offset': ... } }) after basicQos(10); x-stream-offset headers are longs; basic.get closes the connection with 540";
  },

  // amqps with AMQPClient's tlsOptions passed to tls.connect: ca (the test CA) verifies the
  // chain, and Node checks the host name (an IP SAN here).
  async vhost_user_tls(s) {
    const t = h.tlsSetup();
    const c = new AMQPClient(t.url, { ca: [fs.readFileSync(t.ca)] });
    c.onerror = () => {};
    s.conns.push(c);
    await within(c.connect(), 5000, 'connect');
    const version = c.socket.getProtocol();
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(t.q);
      await cc.exchangeDelete(t.x);
    });
    const ch = await s.channel(c);
    await ch.exchangeDeclare(t.x, 'direct', { durable: false });
    await ch.queueDeclare(t.q, { durable: false });
    await ch.queueBind(t.q, t.x, 'k');
    await ch.basicPublish(t.x, 'k', t.body); // a named exchange: "" is amq.default, outside ^tls-.*
    const m = await getOne(ch, t.q, true);
    check(m && Buffer.compare(Buffer.from(m.body), t.body) === 0, () => `basic.get gave ${show(m && m.body)}`);
    const bad = await s.channel(c);
    let err;
    try {
      await within(bad.queueDeclare(t.denied, { durable: false }), 5000, 'queue.declare');
    } catch (e) {
      err = e;
    }
    check(err, `queue ${t.denied} was declared outside the user's configure permission`);
    check(err instanceof AMQPError, `error is ${show(err)}, not an AMQPError`);
    // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
    const seen = t.refusedTexts().find(([want]) => err.message.endsWith(`: ${want} (403)`));
    check(seen, `error message ${show(err.message)}`);
    const r = new AMQPClient(t.refused);
    r.onerror = () => {};
    let refused;
    try {
      await within(r.connect(), 5000, 'connect');
      await r.close();
    } catch (e) {
      refused = e;
    } finally {
      if (r.socket) r.socket.destroy();
    }
    check(refused, `${t.user} logged in to vhost '/'`);
    const wantRefused = `NOT_ALLOWED - access to vhost '/' refused for user '${t.user}'`;
    check(refused.message.includes(wantRefused) && /\(530\)/.test(refused.message), `connect failed with ${show(refused.message)}`);
    return `${version}, new AMQPClient(amqps URL, { ca }); ${seen[1]}; vhost '/' refused: ${refused.constructor.name} "${refused.message}"`;
  },

  async retry_with_delay(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const work = uniq('work');
    const delay = uniq('delay');
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(work);
      await cc.queueDelete(delay);
    });
    await ch.queueDeclare(work, { durable: false }, { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': delay });
    await ch.queueDeclare(delay, { durable: false }, { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work });
    await ch.basicPublish('', work, 'job');
    let m;
    for (let i = 0; i < 4; i++) {
      m = await getOne(ch, work, false);
      check(m && bodyOf(m) === 'job', `delivery ${i + 1} did not come back within 5 s`);
      if (i < 3) await m.reject(false);
    }
    await m.ack();
    const deaths = (m.properties.headers || {})['x-death'] || [];
    const got = deaths.map((d) => [d.queue, d.reason, d.count]);
    check(isDeepStrictEqual(got, [[delay, 'expired', 3], [work, 'rejected', 3]]), `x-death ${show(got)}`);
  },

  async max_length(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = (await ch.queueDeclare('', { exclusive: true, durable: false }, { 'x-max-length': 2 })).name;
    for (let i = 1; i <= 4; i++) await ch.basicPublish('', q, String(i));
    const n = await countEventually(ch, q, 2);
    check(n === 2, `x-max-length 2 queue holds ${n}`);
    const kept = [];
    for (let i = 0; i < 2; i++) {
      const m = await getOne(ch, q, true);
      kept.push(m && bodyOf(m));
    }
    check(isDeepStrictEqual(kept, ['3', '4']), `drop-head kept ${show(kept)}`);
    const cc = await s.channel(c);
    await cc.confirmSelect();
    const r = (await cc.queueDeclare('', { exclusive: true, durable: false }, { 'x-max-length': 2, 'x-overflow': 'reject-publish' })).name;
    for (const b of ['1', '2']) await within(cc.basicPublish('', r, b), 5000, `confirm of publish ${b}`);
    let err;
    try {
      await within(cc.basicPublish('', r, '3'), 5000, 'confirm of publish 3');
    } catch (e) {
      err = e;
    }
    check(err && /rejected/.test(err.message), `publish past x-max-length with reject-publish: ${err ? err.message : 'acked'}`);
    const left = [];
    for (let i = 0; i < 2; i++) {
      const m = await getOne(cc, r, true);
      left.push(m && bodyOf(m));
    }
    check(isDeepStrictEqual(left, ['1', '2']), `reject-publish kept ${show(left)}`);
    return `reject-publish: the basicPublish promise rejected with ${show(err.message)}`;
  },

  async priority_queue(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const q = (await ch.queueDeclare('', { exclusive: true, durable: false }, { 'x-max-priority': 10 })).name;
    for (const p of [1, 9, 5]) await ch.basicPublish('', q, String(p), { priority: p });
    const n = await countEventually(ch, q, 3);
    check(n === 3, `queue holds ${n}, want 3`);
    const cons = await consumer(ch, q, { noAck: true });
    const got = [];
    for (let i = 0; i < 3; i++) {
      const m = await cons.next();
      check(m, () => `got ${show(got)} within 5 s`);
      got.push(bodyOf(m));
    }
    check(isDeepStrictEqual(got, ['9', '5', '1']), `delivered ${show(got)}`);
  },

  async single_active_consumer(s) {
    const c = await s.connect();
    const chA = await s.channel(c);
    const chB = await s.channel(c);
    const q = (await chA.queueDeclare('', { exclusive: true, durable: false }, { 'x-single-active-consumer': true })).name;
    const a = await consumer(chA, q, { noAck: true, tag: 'A' });
    const b = await consumer(chB, q, { noAck: true, tag: 'B' });
    for (const x of ['1', '2']) await chA.basicPublish('', q, x);
    const gotA = [];
    for (let i = 0; i < 2; i++) {
      const m = await a.next();
      gotA.push(m && bodyOf(m));
    }
    check(isDeepStrictEqual(gotA, ['1', '2']), `active consumer A got ${show(gotA)}`);
    let extra = await b.next(200);
    check(extra === undefined, () => `consumer B got ${show(extra && bodyOf(extra))} while A was active`);
    await within(chA.basicCancel('A'), 5000, 'basic.cancel');
    for (const x of ['3', '4']) await chA.basicPublish('', q, x);
    const gotB = [];
    for (let i = 0; i < 2; i++) {
      const m = await b.next();
      gotB.push(m && bodyOf(m));
    }
    check(isDeepStrictEqual(gotB, ['3', '4']), `consumer B got ${show(gotB)} after A was cancelled`);
    extra = await a.next(100);
    check(extra === undefined, () => `cancelled consumer A got ${show(extra && bodyOf(extra))}`);
  },

  async queue_expiry(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const idle = uniq('expires');
    const used = uniq('expires');
    s.deferOnChannel(c, async (cc) => {
      await cc.queueDelete(idle);
      await cc.queueDelete(used);
    });
    // The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
    await ch.queueDeclare(used, { durable: false }, { 'x-expires': 200 });
    const cons = await consumer(ch, used, { noAck: true });
    await ch.queueDeclare(idle, { durable: false }, { 'x-expires': 200 });
    const start = Date.now();
    for (;;) {
      // Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than the
      // 200 ms: RabbitMQ renews the lease on a passive declare too.
      const probe = await s.channel(c);
      let err;
      try {
        await within(probe.queueDeclare(idle, { passive: true }), 5000, 'passive queue.declare');
      } catch (e) {
        err = e;
      }
      if (err) {
        // AMQPError carries the close as text: "channel N closed: <reply text> (<reply code>)"
        const code = err instanceof AMQPError && /\((\d+)\)$/.exec(err.message);
        check(code && code[1] === '404', `error ${show(err.message)}`);
        break;
      }
      await probe.close();
      check(Date.now() - start < 5000, 'queue with x-expires 200 and no consumer still there after 5 s');
      await sleep(300);
    }
    const gone = Date.now() - start;
    const probe = await s.channel(c);
    await within(probe.queueDeclare(used, { passive: true }), 5000, 'passive queue.declare'); // rejects if the consumed queue expired too
    await probe.close();
    await within(ch.basicCancel(cons.cons.tag), 5000, 'basic.cancel');
    return `idle queue gone after ${gone} ms (AMQPError ... (404)); consumed one still there`;
  },

  async consumer_priority(s) {
    const c = await s.connect();
    const chA = await s.channel(c);
    const chB = await s.channel(c);
    const q = await tmpQueue(chA);
    await chA.basicQos(2);
    // B first: the priority, not the order of registration, gives A the first messages.
    const b = await consumer(chB, q, { noAck: true, tag: 'B' });
    const a = await consumer(chA, q, { noAck: false, tag: 'A', args: { 'x-priority': 10 } });
    for (let i = 0; i < 5; i++) await chA.basicPublish('', q, String(i));
    const gotA = [];
    const gotB = [];
    for (let i = 0; i < 2; i++) {
      const m = await a.next();
      gotA.push(m && bodyOf(m));
    }
    for (let i = 0; i < 3; i++) {
      const m = await b.next();
      gotB.push(m && bodyOf(m));
    }
    const extra = await a.next(200);
    check(
      isDeepStrictEqual(gotA, ['0', '1']) && isDeepStrictEqual(gotB, ['2', '3', '4']) && extra === undefined,
      () => `A (x-priority 10, prefetch 2, no acks) got ${show(gotA)} (then ${show(extra && bodyOf(extra))}), B got ${show(gotB)}`,
    );
    return "basicConsume(q, { args: { 'x-priority': 10 } })";
  },

  async sender_selected(s) {
    const c = await s.connect();
    const ch = await s.channel(c);
    const x = uniq('cc');
    await ch.exchangeDeclare(x, 'direct', { durable: false });
    deleteExchangeLater(s, c, x);
    const qs = [];
    for (const k of ['k1', 'k2', 'k3']) {
      const q = await tmpQueue(ch);
      await ch.queueBind(q, x, k);
      qs.push([k, q]);
    }
    await ch.basicPublish(x, 'k1', 'selected', { headers: { CC: ['k2'], BCC: ['k3'] } });
    for (const [k, q] of qs) {
      const m = await getOne(ch, q, true);
      check(m && bodyOf(m) === 'selected', `queue bound with ${k} got nothing`);
      const hs = m.properties.headers || {};
      check(!('BCC' in hs), `copy for ${k} carries BCC: ${show(hs)}`);
    }
  },
};

h.runScenarios('amqp-client-js', scenarios, () => new Scope(), brokerURL, process.argv[3]);
