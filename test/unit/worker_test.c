/* worker_test: jobs run in submission order on the worker's own thread, done callbacks run
 * in the same order on the loop, close drains the queue first, and an idle worker does not
 * keep the loop alive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "worker.h"

#define JOBS 2000

typedef struct {
    pthread_t loop_thread;
    int worked[JOBS], nworked; /* written on the worker only */
    int done[JOBS], ndone;     /* written on the loop only */
    int off_loop;              /* jobs that ran on a thread other than the loop's */
    int closed;
    int done_at_close;
    char name[32];
    int slow;
} rec_t;

typedef struct {
    rec_t *r;
    int i;
} job_t;

static rec_t rec;
static job_t jobs[JOBS];
static ff_worker_t *nested;

static void
work(void *state, void *arg)
{
    job_t *j = arg;
    rec_t *r = state;

    if (r->slow) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    r->off_loop += !pthread_equal(pthread_self(), r->loop_thread);
    if (r->nworked == 0)
        pthread_getname_np(pthread_self(), r->name, sizeof(r->name));
    r->worked[r->nworked++] = j->i;
}

static void
done(void *arg)
{
    job_t *j = arg;

    assert_true(pthread_equal(pthread_self(), j->r->loop_thread));
    j->r->done[j->r->ndone++] = j->i;
}

static void
closed(void)
{
    rec.closed++;
    rec.done_at_close = rec.ndone;
}

static void
reset(int slow)
{
    memset(&rec, 0, sizeof(rec));
    rec.loop_thread = pthread_self();
    rec.slow = slow;
    for (int i = 0; i < JOBS; i++) {
        jobs[i].r = &rec;
        jobs[i].i = i;
    }
}

static void
submit_range(ff_worker_t *w, int from, int to)
{
    for (int i = from; i < to; i++)
        ff_worker_submit(w, &jobs[i], work, done);
}

static void
test_order_and_threads(void **state)
{
    uv_loop_t loop;
    ff_worker_t *w;

    (void)state;
    reset(0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_non_null(w = ff_worker_new(&loop, "dbf-a-very-long-worker-name", &rec));
    submit_range(w, 0, JOBS);
    assert_int_equal(ff_worker_backlog(w), JOBS);
    /* The loop runs until every job is done, then the idle worker lets it return. */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ff_worker_backlog(w), 0);
    assert_int_equal(rec.ndone, JOBS);
    for (int i = 0; i < JOBS; i++)
        assert_int_equal(rec.done[i], i);
    ff_worker_close(w, closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(rec.closed, 1);
    /* The join in close orders the worker's writes before these reads. */
    assert_int_equal(rec.nworked, JOBS);
    for (int i = 0; i < JOBS; i++)
        assert_int_equal(rec.worked[i], i);
    assert_int_equal(rec.off_loop, JOBS);
    assert_string_equal(rec.name, "dbf-a-very-long");
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_close_drains(void **state)
{
    uv_loop_t loop;
    ff_worker_t *w;

    (void)state;
    reset(1);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_non_null(w = ff_worker_new(&loop, "dbf-drain", &rec));
    submit_range(w, 0, 200);
    ff_worker_close(w, closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(rec.closed, 1);
    assert_int_equal(rec.done_at_close, 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(rec.done[i], i);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
close_from_done(void *arg)
{
    done(arg);
    if (((job_t *)arg)->i == 9)
        ff_worker_close(nested, closed);
}

/* Closing from a done callback, with jobs still queued behind it: they all finish. */
static void
test_close_from_done_callback(void **state)
{
    uv_loop_t loop;

    (void)state;
    reset(0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_non_null(nested = ff_worker_new(&loop, "dbf-nested", &rec));
    for (int i = 0; i < 50; i++)
        ff_worker_submit(nested, &jobs[i], work, close_from_done);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(rec.closed, 1);
    assert_int_equal(rec.done_at_close, 50);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* An idle worker, closed with nothing queued; closed may be NULL. */
static void
test_close_idle(void **state)
{
    uv_loop_t loop;
    ff_worker_t *w;

    (void)state;
    reset(0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_non_null(w = ff_worker_new(&loop, "dbf-idle", &rec));
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    ff_worker_close(w, closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(rec.closed, 1);
    assert_non_null(w = ff_worker_new(&loop, "dbf-idle2", &rec));
    ff_worker_close(w, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_threads),
        cmocka_unit_test(test_close_drains),
        cmocka_unit_test(test_close_from_done_callback),
        cmocka_unit_test(test_close_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
