/* store: dbfront's answers to game nodes: get, getby, new, upd, del (bus CALLs with JSON
 * arguments, see docs/dbfront.md).
 *
 * A write is checked against its table, applied to the in-memory rows and framed as a log
 * record into the open batch. Once per loop turn the open batch goes to the log worker
 * (append + fdatasync: group commit), then to the cache worker (memcached gets the new row
 * documents, written conditionally: see ff_mc_pipeline), and only then is every write of
 * the batch acknowledged. A write to a row
 * dbfront does not know first loads it (memcached, then MariaDB) to learn that it exists. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dbf.h"
#include "log.h"
#include "node.h"

typedef struct {
    ff_link_t *link;
    bool up;
    bool hello; /* said HELLO as a game node or gate of the config: may call */
    int refs;   /* the link while up, plus one per pending answer */
} peer_t;

typedef struct {
    char key[FF_MC_KEY_MAX + 1];
    char *doc; /* NULL = delete */
    int ttl;
    bool failed;
} cache_op_t;

typedef struct {
    peer_t *peer;
    uint32_t seq;
    json_t *result;
} waiter_t;

typedef struct {
    ff_buf_t wal;
    cache_op_t *ops;
    size_t nops, capops;
    waiter_t *waiters;
    size_t nwaiters, capwaiters;
    int rc;
} batch_t;

/* A read of one row (or of rows by fk) on a worker, and the request it serves. */
typedef struct {
    const char *method; /* "get", "getby", "upd", "del" */
    const dbf_table_t *t;
    int64_t pk;
    json_t *value; /* getby: the fk value; upd: the fields */
    peer_t *peer;
    uint32_t seq;
    int rc; /* 0 found, 1 absent, -1 error */
    json_t *row;
    char err[256];
} load_t;

dbf_t dbf;

static batch_t *open_batch;
/* Keys whose memcached update was not confirmed (memcached down, hung or cut off): they may
 * still hold an older row, so they are deleted again and again until memcached confirms it.
 * Once it has, the update given up on can no longer win however late it arrives: it was a
 * cas against a placeholder that the delete removed (ff_mc_pipeline). */
static batch_t *suspects;
static bool purging;
static uv_timer_t purge_timer;
static bool wal_busy;
static size_t busy;
static uv_check_t submit_check;

/* ---- answers ----------------------------------------------------------------------- */

static void
peer_release(peer_t *p)
{
    if (--p->refs == 0)
        ff_free(p);
}

/* Sends the REPLY of a call: status 0 with result (stolen; NULL = {}), or -code with
 * {"error":...}. A peer whose link is gone gets nothing. */
static void
answer(peer_t *p, uint32_t seq, int code, json_t *result)
{
    char *text;
    ff_buf_t *b = p->up ? ff_link_out(p->link) : NULL;

    if (result == NULL)
        result = json_object();
    if (b != NULL) {
        text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
        ff_bus_put_reply(b, seq, code ? -code : 0, text, strlen(text));
        free(text);
    }
    json_decref(result);
}

static void __attribute__((format(printf, 4, 5)))
answer_error(peer_t *p, uint32_t seq, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (code != 404)
        dbf.st.errors++;
    answer(p, seq, code, json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", msg));
}

/* ---- batches ----------------------------------------------------------------------- */

static batch_t *
batch_open(void)
{
    if (open_batch == NULL)
        open_batch = ff_calloc(1, sizeof(*open_batch));
    return open_batch;
}

static void
batch_cache(batch_t *b, const dbf_table_t *t, int64_t pk, json_t *doc)
{
    cache_op_t *op;

    if (b->nops == b->capops) {
        b->capops = b->capops ? b->capops * 2 : 16;
        b->ops = ff_realloc(b->ops, b->capops * sizeof(*b->ops));
    }
    op = &b->ops[b->nops];
    /* A row without a key (impossible with a validated config) is never in memcached:
     * readers that cannot form its key either ask dbfront. */
    if (ff_mc_key(ff_conf, t->name, pk, op->key, sizeof(op->key)) < 0)
        return;
    b->nops++;
    op->doc = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    op->ttl = t->timeout_s;
}

static void
batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->nops; i++)
        free(b->ops[i].doc);
    ff_free(b->ops);
    ff_free(b->waiters);
    ff_buf_free(&b->wal);
    ff_free(b);
}

static void
cache_work(void *state, void *job)
{
    ff_mc_t *mc = state;
    batch_t *b = job;
    ff_mc_op_t *ops;

    b->rc = 0;
    if (mc == NULL || b->nops == 0)
        return;
    ops = ff_malloc(b->nops * sizeof(*ops));
    for (size_t i = 0; i < b->nops; i++) {
        cache_op_t *op = &b->ops[i];
        ops[i] = (ff_mc_op_t){op->key, op->doc, op->doc ? strlen(op->doc) : 0, op->ttl, false};
    }
    b->rc = -(int)ff_mc_pipeline(mc, ops, b->nops);
    for (size_t i = 0; i < b->nops; i++)
        b->ops[i].failed = !ops[i].done;
    ff_free(ops);
}

/* Records the keys of b's failed updates as suspects; returns whether memcached is fine. */
static bool
cache_note(const batch_t *b)
{
    for (size_t i = 0; i < b->nops; i++) {
        if (!b->ops[i].failed)
            continue;
        if (suspects == NULL)
            suspects = ff_calloc(1, sizeof(*suspects));
        if (suspects->nops == suspects->capops) {
            suspects->capops = suspects->capops ? suspects->capops * 2 : 16;
            suspects->ops = ff_realloc(suspects->ops, suspects->capops * sizeof(*suspects->ops));
        }
        suspects->ops[suspects->nops] = b->ops[i];
        suspects->ops[suspects->nops].doc = NULL;
        suspects->ops[suspects->nops++].failed = false;
    }
    dbf.st.cache_errors += (uint64_t)-b->rc;
    dbf.st.cache_up = b->rc == 0 && suspects == NULL;
    return dbf.st.cache_up;
}

/* memcached has the batch's rows (or is down: readers then fall back to dbfront): the
 * writes are acknowledged. */
static void
cache_done(void *job)
{
    batch_t *b = job;

    cache_note(b);
    for (size_t i = 0; i < b->nwaiters; i++) {
        answer(b->waiters[i].peer, b->waiters[i].seq, 0, b->waiters[i].result);
        peer_release(b->waiters[i].peer);
        busy--;
    }
    batch_free(b);
}

static void
wal_work(void *state, void *job)
{
    batch_t *b = job;
    b->rc = b->wal.len ? dbf_wal_append(state, b->wal.data, b->wal.len) : 0;
}

static void
wal_done(void *job)
{
    batch_t *b = job;

    wal_busy = false;
    if (b->rc < 0) {
        /* Memory now holds writes the log does not: start again from the log, which holds
         * exactly what was acknowledged. master restarts this node. */
        ff_log(FF_LOG_ERROR, "log append failed: %s; exiting so that a restart replays the log",
               strerror(-b->rc));
        ff_node_exit(1);
    }
    ff_worker_submit(dbf.cache_worker, b, cache_work, cache_done);
}

static void
submit_cb(uv_check_t *h)
{
    batch_t *b = open_batch;

    (void)h;
    if (b == NULL || wal_busy)
        return;
    open_batch = NULL;
    wal_busy = true;
    ff_worker_submit(dbf.wal_worker, b, wal_work, wal_done);
}

static void
purge_done(void *job)
{
    purging = false;
    cache_note(job);
    batch_free(job);
}

static void
purge_cb(uv_timer_t *t)
{
    batch_t *b = suspects;

    (void)t;
    if (b == NULL || purging)
        return;
    suspects = NULL;
    purging = true;
    ff_worker_submit(dbf.cache_worker, b, cache_work, purge_done);
}

void
dbf_store_start(void)
{
    uv_timer_init(ff_loop, &purge_timer);
    uv_timer_start(&purge_timer, purge_cb, 200, 200);
    uv_unref((uv_handle_t *)&purge_timer);
    uv_check_init(ff_loop, &submit_check);
    uv_check_start(&submit_check, submit_cb);
    uv_unref((uv_handle_t *)&submit_check);
}

size_t
dbf_store_busy(void)
{
    return busy + (open_batch != NULL) + wal_busy;
}

static void
cache_row_done(void *job)
{
    cache_note(job);
    batch_free(job);
}

void
dbf_store_cache_row(const dbf_table_t *t, int64_t pk, json_t *doc)
{
    batch_t *b = ff_calloc(1, sizeof(*b));

    batch_cache(b, t, pk, doc);
    ff_worker_submit(dbf.cache_worker, b, cache_work, cache_row_done);
}

/* ---- writes ------------------------------------------------------------------------ */

/* Applies a checked write and queues its log record, cache update and answer. */
static void
write_apply(peer_t *p, uint32_t seq, int op, const dbf_table_t *t, int64_t pk, json_t *data)
{
    batch_t *b = batch_open();
    dbf_row_t *r = dbf_rows_apply(&dbf.rows, op, t, pk, data, ff_node_now());
    char *rec = dbf_rows_record(op, t, pk, data);
    waiter_t *w;

    dbf_wal_put_record(&b->wal, rec, strlen(rec));
    free(rec);
    batch_cache(b, t, pk, r->doc);
    if (b->nwaiters == b->capwaiters) {
        b->capwaiters = b->capwaiters ? b->capwaiters * 2 : 16;
        b->waiters = ff_realloc(b->waiters, b->capwaiters * sizeof(*b->waiters));
    }
    w = &b->waiters[b->nwaiters++];
    w->peer = p;
    w->seq = seq;
    w->result = op == DBF_REC_NEW ? json_deep_copy(r->doc) : json_object();
    p->refs++;
    busy++;
    dbf.st.writes++;
}

static void
do_new(peer_t *p, uint32_t seq, const dbf_table_t *t, json_t *row)
{
    const char *pkname = t->cols[t->pk].name;
    json_t *pkv = json_object_get(row, pkname);
    char err[256];
    int64_t pk;

    if (t->incr && pkv != NULL) {
        answer_error(p, seq, 400, "%s.%s: allocated by dbfront; leave it out", t->name, pkname);
        return;
    }
    if (t->incr)
        json_object_set_new(row, pkname, json_integer(dbf.next_ids[t->index]));
    if (dbf_row_check(t, row, DBF_ROW_NEW, err, sizeof(err)) < 0) {
        answer_error(p, seq, 400, "%s", err);
        return;
    }
    pk = json_integer_value(json_object_get(row, pkname));
    if (pk < 1 || pk > DBF_PK_MAX) {
        answer_error(p, seq, 400, "%s.%s: %" PRId64 " is out of range 1..2^56-1", t->name, pkname,
                     pk);
        return;
    }
    if (t->incr)
        dbf.next_ids[t->index]++;
    write_apply(p, seq, DBF_REC_NEW, t, pk, row);
}

/* An update or delete of a row whose existence is known: applied, or 404. */
static void
write_known(peer_t *p, uint32_t seq, const char *method, dbf_row_t *r, json_t *fields)
{
    if (r->state == DBF_DEL) {
        answer_error(p, seq, 404, "%s %" PRId64 ": no such row", r->t->name, r->pk);
        return;
    }
    write_apply(p, seq, strcmp(method, "upd") == 0 ? DBF_REC_UPD : DBF_REC_DEL, r->t, r->pk,
                fields);
}

static void load_start(load_t *ld);

static void
do_write(peer_t *p, uint32_t seq, const char *method, const dbf_table_t *t, int64_t pk,
         json_t *fields)
{
    char err[256];
    dbf_row_t *r;
    load_t *ld;

    if (fields != NULL && dbf_row_check(t, fields, DBF_ROW_UPDATE, err, sizeof(err)) < 0) {
        answer_error(p, seq, 400, "%s", err);
        return;
    }
    r = dbf_rows_find(&dbf.rows, t, pk);
    if (r != NULL) {
        write_known(p, seq, method, r, fields);
        return;
    }
    ld = ff_calloc(1, sizeof(*ld));
    ld->method = method;
    ld->t = t;
    ld->pk = pk;
    ld->value = json_incref(fields);
    ld->peer = p;
    ld->seq = seq;
    load_start(ld);
}

/* ---- reads ------------------------------------------------------------------------- */

static void
load_free(load_t *ld)
{
    json_decref(ld->value);
    json_decref(ld->row);
    peer_release(ld->peer);
    busy--;
    ff_free(ld);
}

static void
db_get_work(void *state, void *job)
{
    load_t *ld = job;

    if (strcmp(ld->method, "getby") == 0)
        ld->rc = dbf_db_get_by(state, ld->t, ld->value, &ld->row, ld->err, sizeof(ld->err));
    else
        ld->rc = dbf_db_get(state, ld->t, ld->pk, &ld->row, ld->err, sizeof(ld->err));
}

/* The fk lookup's rows from MariaDB, corrected by what is newer here: rows written since
 * the last flush (deleted ones dropped, changed ones as they are now, new ones added). The
 * SELECT ran on the flusher's thread, so no flush committed rows between it and now. */
static json_t *
overlay_by(const dbf_table_t *t, json_t *db_rows, json_t *value)
{
    json_t *out = json_array(), *row;
    const char *fkname = t->cols[t->fk].name, *pkname = t->cols[t->pk].name;
    ff_map_t seen = {0};
    size_t i;

    json_array_foreach(db_rows, i, row)
    {
        json_int_t pk = json_integer_value(json_object_get(row, pkname));
        dbf_row_t *r = dbf_rows_find(&dbf.rows, t, pk);
        if (r != NULL && r->state != DBF_DEL && r->doc == NULL)
            r = dbf_rows_add_clean(&dbf.rows, t, pk, row, ff_node_now());
        if (r != NULL &&
            (r->state == DBF_DEL || !json_equal(json_object_get(r->doc, fkname), value)))
            continue;
        json_array_append(out, r != NULL ? r->doc : row);
        ff_map_set(&seen, (uint64_t)pk, out);
    }
    for (ff_list_t *n = dbf.rows.dirty.next; n != &dbf.rows.dirty; n = n->next) {
        dbf_row_t *r = ff_container_of(n, dbf_row_t, dirty);
        if (r->t == t && r->doc != NULL && r->state != DBF_DEL &&
            ff_map_get(&seen, (uint64_t)r->pk) == NULL &&
            json_equal(json_object_get(r->doc, fkname), value))
            json_array_append(out, r->doc);
    }
    ff_map_clear(&seen);
    return out;
}

/* A row that did not exist, or its read: answered, or the pending write applied. */
static void
load_finish(load_t *ld)
{
    dbf_row_t *r = dbf_rows_find(&dbf.rows, ld->t, ld->pk);

    if (r == NULL && ld->rc == 0) {
        r = dbf_rows_add_clean(&dbf.rows, ld->t, ld->pk, ld->row, ff_node_now());
        dbf_store_cache_row(ld->t, ld->pk, r->doc);
    } else if (r != NULL && r->doc == NULL && ld->rc == 0) {
        dbf_rows_add_clean(&dbf.rows, ld->t, ld->pk, ld->row, ff_node_now());
    }
    if (r == NULL || (strcmp(ld->method, "get") == 0 && (r->state == DBF_DEL || r->doc == NULL)))
        answer_error(ld->peer, ld->seq, 404, "%s %" PRId64 ": no such row", ld->t->name, ld->pk);
    else if (strcmp(ld->method, "get") == 0)
        answer(ld->peer, ld->seq, 0, json_deep_copy(r->doc));
    else
        write_known(ld->peer, ld->seq, ld->method, r, ld->value);
}

static void
db_get_done(void *job)
{
    load_t *ld = job;

    dbf.st.db_up = ld->rc >= 0;
    if (ld->rc < 0) {
        dbf.st.db_errors++;
        answer_error(ld->peer, ld->seq, 503, "MariaDB unavailable: %s", ld->err);
    } else if (strcmp(ld->method, "getby") == 0) {
        answer(ld->peer, ld->seq, 0, overlay_by(ld->t, ld->row, ld->value));
    } else {
        load_finish(ld);
    }
    load_free(ld);
}

static void
cache_get_work(void *state, void *job)
{
    load_t *ld = job;
    char key[FF_MC_KEY_MAX + 1], *text = NULL;
    size_t len;

    ld->rc = -1;
    if (state == NULL || ff_mc_key(ff_conf, ld->t->name, ld->pk, key, sizeof(key)) < 0)
        return;
    if (ff_mc_get(state, key, &text, &len) == 0) {
        ld->row = json_loadb(text, len, 0, NULL);
        ld->rc = json_is_object(ld->row) ? 0 : -1;
        ff_free(text);
    }
}

/* memcached first (it may hold the row while MariaDB is down), then MariaDB. */
static void
cache_get_done(void *job)
{
    load_t *ld = job;

    if (ld->rc == 0) {
        load_finish(ld);
        load_free(ld);
        return;
    }
    ff_worker_submit(dbf.reader, ld, db_get_work, db_get_done);
}

static void
load_start(load_t *ld)
{
    ld->peer->refs++;
    busy++;
    dbf.st.reads++;
    if (strcmp(ld->method, "upd") == 0 || strcmp(ld->method, "del") == 0)
        ff_worker_submit(dbf.cache_worker, ld, cache_get_work, cache_get_done);
    else if (strcmp(ld->method, "getby") == 0)
        ff_worker_submit(dbf.flusher, ld, db_get_work, db_get_done);
    else
        ff_worker_submit(dbf.reader, ld, db_get_work, db_get_done);
}

static void
do_read(peer_t *p, uint32_t seq, const char *method, const dbf_table_t *t, int64_t pk,
        json_t *value)
{
    dbf_row_t *r = value ? NULL : dbf_rows_find(&dbf.rows, t, pk);
    load_t *ld;

    if (r != NULL && r->state == DBF_DEL) {
        answer_error(p, seq, 404, "%s %" PRId64 ": no such row", t->name, pk);
        return;
    }
    if (r != NULL && r->doc != NULL) {
        r->used_ms = ff_node_now();
        answer(p, seq, 0, json_deep_copy(r->doc));
        return;
    }
    ld = ff_calloc(1, sizeof(*ld));
    ld->method = method;
    ld->t = t;
    ld->pk = pk;
    ld->value = json_incref(value);
    ld->peer = p;
    ld->seq = seq;
    load_start(ld);
}

/* ---- calls ------------------------------------------------------------------------- */

/* Parses the arguments every method shares. Returns the table, or NULL after answering. */
static const dbf_table_t *
call_table(peer_t *p, uint32_t seq, json_t *args, const char *method, int64_t *pk)
{
    const char *name = json_string_value(json_object_get(args, "t"));
    const dbf_table_t *t = name ? dbf_schema_table(dbf.schema, name) : NULL;
    json_t *jpk = json_object_get(args, "pk");
    bool needs_pk = strcmp(method, "new") != 0 && strcmp(method, "getby") != 0;

    if (t == NULL) {
        answer_error(p, seq, 400, "unknown table %s", name ? name : "(none)");
        return NULL;
    }
    *pk = json_integer_value(jpk);
    if (needs_pk && (!json_is_integer(jpk) || *pk < 1 || *pk > DBF_PK_MAX)) {
        answer_error(p, seq, 400, "%s: pk must be an integer 1..2^56-1", t->name);
        return NULL;
    }
    return t;
}

static void
handle_call(peer_t *p, uint32_t seq, const char *method, json_t *args)
{
    json_t *row = json_object_get(args, "row");
    const dbf_table_t *t;
    int64_t pk;

    if ((t = call_table(p, seq, args, method, &pk)) == NULL)
        return;
    if ((strcmp(method, "new") == 0 || strcmp(method, "upd") == 0) && !json_is_object(row)) {
        answer_error(p, seq, 400, "%s: \"row\" must be an object", t->name);
    } else if (strcmp(method, "getby") == 0 && t->fk < 0) {
        answer_error(p, seq, 400, "%s has no fk in config.json", t->name);
    } else if (strcmp(method, "getby") == 0 && json_object_get(args, "v") == NULL) {
        answer_error(p, seq, 400, "%s: getby needs a value \"v\"", t->name);
    } else if (strcmp(method, "new") == 0) {
        do_new(p, seq, t, row);
    } else if (strcmp(method, "get") == 0 || strcmp(method, "getby") == 0) {
        do_read(p, seq, method, t, pk, json_object_get(args, "v"));
    } else {
        do_write(p, seq, method, t, pk, strcmp(method, "upd") == 0 ? row : NULL);
    }
}

/* The method names, kept as literals: requests that wait for a load hold on to them. */
static const char *
method_name(ff_str_t m)
{
    static const char *const names[] = {"get", "getby", "new", "upd", "del"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ff_str_eq(m, names[i]))
            return names[i];
    return NULL;
}

/* Closes a peer that broke the protocol, with one WARN. */
static void
peer_drop(peer_t *p, const char *why)
{
    ff_link_t *l = p->link;

    ff_log(FF_LOG_WARN, "store: %s (%s): %s; closing", ff_link_peer(l), ff_link_addr(l), why);
    p->up = false;
    peer_release(p);
    ff_link_free(l); /* safe inside on_msg: bus.c delivers nothing more */
}

/* Only a game node or gate of the config, under the name it authenticated as, may use the
 * store; it says so in HELLO before its first call. */
static void
peer_hello(peer_t *p, const ff_bus_msg_t *m)
{
    const char *name = ff_link_peer(p->link);
    const ff_conf_server_t *srv = ff_conf_server(ff_conf, name);

    if (!ff_str_eq(m->name, name) || srv == NULL ||
        (srv->role != FF_ROLE_GAME && srv->role != FF_ROLE_GATE) ||
        !ff_str_eq(m->role, ff_conf_role_name(srv->role))) {
        peer_drop(p, "HELLO from no game node or gate of the config");
        return;
    }
    p->hello = true;
}

static void
peer_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    peer_t *p = ff_link_data(l);
    const char *method;
    json_t *args;

    if (m->kind == FF_BUS_HELLO && !p->hello) {
        peer_hello(p, m);
        return;
    }
    if (m->kind != FF_BUS_CALL || !p->hello) {
        peer_drop(p, p->hello ? "a frame other than CALL" : "a frame before HELLO");
        return;
    }
    method = method_name(m->method);
    args = json_loadb((const char *)m->body, m->body_len, 0, NULL);
    if (dbf.stopping)
        answer_error(p, m->seq, 503, "dbfront is stopping");
    else if (method == NULL)
        answer_error(p, m->seq, 400, "unknown store method %.*s", (int)m->method.len, m->method.p);
    else if (!json_is_object(args))
        answer_error(p, m->seq, 400, "store arguments must be a JSON object");
    else
        handle_call(p, m->seq, method, args);
    json_decref(args);
}

static void
peer_up_cb(ff_link_t *l)
{
    (void)l;
}

static void
peer_down_cb(ff_link_t *l, int status)
{
    peer_t *p = ff_link_data(l);

    (void)status;
    p->up = false;
    peer_release(p);
}

static const ff_link_cbs_t peer_cbs = {peer_msg_cb, peer_up_cb, peer_down_cb};

void
dbf_store_accept(ff_link_t *l, void *arg)
{
    peer_t *p = ff_calloc(1, sizeof(*p));

    (void)arg;
    p->link = l;
    p->up = true;
    p->refs = 1;
    ff_link_set(l, &peer_cbs, p);
}
