/* webreq: http_parser callbacks and limits for one request on master's web port. */
#include "webreq.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "alloc.h"

/* A URL, or a piece of one. http_parser calls this when the URL ends, at the byte that ends
 * it, and when its input ends inside the URL, with the bytes so far: only a call that
 * stops short of the input's end is its last. One too long is not refused here but once
 * it has ended (see webreq_feed), and its bytes past the limit are dropped. */
static int
webreq_on_url(http_parser *p, const char *at, size_t len)
{
    webreq_t *r = p->data;

    if (at + len < r->feed_end)
        r->url_done = true;
    if (r->url_long || len > WEB_MAX_URL - r->url_len) {
        r->url_long = true;
        return 0;
    }
    memcpy(r->url + r->url_len, at, len);
    r->url_len += len;
    return 0;
}

/* A header name, or a piece of one. Only enough of it is kept to tell Authorization. */
static int
webreq_on_field(http_parser *p, const char *at, size_t len)
{
    webreq_t *r = p->data;

    if (r->headers_done)
        return 0;
    if (r->in_value) {
        r->in_value = false;
        r->field_len = 0;
    }
    if (r->field_len <= WEBREQ_AUTH_NAME_LEN && len <= WEBREQ_AUTH_NAME_LEN - r->field_len)
        memcpy(r->field + r->field_len, at, len);
    r->field_len += len;
    return 0;
}

/* The name is complete: an Authorization header gets a buffer, a second one spoils both. */
static void
webreq_value_begin(webreq_t *r)
{
    r->in_value = true;
    r->field_is_auth = r->field_len == WEBREQ_AUTH_NAME_LEN &&
                       strncasecmp(r->field, WEBREQ_AUTH_NAME, WEBREQ_AUTH_NAME_LEN) == 0;
    if (!r->field_is_auth)
        return;
    if (r->auth_given) {
        r->auth_bad = true;
        r->field_is_auth = false;
        return;
    }
    r->auth_given = true;
    r->auth = ff_malloc(WEB_MAX_AUTH);
    r->auth_len = 0;
}

/* A header value, or a piece of one; only Authorization's is kept, up to WEB_MAX_AUTH. */
static int
webreq_on_value(http_parser *p, const char *at, size_t len)
{
    webreq_t *r = p->data;

    if (r->headers_done)
        return 0;
    if (!r->in_value)
        webreq_value_begin(r);
    if (!r->field_is_auth || r->auth_bad)
        return 0;
    if (len > WEB_MAX_AUTH - r->auth_len) {
        r->auth_bad = true;
        return 0;
    }
    memcpy(r->auth + r->auth_len, at, len);
    r->auth_len += len;
    return 0;
}

static int
webreq_on_complete(http_parser *p)
{
    webreq_t *r = p->data;

    r->complete = true;
    /* One request per connection: bytes past it (a pipelined request) are never parsed. */
    http_parser_pause(p, 1);
    return 0;
}

/* The headers are complete. A declared body past the limit is refused before it is read. */
static int
webreq_on_headers(http_parser *p)
{
    webreq_t *r = p->data;

    r->headers_done = true;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > WEB_MAX_REQUEST) {
        r->too_large = true;
        return -1;
    }
    return 0;
}

static const http_parser_settings webreq_settings = {
    .on_url = webreq_on_url,
    .on_header_field = webreq_on_field,
    .on_header_value = webreq_on_value,
    .on_headers_complete = webreq_on_headers,
    .on_message_complete = webreq_on_complete,
};

void
webreq_init(webreq_t *r)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

int
webreq_feed(webreq_t *r, const char *data, size_t len, const char **what, const char **detail)
{
    size_t used;
    enum http_errno err;

    r->feed_end = data + len;
    used = http_parser_execute(&r->parser, &webreq_settings, data, len);
    err = HTTP_PARSER_ERRNO(&r->parser);
    r->nread += used;
    *what = *detail = NULL;
    /* A long URL counts once it has ended: http_parser hands a URL over in pieces as its
     * input ends, but not at all when a byte of it is invalid, so an answer decided earlier
     * would depend on how the bytes were cut into reads (400 or 414 for the same request). */
    if (r->url_long && r->url_done) {
        *what = "uri too long";
        *detail = "over 2048 bytes";
        return 414;
    }
    if (r->too_large || r->nread > WEB_MAX_REQUEST) {
        *what = "request too large";
        *detail = "over 16384 bytes";
        return 413;
    }
    if (r->complete)
        return 200;
    if (err != HPE_OK) {
        *what = "bad request";
        *detail = http_errno_description(err);
        return 400;
    }
    return 0;
}

bool
webreq_authorize(webreq_t *r, const ff_bearer_t *token)
{
    bool ok = !r->auth_bad && ff_bearer_check(token, r->auth, r->auth_len);

    webreq_forget(r);
    return ok;
}

int
webreq_path(webreq_t *r)
{
    struct http_parser_url u;

    http_parser_url_init(&u);
    if (http_parser_parse_url(r->url, r->url_len, 0, &u) != 0)
        return -1;
    if (u.field_set & (1 << UF_PATH)) {
        memmove(r->url, r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
        r->url[u.field_data[UF_PATH].len] = '\0';
    } else {
        snprintf(r->url, sizeof(r->url), "/");
    }
    return 0;
}

void
webreq_forget(webreq_t *r)
{
    if (r->auth == NULL)
        return;
    sodium_memzero(r->auth, WEB_MAX_AUTH);
    ff_free(r->auth);
    r->auth = NULL;
}
