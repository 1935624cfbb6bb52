/* storeload: pipelined tb_item writes and reads through tstore over several client
 * connections, with the bookkeeping that checks them against MariaDB; see storeload.h. */
#include "storeload.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "map.h"

#define SL_MAX_CLIENTS 16
#define SL_PUMP_MS 50 /* longest wait for replies inside sl_run */
#define SL_MAX_DIAGS 10

typedef enum { SL_UNSENT, SL_SENT, SL_ACKED } sl_state_t;

typedef struct {
    ffc_t *cl;
    int k;
    bool open;         /* until a receive finds the connection closed */
    bool can_send;     /* until a send fails */
    long next_n;       /* the next kind number */
    uint8_t *state;    /* sl_state_t per kind number */
    size_t cap;        /* of state */
    int out_writes;    /* writes sent and not answered */
    int out_reads;     /* reads sent and not answered */
    bool cautious;     /* an error came last: one request outstanding until a success */
    unsigned long seq; /* requests sent, for read_every */
} sl_client_t;

struct sl_s {
    th_cluster_t *c;
    sl_client_t cl[SL_MAX_CLIENTS];
    int n, depth, read_every;
    char prefix[8];
    bool sending;
    sl_row_t *rows;
    size_t nrows, caprows;
    ff_map_t by_id; /* id -> row index + 1 */
    sl_stats_t st;
    uint64_t rng;
    int diags;
    char last_error[256];
};

/* ---- cluster ---- */

static const char sl_template[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game2.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":1,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " %s,\n"
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\",\"timeout\":600}},\n"
    " \"cluster\":{\"requestTimeout\":5000,\"logLevel\":\"debug\"}}\n";

char *
sl_config(const dbenv_t *db)
{
    char *sections = dbenv_config_sections(db);
    size_t len = sizeof(sl_template) + strlen(sections);
    char *out = ff_malloc(len);

    snprintf(out, len, sl_template, sections);
    ff_free(sections);
    return out;
}

static bool
sl__linked_cb(void *arg)
{
    json_t *st = th_cluster_status(arg);
    bool ok = true;

    for (int i = 1; i <= 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "game%d", i);
        json_t *store = json_object_get(th_status_node(st, name), "store");
        ok = ok && json_is_true(json_object_get(store, "dbfront"));
    }
    json_decref(st);
    return ok;
}

int
sl_wait_linked(th_cluster_t *c, int timeout_ms)
{
    if (th_wait(sl__linked_cb, c, timeout_ms) == 0)
        return 0;
    th_diag("game1 and game2 not both linked to dbfront after %d ms", timeout_ms);
    return -1;
}

long long
sl_dbfront_figure(th_cluster_t *c, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, "dbfront"), key);
    long long n = -1;

    if (json_is_integer(v))
        n = (long long)json_integer_value(v);
    else if (json_is_boolean(v))
        n = json_is_true(v);
    json_decref(st);
    return n;
}

/* ---- bookkeeping ---- */

/* xorshift64: which acknowledged row a read asks for. */
static uint64_t
sl__rand(sl_t *l)
{
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    return l->rng;
}

/* Parses "<prefix><k>-<n>"; returns whether kind has that shape. */
static bool
sl__parse_kind(const char *prefix, const char *kind, int *k, long *n)
{
    size_t plen = strlen(prefix);
    char *end;

    if (kind == NULL || strncmp(kind, prefix, plen) != 0 || kind[plen] < '0' || kind[plen] > '9')
        return false;
    *k = (int)strtol(kind + plen, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9')
        return false;
    *n = strtol(end + 1, &end, 10);
    return *end == '\0';
}

/* A `# ` line about a wrong reply; the first SL_MAX_DIAGS only. */
static void sl__diag(sl_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sl__diag(sl_t *l, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (l->diags++ >= SL_MAX_DIAGS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    th_diag("%s", msg);
}

/* Whether doc holds row r as last written (a missing qty is the column's default, 1). */
static bool
sl__row_matches(const sl_t *l, const sl_row_t *r, json_t *doc)
{
    char kind[64];
    json_t *qty = json_object_get(doc, "qty");

    snprintf(kind, sizeof(kind), "%s%d-%ld", l->prefix, r->client, r->n);
    return json_integer_value(json_object_get(doc, "id")) == r->id &&
           json_integer_value(json_object_get(doc, "owner")) == r->client &&
           json_is_string(json_object_get(doc, "kind")) &&
           strcmp(json_string_value(json_object_get(doc, "kind")), kind) == 0 &&
           (qty == NULL ? r->qty == 1 : json_integer_value(qty) == r->qty);
}

/* A write's acknowledgement: the row as stored, with its id. */
static void
sl__ack(sl_t *l, sl_client_t *c, json_t *doc, const ffc_msg_t *m)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    json_int_t id = json_integer_value(json_object_get(doc, "id"));
    int k;
    long n;

    if (!sl__parse_kind(l->prefix, kind, &k, &n) || k != c->k || n >= c->next_n ||
        c->state[n] != SL_SENT || id < 1 ||
        json_integer_value(json_object_get(doc, "owner")) != k) {
        l->st.bad++;
        sl__diag(l, "client %d: an acknowledgement that matches no write in flight: %.*s", c->k,
                 (int)m->len, (const char *)m->body);
        return;
    }
    if (ff_map_get(&l->by_id, (uint64_t)id) != NULL) {
        l->st.dup_ids++;
        sl__diag(l, "client %d: id %lld acknowledged again, for %s", c->k, (long long)id, kind);
    }
    c->state[n] = SL_ACKED;
    if (l->nrows == l->caprows) {
        l->caprows = l->caprows ? l->caprows * 2 : 1024;
        l->rows = ff_realloc(l->rows, l->caprows * sizeof(*l->rows));
    }
    l->rows[l->nrows] = (sl_row_t){(int64_t)id, k, n, 1};
    ff_map_set(&l->by_id, (uint64_t)id, (void *)(uintptr_t)(l->nrows + 1));
    l->nrows++;
    l->st.acked++;
}

/* A read's answer: the row, which must be the one last written. */
static void
sl__read_answer(sl_t *l, sl_client_t *c, json_t *doc, const ffc_msg_t *m)
{
    json_int_t id = json_integer_value(json_object_get(doc, "id"));
    uintptr_t idx = id > 0 ? (uintptr_t)ff_map_get(&l->by_id, (uint64_t)id) : 0;

    if (idx == 0) {
        l->st.bad++;
        sl__diag(l, "client %d: a read answered a row never written: %.*s", c->k, (int)m->len,
                 (const char *)m->body);
    } else if (!sl__row_matches(l, &l->rows[idx - 1], doc)) {
        l->st.stale++;
        sl__diag(l, "client %d: read of id %lld (qty %d last written) answered %.*s", c->k,
                 (long long)id, l->rows[idx - 1].qty, (int)m->len, (const char *)m->body);
    } else {
        l->st.reads_ok++;
    }
}

static void
sl__reply(sl_t *l, sl_client_t *c, const ffc_msg_t *m)
{
    int code = th_error_code(m->body, m->len);
    int *out = m->cmd == TSTORE_NEW ? &c->out_writes : m->cmd == TSTORE_GET ? &c->out_reads : NULL;
    json_t *doc;

    if (out == NULL || *out == 0) {
        l->st.bad++;
        sl__diag(l, "client %d: a reply to no request: cmd %u %.*s", c->k, m->cmd, (int)m->len,
                 (const char *)m->body);
        return;
    }
    (*out)--;
    if (code != 0) {
        if (m->cmd == TSTORE_NEW)
            l->st.write_errors++;
        else
            l->st.read_errors++;
        if (code == 503)
            l->st.err503++;
        else if (code == 504)
            l->st.err504++;
        else
            l->st.err_other++;
        snprintf(l->last_error, sizeof(l->last_error), "cmd %u: %.*s", m->cmd, (int)m->len,
                 (const char *)m->body);
        c->cautious = true;
        return;
    }
    c->cautious = false;
    doc = json_loadb((const char *)m->body, m->len, 0, NULL);
    if (m->cmd == TSTORE_NEW)
        sl__ack(l, c, doc, m);
    else
        sl__read_answer(l, c, doc, m);
    json_decref(doc);
}

/* ---- connections ---- */

static void
sl__close(sl_t *l, sl_client_t *c, int rc)
{
    if (!c->open)
        return;
    c->open = false;
    l->st.closed++;
    if (rc != -ECONNRESET)
        th_diag("client %d: %s", c->k, ffc_strerror(rc));
}

static int
sl__send_write(sl_t *l, sl_client_t *c)
{
    char body[128];
    int len, rc;

    if ((size_t)c->next_n >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        c->state = ff_realloc(c->state, cap);
        memset(c->state + c->cap, SL_UNSENT, cap - c->cap);
        c->cap = cap;
    }
    len = snprintf(body, sizeof(body), "{\"row\":{\"owner\":%d,\"kind\":\"%s%d-%ld\"}}", c->k,
                   l->prefix, c->k, c->next_n);
    if ((rc = ffc_send(c->cl, TSTORE_NEW, body, (size_t)len)) < 0)
        return rc;
    c->state[c->next_n++] = SL_SENT;
    c->out_writes++;
    l->st.writes_sent++;
    return 0;
}

static int
sl__send_read(sl_t *l, sl_client_t *c)
{
    const sl_row_t *r = &l->rows[sl__rand(l) % l->nrows];
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"pk\":%" PRId64 "}", r->id);
    int rc = ffc_send(c->cl, TSTORE_GET, body, (size_t)len);

    if (rc == 0) {
        c->out_reads++;
        l->st.reads_sent++;
    }
    return rc;
}

/* Fills client c's window. A failed send (the server closed the connection) ends sending
 * on it; its replies are still read until the receive side reports the close, so that none
 * the server sent first is missed. */
static void
sl__fill(sl_t *l, sl_client_t *c)
{
    int window = c->cautious ? 1 : l->depth, rc = 0;

    while (c->open && c->can_send && c->out_writes + c->out_reads < window) {
        bool read = l->read_every > 0 && l->nrows > 0 &&
                    c->seq % (unsigned long)l->read_every == (unsigned long)l->read_every - 1;
        c->seq++;
        rc = read ? sl__send_read(l, c) : sl__send_write(l, c);
        if (rc < 0) {
            c->can_send = false;
            if (rc != -ECONNRESET && rc != -EPIPE)
                th_diag("client %d: send: %s", c->k, ffc_strerror(rc));
        }
    }
}

/* Handles every reply client c has now. Returns how many. */
static int
sl__read(sl_t *l, sl_client_t *c)
{
    ffc_msg_t m;
    int rc, n = 0;

    while (c->open) {
        rc = ffc_recv(c->cl, &m, 0);
        if (rc == -ETIMEDOUT)
            break;
        if (rc < 0) {
            sl__close(l, c, rc);
            break;
        }
        sl__reply(l, c, &m);
        ffc_msg_free(&m);
        n++;
    }
    return n;
}

sl_t *
sl_new(th_cluster_t *c, int nclients, int depth, const char *prefix, int read_every)
{
    sl_t *l = ff_calloc(1, sizeof(*l));

    l->c = c;
    l->n = nclients < SL_MAX_CLIENTS ? nclients : SL_MAX_CLIENTS;
    l->depth = depth > 0 ? depth : 1;
    l->read_every = read_every;
    l->sending = true;
    l->rng = 0x9e3779b97f4a7c15ull;
    snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
    for (int i = 0; i < l->n; i++) {
        l->cl[i].k = i;
        if ((l->cl[i].cl = th_connect(c)) == NULL) {
            sl_free(l);
            return NULL;
        }
        l->cl[i].open = l->cl[i].can_send = true;
    }
    return l;
}

void
sl_free(sl_t *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n; i++) {
        ffc_close(l->cl[i].cl);
        ff_free(l->cl[i].state);
    }
    ff_map_clear(&l->by_id);
    ff_free(l->rows);
    ff_free(l);
}

void
sl_set_sending(sl_t *l, bool on)
{
    l->sending = on;
}

int
sl_pump(sl_t *l, int timeout_ms)
{
    struct pollfd pfd[SL_MAX_CLIENTS];
    sl_client_t *who[SL_MAX_CLIENTS];
    int np = 0, handled = 0, wait = timeout_ms;

    for (int i = 0; i < l->n; i++) {
        sl_client_t *c = &l->cl[i];
        if (l->sending)
            sl__fill(l, c);
        if (!c->open)
            continue;
        if (ffc_pending(c->cl) > 0)
            wait = 0;
        pfd[np] = (struct pollfd){.fd = ffc_fd(c->cl), .events = POLLIN};
        who[np++] = c;
    }
    if (np == 0)
        return -1;
    if (poll(pfd, (nfds_t)np, wait) < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < np; i++)
        if (pfd[i].revents != 0 || ffc_pending(who[i]->cl) > 0)
            handled += sl__read(l, who[i]);
    return handled;
}

int
sl_run(sl_t *l, bool (*until)(sl_t *l, void *arg), void *arg, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms, left;

    for (;;) {
        if (until(l, arg))
            return 0;
        left = deadline - th_now_ms();
        if (left <= 0)
            return -1;
        if (sl_pump(l, left < SL_PUMP_MS ? (int)left : SL_PUMP_MS) < 0)
            return until(l, arg) ? 0 : -1;
    }
}

static bool
sl__acked_cb(sl_t *l, void *arg)
{
    return l->st.acked >= *(long long *)arg;
}

int
sl_run_acks(sl_t *l, long long total, int timeout_ms)
{
    return sl_run(l, sl__acked_cb, &total, timeout_ms);
}

long
sl_outstanding(const sl_t *l)
{
    long n = 0;

    for (int i = 0; i < l->n; i++)
        if (l->cl[i].open)
            n += l->cl[i].out_writes + l->cl[i].out_reads;
    return n;
}

bool
sl_all_closed(const sl_t *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->cl[i].open)
            return false;
    return true;
}

static bool
sl__drained_cb(sl_t *l, void *arg)
{
    (void)arg;
    return sl_outstanding(l) == 0;
}

int
sl_drain(sl_t *l, int timeout_ms)
{
    l->sending = false;
    if (sl_run(l, sl__drained_cb, NULL, timeout_ms) == 0)
        return 0;
    for (int i = 0; i < l->n; i++)
        if (l->cl[i].open && l->cl[i].out_writes + l->cl[i].out_reads > 0)
            th_diag("client %d: %d writes and %d reads unanswered after %d ms", i,
                    l->cl[i].out_writes, l->cl[i].out_reads, timeout_ms);
    return -1;
}

/* ---- single requests ---- */

/* Sends one request on client 0 and waits for its answer. Returns 0 with *doc (a new
 * reference), an error code, or a negative errno. */
static int
sl__call(sl_t *l, uint32_t cmd, const char *body, json_t **doc, int timeout_ms)
{
    ffc_msg_t m;
    int rc;

    *doc = NULL;
    if (!l->cl[0].open)
        return -ECONNRESET;
    if (sl_outstanding(l) > 0)
        return -EBUSY;
    if ((rc = ffc_call(l->cl[0].cl, cmd, body, strlen(body), &m, timeout_ms)) < 0)
        return rc;
    if ((rc = th_error_code(m.body, m.len)) != 0)
        th_diag("cmd %u %s: %.*s", cmd, body, (int)m.len, (const char *)m.body);
    else if ((*doc = json_loadb((const char *)m.body, m.len, 0, NULL)) == NULL)
        rc = -EPROTO;
    ffc_msg_free(&m);
    return rc;
}

int
sl_update(sl_t *l, size_t i, int qty, int timeout_ms)
{
    char body[128];
    json_t *doc;
    int rc;

    if (i >= l->nrows)
        return -EINVAL;
    snprintf(body, sizeof(body), "{\"pk\":%" PRId64 ",\"row\":{\"qty\":%d}}", l->rows[i].id, qty);
    if ((rc = sl__call(l, TSTORE_UPD, body, &doc, timeout_ms)) == 0)
        l->rows[i].qty = qty;
    json_decref(doc);
    return rc;
}

int
sl_get(sl_t *l, size_t i, int *qty, int timeout_ms)
{
    char body[64];
    json_t *doc, *q;
    int rc;

    if (i >= l->nrows)
        return -EINVAL;
    snprintf(body, sizeof(body), "{\"pk\":%" PRId64 "}", l->rows[i].id);
    if ((rc = sl__call(l, TSTORE_GET, body, &doc, timeout_ms)) != 0)
        return rc;
    q = json_object_get(doc, "qty");
    *qty = q == NULL ? 1 : (int)json_integer_value(q);
    if (json_integer_value(json_object_get(doc, "id")) != l->rows[i].id ||
        json_integer_value(json_object_get(doc, "owner")) != l->rows[i].client) {
        char *text = json_dumps(doc, JSON_COMPACT);
        th_diag("row %" PRId64 " read back as %s", l->rows[i].id, text ? text : "?");
        free(text);
        rc = 1;
    }
    json_decref(doc);
    return rc;
}

const sl_stats_t *
sl_stats(const sl_t *l)
{
    return &l->st;
}

size_t
sl_nrows(const sl_t *l)
{
    return l->nrows;
}

const sl_row_t *
sl_row(const sl_t *l, size_t i)
{
    return i < l->nrows ? &l->rows[i] : NULL;
}

const char *
sl_last_error(const sl_t *l)
{
    return l->last_error;
}

/* ---- MariaDB ---- */

static int
sl__cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The number of ids acknowledged more than once. */
static long
sl__dup_ids(const sl_t *l)
{
    int64_t *ids = ff_malloc((l->nrows + 1) * sizeof(*ids));
    long dups = 0;

    for (size_t i = 0; i < l->nrows; i++)
        ids[i] = l->rows[i].id;
    qsort(ids, l->nrows, sizeof(*ids), sl__cmp_id);
    for (size_t i = 1; i < l->nrows; i++)
        dups += ids[i] == ids[i - 1];
    ff_free(ids);
    return dups;
}

static long long
sl__col(json_t *row, const char *name)
{
    const char *s = json_string_value(json_object_get(row, name));
    return s != NULL ? strtoll(s, NULL, 10) : -1;
}

/* Compares the acknowledged writes with MariaDB's rows of this load (indexed by kind).
 * Counts the writes missing and those stored differently; *extra gets the rows that were
 * never acknowledged. */
static void
sl__compare(sl_t *l, json_t *rows, long *missing, long *wrong, long *extra)
{
    ff_map_t by_kind = {0};
    json_t *row;
    size_t i;
    int k;
    long n;

    json_array_foreach(rows, i, row)
    {
        if (sl__parse_kind(l->prefix, json_string_value(json_object_get(row, "kind")), &k, &n))
            ff_map_set(&by_kind, ((uint64_t)k << 40 | (uint64_t)n) + 1, row);
    }
    *missing = *wrong = 0;
    for (i = 0; i < l->nrows; i++) {
        const sl_row_t *r = &l->rows[i];
        json_t *db = ff_map_get(&by_kind, ((uint64_t)r->client << 40 | (uint64_t)r->n) + 1);
        if (db == NULL) {
            ++*missing;
            sl__diag(l, "acknowledged write %s%d-%ld (id %" PRId64 ") is not in MariaDB", l->prefix,
                     r->client, r->n, r->id);
        } else if (sl__col(db, "id") != r->id || sl__col(db, "owner") != r->client ||
                   sl__col(db, "qty") != r->qty) {
            ++*wrong;
            sl__diag(l,
                     "write %s%d-%ld: acknowledged id %" PRId64 " qty %d, MariaDB has id %lld "
                     "owner %lld qty %lld",
                     l->prefix, r->client, r->n, r->id, r->qty, sl__col(db, "id"),
                     sl__col(db, "owner"), sl__col(db, "qty"));
        }
    }
    *extra = (long)by_kind.count - (l->nrows - (size_t)*missing);
    ff_map_clear(&by_kind);
}

int
sl_check_db(sl_t *l, dbenv_t *db, const char *what, long *unacked)
{
    int before = th_failures();
    long missing = 0, wrong = 0, extra = 0;
    char sql[512];
    json_t *rows;

    snprintf(sql, sizeof(sql), "SELECT id, owner, kind, qty FROM tb_item WHERE kind LIKE '%s%%'",
             l->prefix);
    rows = dbenv_query(db, sql);
    if (th_ok(rows != NULL, "%s MariaDB answers: %s", what, sql)) {
        sl__compare(l, rows, &missing, &wrong, &extra);
        TH_EQ_INT(missing, 0, "%s every acknowledged write (%zu) is in MariaDB", what, l->nrows);
        TH_EQ_INT(wrong, 0, "%s ... with the acknowledged id, owner and last qty", what);
        th_diag("%s %zu rows of this load in MariaDB, %ld of them never acknowledged", what,
                json_array_size(rows), extra);
    }
    if (unacked != NULL)
        *unacked = rows != NULL ? extra : -1;
    json_decref(rows);
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM (SELECT kind FROM tb_item WHERE kind LIKE '%s%%' "
             "GROUP BY kind HAVING COUNT(*) > 1) d",
             l->prefix);
    TH_EQ_INT(dbenv_count(db, sql), 0, "%s no write is in MariaDB twice", what);
    TH_EQ_INT(dbenv_count(db, "SELECT COUNT(*) - COUNT(DISTINCT id) FROM tb_item"), 0,
              "%s COUNT(*) = COUNT(DISTINCT id)", what);
    TH_EQ_INT(sl__dup_ids(l), 0, "%s every acknowledged id is distinct (none reused)", what);
    TH_EQ_INT(l->st.dup_ids, 0, "%s no acknowledgement repeated an earlier id", what);
    return th_failures() - before;
}
