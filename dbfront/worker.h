/* worker: a thread that runs jobs one at a time, in submission order, off the loop, and
 * reports each job's completion back on the loop. dbfront owns one per blocking resource
 * (the log file, memcached, a MariaDB connection), so that a resource is never used by two
 * threads at once and never by the loop. */
#ifndef DBF_WORKER_H
#define DBF_WORKER_H

#include <stddef.h>
#include <uv.h>

typedef struct dbf_worker_s dbf_worker_t;

/* Runs on the worker thread; `state` is the worker's own (e.g. its MYSQL *). */
typedef void (*dbf_work_fn)(void *state, void *job);
/* Runs on the loop after the job's work function returned. */
typedef void (*dbf_done_fn)(void *job);

/* Starts a worker thread named `name` (for logs and top). `state` is passed to every job.
 * Returns NULL when the thread cannot be started. */
dbf_worker_t *dbf_worker_new(uv_loop_t *loop, const char *name, void *state);
/* Queues a job: work(state, job) runs on the thread, then done(job) on the loop. Both run
 * exactly once, in submission order relative to the worker's other jobs. */
void dbf_worker_submit(dbf_worker_t *w, void *job, dbf_work_fn work, dbf_done_fn done);
/* Jobs submitted and not yet done. */
size_t dbf_worker_backlog(const dbf_worker_t *w);
/* Finishes the queued jobs (their done callbacks run), stops the thread and frees the
 * worker, then calls closed() on the loop. */
void dbf_worker_close(dbf_worker_t *w, void (*closed)(void));

#endif
