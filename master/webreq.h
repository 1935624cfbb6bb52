/* webreq: the parsing half of master's web port: one HTTP/1.1 request, fed to http_parser
 * in pieces as it arrives, held to the port's limits (16 KiB in all, headers included; a
 * URL of at most 2 KiB; a declared body over the limit refused before it is read), with
 * the one Authorization header kept for the bearer check and wiped after it. Pure code: no
 * loop and no socket (web.c owns the connection), so tests and fuzzers can drive it. */
#ifndef MASTER_WEBREQ_H
#define MASTER_WEBREQ_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#include "bearer.h"
#include "conf.h"

#define WEB_MAX_REQUEST (16 * 1024)
#define WEB_MAX_URL 2048
/* An Authorization value: "Bearer ", the longest token the config accepts, white space. */
#define WEB_MAX_AUTH (FF_CONF_SECRET_MAX + 64)

#define WEBREQ_AUTH_NAME "authorization"
#define WEBREQ_AUTH_NAME_LEN (sizeof(WEBREQ_AUTH_NAME) - 1)

typedef struct {
    http_parser parser;
    size_t nread; /* request bytes parsed so far */
    char url[WEB_MAX_URL + 1];
    size_t url_len;
    bool url_long; /* over WEB_MAX_URL: the rest of it is dropped */
    bool url_done; /* the URL has ended (the parser is past it) */
    bool complete, too_large;
    /* The header being parsed: its name's first bytes and full length, and which of
     * http_parser's callbacks came last (a name or a value may arrive in pieces). */
    char field[WEBREQ_AUTH_NAME_LEN];
    size_t field_len;
    bool in_value, field_is_auth;
    bool headers_done; /* trailers of a chunked body are not headers: ignored */
    char *auth;        /* the Authorization value so far (WEB_MAX_AUTH bytes), NULL = none yet */
    size_t auth_len;
    bool auth_given;      /* the request had an Authorization header */
    bool auth_bad;        /* ...twice, or one over WEB_MAX_AUTH: never authorised */
    const char *feed_end; /* the end of the bytes being fed, for webreq_on_url */
} webreq_t;

/* Starts parsing a new request into r (which needs no other set-up). */
void webreq_init(webreq_t *r);
/* Feeds the next len > 0 bytes the client sent. Returns 0 while the request is incomplete,
 * 200 once it is complete (bytes past its end are never parsed), or the status to answer
 * with, 400, 413 or 414, and a short *what ("bad request") and *detail for the log line.
 * The answer depends only on the bytes, never on how they were cut into reads: 414 once a
 * URL over the limit has ended, 413 past 16 KiB, 400 for anything http_parser refuses.
 * Feed nothing after a non-zero return. */
int webreq_feed(webreq_t *r, const char *data, size_t len, const char **what, const char **detail);
/* For a complete request: true when `token` has none set, or when the request carried one
 * Authorization header with exactly that bearer token. Wipes what the client sent. */
bool webreq_authorize(webreq_t *r, const ff_bearer_t *token);
/* For a complete request: cuts r->url down to its path ("/" when it has none). Returns 0,
 * or -1 when the URL does not parse. */
int webreq_path(webreq_t *r);
/* Wipes and frees what the client sent as its token; idempotent. */
void webreq_forget(webreq_t *r);

#endif
