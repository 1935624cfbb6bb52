/* ffclient: blocking Firefly wire-protocol client on a non-blocking socket and poll(), with a
 * queue for frames received out of turn, and a one-shot HTTP GET for master's web port. */
#include "ffclient.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

#define FFC_READ_CHUNK 65536
#define FFC_HTTP_MAX (16u << 20)

typedef struct ffc_node_s {
    ffc_msg_t msg;
    struct ffc_node_s *next;
} ffc_node_t;

struct ffc_s {
    int fd;
    ff_frame_proto_t proto; /* max_packet raised to FFC_MAX_RECV: it limits what we accept */
    int send_timeout_ms;
    bool eof;    /* the server closed (or reset) the connection */
    uint8_t *in; /* received bytes not yet handed out: in[off, off + len) */
    size_t off, len, cap;
    ffc_node_t *head, *tail;
    size_t npending;
};

static const ff_frame_proto_t ffc_default = {{'N', '%', '&', '0'}, 9, 0, 65536};

const ff_frame_proto_t *
ffc_proto_default(void)
{
    return &ffc_default;
}

/* Milliseconds on the monotonic clock. */
static int64_t
ffc__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline for a timeout: -1 stands for "never". */
static int64_t
ffc__deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : ffc__now_ms() + timeout_ms;
}

/* Waits for `events` on fd until the deadline. Returns 0 when ready, -ETIMEDOUT, or -errno. */
static int
ffc__poll(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int64_t left;
    int n;

    for (;;) {
        left = deadline < 0 ? -1 : deadline - ffc__now_ms();
        if (deadline >= 0 && left < 0)
            left = 0;
        n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* Connects one address with a deadline. Returns a non-blocking socket, or -errno. */
static int
ffc__connect_addr(const struct addrinfo *ai, int64_t deadline)
{
    int fd, err = 0, one = 1;
    socklen_t elen = sizeof(err);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        err = errno;
        if (err != EINPROGRESS)
            goto fail;
        err = -ffc__poll(fd, POLLOUT, deadline);
        if (err == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
        if (err != 0)
            goto fail;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    close(fd);
    return -err;
}

/* Resolves host:port and connects to the first address that answers. Returns a
 * non-blocking socket or -errno (-ENOENT when the name does not resolve). */
static int
ffc__connect_tcp(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai;
    char service[16];
    int64_t deadline = ffc__deadline(timeout_ms);
    int fd = -ENOENT;

    if (port <= 0 || port > 65535)
        return -EINVAL;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -ENOENT;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = ffc__connect_addr(ai, deadline);
        if (fd >= 0 || fd == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

ffc_t *
ffc_connect(const char *host, int port, const ff_frame_proto_t *proto, int timeout_ms)
{
    ffc_t *c;
    int fd = ffc__connect_tcp(host, port, timeout_ms);

    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    c = ff_calloc(1, sizeof(*c));
    c->fd = fd;
    c->proto = proto != NULL ? *proto : ffc_default;
    c->proto.max_packet = FFC_MAX_RECV;
    c->send_timeout_ms = timeout_ms;
    return c;
}

void
ffc_set_send_timeout(ffc_t *c, int timeout_ms)
{
    c->send_timeout_ms = timeout_ms;
}

/* Writes all of buf to a non-blocking socket before the deadline. Returns 0 or -errno. */
static int
ffc__write_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
    ssize_t n;
    int rc;

    while (len > 0) {
        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == EPIPE ? -ECONNRESET : -errno;
        rc = ffc__poll(fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
ffc_send_raw(ffc_t *c, const void *bytes, size_t len)
{
    /* Once the server has closed, report that rather than letting the kernel take bytes
     * that nobody will read. */
    if (c->eof)
        return -ECONNRESET;
    return ffc__write_all(c->fd, bytes, len, ffc__deadline(c->send_timeout_ms));
}

int
ffc_send(ffc_t *c, uint32_t cmd, const void *body, size_t len)
{
    uint8_t *buf;
    int rc;

    if (len > UINT32_MAX - 4)
        return -EMSGSIZE;
    buf = ff_malloc(FF_FRAME_HEADER + len);
    ff_frame_encode(&c->proto, cmd, (uint32_t)len, buf);
    if (len > 0)
        memcpy(buf + FF_FRAME_HEADER, body, len);
    rc = ffc_send_raw(c, buf, FF_FRAME_HEADER + len);
    ff_free(buf);
    return rc;
}

/* Cuts one complete frame off the input buffer into *out. Returns 1 when it did, 0 when no
 * complete frame is buffered, -EPROTO on a bad header. */
static int
ffc__take_frame(ffc_t *c, ffc_msg_t *out)
{
    ff_frame_t f;
    long total = ff_frame_decode(&c->proto, c->in + c->off, c->len, &f);

    if (total < 0)
        return -EPROTO;
    if (total == 0 || (size_t)total > c->len)
        return 0;
    out->cmd = f.cmd;
    out->len = f.body_len;
    out->body = ff_malloc(f.body_len + 1);
    memcpy(out->body, c->in + c->off + FF_FRAME_HEADER, f.body_len);
    out->body[f.body_len] = '\0';
    c->off += (size_t)total;
    c->len -= (size_t)total;
    return 1;
}

/* Makes room for at least FFC_READ_CHUNK more bytes after the buffered ones. */
static void
ffc__reserve(ffc_t *c)
{
    if (c->off > 0) {
        memmove(c->in, c->in + c->off, c->len);
        c->off = 0;
    }
    if (c->cap - c->len < FFC_READ_CHUNK) {
        c->cap = c->len + FFC_READ_CHUNK;
        c->in = ff_realloc(c->in, c->cap);
    }
}

/* Reads what the socket has, waiting until the deadline. Returns 0 (bytes or EOF seen),
 * -ETIMEDOUT, or -errno. A reset counts as EOF. */
static int
ffc__fill(ffc_t *c, int64_t deadline)
{
    ssize_t n;
    int rc;

    ffc__reserve(c);
    for (;;) {
        n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == 0 || errno == ECONNRESET || errno == EPIPE) {
            c->eof = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        rc = ffc__poll(c->fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

/* Reads the next frame off the socket (ignoring the queue). Returns 0, -ETIMEDOUT,
 * -ECONNRESET once closed with no complete frame left, or -EPROTO. */
static int
ffc__read_frame(ffc_t *c, ffc_msg_t *out, int64_t deadline)
{
    int rc;

    *out = (ffc_msg_t){0, NULL, 0};
    for (;;) {
        rc = ffc__take_frame(c, out);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        if (c->eof)
            return -ECONNRESET;
        rc = ffc__fill(c, deadline);
        if (rc < 0)
            return rc;
    }
}

static void
ffc__enqueue(ffc_t *c, ffc_msg_t *msg)
{
    ffc_node_t *n = ff_malloc(sizeof(*n));

    n->msg = *msg;
    n->next = NULL;
    if (c->tail != NULL)
        c->tail->next = n;
    else
        c->head = n;
    c->tail = n;
    c->npending++;
    *msg = (ffc_msg_t){0, NULL, 0};
}

/* Removes the first queued frame with command `cmd` (any command when any is true) into
 * *out. Returns whether one was found. */
static bool
ffc__dequeue(ffc_t *c, bool any, uint32_t cmd, ffc_msg_t *out)
{
    ffc_node_t *prev = NULL, *n;

    for (n = c->head; n != NULL; prev = n, n = n->next) {
        if (!any && n->msg.cmd != cmd)
            continue;
        *out = n->msg;
        if (prev != NULL)
            prev->next = n->next;
        else
            c->head = n->next;
        if (c->tail == n)
            c->tail = prev;
        c->npending--;
        ff_free(n);
        return true;
    }
    return false;
}

int
ffc_recv(ffc_t *c, ffc_msg_t *out, int timeout_ms)
{
    if (ffc__dequeue(c, true, 0, out))
        return 0;
    return ffc__read_frame(c, out, ffc__deadline(timeout_ms));
}

/* Reads frames off the socket until one has command `cmd`, queueing the others. */
static int
ffc__wait_cmd(ffc_t *c, uint32_t cmd, ffc_msg_t *out, int64_t deadline)
{
    int rc;

    for (;;) {
        rc = ffc__read_frame(c, out, deadline);
        if (rc < 0 || out->cmd == cmd)
            return rc;
        ffc__enqueue(c, out);
    }
}

int
ffc_call(ffc_t *c, uint32_t cmd, const void *body, size_t len, ffc_msg_t *reply, int timeout_ms)
{
    int64_t deadline = ffc__deadline(timeout_ms);
    int rc;

    *reply = (ffc_msg_t){0, NULL, 0};
    rc = ffc_send(c, cmd, body, len);
    if (rc < 0)
        return rc;
    return ffc__wait_cmd(c, cmd, reply, deadline);
}

int
ffc_next_push(ffc_t *c, uint32_t topic, ffc_msg_t *out, int timeout_ms)
{
    if (ffc__dequeue(c, false, topic, out))
        return 0;
    return ffc__wait_cmd(c, topic, out, ffc__deadline(timeout_ms));
}

int
ffc_wait_closed(ffc_t *c, int timeout_ms)
{
    int64_t deadline = ffc__deadline(timeout_ms);
    ffc_msg_t msg;
    int rc;

    for (;;) {
        rc = ffc__read_frame(c, &msg, deadline);
        if (rc == -ECONNRESET)
            return 0;
        if (rc < 0)
            return rc;
        ffc__enqueue(c, &msg);
    }
}

size_t
ffc_pending(const ffc_t *c)
{
    return c->npending;
}

int
ffc_fd(const ffc_t *c)
{
    return c->fd;
}

void
ffc_close(ffc_t *c)
{
    ffc_msg_t msg;

    if (c == NULL)
        return;
    while (ffc__dequeue(c, true, 0, &msg))
        ffc_msg_free(&msg);
    close(c->fd);
    ff_free(c->in);
    ff_free(c);
}

void
ffc_msg_free(ffc_msg_t *msg)
{
    if (msg == NULL)
        return;
    ff_free(msg->body);
    *msg = (ffc_msg_t){0, NULL, 0};
}

const char *
ffc_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case -ETIMEDOUT:
        return "timed out";
    case -ECONNRESET:
        return "the server closed the connection";
    case -EPROTO:
        return "the server sent a malformed frame";
    default:
        return strerror(-rc);
    }
}

/* HTTP: read the whole response, then let http_parser find the status and the body. */

typedef struct {
    char *body;
    size_t len, cap;
    bool done;
} ffc_http_body_t;

static int
ffc__http_on_body(http_parser *p, const char *at, size_t len)
{
    ffc_http_body_t *b = p->data;

    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->body = ff_realloc(b->body, b->cap);
    }
    memcpy(b->body + b->len, at, len);
    b->len += len;
    return 0;
}

static int
ffc__http_on_complete(http_parser *p)
{
    ((ffc_http_body_t *)p->data)->done = true;
    return 0;
}

/* Parses a complete response (the server has closed). Returns 0 or -EPROTO. */
static int
ffc__http_parse(const char *buf, size_t len, int *status, ffc_http_body_t *b)
{
    http_parser_settings s;
    http_parser p;

    http_parser_settings_init(&s);
    s.on_body = ffc__http_on_body;
    s.on_message_complete = ffc__http_on_complete;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = b;
    if (http_parser_execute(&p, &s, buf, len) != len || HTTP_PARSER_ERRNO(&p) != HPE_OK)
        return -EPROTO;
    if (!b->done)
        http_parser_execute(&p, &s, NULL, 0); /* EOF ends a close-delimited body */
    if (!b->done || HTTP_PARSER_ERRNO(&p) != HPE_OK)
        return -EPROTO;
    *status = (int)p.status_code;
    return 0;
}

/* Reads from fd until EOF into a growing buffer. Returns 0 or -errno. */
static int
ffc__read_all(int fd, char **buf, size_t *len, int64_t deadline)
{
    size_t cap = 4096;
    ssize_t n;
    int rc;

    *buf = ff_malloc(cap);
    *len = 0;
    for (;;) {
        if (cap - *len < 4096)
            *buf = ff_realloc(*buf, cap *= 2);
        n = recv(fd, *buf + *len, cap - *len, 0);
        if (n > 0 && (*len += (size_t)n) > FFC_HTTP_MAX)
            return -EMSGSIZE;
        if (n == 0 || (n < 0 && errno == ECONNRESET && *len > 0))
            return 0;
        if (n > 0 || errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        rc = ffc__poll(fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

int
ffc_http_get(const char *host, int port, const char *path, int timeout_ms, int *status, char **body,
             size_t *body_len)
{
    return ffc_http_get_auth(host, port, path, NULL, timeout_ms, status, body, body_len);
}

int
ffc_http_get_auth(const char *host, int port, const char *path, const char *token, int timeout_ms,
                  int *status, char **body, size_t *body_len)
{
    int64_t deadline = ffc__deadline(timeout_ms);
    ffc_http_body_t b = {ff_malloc(1), 0, 1, false};
    char req[8192], *resp = NULL;
    size_t resp_len = 0;
    int fd, n, rc;

    *body = NULL;
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n",
                 path, host, token != NULL ? "Authorization: Bearer " : "",
                 token != NULL ? token : "", token != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req))
        rc = -ENAMETOOLONG;
    else if ((fd = ffc__connect_tcp(host, port, timeout_ms)) < 0)
        rc = fd;
    else {
        rc = ffc__write_all(fd, (const uint8_t *)req, (size_t)n, deadline);
        if (rc == 0)
            rc = ffc__read_all(fd, &resp, &resp_len, deadline);
        close(fd);
    }
    if (rc == 0)
        rc = ffc__http_parse(resp, resp_len, status, &b);
    ff_free(resp);
    if (rc < 0) {
        ff_free(b.body);
        return rc;
    }
    b.body[b.len] = '\0';
    *body = b.body;
    if (body_len != NULL)
        *body_len = b.len;
    return 0;
}
