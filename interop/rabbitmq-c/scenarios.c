/* Stock rabbitmq-c (Debian librabbitmq-dev) against the broker at argv[1], running every id
 * listed in argv[2] (interop/scenarios.txt). Prints one line per id:
 *   SCENARIO <id> pass|fail|na [detail]
 * Each scenario runs in its own forked process with its own connection(s), bounded by a
 * 20 s watchdog, so a crash or a hang in one does not stop the others. */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct amqp_connection_info info;
static char detail[2048];
static jmp_buf bail;
static int scenario_na; /* set by a scenario whose set-up is missing: its result is na */

/* names to delete after the scenario (exchanges and non-exclusive queues) */
static char cleanup_ex[16][128], cleanup_q[16][128];
static int n_cleanup_ex, n_cleanup_q;

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  longjmp(bail, 1);
}

#define CHECK(cond, ...) \
  do {                   \
    if (!(cond)) fail(__VA_ARGS__); \
  } while (0)

static amqp_bytes_t B(const char *s) { return amqp_cstring_bytes(s); }

static void uniq(char *out, size_t n, const char *what) {
  unsigned char r[8];
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(r, 1, sizeof r, f) != sizeof r) fail("no /dev/urandom");
  fclose(f);
  snprintf(out, n, "interop.c.%s.%02x%02x%02x%02x%02x%02x%02x%02x", what, r[0], r[1], r[2], r[3],
           r[4], r[5], r[6], r[7]);
}

static const char *describe(amqp_rpc_reply_t r) {
  static char buf[600];
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      snprintf(buf, sizeof buf, "library error: %s", amqp_error_string2(r.library_error));
      return buf;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        snprintf(buf, sizeof buf, "channel.close %u %.*s", m->reply_code, (int)m->reply_text.len,
                 (char *)m->reply_text.bytes);
      } else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        snprintf(buf, sizeof buf, "connection.close %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
      } else {
        snprintf(buf, sizeof buf, "unexpected method 0x%08x", r.reply.id);
      }
      return buf;
  }
  return "?";
}

static void rpc_ok(amqp_connection_state_t c, const char *what) {
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("%s: %s", what, describe(r));
}

static void status_ok(int status, const char *what) {
  if (status != AMQP_STATUS_OK) fail("%s: %s", what, amqp_error_string2(status));
}

static amqp_connection_state_t open_conn_with(int heartbeat, amqp_table_t *props) {
  struct timeval tv = {5, 0};
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s = amqp_tcp_socket_new(c);
  CHECK(s, "amqp_tcp_socket_new failed");
  status_ok(amqp_socket_open_noblock(s, info.host, info.port, &tv), "tcp connect");
  amqp_set_handshake_timeout(c, &tv);
  amqp_set_rpc_timeout(c, &tv);
  amqp_rpc_reply_t r;
  if (props)
    r = amqp_login_with_properties(c, info.vhost, 0, 131072, heartbeat, props,
                                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
  else
    r = amqp_login(c, info.vhost, 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, info.user,
                   info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("login: %s", describe(r));
  return c;
}

static amqp_connection_state_t open_conn(void) { return open_conn_with(30, NULL); }

static void chan_open(amqp_connection_state_t c, amqp_channel_t ch) {
  amqp_channel_open(c, ch);
  rpc_ok(c, "channel.open");
}

static void close_conn(amqp_connection_state_t c) {
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

/* server-named exclusive queue; the name is copied into out */
static void tmp_queue(amqp_connection_state_t c, amqp_channel_t ch, char *out, size_t n) {
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "queue.declare");
  snprintf(out, n, "%.*s", (int)ok->queue.len, (char *)ok->queue.bytes);
}

static void declare_exchange(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *type) {
  amqp_exchange_declare(c, ch, B(x), B(type), 0, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "exchange.declare");
  if (n_cleanup_ex < 16) snprintf(cleanup_ex[n_cleanup_ex++], 128, "%s", x);
}

static void bind(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *x,
                 const char *key, amqp_table_t args) {
  amqp_queue_bind(c, ch, B(q), B(x), B(key), args);
  rpc_ok(c, "queue.bind");
}

static void publish_props(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *key,
                          amqp_bytes_t body, amqp_basic_properties_t *props, int mandatory) {
  status_ok(amqp_basic_publish(c, ch, B(x), B(key), mandatory, 0, props, body), "basic.publish");
}

static void publish(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *key,
                    const char *body) {
  publish_props(c, ch, x, key, B(body), NULL, 0);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(int ms) { usleep(ms * 1000); }

/* basic.get, polled for up to 5 s. Returns 1 with the message (and its get-ok) or 0. */
static int get_one(amqp_connection_state_t c, amqp_channel_t ch, const char *q, int no_ack,
                   amqp_message_t *msg, amqp_basic_get_ok_t *ok_out) {
  double deadline = now() + 5;
  for (;;) {
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, B(q), no_ack);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("basic.get: %s", describe(r));
    if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
      amqp_basic_get_ok_t ok = *(amqp_basic_get_ok_t *)r.reply.decoded;
      r = amqp_read_message(c, ch, msg, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("reading the got message: %s", describe(r));
      if (ok_out) *ok_out = ok;
      return 1;
    }
    CHECK(r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD, "basic.get answered 0x%08x", r.reply.id);
    if (now() > deadline) return 0;
    nap(10);
  }
}

/* basic.get once, no polling: 1 if a message was there */
static int get_now(amqp_connection_state_t c, amqp_channel_t ch, const char *q) {
  amqp_rpc_reply_t r = amqp_basic_get(c, ch, B(q), 1);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("basic.get: %s", describe(r));
  if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return 0;
  amqp_message_t m;
  r = amqp_read_message(c, ch, &m, 0);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("reading the got message: %s", describe(r));
  amqp_destroy_message(&m);
  return 1;
}

static int body_is(amqp_message_t *m, const char *s) {
  return m->body.len == strlen(s) && memcmp(m->body.bytes, s, m->body.len) == 0;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Publishes a sentinel to q through the default exchange, then gets everything before it
 * (so everything routed earlier has arrived); returns the bodies sorted, comma-joined. */
static const char *drain_until_sentinel(amqp_connection_state_t c, amqp_channel_t ch, const char *q) {
  static char out[1024];
  char *bodies[32];
  int n = 0;
  publish(c, ch, "", q, "sentinel");
  for (;;) {
    amqp_message_t m;
    CHECK(get_one(c, ch, q, 1, &m, NULL), "queue %s: sentinel did not arrive within 5 s", q);
    if (body_is(&m, "sentinel")) {
      amqp_destroy_message(&m);
      break;
    }
    CHECK(n < 32, "too many messages");
    bodies[n++] = strndup(m.body.bytes, m.body.len);
    amqp_destroy_message(&m);
  }
  qsort(bodies, n, sizeof *bodies, cmpstr);
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    if (i) strcat(out, ",");
    strncat(out, bodies[i], sizeof out - strlen(out) - 2);
    free(bodies[i]);
  }
  return out;
}

/* passive declare polled until it reports `want` messages (RabbitMQ's count lags a little) */
static uint32_t wait_count(amqp_connection_state_t c, amqp_channel_t ch, const char *q, uint32_t want) {
  double deadline = now() + 5;
  for (;;) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, B(q), 1, 0, 0, 0, amqp_empty_table);
    rpc_ok(c, "passive queue.declare");
    if (ok->message_count == want || now() > deadline) return ok->message_count;
    nap(10);
  }
}

/* next frame within ms milliseconds; 0 on timeout */
static int next_frame(amqp_connection_state_t c, amqp_frame_t *f, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  int st = amqp_simple_wait_frame_noblock(c, f, &tv);
  if (st == AMQP_STATUS_TIMEOUT) return 0;
  status_ok(st, "waiting for a frame");
  return 1;
}

/* a delivery within ms milliseconds; 0 on timeout; a non-delivery frame fails */
static int next_delivery(amqp_connection_state_t c, amqp_envelope_t *env, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  amqp_maybe_release_buffers(c);
  amqp_rpc_reply_t r = amqp_consume_message(c, env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return 1;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) return 0;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    amqp_frame_t f;
    if (next_frame(c, &f, 100) && f.frame_type == AMQP_FRAME_METHOD)
      fail("expected a delivery, got method 0x%08x on channel %u", f.payload.method.id, f.channel);
    fail("expected a delivery, got an unexpected frame");
  }
  fail("consuming: %s", describe(r));
  return 0;
}

/* ------------------------------------------------------------------ field tables */

static int bytes_eq(amqp_bytes_t a, amqp_bytes_t b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static int table_eq(const amqp_table_t *a, const amqp_table_t *b);

static int field_eq(const amqp_field_value_t *a, const amqp_field_value_t *b) {
  if (a->kind != b->kind) return 0;
  switch (a->kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return !!a->value.boolean == !!b->value.boolean;
    case AMQP_FIELD_KIND_I8: return a->value.i8 == b->value.i8;
    case AMQP_FIELD_KIND_U8: return a->value.u8 == b->value.u8;
    case AMQP_FIELD_KIND_I16: return a->value.i16 == b->value.i16;
    case AMQP_FIELD_KIND_U16: return a->value.u16 == b->value.u16;
    case AMQP_FIELD_KIND_I32: return a->value.i32 == b->value.i32;
    case AMQP_FIELD_KIND_U32: return a->value.u32 == b->value.u32;
    case AMQP_FIELD_KIND_I64: return a->value.i64 == b->value.i64;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return a->value.u64 == b->value.u64;
    case AMQP_FIELD_KIND_F32: return memcmp(&a->value.f32, &b->value.f32, 4) == 0;
    case AMQP_FIELD_KIND_F64: return memcmp(&a->value.f64, &b->value.f64, 8) == 0;
    case AMQP_FIELD_KIND_DECIMAL:
      return a->value.decimal.decimals == b->value.decimal.decimals && a->value.decimal.value == b->value.decimal.value;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return bytes_eq(a->value.bytes, b->value.bytes);
    case AMQP_FIELD_KIND_ARRAY:
      if (a->value.array.num_entries != b->value.array.num_entries) return 0;
      for (int i = 0; i < a->value.array.num_entries; i++)
        if (!field_eq(&a->value.array.entries[i], &b->value.array.entries[i])) return 0;
      return 1;
    case AMQP_FIELD_KIND_TABLE: return table_eq(&a->value.table, &b->value.table);
    case AMQP_FIELD_KIND_VOID: return 1;
  }
  return 0;
}

static const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key) {
  for (int i = 0; i < t->num_entries; i++)
    if (bytes_eq(t->entries[i].key, B(key))) return &t->entries[i].value;
  return NULL;
}

static int table_eq(const amqp_table_t *a, const amqp_table_t *b) {
  if (a->num_entries != b->num_entries) return 0;
  for (int i = 0; i < a->num_entries; i++) {
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)a->entries[i].key.len, (char *)a->entries[i].key.bytes);
    const amqp_field_value_t *v = table_get(b, key);
    if (!v || !field_eq(&a->entries[i].value, v)) return 0;
  }
  return 1;
}

#define E(k, kind_, field, v) {.key = {sizeof(k) - 1, (void *)(k)}, .value = {.kind = kind_, .value.field = v}}
#define S(s) ((amqp_bytes_t){sizeof(s) - 1, (void *)(s)})

/* ------------------------------------------------------------------ scenarios */

static const char *s_connect(void) {
  static char d[64];
  amqp_connection_state_t c = open_conn();
  int hb = amqp_get_heartbeat(c);
  CHECK(hb == 30, "negotiated heartbeat %d, want 30", hb);
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  close_conn(c);
  snprintf(d, sizeof d, "heartbeat %d", hb);
  return d;
}

static const char *s_declare_exchanges(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  const char *types[] = {"direct", "fanout", "topic", "headers"};
  for (int i = 0; i < 4; i++) {
    char x[128];
    uniq(x, sizeof x, types[i]);
    declare_exchange(c, 1, x, types[i]);
    amqp_exchange_declare(c, 1, B(x), B(types[i]), 0, 0, 0, 0, amqp_empty_table);
    rpc_ok(c, "equivalent redeclare");
    amqp_exchange_declare(c, 1, B(x), B(types[i]), 1, 0, 0, 0, amqp_empty_table);
    rpc_ok(c, "passive exchange.declare");
    amqp_exchange_delete(c, 1, B(x), 0);
    rpc_ok(c, "exchange.delete");
  }
  close_conn(c);
  return "";
}

static const char *s_declare_queues(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256], name[128], ad[128], dur[128];
  tmp_queue(c, 1, q, sizeof q);
  CHECK(strncmp(q, "amq.gen-", 8) == 0, "server-named queue is %s", q);
  uniq(name, sizeof name, "excl");
  amqp_queue_declare(c, 1, B(name), 0, 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "exclusive queue.declare");
  uniq(ad, sizeof ad, "autodel");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", ad);
  amqp_queue_declare(c, 1, B(ad), 0, 0, 0, 1, amqp_empty_table);
  rpc_ok(c, "auto-delete queue.declare");
  uniq(dur, sizeof dur, "durable");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", dur);
  amqp_queue_declare(c, 1, B(dur), 0, 1, 0, 0, amqp_empty_table);
  rpc_ok(c, "durable queue.declare");
  publish(c, 1, "", dur, "one");
  publish(c, 1, "", dur, "two");
  uint32_t n = wait_count(c, 1, dur, 2);
  CHECK(n == 2, "passive declare reports %u messages, want 2", n);
  amqp_queue_delete_ok_t *del = amqp_queue_delete(c, 1, B(dur), 0, 0);
  rpc_ok(c, "queue.delete");
  CHECK(del->message_count == 2, "delete-ok count %u, want 2", del->message_count);
  amqp_queue_delete(c, 1, B(ad), 0, 0);
  rpc_ok(c, "queue.delete auto-delete");
  close_conn(c);
  return "";
}

static const char *s_bind_unbind(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], q[256];
  uniq(x, sizeof x, "direct");
  declare_exchange(c, 1, x, "direct");
  tmp_queue(c, 1, q, sizeof q);
  bind(c, 1, q, x, "k", amqp_empty_table);
  publish(c, 1, x, "k", "bound");
  const char *got = drain_until_sentinel(c, 1, q);
  CHECK(strcmp(got, "bound") == 0, "while bound got [%s]", got);
  amqp_queue_unbind(c, 1, B(q), B(x), B("k"), amqp_empty_table);
  rpc_ok(c, "queue.unbind");
  publish(c, 1, x, "k", "unbound");
  got = drain_until_sentinel(c, 1, q);
  CHECK(strcmp(got, "") == 0, "after unbind got [%s]", got);
  close_conn(c);
  return "";
}

static const char *s_route_default(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  publish(c, 1, "", q, "default");
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "default exchange did not deliver by queue name");
  CHECK(body_is(&m, "default"), "wrong body");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_route_direct(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], a[256], b[256];
  uniq(x, sizeof x, "direct");
  declare_exchange(c, 1, x, "direct");
  tmp_queue(c, 1, a, sizeof a);
  tmp_queue(c, 1, b, sizeof b);
  bind(c, 1, a, x, "red", amqp_empty_table);
  bind(c, 1, b, x, "blue", amqp_empty_table);
  publish(c, 1, x, "red", "r");
  publish(c, 1, x, "blue", "b");
  publish(c, 1, x, "green", "g");
  const char *got = drain_until_sentinel(c, 1, a);
  CHECK(strcmp(got, "r") == 0, "red queue got [%s]", got);
  got = drain_until_sentinel(c, 1, b);
  CHECK(strcmp(got, "b") == 0, "blue queue got [%s]", got);
  close_conn(c);
  return "";
}

static const char *s_route_fanout(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], q[3][256];
  uniq(x, sizeof x, "fanout");
  declare_exchange(c, 1, x, "fanout");
  const char *keys[] = {"k0", "k1", ""};
  for (int i = 0; i < 3; i++) {
    tmp_queue(c, 1, q[i], sizeof q[i]);
    bind(c, 1, q[i], x, keys[i], amqp_empty_table);
  }
  publish(c, 1, x, "whatever", "all");
  for (int i = 0; i < 3; i++) {
    const char *got = drain_until_sentinel(c, 1, q[i]);
    CHECK(strcmp(got, "all") == 0, "queue %d got [%s]", i, got);
  }
  close_conn(c);
  return "";
}

static const char *s_route_topic(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], star[256], hash[256];
  uniq(x, sizeof x, "topic");
  declare_exchange(c, 1, x, "topic");
  tmp_queue(c, 1, star, sizeof star);
  tmp_queue(c, 1, hash, sizeof hash);
  bind(c, 1, star, x, "*.orange.*", amqp_empty_table);
  bind(c, 1, hash, x, "lazy.#", amqp_empty_table);
  const char *keys[] = {"quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"};
  for (int i = 0; i < 4; i++) publish(c, 1, x, keys[i], keys[i]);
  const char *got = drain_until_sentinel(c, 1, star);
  CHECK(strcmp(got, "lazy.orange.elephant,quick.orange.rabbit") == 0, "*.orange.* got [%s]", got);
  got = drain_until_sentinel(c, 1, hash);
  CHECK(strcmp(got, "lazy,lazy.orange.elephant") == 0, "lazy.# got [%s]", got);
  close_conn(c);
  return "";
}

static const char *s_route_headers(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], all[256], any[256];
  uniq(x, sizeof x, "headers");
  declare_exchange(c, 1, x, "headers");
  tmp_queue(c, 1, all, sizeof all);
  tmp_queue(c, 1, any, sizeof any);
  amqp_table_entry_t all_e[] = {E("x-match", AMQP_FIELD_KIND_UTF8, bytes, S("all")),
                                E("format", AMQP_FIELD_KIND_UTF8, bytes, S("pdf")),
                                E("type", AMQP_FIELD_KIND_UTF8, bytes, S("report"))};
  amqp_table_entry_t any_e[] = {E("x-match", AMQP_FIELD_KIND_UTF8, bytes, S("any")),
                                E("format", AMQP_FIELD_KIND_UTF8, bytes, S("pdf")),
                                E("type", AMQP_FIELD_KIND_UTF8, bytes, S("log"))};
  bind(c, 1, all, x, "", (amqp_table_t){3, all_e});
  bind(c, 1, any, x, "", (amqp_table_t){3, any_e});
  struct { const char *body, *format, *type; } msgs[] = {
      {"both", "pdf", "report"}, {"log", "zip", "log"}, {"none", "zip", "report"}, {"half", "pdf", NULL}};
  for (int i = 0; i < 4; i++) {
    amqp_table_entry_t h[2] = {E("format", AMQP_FIELD_KIND_UTF8, bytes, B(msgs[i].format)),
                               E("type", AMQP_FIELD_KIND_UTF8, bytes, B(msgs[i].type ? msgs[i].type : ""))};
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_HEADERS_FLAG,
                                 .headers = {msgs[i].type ? 2 : 1, h}};
    publish_props(c, 1, x, "", B(msgs[i].body), &p, 0);
  }
  const char *got = drain_until_sentinel(c, 1, all);
  CHECK(strcmp(got, "both") == 0, "x-match all got [%s]", got);
  got = drain_until_sentinel(c, 1, any);
  CHECK(strcmp(got, "both,half,log") == 0, "x-match any got [%s]", got);
  close_conn(c);
  return "";
}

static const char *s_mandatory_return(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char key[128];
  uniq(key, sizeof key, "nowhere");
  publish_props(c, 1, "amq.direct", key, B("lost"), NULL, 1);
  amqp_frame_t f;
  CHECK(next_frame(c, &f, 5000), "no basic.return within 5 s");
  CHECK(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_RETURN_METHOD,
        "expected basic.return, got frame type %d method 0x%08x", f.frame_type, f.payload.method.id);
  amqp_basic_return_t *r = f.payload.method.decoded;
  CHECK(r->reply_code == 312, "reply code %u", r->reply_code);
  CHECK(bytes_eq(r->reply_text, B("NO_ROUTE")), "reply text %.*s", (int)r->reply_text.len, (char *)r->reply_text.bytes);
  CHECK(bytes_eq(r->exchange, B("amq.direct")) && bytes_eq(r->routing_key, B(key)), "returned with the wrong exchange/key");
  amqp_message_t m;
  amqp_rpc_reply_t rr = amqp_read_message(c, f.channel, &m, 0);
  CHECK(rr.reply_type == AMQP_RESPONSE_NORMAL, "reading the returned message: %s", describe(rr));
  CHECK(body_is(&m, "lost"), "returned body differs");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_confirms_sync(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_confirm_select(c, 1);
  rpc_ok(c, "confirm.select");
  for (int i = 0; i < 100; i++) publish(c, 1, "", q, "confirm me");
  /* rabbitmq-c's form: read the basic.ack frames (blocking with a timeout) */
  uint64_t acked = 0;
  double deadline = now() + 5;
  while (acked < 100) {
    amqp_frame_t f;
    int left = (int)((deadline - now()) * 1000);
    CHECK(left > 0 && next_frame(c, &f, left), "only %llu of 100 acked within 5 s", (unsigned long long)acked);
    CHECK(f.frame_type == AMQP_FRAME_METHOD, "unexpected frame type %d", f.frame_type);
    CHECK(f.payload.method.id == AMQP_BASIC_ACK_METHOD, "expected basic.ack, got method 0x%08x", f.payload.method.id);
    amqp_basic_ack_t *a = f.payload.method.decoded;
    CHECK(a->delivery_tag > acked && a->delivery_tag <= 100, "ack for tag %llu after %llu", (unsigned long long)a->delivery_tag, (unsigned long long)acked);
    CHECK(a->multiple || a->delivery_tag == acked + 1, "single ack for %llu skips %llu", (unsigned long long)a->delivery_tag, (unsigned long long)acked + 1);
    acked = a->delivery_tag;
  }
  uint32_t n = wait_count(c, 1, q, 100);
  CHECK(n == 100, "queue holds %u, want 100", n);
  close_conn(c);
  return "";
}

static const char *s_manual_ack(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  for (int i = 0; i < 10; i++) {
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG,
                                 .delivery_mode = 2, .content_type = S("text/plain")};
    publish_props(c, 1, "", q, B(body), &p, 0);
  }
  amqp_basic_consume(c, 1, B(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "basic.consume");
  for (int i = 0; i < 10; i++) {
    amqp_envelope_t env;
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    CHECK(next_delivery(c, &env, 5000), "got %d of 10 deliveries within 5 s", i);
    CHECK(body_is(&env.message, body), "delivery %d has the wrong body", i);
    CHECK(bytes_eq(env.message.properties.content_type, B("text/plain")), "content type lost");
    status_ok(amqp_basic_ack(c, 1, env.delivery_tag, 0), "basic.ack");
    amqp_destroy_envelope(&env);
  }
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  rpc_ok(c, "channel.close");
  chan_open(c, 2);
  uint32_t n = wait_count(c, 2, q, 0);
  CHECK(n == 0, "queue still holds %u after acks", n);
  close_conn(c);
  return "";
}

static const char *s_nack_requeue(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  publish(c, 1, "", q, "again");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  CHECK(get_one(c, 1, q, 0, &m, &ok), "message did not arrive");
  CHECK(!ok.redelivered, "first delivery already redelivered");
  amqp_destroy_message(&m);
  status_ok(amqp_basic_nack(c, 1, ok.delivery_tag, 0, 1), "basic.nack");
  CHECK(get_one(c, 1, q, 0, &m, &ok), "nacked message did not come back");
  CHECK(body_is(&m, "again") && ok.redelivered, "came back with redelivered=%d", ok.redelivered);
  amqp_destroy_message(&m);
  status_ok(amqp_basic_ack(c, 1, ok.delivery_tag, 0), "basic.ack");
  close_conn(c);
  return "";
}

static const char *s_reject(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  publish(c, 1, "", q, "drop");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  CHECK(get_one(c, 1, q, 0, &m, &ok), "message did not arrive");
  amqp_destroy_message(&m);
  status_ok(amqp_basic_reject(c, 1, ok.delivery_tag, 0), "basic.reject");
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS); /* an unsettled message would be requeued here */
  rpc_ok(c, "channel.close");
  chan_open(c, 2);
  uint32_t n = wait_count(c, 2, q, 0);
  CHECK(n == 0, "rejected message still there (%u)", n);
  CHECK(!get_now(c, 2, q), "rejected message still delivered");
  close_conn(c);
  return "";
}

static const char *s_prefetch_fair(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  chan_open(c, 2);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_basic_qos(c, 1, 0, 1, 0);
  rpc_ok(c, "basic.qos A");
  amqp_basic_qos(c, 2, 0, 1, 0);
  rpc_ok(c, "basic.qos B");
  amqp_basic_consume(c, 1, B(q), B("A"), 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "consume A");
  publish(c, 1, "", q, "first");
  amqp_envelope_t env;
  CHECK(next_delivery(c, &env, 5000), "consumer A did not get the first message");
  CHECK(env.channel == 1 && body_is(&env.message, "first"), "first delivery went to channel %u", env.channel);
  uint64_t held = env.delivery_tag;
  amqp_destroy_envelope(&env);
  amqp_basic_consume(c, 2, B(q), B("B"), 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "consume B");
  for (int i = 0; i < 6; i++) {
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    publish(c, 1, "", q, body);
  }
  for (int i = 0; i < 6; i++) {
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    CHECK(next_delivery(c, &env, 5000), "consumer B got %d of 6", i);
    CHECK(env.channel == 2, "message %d went to consumer A while it held an unacked message", i);
    CHECK(body_is(&env.message, body), "B got the wrong body for %d", i);
    status_ok(amqp_basic_ack(c, 2, env.delivery_tag, 0), "ack B");
    amqp_destroy_envelope(&env);
  }
  CHECK(!next_delivery(c, &env, 200), "an extra delivery arrived on channel %u", env.channel);
  status_ok(amqp_basic_ack(c, 1, held, 0), "ack A");
  close_conn(c);
  return "";
}

static const char *s_basic_get(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  publish(c, 1, "", q, "a");
  publish(c, 1, "", q, "b");
  publish(c, 1, "", q, "c");
  const char *want[] = {"a", "b", "c"};
  for (uint32_t i = 0; i < 3; i++) {
    amqp_message_t m;
    amqp_basic_get_ok_t ok;
    CHECK(get_one(c, 1, q, 1, &m, &ok), "get %u returned empty", i);
    CHECK(body_is(&m, want[i]), "get %u: wrong body", i);
    CHECK(ok.message_count == 2 - i, "get %u: message count %u, want %u", i, ok.message_count, 2 - i);
    amqp_destroy_message(&m);
  }
  amqp_rpc_reply_t r = amqp_basic_get(c, 1, B(q), 1);
  CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "basic.get: %s", describe(r));
  CHECK(r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD, "empty queue answered 0x%08x, not get-empty", r.reply.id);
  close_conn(c);
  return "";
}

static const char *s_large_message(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  size_t n = 1 << 20;
  unsigned char *body = malloc(n);
  for (size_t i = 0; i < n; i++) body[i] = (unsigned char)(rand() >> 7);
  publish_props(c, 1, "", q, (amqp_bytes_t){n, body}, NULL, 0);
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "1 MiB message did not arrive");
  CHECK(m.body.len == n && memcmp(m.body.bytes, body, n) == 0, "body differs (len %zu)", m.body.len);
  amqp_destroy_message(&m);
  free(body);
  static char d[64];
  snprintf(d, sizeof d, "frame_max %d", amqp_get_frame_max(c));
  close_conn(c);
  return d;
}

static const char *s_empty_message(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_CONTENT_TYPE_FLAG, .content_type = S("x/empty")};
  publish_props(c, 1, "", q, amqp_empty_bytes, &p, 0);
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "empty message did not arrive");
  CHECK(m.body.len == 0, "body has %zu bytes", m.body.len);
  CHECK(bytes_eq(m.properties.content_type, B("x/empty")), "content type lost");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_properties_roundtrip(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_table_entry_t h[] = {E("h1", AMQP_FIELD_KIND_UTF8, bytes, S("v1")), E("h2", AMQP_FIELD_KIND_I32, i32, 7)};
  amqp_basic_properties_t p = {
      ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG | AMQP_BASIC_HEADERS_FLAG |
                AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
                AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG,
      .content_type = S("application/json"),
      .content_encoding = S("gzip"),
      .headers = {2, h},
      .delivery_mode = 2,
      .priority = 5,
      .correlation_id = S("corr-1"),
      .reply_to = S("reply.q"),
      .expiration = S("60000"),
      .message_id = S("msg-1"),
      .timestamp = 1700000000,
      .type = S("kind"),
      .user_id = B(info.user),
      .app_id = S("interop-c"),
  };
  publish_props(c, 1, "", q, B("props"), &p, 0);
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "message did not arrive");
  amqp_basic_properties_t *g = &m.properties;
  CHECK(g->_flags == p._flags, "property flags 0x%04x, sent 0x%04x", g->_flags, p._flags);
#define SAME(f) CHECK(bytes_eq(g->f, p.f), #f ": got '%.*s'", (int)g->f.len, (char *)g->f.bytes)
  SAME(content_type);
  SAME(content_encoding);
  CHECK(table_eq(&g->headers, &p.headers), "headers differ");
  CHECK(g->delivery_mode == 2, "delivery-mode %u", g->delivery_mode);
  CHECK(g->priority == 5, "priority %u", g->priority);
  SAME(correlation_id);
  SAME(reply_to);
  SAME(expiration);
  SAME(message_id);
  CHECK(g->timestamp == p.timestamp, "timestamp %llu", (unsigned long long)g->timestamp);
  SAME(type);
  SAME(user_id);
  SAME(app_id);
  CHECK(body_is(&m, "props"), "body differs");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_headers_types(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  static unsigned char raw[] = {0, 1, 2, 255};
  amqp_table_entry_t deeper[] = {E("x", AMQP_FIELD_KIND_I64, i64, 2)};
  amqp_table_entry_t inner[] = {E("inner", AMQP_FIELD_KIND_UTF8, bytes, S("v")), E("n", AMQP_FIELD_KIND_I32, i32, 1),
                                E("deeper", AMQP_FIELD_KIND_TABLE, table, ((amqp_table_t){1, deeper}))};
  amqp_field_value_t nested_arr[] = {{.kind = AMQP_FIELD_KIND_I16, .value.i16 = 2}};
  amqp_table_entry_t in_arr[] = {E("k", AMQP_FIELD_KIND_UTF8, bytes, S("v"))};
  amqp_field_value_t arr[] = {{.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = S("a")},
                              {.kind = AMQP_FIELD_KIND_I32, .value.i32 = 1},
                              {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1},
                              {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, in_arr}},
                              {.kind = AMQP_FIELD_KIND_ARRAY, .value.array = {1, nested_arr}}};
  amqp_table_entry_t h[] = {
      E("string", AMQP_FIELD_KIND_UTF8, bytes, S("text \xc3\xbc")),
      E("int8", AMQP_FIELD_KIND_I8, i8, -8),
      E("uint8", AMQP_FIELD_KIND_U8, u8, 200),
      E("int16", AMQP_FIELD_KIND_I16, i16, -1600),
      E("uint16", AMQP_FIELD_KIND_U16, u16, 60000),
      E("int32", AMQP_FIELD_KIND_I32, i32, -320000),
      E("uint32", AMQP_FIELD_KIND_U32, u32, 4000000000u),
      E("int64", AMQP_FIELD_KIND_I64, i64, -64000000000LL),
      E("uint64", AMQP_FIELD_KIND_U64, u64, 18000000000000000000ULL),
      E("true", AMQP_FIELD_KIND_BOOLEAN, boolean, 1),
      E("false", AMQP_FIELD_KIND_BOOLEAN, boolean, 0),
      E("float", AMQP_FIELD_KIND_F32, f32, 1.5f),
      E("double", AMQP_FIELD_KIND_F64, f64, -2.25),
      E("decimal", AMQP_FIELD_KIND_DECIMAL, decimal, ((amqp_decimal_t){2, 12345})),
      E("time", AMQP_FIELD_KIND_TIMESTAMP, u64, 1700000000),
      E("table", AMQP_FIELD_KIND_TABLE, table, ((amqp_table_t){3, inner})),
      E("array", AMQP_FIELD_KIND_ARRAY, array, ((amqp_array_t){5, arr})),
      E("bytes", AMQP_FIELD_KIND_BYTES, bytes, ((amqp_bytes_t){4, raw})),
      {.key = S("void"), .value = {.kind = AMQP_FIELD_KIND_VOID}},
  };
  int n = sizeof h / sizeof h[0];
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_HEADERS_FLAG, .headers = {n, h}};
  publish_props(c, 1, "", q, B("h"), &p, 0);
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "message did not arrive");
  char bad[1024] = "";
  for (int i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)h[i].key.len, (char *)h[i].key.bytes);
    const amqp_field_value_t *v = table_get(&m.properties.headers, key);
    if (!v)
      snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s: missing;", key);
    else if (!field_eq(v, &h[i].value))
      snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s: sent kind '%c', got kind '%c' or another value;",
               key, h[i].value.kind, v->kind);
  }
  CHECK(!bad[0], "%s", bad);
  CHECK(m.properties.headers.num_entries == n, "got %d headers, sent %d", m.properties.headers.num_entries, n);
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_passive_missing_404(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[128], want[256];
  uniq(q, sizeof q, "missing");
  amqp_queue_declare(c, 1, B(q), 1, 0, 0, 0, amqp_empty_table);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "passive declare of a missing queue: %s", describe(r));
  CHECK(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD, "expected channel.close, got %s", describe(r));
  amqp_channel_close_t *cl = r.reply.decoded;
  CHECK(cl->reply_code == 404, "reply code %u", cl->reply_code);
  snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost ", q);
  CHECK(cl->reply_text.len >= strlen(want) && memcmp(cl->reply_text.bytes, want, strlen(want)) == 0,
        "reply text %.*s", (int)cl->reply_text.len, (char *)cl->reply_text.bytes);
  CHECK(cl->class_id == 50 && cl->method_id == 10, "class/method %u/%u", cl->class_id, cl->method_id);
  amqp_channel_close_ok_t close_ok = {0};
  status_ok(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  chan_open(c, 2); /* the connection still works */
  char tq[256];
  tmp_queue(c, 2, tq, sizeof tq);
  close_conn(c);
  return "";
}

static const char *s_exchange_to_exchange(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char a[128], b[128], q[256];
  uniq(a, sizeof a, "src");
  uniq(b, sizeof b, "dst");
  declare_exchange(c, 1, a, "direct");
  declare_exchange(c, 1, b, "fanout");
  amqp_exchange_bind(c, 1, B(b), B(a), B("k"), amqp_empty_table);
  rpc_ok(c, "exchange.bind");
  tmp_queue(c, 1, q, sizeof q);
  bind(c, 1, q, b, "", amqp_empty_table);
  publish(c, 1, a, "k", "via-e2e");
  publish(c, 1, a, "other", "unrouted");
  const char *got = drain_until_sentinel(c, 1, q);
  CHECK(strcmp(got, "via-e2e") == 0, "queue got [%s]", got);
  amqp_exchange_unbind(c, 1, B(b), B(a), B("k"), amqp_empty_table);
  rpc_ok(c, "exchange.unbind");
  close_conn(c);
  return "";
}

static const char *s_tx_commit(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  chan_open(c, 2);
  char q[256];
  tmp_queue(c, 2, q, sizeof q);
  amqp_tx_select(c, 1);
  rpc_ok(c, "tx.select");
  publish(c, 1, "", q, "tx");
  nap(100);
  CHECK(!get_now(c, 2, q), "uncommitted publish is visible");
  amqp_tx_commit(c, 1);
  rpc_ok(c, "tx.commit");
  amqp_message_t m;
  CHECK(get_one(c, 2, q, 1, &m, NULL), "committed publish did not arrive");
  CHECK(body_is(&m, "tx"), "wrong body");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_tx_rollback(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_tx_select(c, 1);
  rpc_ok(c, "tx.select");
  publish(c, 1, "", q, "rolled-back");
  amqp_tx_rollback(c, 1);
  rpc_ok(c, "tx.rollback");
  publish(c, 1, "", q, "committed");
  amqp_tx_commit(c, 1);
  rpc_ok(c, "tx.commit");
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "nothing arrived after commit");
  CHECK(body_is(&m, "committed"), "first message is '%.*s'", (int)m.body.len, (char *)m.body.bytes);
  amqp_destroy_message(&m);
  CHECK(!get_now(c, 1, q), "more messages than the committed one");
  close_conn(c);
  return "";
}

static const char *s_channels_100(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  for (int i = 2; i < 102; i++) chan_open(c, i);
  for (int i = 2; i < 102; i++) publish(c, i, "", q, "hello");
  for (int i = 2; i < 102; i++) {
    amqp_channel_close(c, i, AMQP_REPLY_SUCCESS);
    rpc_ok(c, "channel.close");
  }
  uint32_t n = wait_count(c, 1, q, 100);
  CHECK(n == 100, "queue holds %u, want 100", n);
  close_conn(c);
  return "";
}

static const char *s_close_requeues(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  chan_open(c, 2);
  char q[256];
  tmp_queue(c, 2, q, sizeof q);
  publish(c, 2, "", q, "held");
  amqp_basic_consume(c, 1, B(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "basic.consume");
  amqp_envelope_t env;
  CHECK(next_delivery(c, &env, 5000), "no delivery");
  CHECK(body_is(&env.message, "held") && !env.redelivered, "first delivery wrong or already redelivered");
  amqp_destroy_envelope(&env);
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  rpc_ok(c, "channel.close");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  CHECK(get_one(c, 2, q, 1, &m, &ok), "unacked message did not come back");
  CHECK(body_is(&m, "held") && ok.redelivered, "came back with redelivered=%d", ok.redelivered);
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_server_cancel(void) {
  /* rabbitmq-c reports its capabilities only when asked: announce consumer_cancel_notify */
  amqp_table_entry_t caps[] = {E("consumer_cancel_notify", AMQP_FIELD_KIND_BOOLEAN, boolean, 1)};
  amqp_table_entry_t props[] = {E("capabilities", AMQP_FIELD_KIND_TABLE, table, ((amqp_table_t){1, caps}))};
  amqp_table_t pt = {1, props};
  amqp_connection_state_t c = open_conn_with(30, &pt);
  chan_open(c, 1);
  chan_open(c, 2);
  char q[128], tag[160];
  uniq(q, sizeof q, "cancel");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", q);
  amqp_queue_declare(c, 1, B(q), 0, 0, 0, 1, amqp_empty_table);
  rpc_ok(c, "queue.declare");
  snprintf(tag, sizeof tag, "ctag-%s", q);
  amqp_basic_consume(c, 1, B(q), B(tag), 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "basic.consume");
  amqp_queue_delete(c, 2, B(q), 0, 0);
  rpc_ok(c, "queue.delete");
  amqp_frame_t f;
  CHECK(next_frame(c, &f, 5000), "no basic.cancel within 5 s");
  CHECK(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_CANCEL_METHOD,
        "expected basic.cancel, got frame type %d method 0x%08x", f.frame_type, f.payload.method.id);
  CHECK(f.channel == 1, "cancel on channel %u", f.channel);
  amqp_basic_cancel_t *cn = f.payload.method.decoded;
  CHECK(bytes_eq(cn->consumer_tag, B(tag)), "cancel for tag %.*s", (int)cn->consumer_tag.len, (char *)cn->consumer_tag.bytes);
  char tq[256];
  tmp_queue(c, 1, tq, sizeof tq); /* channel 1 still open */
  close_conn(c);
  return "";
}

static const char *s_rpc_reply_to(void) {
  const char *pseudo = "amq.rabbitmq.reply-to";
  amqp_connection_state_t rc = open_conn(), sc = open_conn();
  chan_open(rc, 1);
  chan_open(sc, 1);
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(rc, 1, B(pseudo), 1, 0, 0, 0, amqp_empty_table);
  rpc_ok(rc, "passive queue.declare");
  CHECK(ok->message_count == 0 && ok->consumer_count == 1, "passive declare of %s: %u messages, %u consumers",
        pseudo, ok->message_count, ok->consumer_count);
  char q[256], id[160], reply_to[256];
  tmp_queue(sc, 1, q, sizeof q);
  amqp_basic_consume(sc, 1, B(q), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
  rpc_ok(sc, "basic.consume");
  amqp_basic_consume(rc, 1, B(pseudo), B("replies"), 0, 1, 0, amqp_empty_table);
  rpc_ok(rc, "basic.consume of amq.rabbitmq.reply-to");
  uniq(id, sizeof id, "call");
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG,
                               .reply_to = B(pseudo), .correlation_id = B(id)};
  publish_props(rc, 1, "", q, B("6*7"), &p, 0);
  amqp_envelope_t req;
  CHECK(next_delivery(sc, &req, 5000), "no request within 5 s");
  amqp_basic_properties_t *rp = &req.message.properties;
  CHECK(rp->_flags & AMQP_BASIC_REPLY_TO_FLAG, "request without reply-to");
  snprintf(reply_to, sizeof reply_to, "%.*s", (int)rp->reply_to.len, (char *)rp->reply_to.bytes);
  CHECK(strncmp(reply_to, "amq.rabbitmq.reply-to.", 22) == 0, "request reply-to %s", reply_to);
  amqp_basic_properties_t ap = {._flags = AMQP_BASIC_CORRELATION_ID_FLAG, .correlation_id = rp->correlation_id};
  publish_props(sc, 1, "", reply_to, B("42"), &ap, 0);
  amqp_destroy_envelope(&req);
  amqp_envelope_t reply;
  CHECK(next_delivery(rc, &reply, 5000), "no reply within 5 s");
  CHECK(bytes_eq(reply.consumer_tag, B("replies")), "reply for consumer %.*s", (int)reply.consumer_tag.len,
        (char *)reply.consumer_tag.bytes);
  CHECK(body_is(&reply.message, "42") && bytes_eq(reply.message.properties.correlation_id, B(id)),
        "reply %.*s correlation %.*s", (int)reply.message.body.len, (char *)reply.message.body.bytes,
        (int)reply.message.properties.correlation_id.len, (char *)reply.message.properties.correlation_id.bytes);
  amqp_destroy_envelope(&reply);
  close_conn(sc);
  close_conn(rc);
  return "";
}

static const char *s_clean_close(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[256];
  tmp_queue(c, 1, q, sizeof q);
  amqp_rpc_reply_t r = amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "connection.close: %s", describe(r));
  status_ok(amqp_destroy_connection(c), "destroy connection");
  return "";
}

/* ------------------------------------------------------------------ queue extensions */

/* a named exclusive queue with arguments (gone with the connection) */
static void arg_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *q, amqp_table_t args) {
  amqp_queue_declare(c, ch, B(q), 0, 0, 1, 0, args);
  rpc_ok(c, "queue.declare with arguments");
}

/* publishes through the default exchange on a channel in confirm mode and reads the broker's
 * basic.ack or basic.nack for it: 1 for an ack, 0 for a nack */
static int publish_confirmed(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *body,
                             amqp_basic_properties_t *props, uint64_t tag) {
  publish_props(c, ch, "", q, B(body), props, 0);
  amqp_frame_t f;
  CHECK(next_frame(c, &f, 5000), "publish %llu not confirmed within 5 s", (unsigned long long)tag);
  /* every earlier publish is settled already, so a "multiple" flag covers this one only */
  CHECK(f.frame_type == AMQP_FRAME_METHOD, "unexpected frame type %d", f.frame_type);
  if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
    amqp_basic_ack_t *a = f.payload.method.decoded;
    CHECK(a->delivery_tag == tag, "ack for tag %llu, want %llu", (unsigned long long)a->delivery_tag,
          (unsigned long long)tag);
    return 1;
  }
  CHECK(f.payload.method.id == AMQP_BASIC_NACK_METHOD, "expected basic.ack or basic.nack, got method 0x%08x",
        f.payload.method.id);
  amqp_basic_nack_t *n = f.payload.method.decoded;
  CHECK(n->delivery_tag == tag, "nack for tag %llu, want %llu", (unsigned long long)n->delivery_tag,
        (unsigned long long)tag);
  return 0;
}

/* every body left in q (basic.get until get-empty), comma-joined in order */
static const char *get_all(amqp_connection_state_t c, amqp_channel_t ch, const char *q) {
  static char out[1024];
  out[0] = 0;
  for (int i = 0;; i++) {
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, B(q), 1);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("basic.get: %s", describe(r));
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return out;
    amqp_message_t m;
    r = amqp_read_message(c, ch, &m, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("reading the got message: %s", describe(r));
    if (i) strcat(out, ",");
    snprintf(out + strlen(out), sizeof out - strlen(out), "%.*s", (int)m.body.len, (char *)m.body.bytes);
    amqp_destroy_message(&m);
  }
}

static int is_str(const amqp_field_value_t *v, const char *s) {
  return v && (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES) && bytes_eq(v->value.bytes, B(s));
}

static const char *show(const amqp_field_value_t *v) {
  static char buf[4][300];
  static int k;
  char *b = buf[k++ % 4];
  if (!v) return "(absent)";
  switch (v->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: snprintf(b, 300, "'%.*s'", (int)v->value.bytes.len, (char *)v->value.bytes.bytes); break;
    case AMQP_FIELD_KIND_I64: snprintf(b, 300, "%lld", (long long)v->value.i64); break;
    case AMQP_FIELD_KIND_I32: snprintf(b, 300, "%d (I)", v->value.i32); break;
    default: snprintf(b, 300, "(kind '%c')", v->kind);
  }
  return b;
}

static int as_int(const amqp_field_value_t *v, long long *out) {
  if (!v) return 0;
  switch (v->kind) {
    case AMQP_FIELD_KIND_I8: *out = v->value.i8; return 1;
    case AMQP_FIELD_KIND_U8: *out = v->value.u8; return 1;
    case AMQP_FIELD_KIND_I16: *out = v->value.i16; return 1;
    case AMQP_FIELD_KIND_U16: *out = v->value.u16; return 1;
    case AMQP_FIELD_KIND_I32: *out = v->value.i32; return 1;
    case AMQP_FIELD_KIND_U32: *out = v->value.u32; return 1;
    case AMQP_FIELD_KIND_I64: *out = v->value.i64; return 1;
  }
  return 0;
}

/* checks x-death[i] = {queue, reason, count}; returns the number of entries */
static int check_death(const amqp_table_t *h, int i, const char *queue, const char *reason, long long count) {
  const amqp_field_value_t *xd = table_get(h, "x-death");
  CHECK(xd && xd->kind == AMQP_FIELD_KIND_ARRAY, "x-death is %s", show(xd));
  CHECK(xd->value.array.num_entries > i, "x-death has %d entries, want entry %d", xd->value.array.num_entries, i);
  const amqp_field_value_t *e = &xd->value.array.entries[i];
  CHECK(e->kind == AMQP_FIELD_KIND_TABLE, "x-death[%d] is %s", i, show(e));
  const amqp_field_value_t *q = table_get(&e->value.table, "queue"), *r = table_get(&e->value.table, "reason"),
                           *n = table_get(&e->value.table, "count");
  long long got = -1;
  CHECK(is_str(q, queue) && is_str(r, reason) && as_int(n, &got) && got == count,
        "x-death[%d] = {queue %s, reason %s, count %s}, want {%s, %s, %lld}", i, show(q), show(r), show(n), queue, reason,
        count);
  return xd->value.array.num_entries;
}

static const char *s_queue_arg_invalid(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char q[128], want[400];
  uniq(q, sizeof q, "maxprio");
  amqp_table_entry_t a[] = {E("x-max-priority", AMQP_FIELD_KIND_I32, i32, 256)};
  amqp_queue_declare(c, 1, B(q), 0, 0, 1, 0, (amqp_table_t){1, a});
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "declare with x-max-priority 256: %s", describe(r));
  CHECK(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD, "expected channel.close, got %s", describe(r));
  amqp_channel_close_t *cl = r.reply.decoded;
  CHECK(cl->reply_code == 406, "reply code %u", cl->reply_code);
  snprintf(want, sizeof want,
           "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': {max_value_exceeded,256}", q);
  CHECK(bytes_eq(cl->reply_text, B(want)), "reply text %.*s, want %s", (int)cl->reply_text.len,
        (char *)cl->reply_text.bytes, want);
  amqp_channel_close_ok_t close_ok = {0};
  status_ok(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  chan_open(c, 2); /* the connection still works */
  char tq[256];
  tmp_queue(c, 2, tq, sizeof tq);
  close_conn(c);
  return "";
}

static const char *s_message_ttl(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char ttl[128], plain[256];
  uniq(ttl, sizeof ttl, "ttl");
  amqp_table_entry_t a[] = {E("x-message-ttl", AMQP_FIELD_KIND_I32, i32, 100)};
  arg_queue(c, 1, ttl, (amqp_table_t){1, a});
  tmp_queue(c, 1, plain, sizeof plain);
  publish(c, 1, "", ttl, "queue-ttl");
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_EXPIRATION_FLAG, .expiration = S("50")};
  publish_props(c, 1, "", plain, B("message-ttl"), &p, 0);
  uint32_t n = wait_count(c, 1, ttl, 0);
  CHECK(n == 0, "queue with x-message-ttl 100 still holds %u", n);
  n = wait_count(c, 1, plain, 0);
  CHECK(n == 0, "message with expiration 50 still there (%u)", n);
  publish(c, 1, "", plain, "stays");
  n = wait_count(c, 1, plain, 1);
  CHECK(n == 1, "message without expiration: count %u", n);
  nap(300);
  const char *got = get_all(c, 1, plain);
  CHECK(strcmp(got, "stays") == 0, "after 300 ms the plain queue holds [%s]", got);
  close_conn(c);
  return "";
}

static const char *s_dead_letter(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char dlx[128], dlq[256], work[128];
  uniq(dlx, sizeof dlx, "dlx");
  declare_exchange(c, 1, dlx, "fanout");
  tmp_queue(c, 1, dlq, sizeof dlq);
  bind(c, 1, dlq, dlx, "", amqp_empty_table);
  uniq(work, sizeof work, "work");
  amqp_table_entry_t a[] = {E("x-dead-letter-exchange", AMQP_FIELD_KIND_UTF8, bytes, B(dlx))};
  arg_queue(c, 1, work, (amqp_table_t){1, a});
  publish(c, 1, "", work, "doomed");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  CHECK(get_one(c, 1, work, 0, &m, &ok), "message did not arrive in the work queue");
  amqp_destroy_message(&m);
  status_ok(amqp_basic_reject(c, 1, ok.delivery_tag, 0), "basic.reject");
  CHECK(get_one(c, 1, dlq, 1, &m, NULL), "rejected message did not reach the dead-letter queue");
  CHECK(body_is(&m, "doomed"), "dead-lettered body differs");
  CHECK(m.properties._flags & AMQP_BASIC_HEADERS_FLAG, "dead-lettered message has no headers");
  check_death(&m.properties.headers, 0, work, "rejected", 1);
  const amqp_field_value_t *v = table_get(&m.properties.headers, "x-first-death-reason");
  CHECK(is_str(v, "rejected"), "x-first-death-reason %s", show(v));
  v = table_get(&m.properties.headers, "x-first-death-queue");
  CHECK(is_str(v, work), "x-first-death-queue %s", show(v));
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_quorum_queue(void) {
  static char d[128];
  amqp_connection_state_t c = open_conn();
  char q[128], dlx[128], dlq[128];
  uniq(q, sizeof q, "quorum");
  uniq(dlq, sizeof dlq, "qdlq");
  uniq(dlx, sizeof dlx, "qdlx");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", q);
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", dlq);
  /* a quorum queue must be durable */
  chan_open(c, 1);
  amqp_table_entry_t na[] = {E("x-queue-type", AMQP_FIELD_KIND_UTF8, bytes, S("quorum"))};
  amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, (amqp_table_t){1, na});
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "non-durable quorum queue declare: %s", describe(r));
  CHECK(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD, "expected channel.close, got %s", describe(r));
  amqp_channel_close_t *cl = r.reply.decoded;
  CHECK(cl->reply_code == 406, "reply code %u", cl->reply_code);
  CHECK(memmem(cl->reply_text.bytes, cl->reply_text.len, "invalid property 'non-durable'", 30) != NULL,
        "reply text %.*s", (int)cl->reply_text.len, (char *)cl->reply_text.bytes);
  amqp_channel_close_ok_t close_ok = {0};
  status_ok(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  chan_open(c, 2);
  declare_exchange(c, 2, dlx, "fanout");
  amqp_queue_declare(c, 2, B(dlq), 0, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "queue.declare dlq");
  bind(c, 2, dlq, dlx, "", amqp_empty_table);
  amqp_table_entry_t a[] = {E("x-queue-type", AMQP_FIELD_KIND_UTF8, bytes, S("quorum")),
                            E("x-delivery-limit", AMQP_FIELD_KIND_I32, i32, 1),
                            E("x-dead-letter-exchange", AMQP_FIELD_KIND_UTF8, bytes, B(dlx))};
  amqp_queue_declare(c, 2, B(q), 0, 1, 0, 0, (amqp_table_t){3, a});
  rpc_ok(c, "queue.declare quorum");
  amqp_confirm_select(c, 2);
  rpc_ok(c, "confirm.select");
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 1};
  CHECK(publish_confirmed(c, 2, q, "quorum", &p, 1), "publish nacked");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  CHECK(get_one(c, 2, q, 0, &m, &ok), "the message did not arrive");
  CHECK(body_is(&m, "quorum"), "body differs");
  CHECK(!ok.redelivered, "first delivery flagged redelivered");
  const amqp_field_value_t *v =
      (m.properties._flags & AMQP_BASIC_HEADERS_FLAG) ? table_get(&m.properties.headers, "x-delivery-count") : NULL;
  long long n = -1;
  /* RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out. */
  CHECK(!v || (as_int(v, &n) && n == 0), "first delivery has x-delivery-count %s", show(v));
  snprintf(d, sizeof d, "first delivery x-delivery-count %s", v ? show(v) : "absent");
  amqp_destroy_message(&m);
  status_ok(amqp_basic_reject(c, 2, ok.delivery_tag, 1), "basic.reject");
  CHECK(get_one(c, 2, q, 0, &m, &ok), "the requeued message did not come back");
  CHECK(ok.redelivered, "second delivery not flagged redelivered");
  v = (m.properties._flags & AMQP_BASIC_HEADERS_FLAG) ? table_get(&m.properties.headers, "x-delivery-count") : NULL;
  CHECK(as_int(v, &n) && n == 1, "second delivery has x-delivery-count %s", show(v));
  amqp_destroy_message(&m);
  status_ok(amqp_basic_reject(c, 2, ok.delivery_tag, 1), "basic.reject");
  CHECK(get_one(c, 2, dlq, 1, &m, NULL), "the message did not reach the dead-letter queue");
  CHECK(body_is(&m, "quorum"), "dead-lettered body differs");
  CHECK(m.properties._flags & AMQP_BASIC_HEADERS_FLAG, "dead-lettered message has no headers");
  const amqp_field_value_t *xd = table_get(&m.properties.headers, "x-death");
  CHECK(xd && xd->kind == AMQP_FIELD_KIND_ARRAY && xd->value.array.num_entries > 0, "x-death is %s", show(xd));
  const amqp_field_value_t *e = &xd->value.array.entries[0];
  CHECK(e->kind == AMQP_FIELD_KIND_TABLE, "x-death[0] is %s", show(e));
  const amqp_field_value_t *reason = table_get(&e->value.table, "reason"), *queue = table_get(&e->value.table, "queue");
  CHECK(is_str(reason, "delivery_limit") && is_str(queue, q), "x-death[0] = {reason %s, queue %s}", show(reason),
        show(queue));
  amqp_destroy_message(&m);
  CHECK(!get_now(c, 2, q), "the quorum queue still holds the message");
  close_conn(c);
  return d;
}

/* consumes stream q on channel ch from x-stream-offset `offset` (prefetch 10, manual acks): m<from>..m4,
 * each with header x-stream-offset a long (AMQP_FIELD_KIND_I64, 'l') equal to its index, and no more */
static void stream_consume(amqp_connection_state_t c, amqp_channel_t ch, const char *q, amqp_field_value_t offset,
                           const char *what, int from) {
  chan_open(c, ch);
  amqp_basic_qos(c, ch, 0, 10, 0);
  rpc_ok(c, "basic.qos");
  amqp_table_entry_t a[] = {{.key = S("x-stream-offset"), .value = offset}};
  amqp_basic_consume(c, ch, B(q), amqp_empty_bytes, 0, 0, 0, (amqp_table_t){1, a});
  rpc_ok(c, "basic.consume");
  amqp_envelope_t env;
  for (int i = from; i < 5; i++) {
    char want[8];
    snprintf(want, sizeof want, "m%d", i);
    CHECK(next_delivery(c, &env, 5000), "x-stream-offset %s: m%d did not arrive", what, i);
    const amqp_field_value_t *v = (env.message.properties._flags & AMQP_BASIC_HEADERS_FLAG)
                                      ? table_get(&env.message.properties.headers, "x-stream-offset")
                                      : NULL;
    CHECK(env.channel == ch && body_is(&env.message, want) && v && v->kind == AMQP_FIELD_KIND_I64 && v->value.i64 == i,
          "x-stream-offset %s: got %.*s on channel %u with x-stream-offset %s (kind '%c'), want m%d with a long %d", what,
          (int)env.message.body.len, (char *)env.message.body.bytes, env.channel, show(v), v ? v->kind : '-', i, i);
    status_ok(amqp_basic_ack(c, ch, env.delivery_tag, 0), "basic.ack");
    amqp_destroy_envelope(&env);
  }
  CHECK(!next_delivery(c, &env, 200), "x-stream-offset %s: an extra delivery %.*s", what, (int)env.message.body.len,
        (char *)env.message.body.bytes);
  amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);
  rpc_ok(c, "channel.close");
}

static const char *s_stream_queue(void) {
  amqp_connection_state_t c = open_conn();
  char q[128], want[300];
  uniq(q, sizeof q, "stream");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", q);
  /* a stream must be durable */
  chan_open(c, 1);
  amqp_table_entry_t t[] = {E("x-queue-type", AMQP_FIELD_KIND_UTF8, bytes, S("stream"))};
  amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, (amqp_table_t){1, t});
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "non-durable stream declare: %s", describe(r));
  CHECK(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD, "expected channel.close, got %s", describe(r));
  amqp_channel_close_t *cl = r.reply.decoded;
  snprintf(want, sizeof want, "PRECONDITION_FAILED - invalid property 'non-durable' for queue '%s' in vhost '/'", q);
  CHECK(cl->reply_code == 406 && bytes_eq(cl->reply_text, B(want)), "non-durable declare: %s", describe(r));
  amqp_channel_close_ok_t close_ok = {0};
  status_ok(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  chan_open(c, 2);
  amqp_queue_declare(c, 2, B(q), 0, 1, 0, 0, (amqp_table_t){1, t});
  rpc_ok(c, "queue.declare stream");
  amqp_confirm_select(c, 2);
  rpc_ok(c, "confirm.select");
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
  for (int i = 0; i < 5; i++) {
    char body[8];
    snprintf(body, sizeof body, "m%d", i);
    CHECK(publish_confirmed(c, 2, q, body, &p, i + 1), "publish %s nacked", body);
  }
  stream_consume(c, 3, q, (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = S("first")}, "\"first\"", 0);
  stream_consume(c, 4, q, (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64, .value.i64 = 3}, "3", 3);
  amqp_connection_state_t other = open_conn();
  chan_open(other, 1);
  r = amqp_basic_get(other, 1, B(q), 0);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
        "basic.get on a stream: %s", describe(r));
  amqp_connection_close_t *cc = r.reply.decoded;
  snprintf(want, sizeof want, "NOT_IMPLEMENTED - basic.get not supported by stream queues queue '%s' in vhost '/'", q);
  CHECK(cc->reply_code == 540 && bytes_eq(cc->reply_text, B(want)), "basic.get: %s", describe(r));
  amqp_connection_close_ok_t cok = {0};
  amqp_send_method(other, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &cok);
  amqp_destroy_connection(other);
  amqp_queue_delete(c, 2, B(q), 0, 0);
  rpc_ok(c, "queue.delete");
  close_conn(c);
  return "basic.consume arguments {x-stream-offset: \"first\" | 3 (I64)}; x-stream-offset headers are longs (I64); "
         "basic.get closes the connection with 540";
}

static const char *s_retry_with_delay(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char work[128], delay[128];
  uniq(work, sizeof work, "work");
  uniq(delay, sizeof delay, "delay");
  amqp_table_entry_t wa[] = {E("x-dead-letter-exchange", AMQP_FIELD_KIND_UTF8, bytes, S("")),
                             E("x-dead-letter-routing-key", AMQP_FIELD_KIND_UTF8, bytes, B(delay))};
  amqp_table_entry_t da[] = {E("x-message-ttl", AMQP_FIELD_KIND_I32, i32, 50),
                             E("x-dead-letter-exchange", AMQP_FIELD_KIND_UTF8, bytes, S("")),
                             E("x-dead-letter-routing-key", AMQP_FIELD_KIND_UTF8, bytes, B(work))};
  arg_queue(c, 1, work, (amqp_table_t){2, wa});
  arg_queue(c, 1, delay, (amqp_table_t){3, da});
  publish(c, 1, "", work, "job");
  amqp_message_t m;
  amqp_basic_get_ok_t ok;
  for (int round = 1; round <= 3; round++) {
    CHECK(get_one(c, 1, work, 0, &m, &ok), "delivery %d did not arrive in the work queue", round);
    amqp_destroy_message(&m);
    status_ok(amqp_basic_reject(c, 1, ok.delivery_tag, 0), "basic.reject");
  }
  CHECK(get_one(c, 1, work, 1, &m, NULL), "fourth delivery did not arrive in the work queue");
  CHECK(body_is(&m, "job"), "body differs");
  CHECK(m.properties._flags & AMQP_BASIC_HEADERS_FLAG, "fourth delivery has no headers");
  int n = check_death(&m.properties.headers, 0, delay, "expired", 3);
  CHECK(n == 2, "x-death has %d entries, want 2", n);
  check_death(&m.properties.headers, 1, work, "rejected", 3);
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *s_max_length(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  amqp_confirm_select(c, 1);
  rpc_ok(c, "confirm.select");
  char head[128], rej[128];
  uniq(head, sizeof head, "drophead");
  amqp_table_entry_t ha[] = {E("x-max-length", AMQP_FIELD_KIND_I32, i32, 2)};
  arg_queue(c, 1, head, (amqp_table_t){1, ha});
  const char *bodies[] = {"1", "2", "3", "4"};
  uint64_t tag = 0;
  for (int i = 0; i < 4; i++) CHECK(publish_confirmed(c, 1, head, bodies[i], NULL, ++tag), "drop-head publish %d nacked", i + 1);
  const char *got = get_all(c, 1, head);
  CHECK(strcmp(got, "3,4") == 0, "drop-head queue holds [%s], want [3,4]", got);
  uniq(rej, sizeof rej, "rejectpub");
  amqp_table_entry_t ra[] = {E("x-max-length", AMQP_FIELD_KIND_I32, i32, 2),
                             E("x-overflow", AMQP_FIELD_KIND_UTF8, bytes, S("reject-publish"))};
  arg_queue(c, 1, rej, (amqp_table_t){2, ra});
  int acks[3];
  for (int i = 0; i < 3; i++) acks[i] = publish_confirmed(c, 1, rej, bodies[i], NULL, ++tag);
  CHECK(acks[0] && acks[1] && !acks[2], "reject-publish confirms ack=%d,%d,%d, want 1,1,0", acks[0], acks[1], acks[2]);
  uint32_t n = wait_count(c, 1, rej, 2);
  CHECK(n == 2, "reject-publish queue holds %u, want 2", n);
  close_conn(c);
  return "";
}

static const char *s_priority_queue(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  amqp_confirm_select(c, 1);
  rpc_ok(c, "confirm.select");
  char q[128];
  uniq(q, sizeof q, "prio");
  amqp_table_entry_t a[] = {E("x-max-priority", AMQP_FIELD_KIND_I32, i32, 10)};
  arg_queue(c, 1, q, (amqp_table_t){1, a});
  const char *bodies[] = {"1", "9", "5"};
  for (int i = 0; i < 3; i++) {
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_PRIORITY_FLAG, .priority = atoi(bodies[i])};
    CHECK(publish_confirmed(c, 1, q, bodies[i], &p, i + 1), "publish %d nacked", i + 1);
  }
  amqp_basic_consume(c, 1, B(q), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "basic.consume");
  char got[16] = "";
  for (int i = 0; i < 3; i++) {
    amqp_envelope_t env;
    CHECK(next_delivery(c, &env, 5000), "got %d of 3 deliveries within 5 s", i);
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "", (int)env.message.body.len,
             (char *)env.message.body.bytes);
    amqp_destroy_envelope(&env);
  }
  CHECK(strcmp(got, "9,5,1") == 0, "delivered in order [%s], want [9,5,1]", got);
  close_conn(c);
  return "";
}

static const char *s_single_active_consumer(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  chan_open(c, 2);
  char q[128];
  uniq(q, sizeof q, "sac");
  amqp_table_entry_t a[] = {E("x-single-active-consumer", AMQP_FIELD_KIND_BOOLEAN, boolean, 1)};
  arg_queue(c, 1, q, (amqp_table_t){1, a});
  amqp_basic_consume(c, 1, B(q), B("A"), 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "consume A");
  amqp_basic_consume(c, 2, B(q), B("B"), 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "consume B");
  amqp_envelope_t env;
  for (int i = 0; i < 5; i++) {
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    if (i == 3) {
      CHECK(!next_delivery(c, &env, 100), "an extra delivery arrived on channel %u", env.channel);
      amqp_basic_cancel(c, 1, B("A"));
      rpc_ok(c, "basic.cancel A");
      for (int j = 3; j < 5; j++) {
        char b[8];
        snprintf(b, sizeof b, "%d", j);
        publish(c, 1, "", q, b);
      }
    } else if (i == 0) {
      for (int j = 0; j < 3; j++) {
        char b[8];
        snprintf(b, sizeof b, "%d", j);
        publish(c, 1, "", q, b);
      }
    }
    const char *who = i < 3 ? "active consumer A" : "consumer B after A's cancel";
    CHECK(next_delivery(c, &env, 5000), "%s got nothing for message %d", who, i);
    CHECK(env.channel == (i < 3 ? 1 : 2), "message %d went to channel %u, want %s", i, env.channel, who);
    CHECK(body_is(&env.message, body), "%s got the wrong body for %d", who, i);
    amqp_destroy_envelope(&env);
  }
  close_conn(c);
  return "";
}

static const char *s_sender_selected(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char x[128], q[3][256];
  uniq(x, sizeof x, "direct");
  declare_exchange(c, 1, x, "direct");
  const char *keys[] = {"k1", "k2", "k3"};
  for (int i = 0; i < 3; i++) {
    tmp_queue(c, 1, q[i], sizeof q[i]);
    bind(c, 1, q[i], x, keys[i], amqp_empty_table);
  }
  amqp_field_value_t cc[] = {{.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = S("k2")}};
  amqp_field_value_t bcc[] = {{.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = S("k3")}};
  amqp_table_entry_t h[] = {E("CC", AMQP_FIELD_KIND_ARRAY, array, ((amqp_array_t){1, cc})),
                            E("BCC", AMQP_FIELD_KIND_ARRAY, array, ((amqp_array_t){1, bcc}))};
  amqp_basic_properties_t p = {._flags = AMQP_BASIC_HEADERS_FLAG, .headers = {2, h}};
  publish_props(c, 1, x, "k1", B("selected"), &p, 0);
  for (int i = 0; i < 3; i++) {
    amqp_message_t m;
    CHECK(get_one(c, 1, q[i], 1, &m, NULL), "queue bound with %s got nothing", keys[i]);
    CHECK(body_is(&m, "selected"), "queue bound with %s: body differs", keys[i]);
    CHECK(!(m.properties._flags & AMQP_BASIC_HEADERS_FLAG) || !table_get(&m.properties.headers, "BCC"),
          "copy in the queue bound with %s carries BCC", keys[i]);
    amqp_destroy_message(&m);
    const char *rest = drain_until_sentinel(c, 1, q[i]);
    CHECK(strcmp(rest, "") == 0, "queue bound with %s got extra copies [%s]", keys[i], rest);
  }
  close_conn(c);
  return "";
}

static const char *s_queue_expiry(void) {
  static char out[128];
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  char idle[128], used[128];
  uniq(idle, sizeof idle, "expires");
  uniq(used, sizeof used, "expires");
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", idle);
  snprintf(cleanup_q[n_cleanup_q++], 128, "%s", used);
  amqp_table_entry_t a[] = {E("x-expires", AMQP_FIELD_KIND_I32, i32, 200)};
  /* the consumed queue first, so it has its consumer before 200 ms pass on a slow machine */
  amqp_queue_declare(c, 1, B(used), 0, 0, 0, 0, (amqp_table_t){1, a});
  rpc_ok(c, "queue.declare with x-expires");
  amqp_basic_consume(c, 1, B(used), B("used"), 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "basic.consume");
  amqp_queue_declare(c, 1, B(idle), 0, 0, 0, 0, (amqp_table_t){1, a});
  rpc_ok(c, "queue.declare with x-expires");
  double start = now();
  /* Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than the
   * 200 ms: RabbitMQ renews the lease on a passive declare too. */
  for (amqp_channel_t ch = 2;; ch++) {
    chan_open(c, ch);
    amqp_queue_declare(c, ch, B(idle), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD,
            "passive declare: %s", describe(r));
      amqp_channel_close_t *cl = r.reply.decoded;
      CHECK(cl->reply_code == 404, "reply code %u", cl->reply_code);
      amqp_channel_close_ok_t close_ok = {0};
      status_ok(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
      break;
    }
    amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);
    rpc_ok(c, "channel.close");
    CHECK(now() - start < 5, "queue with x-expires 200 and no consumer still there after 5 s");
    nap(300);
  }
  snprintf(out, sizeof out, "idle queue gone after %d ms; consumed one still there", (int)((now() - start) * 1000));
  amqp_queue_declare(c, 1, B(used), 1, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "passive declare of the consumed queue");
  amqp_basic_cancel(c, 1, B("used"));
  rpc_ok(c, "basic.cancel");
  close_conn(c);
  return out;
}

static const char *s_consumer_priority(void) {
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  chan_open(c, 2);
  char q[256], got_a[32] = "", got_b[32] = "";
  tmp_queue(c, 1, q, sizeof q);
  amqp_basic_qos(c, 1, 0, 2, 0);
  rpc_ok(c, "basic.qos A");
  /* B first: the priority, not the order of registration, gives A the first messages */
  amqp_basic_consume(c, 2, B(q), B("B"), 0, 1, 0, amqp_empty_table);
  rpc_ok(c, "consume B");
  amqp_table_entry_t a[] = {E("x-priority", AMQP_FIELD_KIND_I32, i32, 10)};
  amqp_basic_consume(c, 1, B(q), B("A"), 0, 0, 0, (amqp_table_t){1, a});
  rpc_ok(c, "consume A");
  for (int i = 0; i < 5; i++) {
    char body[8];
    snprintf(body, sizeof body, "%d", i);
    publish(c, 1, "", q, body);
  }
  amqp_envelope_t env;
  for (int i = 0; i < 5; i++) {
    CHECK(next_delivery(c, &env, 5000), "%d of 5 delivered: A got [%s], B got [%s]", i, got_a, got_b);
    char *into = env.channel == 1 ? got_a : got_b;
    strncat(into, env.message.body.bytes, env.message.body.len < 8 ? env.message.body.len : 8);
    amqp_destroy_envelope(&env);
  }
  CHECK(!next_delivery(c, &env, 200), "an extra delivery arrived on channel %u", env.channel);
  CHECK(strcmp(got_a, "01") == 0 && strcmp(got_b, "234") == 0,
        "A (x-priority 10, prefetch 2, no acks) got [%s], B got [%s]", got_a, got_b);
  close_conn(c);
  return "basic.consume arguments {x-priority: 10}";
}

/* amqps with rabbitmq-c's OpenSSL socket: amqp_ssl_socket_set_cacert(the test CA) with peer and
 * host name verification on. rabbitmq-c 0.11's host name check (amqp_hostcheck) matches DNS
 * names only, not IP SANs ("SSL hostname verification failed" for 127.0.0.1), so a URL host of
 * 127.0.0.1 is dialled as localhost, the certificate's DNS name. */
static const char *s_vhost_user_tls(void) {
  static char d[512];
  const char *tls_url = getenv("INTEROP_TLS_URL"), *ca = getenv("INTEROP_TLS_CA");
  const char *refused_url = getenv("INTEROP_PLAIN_URL_FOR_USER");
  if (!tls_url || !*tls_url || !ca || !*ca || !refused_url || !*refused_url) {
    scenario_na = 1;
    return "no TLS set-up given";
  }
  struct amqp_connection_info ti, ri;
  char *tu = strdup(tls_url), *ru = strdup(refused_url);
  CHECK(amqp_parse_url(tu, &ti) == AMQP_STATUS_OK && ti.ssl, "INTEROP_TLS_URL is no amqps URL: %s", tls_url);
  CHECK(amqp_parse_url(ru, &ri) == AMQP_STATUS_OK, "bad INTEROP_PLAIN_URL_FOR_USER %s", refused_url);
  struct timeval tv = {5, 0};
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s = amqp_ssl_socket_new(c);
  CHECK(s, "amqp_ssl_socket_new failed");
  status_ok(amqp_ssl_socket_set_cacert(s, ca), "amqp_ssl_socket_set_cacert");
  amqp_ssl_socket_set_verify_peer(s, 1);
  amqp_ssl_socket_set_verify_hostname(s, 1);
  const char *host = strcmp(ti.host, "127.0.0.1") == 0 ? "localhost" : ti.host;
  status_ok(amqp_socket_open_noblock(s, host, ti.port, &tv), "TLS connect");
  amqp_set_handshake_timeout(c, &tv);
  amqp_set_rpc_timeout(c, &tv);
  amqp_rpc_reply_t r = amqp_login(c, ti.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, ti.user, ti.password);
  CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "login over TLS: %s", describe(r));
  char x[160], q[160], denied[160], u[128];
  uniq(u, sizeof u, "x");
  snprintf(x, sizeof x, "tls-%s", u);
  uniq(u, sizeof u, "q");
  snprintf(q, sizeof q, "tls-%s", u);
  uniq(u, sizeof u, "q");
  snprintf(denied, sizeof denied, "denied.%s", u);
  unsigned char body[1024 + 16];
  for (int i = 0; i < 1024; i++) body[i] = (unsigned char)i;
  for (int i = 1024; i < (int)sizeof body; i++) body[i] = (unsigned char)rand();
  chan_open(c, 1);
  amqp_exchange_declare(c, 1, B(x), B("direct"), 0, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "exchange.declare");
  amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
  rpc_ok(c, "queue.declare");
  bind(c, 1, q, x, "k", amqp_empty_table);
  /* a named exchange: "" is amq.default, outside ^tls-.* */
  publish_props(c, 1, x, "k", (amqp_bytes_t){sizeof body, body}, NULL, 0);
  amqp_message_t m;
  CHECK(get_one(c, 1, q, 1, &m, NULL), "the message did not arrive");
  CHECK(m.body.len == sizeof body && memcmp(m.body.bytes, body, sizeof body) == 0, "basic.get gave %zu other bytes",
        m.body.len);
  amqp_destroy_message(&m);
  chan_open(c, 2);
  amqp_queue_declare(c, 2, B(denied), 0, 0, 0, 0, amqp_empty_table);
  r = amqp_get_rpc_reply(c);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD,
        "queue %s outside the user's configure permission: %s", denied, describe(r));
  amqp_channel_close_t *cl = r.reply.decoded;
  /* RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not */
  char want[512], want310[512];
  snprintf(want, sizeof want, "ACCESS_REFUSED - configure access to queue '%s' in vhost '%s' refused for user '%s'",
           denied, ti.vhost, ti.user);
  snprintf(want310, sizeof want310, "ACCESS_REFUSED - access to queue '%s' in vhost '%s' refused for user '%s'",
           denied, ti.vhost, ti.user);
  int is4 = cl->reply_text.len == strlen(want) && memcmp(cl->reply_text.bytes, want, strlen(want)) == 0;
  int is310 = cl->reply_text.len == strlen(want310) && memcmp(cl->reply_text.bytes, want310, strlen(want310)) == 0;
  CHECK(cl->reply_code == 403 && (is4 || is310), "channel closed with %s", describe(r));
  amqp_channel_close_ok_t close_ok = {0};
  status_ok(amqp_send_method(c, 2, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  amqp_queue_delete(c, 1, B(q), 0, 0);
  rpc_ok(c, "queue.delete");
  amqp_exchange_delete(c, 1, B(x), 0);
  rpc_ok(c, "exchange.delete");
  close_conn(c);

  c = amqp_new_connection();
  s = amqp_tcp_socket_new(c);
  CHECK(s, "amqp_tcp_socket_new failed");
  status_ok(amqp_socket_open_noblock(s, ri.host, ri.port, &tv), "tcp connect");
  amqp_set_handshake_timeout(c, &tv);
  amqp_set_rpc_timeout(c, &tv);
  r = amqp_login(c, ri.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, ri.user, ri.password);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
        "login to vhost '/': %s", describe(r));
  amqp_connection_close_t *cc = r.reply.decoded;
  snprintf(want, sizeof want, "NOT_ALLOWED - access to vhost '/' refused for user '%s'", ri.user);
  CHECK(cc->reply_code == 530 && cc->reply_text.len == strlen(want) && memcmp(cc->reply_text.bytes, want, strlen(want)) == 0,
        "login to vhost '/': %s", describe(r));
  amqp_destroy_connection(c);
  snprintf(d, sizeof d, "amqp_ssl_socket_set_cacert(CA) with verify_peer and verify_hostname (dialled as %s); %s; "
           "vhost '/' refused: amqp_login gives connection.close 530 with the text", host,
           is4 ? "403 text as RabbitMQ 4.x's (naming 'configure')" : "403 text as RabbitMQ 3.10's (without 'configure')");
  return d;
}

struct scenario {
  const char *id;
  const char *(*fn)(void);
  const char *na;
};

static const struct scenario scenarios[] = {
    {"connect", s_connect, NULL},
    {"connect_amqplain", NULL, "rabbitmq-c offers only the PLAIN and EXTERNAL SASL mechanisms"},
    {"declare_exchanges", s_declare_exchanges, NULL},
    {"declare_queues", s_declare_queues, NULL},
    {"bind_unbind", s_bind_unbind, NULL},
    {"route_default", s_route_default, NULL},
    {"route_direct", s_route_direct, NULL},
    {"route_fanout", s_route_fanout, NULL},
    {"route_topic", s_route_topic, NULL},
    {"route_headers", s_route_headers, NULL},
    {"mandatory_return", s_mandatory_return, NULL},
    {"confirms_sync", s_confirms_sync, NULL},
    {"confirms_async", NULL,
     "rabbitmq-c has one confirm form only (reading basic.ack frames), covered by confirms_sync; no callbacks"},
    {"manual_ack", s_manual_ack, NULL},
    {"nack_requeue", s_nack_requeue, NULL},
    {"reject", s_reject, NULL},
    {"prefetch_fair", s_prefetch_fair, NULL},
    {"basic_get", s_basic_get, NULL},
    {"large_message", s_large_message, NULL},
    {"empty_message", s_empty_message, NULL},
    {"properties_roundtrip", s_properties_roundtrip, NULL},
    {"headers_types", s_headers_types, NULL},
    {"passive_missing_404", s_passive_missing_404, NULL},
    {"exchange_to_exchange", s_exchange_to_exchange, NULL},
    {"tx_commit", s_tx_commit, NULL},
    {"tx_rollback", s_tx_rollback, NULL},
    {"channels_100", s_channels_100, NULL},
    {"close_requeues", s_close_requeues, NULL},
    {"server_cancel", s_server_cancel, NULL},
    {"rpc_reply_to", s_rpc_reply_to, NULL},
    {"clean_close", s_clean_close, NULL},
    {"queue_arg_invalid", s_queue_arg_invalid, NULL},
    {"message_ttl", s_message_ttl, NULL},
    {"dead_letter", s_dead_letter, NULL},
    {"retry_with_delay", s_retry_with_delay, NULL},
    {"max_length", s_max_length, NULL},
    {"priority_queue", s_priority_queue, NULL},
    {"single_active_consumer", s_single_active_consumer, NULL},
    {"sender_selected", s_sender_selected, NULL},
    {"queue_expiry", s_queue_expiry, NULL},
    {"consumer_priority", s_consumer_priority, NULL},
    {"quorum_queue", s_quorum_queue, NULL},
    {"stream_queue", s_stream_queue, NULL},
    {"vhost_user_tls", s_vhost_user_tls, NULL},
};

static void cleanup(void) {
  if (!n_cleanup_ex && !n_cleanup_q) return;
  if (setjmp(bail)) return;
  amqp_connection_state_t c = open_conn();
  chan_open(c, 1);
  for (int i = 0; i < n_cleanup_ex; i++) amqp_exchange_delete(c, 1, B(cleanup_ex[i]), 0);
  for (int i = 0; i < n_cleanup_q; i++) amqp_queue_delete(c, 1, B(cleanup_q[i]), 0, 0);
  close_conn(c);
}

static void one_line(char *s) {
  for (; *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}

/* runs in the child: the result line goes to fd */
static void child(const struct scenario *s, int fd) {
  char line[2300];
  srand(getpid() ^ (unsigned)time(NULL));
  if (setjmp(bail)) {
    one_line(detail);
    snprintf(line, sizeof line, "SCENARIO %s fail %s\n", s->id, detail);
  } else {
    const char *d = s->fn();
    snprintf(line, sizeof line, "SCENARIO %s %s %s\n", s->id, scenario_na ? "na" : "pass", d);
  }
  cleanup();
  if (write(fd, line, strlen(line)) < 0) _exit(1);
  _exit(0);
}

static void run(const char *id) {
  const struct scenario *s = NULL;
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
    if (strcmp(scenarios[i].id, id) == 0) s = &scenarios[i];
  if (!s) {
    printf("SCENARIO %s fail no implementation in the rabbitmq-c client\n", id);
    return;
  }
  if (!s->fn) {
    printf("SCENARIO %s na %s\n", id, s->na);
    return;
  }
  fflush(stdout);
  int p[2];
  if (pipe(p) != 0) {
    printf("SCENARIO %s fail pipe: %s\n", id, strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    child(s, p[1]);
  }
  close(p[1]);
  char buf[2400];
  size_t got = 0;
  double deadline = now() + 20;
  for (;;) {
    int left = (int)((deadline - now()) * 1000);
    struct pollfd pf = {p[0], POLLIN, 0};
    if (left <= 0 || poll(&pf, 1, left) <= 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      printf("SCENARIO %s fail timed out after 20 s\n", id);
      close(p[0]);
      return;
    }
    ssize_t n = read(p[0], buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += n;
  }
  close(p[0]);
  buf[got] = 0;
  int status;
  waitpid(pid, &status, 0);
  if (got)
    fputs(buf, stdout);
  else if (WIFSIGNALED(status))
    printf("SCENARIO %s fail crashed with signal %d\n", id, WTERMSIG(status));
  else
    printf("SCENARIO %s fail exited %d without a result\n", id, WEXITSTATUS(status));
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: scenarios AMQP_URL scenarios.txt\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  amqp_default_connection_info(&info);
  char *url = strdup(argv[1]);
  if (amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
    fprintf(stderr, "bad url %s\n", argv[1]);
    return 2;
  }
  FILE *f = fopen(argv[2], "r");
  if (!f) {
    perror(argv[2]);
    return 2;
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    char *id = line;
    while (*id == ' ' || *id == '\t') id++;
    id[strcspn(id, " \t\r\n")] = 0;
    if (!*id || *id == '#') continue;
    run(id);
    fflush(stdout);
  }
  return 0;
}
