/* flush: writes dirty rows back to MariaDB every syncInterval seconds.
 *
 * A flush rotates the log (so that every record written so far sits in segments that can
 * be deleted later), takes the dirty rows as they are, applies them in transactions of up
 * to FLUSH_CHUNK rows with the next ids of the incr tables, records those ids in
 * meta.json, and only then deletes the covered log segments. A failed flush leaves rows
 * and log alone and is retried with backoff (1 s doubling to 30 s).
 *
 * A transaction that MariaDB refuses for the data of some row (DBF_DB_REFUSED) is split in
 * halves, each applied on its own, down to the single rows it refuses. Those go to the
 * dead-letter file <wal dir>/rejected.jsonl, fsynced before the flush counts as done (and so
 * before the log segments holding them are deleted), and are then forgotten: a row MariaDB
 * will never take must not hold up the backlog behind it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "dbf.h"
#include "log.h"
#include "node.h"

#define FLUSH_CHUNK 500
#define FLUSH_BACKOFF_MAX_MS 30000

#define FLUSH_DEAD_LETTERS "rejected.jsonl"

/* A change of the snapshot that MariaDB refused, and why. */
typedef struct {
    size_t i;
    char *err;
} refusal_t;

typedef struct {
    dbf_snapshot_t *snap;
    int64_t *ids;
    uint64_t upto;
    uint64_t t0;
    int rc;
    char err[512];
    refusal_t *refused;
    size_t nrefused;
    bool letters_failed; /* MariaDB took the rest, but rejected.jsonl could not be written */
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
refusals_clear(flush_t *f)
{
    for (size_t i = 0; i < f->nrefused; i++)
        ff_free(f->refused[i].err);
    ff_free(f->refused);
    f->refused = NULL;
    f->nrefused = 0;
}

static void
flush_end(flush_t *f, bool ok)
{
    running = false;
    refusals_clear(f);
    ff_free(f->ids);
    ff_free(f);
    flush_notify(ok);
}

/* fsyncs the directory dir, so that a file created or renamed in it survives a crash.
 * Returns 0 or a negative errno. */
static int
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
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
    return rc == 0 ? sync_dir(dir) : rc;
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

/* ---- rows MariaDB refuses --------------------------------------------------------- */

static void
refuse(flush_t *f, size_t i)
{
    f->refused = ff_realloc(f->refused, (f->nrefused + 1) * sizeof(*f->refused));
    f->refused[f->nrefused].i = i;
    f->refused[f->nrefused++].err = ff_strdup(f->err);
}

/* Applies changes [at, at + n) in one transaction; when MariaDB refuses it for the data of
 * some row, applies each half on its own instead, down to the single changes it refuses,
 * which are set aside. A refused row costs about 2 log2(n) transactions. Returns 0, or
 * DBF_DB_FAILED (f->err) for any other failure, which fails the whole flush. */
static int
apply_range(dbf_db_t *db, flush_t *f, size_t at, size_t n)
{
    int rc = dbf_db_apply(db, f->snap->changes + at, n, dbf.schema, f->ids, f->err, sizeof(f->err));

    if (rc != DBF_DB_REFUSED)
        return rc;
    if (n == 1) {
        refuse(f, at);
        return 0;
    }
    if (apply_range(db, f, at, n / 2) < 0)
        return DBF_DB_FAILED;
    return apply_range(db, f, at + n / 2, n - n / 2);
}

static const char *
change_op(int op)
{
    return op == DBF_OP_UPSERT ? "new" : op == DBF_OP_UPDATE ? "upd" : "del";
}

/* The dead-letter lines of the refused changes: one JSON object each. */
static void
dead_letter_lines(const flush_t *f, ff_buf_t *b)
{
    char when[32];
    struct tm tm;
    time_t now = time(NULL);

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (size_t k = 0; k < f->nrefused; k++) {
        const dbf_change_t *ch = &f->snap->changes[f->refused[k].i];
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:O?,s:s}", "time", when, "table", ch->table->name,
                              "op", change_op(ch->op), "key", (json_int_t)ch->pk, "row", ch->row,
                              "error", f->refused[k].err);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line != NULL) {
            ff_buf_put(b, line, strlen(line));
            ff_buf_put(b, "\n", 1);
        }
        free(line);
        json_decref(o);
    }
}

/* Appends the refused changes to <wal dir>/rejected.jsonl and makes them durable (the file,
 * and the directory entry of a new file) before the flush may count as done: the log
 * segments that hold these rows are deleted after it. A failed append is cut back, so that
 * the retry does not leave a row twice (a crash between this and the trim can: the restart
 * refuses the row again). Returns 0 or a negative errno. Flusher thread. */
static int
dead_letter_write(const flush_t *f)
{
    char path[1024];
    ff_buf_t b = {0};
    struct stat st;
    int fd, rc = 0;
    bool sized = false;

    snprintf(path, sizeof(path), "%s/" FLUSH_DEAD_LETTERS, dbf.waldir);
    dead_letter_lines(f, &b);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || fstat(fd, &st) < 0)
        rc = -errno;
    sized = rc == 0;
    for (size_t off = 0; rc == 0 && off < b.len;) {
        ssize_t n = write(fd, b.data + off, b.len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            rc = -EIO;
        off += n > 0 ? (size_t)n : 0;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    if (rc < 0 && sized && ftruncate(fd, st.st_size) == 0)
        fdatasync(fd);
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = sync_dir(dbf.waldir);
    ff_buf_free(&b);
    return rc;
}

static void
apply_work(void *state, void *job)
{
    flush_t *f = job;

    f->rc = 0;
    for (size_t i = 0; f->rc == 0 && i < f->snap->n; i += FLUSH_CHUNK) {
        size_t n = f->snap->n - i < FLUSH_CHUNK ? f->snap->n - i : FLUSH_CHUNK;
        f->rc = apply_range(state, f, i, n);
    }
    if (f->rc == 0 && f->nrefused > 0 && (f->rc = dead_letter_write(f)) < 0) {
        f->letters_failed = true;
        snprintf(f->err, sizeof(f->err), "cannot write %s/" FLUSH_DEAD_LETTERS ": %s", dbf.waldir,
                 strerror(-f->rc));
    }
}

/* On the loop, once the refused rows are in the dead-letter file: logged, counted, marked
 * for dbf_rows_committed to forget, and dropped from memcached unless written again. */
static void
refusals_note(flush_t *f)
{
    dbf_snapshot_t *snap = f->snap;

    if (f->nrefused == 0)
        return;
    snap->refused = ff_calloc(snap->n, sizeof(*snap->refused));
    for (size_t k = 0; k < f->nrefused; k++) {
        size_t i = f->refused[k].i;
        const dbf_change_t *ch = &snap->changes[i];
        ff_log(FF_LOG_ERROR,
               "flush: MariaDB refused %s %" PRId64
               " (%s): %s; the change is in %s/" FLUSH_DEAD_LETTERS " and not in MariaDB",
               ch->table->name, ch->pk, change_op(ch->op), f->refused[k].err, dbf.waldir);
        snap->refused[i] = true;
        dbf.st.rejected++;
        if (snap->rows[i]->version == snap->versions[i])
            dbf_store_cache_row(ch->table, ch->pk, NULL);
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

    dbf.st.db_up = f->rc == 0 || f->letters_failed;
    if (f->rc < 0) {
        retry_later(f, f->err);
        return;
    }
    refusals_note(f);
    dbf_rows_committed(&dbf.rows, f->snap);
    f->snap = NULL;
    backoff_ms = 0;
    dbf.st.flushes++;
    dbf.st.flushed_rows += n - f->nrefused;
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
    json_object_set_new(out, "rejected", json_integer((json_int_t)dbf.st.rejected));
    json_object_set_new(out, "lastFlushMs", json_integer((json_int_t)dbf.st.last_flush_ms));
    json_object_set_new(out, "retryInMs",
                        json_integer(running || next_try_ms <= ff_node_now()
                                         ? 0
                                         : (json_int_t)(next_try_ms - ff_node_now())));
}
