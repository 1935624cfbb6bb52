/* stream: a TCP connection with an input buffer and per-loop-turn write batching.
 *
 * Writers append to ff_stream_out(); everything a stream collected during one loop turn
 * leaves in one write (uv_try_write, then uv_write for the rest) from a prepare/check
 * handle, so a burst of small frames costs one syscall. Input is accumulated and handed to
 * on_data, which says how much it consumed. The peer's EOF closes the stream, unless the
 * owner set on_eof: then it is a half-close that the owner answers. Used by bus links, net's
 * client connections and the load client. One loop per process: the flush list is process-wide. */
#ifndef FF_STREAM_H
#define FF_STREAM_H

#include <uv.h>

#include "buf.h"
#include "list.h"

typedef struct ff_stream_s ff_stream_t;
/* Called with every buffered unconsumed byte; returns how many it consumed, or -1 to close
 * the stream. It may close the stream itself (then the return value is ignored). */
typedef long (*ff_stream_data_cb)(ff_stream_t *s, const uint8_t *data, size_t len);
/* Called once the stream is closed and its handle released; the owner may free it then.
 * s->status tells why (0 = closed by us, UV_EOF, or a libuv error). */
typedef void (*ff_stream_close_cb)(ff_stream_t *s);
/* Outcome of ff_stream_connect (0 or a libuv error); on error the stream is closed next. */
typedef void (*ff_stream_connect_cb)(ff_stream_t *s, int status);
/* The peer half-closed the connection (EOF): reading has stopped for good, and every byte
 * it sent before has been offered to on_data. The stream stays open for writing; the owner
 * closes it when it is done (typically ff_stream_close_drained once its last answer is
 * appended). */
typedef void (*ff_stream_eof_cb)(ff_stream_t *s);

struct ff_stream_s {
    uv_tcp_t tcp;
    ff_buf_t in;   /* received, not yet consumed */
    ff_buf_t out;  /* appended since the last flush */
    ff_buf_t wbuf; /* handed to uv_write until its callback */
    uv_write_t wreq;
    uv_connect_t creq;
    ff_list_t dirty; /* linked while out holds unflushed bytes */
    ff_stream_data_cb on_data;
    ff_stream_close_cb on_close;
    ff_stream_connect_cb on_connect;
    /* What EOF from the peer means, chosen by the owner after ff_stream_init. NULL (the
     * default, bus links): the peer is gone; the stream closes with status UV_EOF. Set
     * (net's client connections): a half-close; reading stops and on_eof runs, so that
     * answers to what the peer sent can still be written. */
    ff_stream_eof_cb on_eof;
    void *data; /* the owner's */
    /* When non-zero: the most input the stream holds unconsumed; a peer that sends more
     * before on_data consumed it is closed (UV_ENOBUFS). 0 = no limit but on_data's. */
    size_t in_max;
    int status;
    unsigned writing : 1, closing : 1, paused : 1, drain_close : 1, in_data : 1, eof : 1;
};

/* Installs the flush handles on the process's loop; call once before any stream. */
void ff_stream_loop_init(uv_loop_t *loop);
/* Initialises a stream on the loop. Returns 0 or a libuv error. */
int ff_stream_init(uv_loop_t *loop, ff_stream_t *s, ff_stream_data_cb on_data,
                   ff_stream_close_cb on_close, void *data);
/* Starts reading (after uv_accept into &s->tcp, or from the connect callback). */
int ff_stream_start(ff_stream_t *s);
/* Connects to host:port (numeric IPv4/IPv6); cb runs once with the outcome. Returns 0, or a
 * libuv error and cb never runs. */
int ff_stream_connect(ff_stream_t *s, const char *host, int port, ff_stream_connect_cb cb);
/* The buffer to append outgoing bytes to; it is flushed before the loop next blocks. */
ff_buf_t *ff_stream_out(ff_stream_t *s);
/* Bytes accepted for sending and not yet written to the socket. */
size_t ff_stream_pending(const ff_stream_t *s);
/* Stops / restarts reading; resume re-offers already buffered input to on_data (after EOF
 * it does only that: reading never restarts). */
void ff_stream_pause(ff_stream_t *s);
void ff_stream_resume(ff_stream_t *s);
/* Closes now, dropping unsent bytes; idempotent. on_close runs later. */
void ff_stream_close(ff_stream_t *s, int status);
/* Stops reading and closes once every byte accepted so far has been written. */
void ff_stream_close_drained(ff_stream_t *s);
/* Writes out every stream's pending bytes now (the flush handles do this each turn). */
void ff_stream_flush_all(void);

#endif
