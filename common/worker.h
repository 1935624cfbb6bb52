/* worker: a thread that runs jobs one at a time, in submission order, off the loop, and
 * reports each job's completion back on the loop. dbfront and the store client own one per blocking
 * resource (the log file, memcached, a MariaDB connection), so that a resource is never used by two
 * threads at once and never by the loop. */
#ifndef FF_WORKER_H
#define FF_WORKER_H

#include <stddef.h>
#include <uv.h>

typedef struct ff_worker_s ff_worker_t;

/* Runs on the worker thread; `state` is the worker's own (e.g. its MYSQL *). */
typedef void (*ff_work_fn)(void *state, void *job);
/* Runs on the loop after the job's work function returned. */
typedef void (*ff_done_fn)(void *job);

/* Starts a worker thread named `name` (for logs and top). `state` is passed to every job.
 * Returns NULL when the thread cannot be started. */
ff_worker_t *ff_worker_new(uv_loop_t *loop, const char *name, void *state);
/* Queues a job: work(state, job) runs on the thread, then done(job) on the loop. Both run
 * exactly once, in submission order relative to the worker's other jobs. */
void ff_worker_submit(ff_worker_t *w, void *job, ff_work_fn work, ff_done_fn done);
/* Jobs submitted and not yet done. */
size_t ff_worker_backlog(const ff_worker_t *w);
/* Finishes the queued jobs (their done callbacks run), stops the thread and frees the
 * worker, then calls closed() on the loop. */
void ff_worker_close(ff_worker_t *w, void (*closed)(void));

#endif
