/* worker: one pthread per blocking resource, fed by a mutex+condvar FIFO of jobs; finished
 * jobs go to a done FIFO that a uv_async_t drains on the loop, in order.
 *
 * uv_async_send may coalesce wake-ups, so each async callback takes the whole done FIFO.
 * The async handle is referenced only while jobs are pending (or the worker is closing):
 * the loop does not exit with work in flight, and an idle worker does not keep it alive.
 * Closing never blocks the loop: the thread drains its queue, says it has exited through
 * the async, and only then is it joined and the handle closed. */
#include "worker.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "alloc.h"

typedef struct job_s {
    struct job_s *next;
    void *job;
    ff_work_fn work;
    ff_done_fn done;
} job_t;

typedef struct {
    job_t *head, **tail;
} job_fifo_t;

struct ff_worker_s {
    uv_async_t async;
    pthread_t thread;
    void *state;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_fifo_t todo, done; /* under mu */
    int stopping, exited;  /* under mu */
    size_t backlog;        /* loop only: submitted, done callback not yet run */
    int closing;           /* loop only */
    void (*closed)(void);
    char name[16]; /* pthread names are at most 15 bytes */
};

static void
fifo_init(job_fifo_t *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

static void
fifo_push(job_fifo_t *q, job_t *j)
{
    j->next = NULL;
    *q->tail = j;
    q->tail = &j->next;
}

static job_t *
fifo_pop(job_fifo_t *q)
{
    job_t *j = q->head;

    if (j && (q->head = j->next) == NULL)
        q->tail = &q->head;
    return j;
}

/* Takes every job of q, oldest first, leaving q empty. */
static job_t *
fifo_take(job_fifo_t *q)
{
    job_t *j = q->head;

    fifo_init(q);
    return j;
}

static void *
worker_main(void *arg)
{
    ff_worker_t *w = arg;
    job_t *j;

    pthread_setname_np(pthread_self(), w->name);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->todo.head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if ((j = fifo_pop(&w->todo)) == NULL)
            break;
        pthread_mutex_unlock(&w->mu);
        j->work(w->state, j->job);
        pthread_mutex_lock(&w->mu);
        fifo_push(&w->done, j);
        uv_async_send(&w->async);
    }
    w->exited = 1;
    uv_async_send(&w->async);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void
close_cb(uv_handle_t *h)
{
    ff_worker_t *w = h->data;
    void (*closed)(void) = w->closed;

    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    ff_free(w);
    if (closed)
        closed();
}

static void
async_cb(uv_async_t *h)
{
    ff_worker_t *w = h->data;
    job_t *j, *next;
    int exited;

    pthread_mutex_lock(&w->mu);
    j = fifo_take(&w->done);
    exited = w->exited;
    pthread_mutex_unlock(&w->mu);
    for (; j; j = next) {
        next = j->next;
        w->backlog--;
        if (j->done)
            j->done(j->job);
        ff_free(j);
    }
    if (w->backlog == 0 && !w->closing)
        uv_unref((uv_handle_t *)h);
    if (exited) {
        /* The thread has left its loop; the join only waits for it to return. */
        pthread_join(w->thread, NULL);
        uv_close((uv_handle_t *)h, close_cb);
    }
}

/* Starts the thread with every asynchronous signal blocked: they belong to the loop's
 * thread, and blocking client libraries then never see EINTR or die of SIGPIPE. Faults stay
 * unblocked so that crashes (and the sanitizers) behave as usual. */
static int
start_thread(ff_worker_t *w)
{
    sigset_t set, old;
    int rc;

    sigfillset(&set);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

ff_worker_t *
ff_worker_new(uv_loop_t *loop, const char *name, void *state)
{
    ff_worker_t *w = ff_calloc(1, sizeof(*w));
    size_t n = strlen(name);

    memcpy(w->name, name, n < sizeof(w->name) ? n : sizeof(w->name) - 1);
    w->state = state;
    fifo_init(&w->todo);
    fifo_init(&w->done);
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail_mutex;
    if (pthread_cond_init(&w->cv, NULL) != 0)
        goto fail_cond;
    if (uv_async_init(loop, &w->async, async_cb) < 0)
        goto fail_async;
    w->async.data = w;
    uv_unref((uv_handle_t *)&w->async);
    if (start_thread(w) < 0)
        goto fail_thread;
    return w;

fail_thread:
    /* close_cb frees the worker; closed is NULL, so nobody is called. */
    uv_close((uv_handle_t *)&w->async, close_cb);
    return NULL;
fail_async:
    pthread_cond_destroy(&w->cv);
fail_cond:
    pthread_mutex_destroy(&w->mu);
fail_mutex:
    ff_free(w);
    return NULL;
}

void
ff_worker_submit(ff_worker_t *w, void *job, ff_work_fn work, ff_done_fn done)
{
    job_t *j = ff_malloc(sizeof(*j));

    /* After close the thread may already be gone, and the job would never run. */
    assert(!w->closing);
    j->job = job;
    j->work = work;
    j->done = done;
    if (w->backlog++ == 0)
        uv_ref((uv_handle_t *)&w->async);
    pthread_mutex_lock(&w->mu);
    fifo_push(&w->todo, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

size_t
ff_worker_backlog(const ff_worker_t *w)
{
    return w->backlog;
}

void
ff_worker_close(ff_worker_t *w, void (*closed)(void))
{
    assert(!w->closing);
    w->closing = 1;
    w->closed = closed;
    uv_ref((uv_handle_t *)&w->async);
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}
