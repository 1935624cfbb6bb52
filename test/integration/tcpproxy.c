/* tcpproxy: a holding TCP proxy on its own thread; see tcpproxy.h. One poll() loop over the
 * listener and both sides of every connection; the test thread only sets requests under the
 * mutex, which the loop takes up within TP_TICK_MS. */
#include "tcpproxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "harness.h"

#define TP_MAX_CONNS 64
#define TP_TICK_MS 10
#define TP_MARKER_MAX 32

typedef struct {
    int cfd, ufd;  /* client side, server side; -1 once closed */
    bool holding;  /* client bytes go to held instead of the server */
    bool at_line;  /* the client's next byte starts a line (for the marker) */
    ff_buf_t held; /* client bytes held back */
} tp_conn_t;

struct tp_s {
    int lfd, port; /* listener; the server's port */
    int lport;     /* the listener's port */
    pthread_t thread;
    pthread_mutex_t mu;
    bool quit, release;         /* requests from the test thread */
    char marker[TP_MARKER_MAX]; /* "" = none armed */
    size_t nheld;               /* bytes held, for tp_held */
    tp_conn_t conns[TP_MAX_CONNS];
    int nconns;
};

static void
write_all(int fd, const uint8_t *p, size_t len)
{
    while (fd >= 0 && len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void
conn_close(tp_conn_t *c)
{
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->ufd >= 0)
        close(c->ufd);
    c->cfd = c->ufd = -1;
    ff_buf_free(&c->held);
}

static void
accept_one(tp_t *p)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int cfd = accept(p->lfd, NULL, NULL), ufd;

    if (cfd < 0)
        return;
    ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_port = htons((uint16_t)p->port);
    if (p->nconns == TP_MAX_CONNS || ufd < 0 ||
        connect(ufd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(cfd);
        if (ufd >= 0)
            close(ufd);
        return;
    }
    p->conns[p->nconns++] = (tp_conn_t){.cfd = cfd, .ufd = ufd, .at_line = true};
}

/* The offset in buf[0..n) where a line starting with p->marker begins, or -1. */
static long
marker_at(const tp_t *p, tp_conn_t *c, const uint8_t *buf, size_t n)
{
    size_t m = strlen(p->marker);

    for (size_t i = 0; m > 0 && i < n; i++) {
        bool line = i == 0 ? c->at_line : i >= 2 && buf[i - 2] == '\r' && buf[i - 1] == '\n';
        if (line && n - i >= m && memcmp(buf + i, p->marker, m) == 0)
            return (long)i;
    }
    c->at_line = n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n';
    return -1;
}

/* Client bytes: to the server, or held (from the marker on, when it is armed). */
static void
from_client(tp_t *p, tp_conn_t *c, const uint8_t *buf, size_t n)
{
    long at = c->holding ? 0 : marker_at(p, c, buf, n);

    if (at < 0) {
        write_all(c->ufd, buf, n);
        return;
    }
    if (!c->holding) {
        p->marker[0] = '\0';
        c->holding = true;
    }
    write_all(c->ufd, buf, (size_t)at);
    ff_buf_put(&c->held, buf + at, n - (size_t)at);
    p->nheld += n - (size_t)at;
}

static void
pump(tp_t *p, tp_conn_t *c, struct pollfd *pc, struct pollfd *pu)
{
    uint8_t buf[65536];
    ssize_t n;

    if (c->cfd >= 0 && (pc->revents & (POLLIN | POLLHUP | POLLERR))) {
        n = read(c->cfd, buf, sizeof(buf));
        if (n > 0) {
            from_client(p, c, buf, (size_t)n);
        } else if (c->holding) {
            close(c->cfd); /* the server side waits for the held bytes */
            c->cfd = -1;
        } else {
            conn_close(c);
            return;
        }
    }
    if (c->ufd >= 0 && (pu->revents & (POLLIN | POLLHUP | POLLERR))) {
        n = read(c->ufd, buf, sizeof(buf));
        if (n > 0)
            write_all(c->cfd, buf, (size_t)n);
        else
            conn_close(c);
    }
}

/* Takes up the test thread's requests; called with the mutex held. */
static void
control(tp_t *p)
{
    for (int i = 0; i < p->nconns && p->release; i++) {
        tp_conn_t *c = &p->conns[i];
        if (!c->holding)
            continue;
        write_all(c->ufd, c->held.data, c->held.len);
        ff_buf_free(&c->held);
        c->holding = false;
        if (c->cfd < 0 && c->ufd >= 0)
            shutdown(c->ufd, SHUT_WR);
    }
    if (p->release) {
        p->nheld = 0;
        p->marker[0] = '\0';
    }
    p->release = false;
}

/* Drops the closed connections from the table. */
static void
compact(tp_t *p)
{
    int keep = 0;

    for (int i = 0; i < p->nconns; i++)
        if (p->conns[i].ufd >= 0)
            p->conns[keep++] = p->conns[i];
        else
            conn_close(&p->conns[i]);
    p->nconns = keep;
}

static void *
tp_main(void *arg)
{
    tp_t *p = arg;
    struct pollfd fds[1 + 2 * TP_MAX_CONNS];

    for (;;) {
        int n = 1;
        pthread_mutex_lock(&p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        control(p);
        compact(p);
        fds[0] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        for (int i = 0; i < p->nconns; i++) {
            fds[n++] = (struct pollfd){.fd = p->conns[i].cfd, .events = POLLIN};
            fds[n++] = (struct pollfd){.fd = p->conns[i].ufd, .events = POLLIN};
        }
        pthread_mutex_unlock(&p->mu);
        if (poll(fds, (nfds_t)n, TP_TICK_MS) <= 0)
            continue;
        pthread_mutex_lock(&p->mu);
        for (int i = 0, k = 1; i < (n - 1) / 2; i++, k += 2)
            pump(p, &p->conns[i], &fds[k], &fds[k + 1]);
        if (fds[0].revents & POLLIN)
            accept_one(p);
        pthread_mutex_unlock(&p->mu);
    }
    for (int i = 0; i < p->nconns; i++)
        conn_close(&p->conns[i]);
    return NULL;
}

tp_t *
tp_start(int port)
{
    tp_t *p = ff_calloc(1, sizeof(*p));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    p->port = port;
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(p->lfd, 64) < 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &len) < 0 ||
        pthread_create(&p->thread, NULL, tp_main, p) != 0) {
        th_ok(0, "tcp proxy to port %d: %s", port, strerror(errno));
        if (p->lfd >= 0)
            close(p->lfd);
        ff_free(p);
        return NULL;
    }
    p->lport = ntohs(sa.sin_port);
    return p;
}

int
tp_port(const tp_t *p)
{
    return p->lport;
}

void
tp_hold_all(tp_t *p)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nconns; i++)
        p->conns[i].holding = true;
    pthread_mutex_unlock(&p->mu);
}

void
tp_hold_at(tp_t *p, const char *marker)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->marker, sizeof(p->marker), "%s", marker);
    pthread_mutex_unlock(&p->mu);
}

size_t
tp_held(tp_t *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->nheld;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void
tp_release(tp_t *p)
{
    bool pending = true;

    pthread_mutex_lock(&p->mu);
    p->release = true;
    pthread_mutex_unlock(&p->mu);
    while (pending) {
        usleep(TP_TICK_MS * 1000);
        pthread_mutex_lock(&p->mu);
        pending = p->release;
        pthread_mutex_unlock(&p->mu);
    }
}

void
tp_stop(tp_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    pthread_mutex_destroy(&p->mu);
    ff_free(p);
}
