// amqplib meeting faults Warren injects (node:test), and recovering the way amqplib
// documents: a connection or channel that closes emits 'error' (unless closed cleanly) and
// 'close'; pending confirm callbacks get an error when their channel closes; 'blocked' and
// 'unblocked' come from connection.blocked/unblocked; the opt-in `recovery` option
// reconnects by itself ('disconnect', then 'connect').
'use strict';
const { test, before, beforeEach, afterEach, after } = require('node:test');
const assert = require('node:assert/strict');
const amqp = require('amqplib');
const warren = require('./warren');

let broker;
let opened = [];
before(async () => { broker = await warren.start(); });
beforeEach(() => broker.reset());
afterEach(async () => { // whatever a failed test left open
  await Promise.all(opened.map((c) => c.close().catch(() => {})));
  opened = [];
});
after(() => broker.stop());

// A promise that fails after `ms` instead of hanging the suite.
const within = (promise, ms = 5000, what = 'event') => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms).unref())]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The next `event` from `emitter`, with its arguments (events.once would reject on 'error').
const next = (emitter, event) => new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
async function connect(name, extra = {}) {
  const conn = await amqp.connect(broker.url, { clientProperties: { connection_name: name }, ...extra });
  opened.push(conn);
  return conn;
}

async function roundtrip(conn, queue) {
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue);
  await ch.purgeQueue(queue);
  ch.sendToQueue(queue, Buffer.from('after'));
  await within(ch.waitForConfirms(), 5000, 'confirm');
  const msg = await ch.get(queue, { noAck: true });
  assert.equal(msg.content.toString(), 'after');
  await ch.close();
}

test('connection drop: error and close events, a new connection works', async () => {
  const conn = await connect('drop');
  const errors = [];
  conn.on('error', (e) => errors.push(e));
  const closed = next(conn, 'close');
  await broker.injectFault('drop', { action: 'drop_connection' });
  const [err] = await within(closed, 5000, "'close'");
  assert.ok(err instanceof Error, 'close carries the error');
  assert.equal(errors.length, 1, "one 'error' event");
  const again = await connect('drop-again');
  await roundtrip(again, 'node-drop');
  await again.close();
});

test('connection drop with the opt-in recovery: disconnect, then connect by itself', async () => {
  const conn = await connect('recovering', { recovery: { initialDelay: 50, maxDelay: 200 } });
  conn.on('error', () => {});
  const disconnected = next(conn, 'disconnect');
  const reconnected = next(conn, 'connect');
  await broker.injectFault('recovering', { action: 'drop_connection' });
  await within(disconnected, 5000, "'disconnect'");
  await within(reconnected, 5000, "'connect'");
  await roundtrip(conn, 'node-recovered');
  await conn.close();
});

test('withheld confirm: the publish callback waits until the channel closes', async () => {
  const conn = await connect('confirm');
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  await ch.assertQueue('node-confirm');
  await broker.injectFault('confirm', { action: 'withhold_confirms', count: 1 });
  let settled = null;
  const confirmed = new Promise((resolve) =>
    ch.sendToQueue('node-confirm', Buffer.from('m'), {}, (err) => { settled = err; resolve(err); }));
  await broker.wait({ queue: 'node-confirm', messages_ready: 1, timeout_ms: 5000 });
  await sleep(500);
  assert.equal(settled, null, 'no confirm callback without basic.ack');
  // amqplib fails every unconfirmed callback with 'channel closed' once the channel closes.
  await broker.injectFault('confirm', { action: 'close_channel', channel: ch.ch, code: 406,
    text: 'confirm withheld' });
  const err = await within(confirmed, 5000, 'confirm callback');
  assert.match(err.message, /channel closed/);
  await roundtrip(conn, 'node-confirm');
  await conn.close();
});

test('forced channel close: the channel emits error 406 and close, a new channel works', async () => {
  const conn = await connect('chclose');
  const ch = await conn.createChannel();
  const errored = next(ch, 'error');
  const closed = next(ch, 'close');
  await broker.injectFault('chclose', { action: 'close_channel', channel: ch.ch, code: 406,
    text: 'injected' });
  const [err] = await within(errored, 5000, "channel 'error'");
  assert.equal(err.code, 406);
  assert.match(err.message, /PRECONDITION_FAILED - injected/);
  await within(closed, 5000, "channel 'close'");
  await roundtrip(conn, 'node-chclose');
  await conn.close();
});

test('connection.blocked and unblocked: blocked and unblocked events', async () => {
  const conn = await connect('blocky');
  const blocked = next(conn, 'blocked');
  await broker.injectFault('blocky', { action: 'block', reason: 'low on memory' });
  const [reason] = await within(blocked, 5000, "'blocked'");
  assert.equal(reason, 'low on memory');
  const unblocked = next(conn, 'unblocked');
  await broker.injectFault('blocky', { action: 'unblock' });
  await within(unblocked, 5000, "'unblocked'");
  await roundtrip(conn, 'node-blocky');
  await conn.close();
});

test('nacked confirm: the publish callback gets an error, the next publish is acked', async () => {
  const conn = await connect('nack');
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('node-nack');
  await broker.injectFault('nack', { action: 'nack_confirms', count: 1 });
  const outcome = (body) => new Promise((resolve) =>
    ch.sendToQueue('node-nack', Buffer.from(body), {}, (err) => resolve(err)));
  const nacked = await within(outcome('nacked'), 5000, 'confirm');
  assert.match(nacked.message, /message nacked/);
  assert.equal(await within(outcome('acked'), 5000, 'confirm'), null);
  await conn.close();
});

test('reset closes connections (320) and forgets queues', async () => {
  const conn = await connect('before-reset');
  const errors = [];
  conn.on('error', (e) => errors.push(e));
  const closed = next(conn, 'close');
  const ch = await conn.createChannel();
  await ch.assertQueue('node-leftover');
  await broker.reset();
  // amqplib counts 320 CONNECTION_FORCED as a broker shutting down, not a fault: 'close'
  // carries it, no 'error' is emitted.
  const [err] = await within(closed, 5000, "'close'");
  assert.equal(err.code, 320);
  assert.equal(errors.length, 0);
  const fresh = await connect('after-reset');
  const probe = await fresh.createChannel();
  probe.on('error', () => {});
  await assert.rejects(probe.checkQueue('node-leftover'), (e) => e.code === 404);
  await fresh.close();
});
