// What the Node clients' scenarios.js share: checks, bounded waits, the per-scenario scope of
// cleanups, and the runner that prints one `SCENARIO <id> pass|fail|na [detail]` line per id.
// Each client supplies its scenarios and a Scope subclass that knows its own connections.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { isDeepStrictEqual, inspect } = require('node:util');

// Thrown by a scenario the client's API does not offer; the message says why.
class NA extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const show = (v) => inspect(v, { depth: 6, breakLength: Infinity });
const oneLine = (s) => String(s).split(/\s+/).filter(Boolean).join(' ');

// Names no other client or run uses.
const uniqueName = (client, prefix) => `interop.${client}.${prefix}.${crypto.randomBytes(8).toString('hex')}`;

function check(cond, msg) {
  if (!cond) throw new Error(typeof msg === 'function' ? msg() : msg);
}

// Rejects when `p` does not settle within `ms`.
function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// `url` with query parameters added (both clients read heartbeat etc. from the query).
function urlWith(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  return u.toString();
}

// The user and password in `url`, guest/guest when absent.
function loginOf(url) {
  const u = new URL(url);
  return {
    user: u.username ? decodeURIComponent(u.username) : 'guest',
    pass: u.password ? decodeURIComponent(u.password) : 'guest',
  };
}

// Same elements, in any order.
function sameList(got, want) {
  return isDeepStrictEqual([...got].sort(), [...want].sort());
}

// Calls `fetch` every 10 ms until `done(result)` holds or 5 s pass; returns the last result.
async function poll(fetch, done) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await fetch();
    if (done(r) || Date.now() > deadline) return r;
    await sleep(10);
  }
}

// Polls `passiveDeclare` (a passive queue.declare) until it reports `want` messages (the count
// is eventually consistent in RabbitMQ too) or 5 s pass; returns the last count.
async function countEventually(passiveDeclare, want) {
  const ok = await poll(passiveDeclare, (r) => r.messageCount === want);
  return ok.messageCount;
}

// Takes messages with `getBody` (a body, or nothing when none came in time) after publishing a
// sentinel with `publishSentinel` (through the default exchange, after the messages under test,
// so everything before it has been routed); returns the earlier bodies, sorted.
async function drainUntilSentinel(q, publishSentinel, getBody) {
  await publishSentinel();
  const got = [];
  for (;;) {
    const body = await getBody();
    check(body !== undefined, () => `queue ${q}: sentinel did not arrive within 5 s (got ${show(got)})`);
    if (body === 'sentinel') return got.sort();
    got.push(body);
  }
}

// Deliveries pushed by a client's consumer callback, awaited one by one.
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.push = (m) => {
      const w = this.waiters.shift();
      if (w) w(m);
      else this.items.push(m);
    };
  }

  pending() {
    return this.items.length;
  }

  // The next delivery, or undefined when none comes within `ms`.
  next(ms = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, ms);
      const done = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }
}

// A scenario's resources: cleanups run and every connection it opened is closed when it ends,
// whatever happened. Subclasses open connections (pushing them on `conns`) and close one in
// `closeConnection`.
class Scope {
  constructor() {
    this.conns = [];
    this.cleanups = [];
  }

  defer(fn) {
    this.cleanups.push(fn);
  }

  // At the end, runs `fn` on a fresh channel of connection `c` (the scenario's own channel
  // may be closed by then). Subclasses open channels with `channel(c)`.
  deferOnChannel(c, fn) {
    this.defer(async () => {
      const ch = await this.channel(c);
      await fn(ch);
      await ch.close();
    });
  }

  async closeConnection(c) {
    await within(c.close(), 5000, 'connection.close');
  }

  async close() {
    for (const fn of this.cleanups.reverse()) {
      try {
        await within(Promise.resolve().then(fn), 5000, 'cleanup');
      } catch (_) {
        // best effort
      }
    }
    for (const c of this.conns) {
      try {
        await this.closeConnection(c);
      } catch (_) {
        // already closed
      }
    }
  }
}

async function runOne(client, scenarios, makeScope, id) {
  const f = scenarios[id];
  if (!f) return `SCENARIO ${id} fail no implementation in the ${client} client`;
  const scope = makeScope();
  try {
    const detail = await within(f(scope), 20000, 'scenario');
    return `SCENARIO ${id} pass ${oneLine(detail || '')}`.trimEnd();
  } catch (e) {
    if (e instanceof NA) return `SCENARIO ${id} na ${oneLine(e.message)}`;
    return `SCENARIO ${id} fail ${oneLine(e && e.message ? e.message : e)}`;
  } finally {
    await scope.close();
  }
}

// Runs every id of the scenario list file `idsFile` in order, then exits.
function runScenarios(client, scenarios, makeScope, brokerURL, idsFile) {
  // A stray error from a closed channel or connection must not end the run.
  process.on('uncaughtException', (e) => console.error('uncaught:', e));
  process.on('unhandledRejection', (e) => console.error('unhandled rejection:', e));
  (async () => {
    if (!brokerURL || !idsFile) {
      console.error('usage: node scenarios.js AMQP_URL scenarios.txt');
      process.exit(2);
    }
    const ids = fs
      .readFileSync(idsFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const id of ids) console.log(await runOne(client, scenarios, makeScope, id));
    process.exit(0);
  })();
}

// The vhost_user_tls set-up interop/run exports (INTEROP_TLS_URL, INTEROP_TLS_CA,
// INTEROP_PLAIN_URL_FOR_USER), with the user and vhost of the TLS URL; NA when it gave none.
// Names under ^tls-.* (all the user may configure, write and read) and one outside it.
function tlsSetup() {
  const url = process.env.INTEROP_TLS_URL;
  const ca = process.env.INTEROP_TLS_CA;
  const refused = process.env.INTEROP_PLAIN_URL_FOR_USER;
  if (!url || !ca || !refused) throw new NA('no TLS set-up given');
  const u = new URL(url);
  const hex = () => crypto.randomBytes(8).toString('hex');
  return {
    url, ca, refused,
    user: decodeURIComponent(u.username),
    vhost: decodeURIComponent(u.pathname.slice(1)),
    x: `tls-x.${hex()}`, q: `tls-q.${hex()}`, denied: `denied.${hex()}`,
    // The 403 texts for declaring `denied`, and whose they are: RabbitMQ 3.12 and later (and
    // Warren) name the permission, 3.10 does not.
    refusedTexts() {
      const tail = `access to queue '${this.denied}' in vhost '${this.vhost}' refused for user '${this.user}'`;
      return [
        [`ACCESS_REFUSED - configure ${tail}`, "403 text as RabbitMQ 4.x's (naming 'configure')"],
        [`ACCESS_REFUSED - ${tail}`, "403 text as RabbitMQ 3.10's (without 'configure')"],
      ];
    },
    body: Buffer.concat([Buffer.from([...Array(1024).keys()].map((i) => i % 256)), crypto.randomBytes(16)]),
  };
}

module.exports = {
  NA, sleep, show, uniqueName, check, within, urlWith, loginOf, sameList, poll, countEventually, drainUntilSentinel,
  tlsSetup,
  Inbox, Scope,
  runScenarios,
};
