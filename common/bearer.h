/* bearer: the web port's bearer token (RFC 6750). Takes the token out of an Authorization
 * header value and checks it against the configured one. Pure code, no loop and no state
 * beyond the ff_bearer_t the caller keeps.
 *
 * The configured token is kept only as its BLAKE2b-256 digest, and a presented token is
 * hashed the same way before sodium_memcmp compares the two digests: the comparison takes
 * the same time wherever the bytes differ, and the time to hash reveals only the length of
 * what the client sent itself. */
#ifndef FF_BEARER_H
#define FF_BEARER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FF_BEARER_DIGEST 32

/* A configured token, or none. Plain data: copy it, keep it anywhere. */
typedef struct {
    bool set;
    uint8_t digest[FF_BEARER_DIGEST];
} ff_bearer_t;

/* Sets *b to the token (NUL-terminated; NULL = no token). Initialises libsodium on the way
 * (idempotent). Returns 0, or -1 when libsodium cannot be initialised (*b is then "no
 * token"; the caller should refuse to serve). */
int ff_bearer_init(ff_bearer_t *b, const char *token);
/* Finds the token in an Authorization header value of len bytes: the scheme "Bearer" in any
 * case, one or more spaces or tabs, then the token up to the end of the value, without
 * trailing spaces or tabs. Returns 0 with *tok pointing into value and *toklen > 0, or -1
 * for any other scheme or an empty token. */
int ff_bearer_parse(const char *value, size_t len, const char **tok, size_t *toklen);
/* True when b holds no token, or when the Authorization header value (len bytes; NULL =
 * the request had none) carries exactly b's token. */
bool ff_bearer_check(const ff_bearer_t *b, const char *value, size_t len);
/* True when token (NUL-terminated; NULL = none) is b's token, or both are none. */
bool ff_bearer_same(const ff_bearer_t *b, const char *token);

#endif
