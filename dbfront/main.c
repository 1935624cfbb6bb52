/* dbfront: the only writer of stored game data (DESIGN §6, docs/dbfront.md). Starts by
 * learning the tables (MariaDB's information_schema, or the copy saved by the last start),
 * replaying its log and the next ids, then serves game nodes (store.c) and flushes to
 * MariaDB (flush.c). /stop ends with a full flush, retried for the time master gives the
 * stop (cluster.stopTimeout); the last thing dbfront does is tell master how many rows
 * MariaDB still lacks and where they are (NOTIFY "stopped"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dbf.h"
#include "log.h"
#include "node.h"

typedef struct {
    json_t *tables;  /* config's tables, in dbf_schema_build's shape */
    json_t *columns; /* result */
    int64_t *ids;    /* result of the id job */
    bool from_cache;
    int rc;
    char err[512];
    ff_buf_t records; /* replay: u32 length + payload, one after another */
    int torn;
} boot_t;

/* How long past the stop's deadline a hung flush is waited for (master kills at 5 s). */
#define STOP_GRACE_MS 2000

static uv_tcp_t listener;
static uv_timer_t retry_timer, sweep_timer, stop_timer;
static uint64_t stop_deadline, stop_retry_at;
static boot_t boot;

static void boot_schema(void);
static void boot_ids(void);

static json_t *
conf_tables_json(void)
{
    json_t *out = json_object();

    for (int i = 0; i < ff_conf->ntables; i++) {
        const ff_conf_table_t *t = &ff_conf->tables[i];
        json_t *o =
            json_pack("{s:s,s:b,s:i}", "pk", t->pk, "incr", t->incr, "timeout", t->timeout_s);
        if (t->fk != NULL)
            json_object_set_new(o, "fk", json_string(t->fk));
        json_object_set_new(out, t->name, o);
    }
    return out;
}

/* Reads DIR/name as JSON, or NULL. Worker threads only. */
static json_t *
load_saved(const char *name)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", dbf.waldir, name);
    return json_load_file(path, 0, NULL);
}

static void
retry_cb(uv_timer_t *t)
{
    void (*fn)(void) = (void (*)(void))(uintptr_t)t->data;
    fn();
}

static void
retry_in(void (*fn)(void), const char *what, const char *err)
{
    ff_log(FF_LOG_WARN, "%s: %s; retrying in 1 s", what, err);
    retry_timer.data = (void *)(uintptr_t)fn;
    uv_timer_start(&retry_timer, retry_cb, 1000, 0);
}

/* ---- 4: serve ---------------------------------------------------------------------- */

static void
sweep_cb(uv_timer_t *t)
{
    dbf_rows_evict(&dbf.rows, uv_now(t->loop), 4096);
}

static int
serve(void)
{
    /* A stop that came while booting only waited for the log: no game node may call. */
    int rc = dbf.stopping ? 0
                          : ff_bus_listen(ff_loop, &listener, ff_self->host, ff_self->rootport,
                                          dbf_store_accept, NULL);

    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot listen on %s:%d: %s", ff_self->host, ff_self->rootport,
               uv_strerror(rc));
        ff_node_exit(1);
    }
    dbf_store_start();
    dbf_flush_start(ff_self->sync_interval_s);
    uv_timer_init(ff_loop, &sweep_timer);
    uv_timer_start(&sweep_timer, sweep_cb, 100, 100);
    uv_unref((uv_handle_t *)&sweep_timer);
    dbf.serving = true;
    ff_log(FF_LOG_INFO, "serving %zu tables; %zu rows from the log wait for a flush",
           dbf.schema->ntables, dbf.rows.ndirty);
    ff_node_ready();
    return 0;
}

static void
first_flush_done(bool ok)
{
    (void)ok;
}

/* ---- 3: next ids ------------------------------------------------------------------- */

static void
ids_work(void *state, void *job)
{
    boot_t *b = job;
    json_t *meta = load_saved("meta.json");
    int64_t *db_ids = ff_calloc(dbf.schema->ntables + 1, sizeof(*db_ids));

    b->rc = dbf_db_next_ids(state, dbf.schema, db_ids, b->err, sizeof(b->err));
    for (size_t i = 0; i < dbf.schema->ntables; i++) {
        json_int_t saved = json_integer_value(json_object_get(meta, dbf.schema->tables[i].name));
        if (saved > b->ids[i])
            b->ids[i] = saved;
        if (b->rc == 0 && db_ids[i] > b->ids[i])
            b->ids[i] = db_ids[i];
    }
    /* Without MariaDB, meta.json (written after every flush) is enough to never reuse an
     * id; with neither, wait. */
    if (b->rc < 0 && meta != NULL)
        b->rc = 0;
    json_decref(meta);
    ff_free(db_ids);
}

static void
ids_done(void *job)
{
    boot_t *b = job;

    if (b->rc < 0) {
        retry_in(boot_ids, "cannot learn the next ids", b->err);
        return;
    }
    for (size_t i = 0; i < dbf.schema->ntables; i++)
        dbf.next_ids[i] = b->ids[i] > dbf.next_ids[i] ? b->ids[i] : dbf.next_ids[i];
    ff_free(b->ids);
    b->ids = NULL;
    serve();
    if (dbf.rows.ndirty > 0)
        dbf_flush_now(first_flush_done);
}

static void
boot_ids(void)
{
    boot.ids = ff_realloc(boot.ids, (dbf.schema->ntables + 1) * sizeof(*boot.ids));
    memset(boot.ids, 0, (dbf.schema->ntables + 1) * sizeof(*boot.ids));
    ff_worker_submit(dbf.reader, &boot, ids_work, ids_done);
}

/* ---- 2: replay --------------------------------------------------------------------- */

static int
collect_record(void *arg, const uint8_t *payload, size_t len)
{
    boot_t *b = arg;
    ff_buf_put_be32(&b->records, (uint32_t)len);
    ff_buf_put(&b->records, payload, len);
    return 0;
}

static void
replay_work(void *state, void *job)
{
    boot_t *b = job;
    long n = dbf_wal_replay(state, collect_record, b, &b->torn, b->err, sizeof(b->err));
    b->rc = n < 0 ? (int)n : 0;
}

/* Applies the replayed writes; memcached gets their rows, as it did when they were made. */
static void
replay_done(void *job)
{
    boot_t *b = job;
    size_t at = 0, n = 0;

    if (b->rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot replay the log in %s: %s", dbf.waldir, b->err);
        ff_node_exit(1);
    }
    if (b->torn > 0)
        ff_log(FF_LOG_WARN, "log: cut %d torn record(s) (writes never acknowledged)", b->torn);
    while (at + 4 <= b->records.len) {
        uint32_t len = ff_be32(b->records.data + at);
        if (dbf_rows_replay(&dbf.rows, dbf.schema, b->records.data + at + 4, len, dbf.next_ids,
                            b->err, sizeof(b->err)) < 0) {
            ff_log(FF_LOG_ERROR, "log: %s", b->err);
            ff_node_exit(1);
        }
        at += 4 + (size_t)len;
        n++;
    }
    for (size_t i = 0; i < dbf.schema->ntables; i++)
        if (dbf.next_ids[i] > 0)
            dbf.next_ids[i]++; /* from the largest replayed pk to the next free one */
    for (ff_list_t *l = dbf.rows.dirty.next; l != &dbf.rows.dirty; l = l->next) {
        dbf_row_t *r = ff_container_of(l, dbf_row_t, dirty);
        dbf_store_cache_row(r->t, r->pk, r->doc);
    }
    ff_buf_free(&b->records);
    ff_log(FF_LOG_INFO, "log: replayed %zu writes to %zu rows", n, dbf.rows.ndirty);
    boot_ids();
}

/* ---- 1: schema --------------------------------------------------------------------- */

static void
schema_work(void *state, void *job)
{
    boot_t *b = job;

    b->from_cache = false;
    b->columns = dbf_db_columns(state, b->tables, b->err, sizeof(b->err));
    if (b->columns != NULL) {
        dbf_flush_save(dbf.waldir, "schema.json", b->columns);
        return;
    }
    b->columns = load_saved("schema.json");
    b->from_cache = b->columns != NULL;
}

static void
schema_done(void *job)
{
    boot_t *b = job;
    char err[512];

    if (b->columns == NULL) {
        retry_in(boot_schema, "cannot read the tables from MariaDB", b->err);
        return;
    }
    dbf.st.db_up = !b->from_cache;
    if (b->from_cache)
        ff_log(FF_LOG_WARN, "MariaDB: %s; using the columns saved at the last start", b->err);
    dbf.schema = dbf_schema_build(b->tables, b->columns, err, sizeof(err));
    json_decref(b->columns);
    b->columns = NULL;
    if (dbf.schema == NULL) {
        ff_log(FF_LOG_ERROR, "tables: %s", err);
        ff_node_exit(1);
    }
    dbf.next_ids = ff_calloc(dbf.schema->ntables + 1, sizeof(*dbf.next_ids));
    ff_worker_submit(dbf.wal_worker, b, replay_work, replay_done);
}

static void
boot_schema(void)
{
    ff_worker_submit(dbf.reader, &boot, schema_work, schema_done);
}

static int
dbf_start(void)
{
    char err[512], dir[512];

    if (ff_self->wal != NULL)
        snprintf(dir, sizeof(dir), "%s", ff_self->wal);
    else
        snprintf(dir, sizeof(dir), "var/wal/%s", ff_self->name);
    dbf.waldir = ff_strdup(dir);
    dbf_rows_init(&dbf.rows);
    dbf.wal = dbf_wal_open(dbf.waldir, err, sizeof(err));
    if (dbf.wal == NULL) {
        ff_log(FF_LOG_ERROR, "log: %s", err);
        return -1;
    }
    dbf.walpath = realpath(dbf.waldir, NULL); /* for master's report, from any directory */
    dbf.mc = ff_mc_new(ff_conf);
    dbf.st.cache_up = dbf.mc != NULL; /* until an update says otherwise */
    dbf.rdb = dbf_db_new(ff_conf);
    dbf.fdb = dbf_db_new(ff_conf);
    dbf.wal_worker = ff_worker_new(ff_loop, "dbf-log", dbf.wal);
    dbf.cache_worker = ff_worker_new(ff_loop, "dbf-cache", dbf.mc);
    dbf.reader = ff_worker_new(ff_loop, "dbf-read", dbf.rdb);
    dbf.flusher = ff_worker_new(ff_loop, "dbf-flush", dbf.fdb);
    if (!dbf.wal_worker || !dbf.cache_worker || !dbf.reader || !dbf.flusher) {
        ff_log(FF_LOG_ERROR, "cannot start worker threads");
        return -1;
    }
    uv_timer_init(ff_loop, &retry_timer);
    boot.tables = conf_tables_json();
    boot_schema();
    return 0;
}

/* ---- stop -------------------------------------------------------------------------- */

static void final_flush_done(bool ok);

/* Tells master what the stop leaves out of MariaDB, then exits. Before the log was replayed
 * (a stop while booting) the number of rows it holds is not known. */
static void
dbf_exit(void)
{
    uint64_t bytes = dbf_wal_size(dbf.wal);
    json_t *report = json_pack("{s:s}", "log", dbf.walpath ? dbf.walpath : dbf.waldir);
    char *text;

    if (dbf.serving || bytes == 0)
        json_object_set_new(report, "unflushed", json_integer((json_int_t)dbf.rows.ndirty));
    else
        json_object_set_new(report, "unflushed", json_null());
    text = json_dumps(report, JSON_COMPACT);
    ff_node_notify("stopped", text);
    ff_log(FF_LOG_INFO, "stopped: %zu rows left for the log (%llu bytes)", dbf.rows.ndirty,
           (unsigned long long)bytes);
    free(text);
    json_decref(report);
    ff_node_exit(0);
}

static void
final_flush_done(bool ok)
{
    stop_retry_at = uv_now(ff_loop) + (ok ? 0 : 500);
    if (ok && dbf.rows.ndirty == 0) {
        dbf_exit();
    } else if (uv_now(ff_loop) >= stop_deadline) {
        ff_log(FF_LOG_ERROR,
               "stop: MariaDB did not take the last %zu rows; they stay in the log in %s "
               "and are flushed at the next start",
               dbf.rows.ndirty, dbf.waldir);
        dbf_exit();
    }
    /* Otherwise stop_check_cb starts another flush: a retry, or rows written meanwhile. */
}

/* Waits for the boot to replay the log and for the writes in progress to be acknowledged,
 * then flushes until nothing is dirty, until the deadline (and a little past it for a
 * flush that hangs; master kills at 5 s past it). */
static void
stop_check_cb(uv_timer_t *t)
{
    (void)t;
    if (uv_now(ff_loop) >= stop_deadline + (dbf.serving ? STOP_GRACE_MS : 0)) {
        dbf_exit();
        return;
    }
    if (!dbf.serving)
        return;
    if (dbf_store_busy() > 0 || dbf_flush_running() || uv_now(ff_loop) < stop_retry_at)
        return;
    stop_retry_at = UINT64_MAX; /* until final_flush_done */
    dbf_flush_now(final_flush_done);
}

static void
dbf_stop(void)
{
    dbf.stopping = true;
    if (uv_is_active((uv_handle_t *)&listener))
        uv_close((uv_handle_t *)&listener, NULL);
    stop_deadline = uv_now(ff_loop) + (uint64_t)ff_node_stop_timeout();
    uv_timer_init(ff_loop, &stop_timer);
    uv_timer_start(&stop_timer, stop_check_cb, 0, 100);
}

static void
dbf_status(json_t *out)
{
    dbf_flush_status(out);
    json_object_set_new(out, "writes", json_integer((json_int_t)dbf.st.writes));
    json_object_set_new(out, "reads", json_integer((json_int_t)dbf.st.reads));
    json_object_set_new(out, "errors", json_integer((json_int_t)dbf.st.errors));
    json_object_set_new(out, "mariadb", json_boolean(dbf.st.db_up));
    json_object_set_new(out, "memcached", json_boolean(dbf.mc != NULL && dbf.st.cache_up));
    json_object_set_new(out, "ready", json_boolean(dbf.schema != NULL));
}

int
main(int argc, char **argv)
{
    static const ff_node_ops_t ops = {dbf_start, dbf_stop, NULL, dbf_status};
    return ff_node_main(argc, argv, FF_ROLE_DBFRONT, &ops);
}
