/* ffclient: a small blocking client for Firefly's wire protocol (DESIGN §4), for tests, tools
 * and benchmarks, plus a one-shot HTTP GET for master's web port.
 *
 * One ffc_t is one TCP connection, used by one thread. Every call that waits takes a timeout
 * in milliseconds (< 0 = wait forever, 0 = do not wait) and returns 0 or a negative errno:
 * -ETIMEDOUT when the time ran out, -ECONNRESET when the server closed the connection (an
 * orderly close and a reset look the same to a client), -EPROTO when the server sent bytes
 * that are not a valid frame. Frames that arrive while ffc_call() waits for its reply, or
 * while ffc_next_push() waits for another topic, are queued in arrival order and handed out
 * by the next ffc_recv()/ffc_next_push(); frames already received are always handed out
 * before a closed connection is reported. */
#ifndef FFC_CLIENT_H
#define FFC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* Largest reply or push body a client accepts (the server's maxPacket limits requests). */
#define FFC_MAX_RECV (16u << 20)

typedef struct ffc_s ffc_t;

/* One received frame. The message owns `body` (NUL-terminated for convenience: body[len] is
 * 0, and body is never NULL after a successful receive); release it with ffc_msg_free(). */
typedef struct {
    uint32_t cmd; /* the request's command id for a reply, the topic id for a push */
    uint8_t *body;
    size_t len;
} ffc_msg_t;

/* The frame settings of the shipped config.json (DESIGN §4's example): magic "N%&0",
 * protoVersion 9, serverVersion 0, maxPacket 65536. They are not net's own defaults: a config
 * without netconnect means Firefly's DataPackProtoc(), four zero bytes, 0 and 0 (a client
 * of such a cluster passes its own ff_frame_proto_t). Returns a static object. */
const ff_frame_proto_t *ffc_proto_default(void);

/* Connects to host:port (a name or a numeric IPv4/IPv6 address) within timeout_ms. `proto`
 * is copied; NULL means ffc_proto_default(). timeout_ms also becomes the send timeout (see
 * ffc_set_send_timeout). Returns a new client, or NULL with errno set (ETIMEDOUT,
 * ECONNREFUSED, EHOSTUNREACH, ENOENT for an unknown host name, ...). */
ffc_t *ffc_connect(const char *host, int port, const ff_frame_proto_t *proto, int timeout_ms);

/* Sets how long ffc_send/ffc_send_raw/ffc_call wait for the socket to accept all bytes. */
void ffc_set_send_timeout(ffc_t *c, int timeout_ms);

/* Sends one frame: the 17-byte header, then `len` bytes of body (body may be NULL when len
 * is 0). Writes everything or fails: returns 0, -ETIMEDOUT (part of the frame may have been
 * written), -ECONNRESET (also at once when a receive has already seen the server close), or
 * -EMSGSIZE when len does not fit the 32-bit length field. Does not check len against
 * maxPacket, so tests can send oversized frames. */
int ffc_send(ffc_t *c, uint32_t cmd, const void *body, size_t len);

/* Sends arbitrary bytes as they are (malformed frames, split frames, garbage). Same returns
 * as ffc_send. */
int ffc_send_raw(ffc_t *c, const void *bytes, size_t len);

/* Receives the next frame: the oldest queued one, else the next from the socket. Returns 0
 * with *out filled (the caller frees it), -ETIMEDOUT, -ECONNRESET when the server closed the
 * connection and no frame is left, or -EPROTO. On error *out is {0, NULL, 0}. */
int ffc_recv(ffc_t *c, ffc_msg_t *out, int timeout_ms);

/* Sends a request and waits up to timeout_ms (the whole call) for the next frame that
 * arrives with the same command id: its reply, since a reply carries the request's command
 * id. Frames with other ids are queued for ffc_recv/ffc_next_push; frames queued before the
 * call are never taken as the reply. Do not mix with an ffc_send() of the same cmd whose
 * reply is still unread. Returns like ffc_recv; *reply is owned by the caller. */
int ffc_call(ffc_t *c, uint32_t cmd, const void *body, size_t len, ffc_msg_t *reply,
             int timeout_ms);

/* Waits for the next frame with command id `topic`: first from the queue, then from the
 * socket, queueing the others. Returns like ffc_recv. */
int ffc_next_push(ffc_t *c, uint32_t topic, ffc_msg_t *out, int timeout_ms);

/* Waits until the server closes the connection, queueing any frames that arrive first.
 * Returns 0 once closed (also when it already was), -ETIMEDOUT, or -EPROTO. */
int ffc_wait_closed(ffc_t *c, int timeout_ms);

/* The number of queued frames. */
size_t ffc_pending(const ffc_t *c);

/* The socket, for poll() by callers that multiplex many clients. Do not read from it. */
int ffc_fd(const ffc_t *c);

/* Closes the connection and frees the client and its queued frames. ffc_close(NULL) is a
 * no-op. */
void ffc_close(ffc_t *c);

/* Frees msg->body and resets *msg to {0, NULL, 0}. NULL or an empty message is a no-op. */
void ffc_msg_free(ffc_msg_t *msg);

/* A short text for a return code of this library (-ETIMEDOUT: "timed out", -ECONNRESET:
 * "the server closed the connection", others: strerror). */
const char *ffc_strerror(int rc);

/* One blocking HTTP/1.1 GET (`Connection: close`) of `path` on host:port, reading until the
 * server closes. Returns 0 with *status set to the status code and *body to a new
 * NUL-terminated buffer (free with ff_free; body_len may be NULL), or a negative errno
 * (-ETIMEDOUT, -ECONNREFUSED, -EPROTO for a response that is not HTTP, ...). Accepts
 * Content-Length, chunked and close-delimited bodies. */
int ffc_http_get(const char *host, int port, const char *path, int timeout_ms, int *status,
                 char **body, size_t *body_len);

/* ffc_http_get with `Authorization: Bearer <token>` (master.webtoken) when token is not
 * NULL; NULL sends no Authorization header, exactly like ffc_http_get. -ENAMETOOLONG when
 * path, host and token do not fit in 8 KiB. */
int ffc_http_get_auth(const char *host, int port, const char *path, const char *token,
                      int timeout_ms, int *status, char **body, size_t *body_len);

#endif
