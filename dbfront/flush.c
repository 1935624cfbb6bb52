/* flush: writes dirty rows back to MariaDB every syncInterval seconds.
 *
 * A flush rotates the log (so that every record written so far sits in segments that can
 * be deleted later), takes the dirty rows as they are, applies them in transactions of up
 * to FLUSH_CHUNK rows with the next ids of the incr tables, records those ids in
 * meta.json, and only then deletes the covered log segments. A failed flush leaves rows
 * and log alone and is retried with backoff (1 s doubling to 30 s). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dbf.h"
#include "log.h"
#include "node.h"

#define FLUSH_CHUNK 500
#define FLUSH_BACKOFF_MAX_MS 30000

typedef struct {
    dbf_snapshot_t *snap;
    int64_t *ids;
    uint64_t upto;
    uint64_t t0;
    int rc;
    char err[512];
} flush_t;

typedef void (*flush_done_fn)(bool ok);

static uv_timer_t timer;
static bool running;
static uint64_t backoff_ms, next_try_ms;
static flush_done_fn *waiters;
static size_t nwaiters;

static void flush_begin(void);

static void
flush_notify(bool ok)
{
    flush_done_fn *w = waiters;
    size_t n = nwaiters;

    waiters = NULL;
    nwaiters = 0;
    for (size_t i = 0; i < n; i++)
        w[i](ok);
    ff_free(w);
}

static void
flush_end(flush_t *f, bool ok)
{
    running = false;
    ff_free(f->ids);
    ff_free(f);
    flush_notify(ok);
}

int
dbf_flush_save(const char *dir, const char *name, json_t *json)
{
    char path[1024], tmp[1040];
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (json_dumpfd(json, fd, JSON_COMPACT) < 0)
        rc = -EIO;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    return rc;
}

static void
trim_work(void *state, void *job)
{
    flush_t *f = job;
    json_t *ids = json_object();

    for (size_t i = 0; i < dbf.schema->ntables; i++)
        if (dbf.schema->tables[i].incr)
            json_object_set_new(ids, dbf.schema->tables[i].name, json_integer(f->ids[i]));
    /* The ids go to meta.json before the log records that allocated them are deleted. */
    f->rc = dbf_flush_save(dbf.waldir, "meta.json", ids);
    if (f->rc == 0)
        f->rc = dbf_wal_trim(state, f->upto);
    json_decref(ids);
}

static void
trim_done(void *job)
{
    flush_t *f = job;

    if (f->rc < 0)
        ff_log(FF_LOG_WARN, "flush: cannot trim the log: %s (it is trimmed at the next flush)",
               strerror(-f->rc));
    flush_end(f, true);
}

static void
apply_work(void *state, void *job)
{
    flush_t *f = job;

    f->rc = 0;
    for (size_t i = 0; f->rc == 0 && i < f->snap->n; i += FLUSH_CHUNK) {
        size_t n = f->snap->n - i < FLUSH_CHUNK ? f->snap->n - i : FLUSH_CHUNK;
        f->rc = dbf_db_apply(state, f->snap->changes + i, n, dbf.schema, f->ids, f->err,
                             sizeof(f->err));
    }
}

static void
retry_later(flush_t *f, const char *what)
{
    backoff_ms = backoff_ms ? backoff_ms * 2 : 1000;
    if (backoff_ms > FLUSH_BACKOFF_MAX_MS)
        backoff_ms = FLUSH_BACKOFF_MAX_MS;
    next_try_ms = ff_node_now() + backoff_ms;
    dbf.st.flush_failures++;
    ff_log(FF_LOG_WARN,
           "flush of %zu rows failed: %s; %zu rows wait in the log, retrying in %llu ms",
           f->snap->n, what, dbf.rows.ndirty, (unsigned long long)backoff_ms);
    dbf_rows_abandon(f->snap);
    flush_end(f, false);
}

static void
apply_done(void *job)
{
    flush_t *f = job;
    size_t n = f->snap->n;

    dbf.st.db_up = f->rc == 0;
    if (f->rc < 0) {
        retry_later(f, f->err);
        return;
    }
    dbf_rows_committed(&dbf.rows, f->snap);
    f->snap = NULL;
    backoff_ms = 0;
    dbf.st.flushes++;
    dbf.st.flushed_rows += n;
    dbf.st.last_flush_ms = ff_node_now() - f->t0;
    ff_log(FF_LOG_DEBUG, "flushed %zu rows in %llu ms", n,
           (unsigned long long)dbf.st.last_flush_ms);
    ff_worker_submit(dbf.wal_worker, f, trim_work, trim_done);
}

static void
rotate_work(void *state, void *job)
{
    flush_t *f = job;
    f->rc = dbf_wal_rotate(state, &f->upto);
}

static void
rotate_done(void *job)
{
    flush_t *f = job;

    if (f->rc < 0) {
        retry_later(f, strerror(-f->rc));
        return;
    }
    ff_worker_submit(dbf.flusher, f, apply_work, apply_done);
}

static void
flush_begin(void)
{
    dbf_snapshot_t *snap;
    flush_t *f;

    if (running)
        return;
    snap = dbf_rows_snapshot(&dbf.rows);
    if (snap == NULL) {
        flush_notify(true);
        return;
    }
    running = true;
    f = ff_calloc(1, sizeof(*f));
    f->snap = snap;
    f->t0 = ff_node_now();
    f->ids = ff_malloc((dbf.schema->ntables + 1) * sizeof(*f->ids));
    memcpy(f->ids, dbf.next_ids, dbf.schema->ntables * sizeof(*f->ids));
    /* Rotation is queued behind every append submitted so far: the segments it closes hold
     * only writes that are in this snapshot (or older ones, already in MariaDB). */
    ff_worker_submit(dbf.wal_worker, f, rotate_work, rotate_done);
}

static void
timer_cb(uv_timer_t *t)
{
    if (!running && uv_now(t->loop) >= next_try_ms)
        flush_begin();
}

void
dbf_flush_start(int interval_s)
{
    uv_timer_init(ff_loop, &timer);
    uv_timer_start(&timer, timer_cb, (uint64_t)interval_s * 1000, (uint64_t)interval_s * 1000);
    uv_unref((uv_handle_t *)&timer);
}

void
dbf_flush_now(void (*done)(bool ok))
{
    waiters = ff_realloc(waiters, (nwaiters + 1) * sizeof(*waiters));
    waiters[nwaiters++] = done;
    flush_begin();
}

bool
dbf_flush_running(void)
{
    return running;
}

void
dbf_flush_status(json_t *out)
{
    json_object_set_new(out, "dirty", json_integer((json_int_t)dbf.rows.ndirty));
    json_object_set_new(out, "walBytes", json_integer((json_int_t)dbf_wal_size(dbf.wal)));
    json_object_set_new(out, "flushes", json_integer((json_int_t)dbf.st.flushes));
    json_object_set_new(out, "flushFailures", json_integer((json_int_t)dbf.st.flush_failures));
    json_object_set_new(out, "flushedRows", json_integer((json_int_t)dbf.st.flushed_rows));
    json_object_set_new(out, "lastFlushMs", json_integer((json_int_t)dbf.st.last_flush_ms));
    json_object_set_new(out, "retryInMs",
                        json_integer(running || next_try_ms <= ff_node_now()
                                         ? 0
                                         : (json_int_t)(next_try_ms - ff_node_now())));
}
