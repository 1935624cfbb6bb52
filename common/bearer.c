/* bearer: the web port's bearer token: header parsing and a constant-time check. */
#include "bearer.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#define BEARER_SCHEME "Bearer"
#define BEARER_SCHEME_LEN (sizeof(BEARER_SCHEME) - 1)

static void
bearer_digest(const void *token, size_t len, uint8_t out[FF_BEARER_DIGEST])
{
    crypto_generichash(out, FF_BEARER_DIGEST, token, len, NULL, 0);
}

int
ff_bearer_init(ff_bearer_t *b, const char *token)
{
    memset(b, 0, sizeof(*b));
    if (sodium_init() < 0)
        return -1;
    if (token == NULL)
        return 0;
    b->set = true;
    bearer_digest(token, strlen(token), b->digest);
    return 0;
}

static bool
bearer_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

int
ff_bearer_parse(const char *value, size_t len, const char **tok, size_t *toklen)
{
    size_t i = BEARER_SCHEME_LEN;

    if (len <= BEARER_SCHEME_LEN || strncasecmp(value, BEARER_SCHEME, BEARER_SCHEME_LEN) != 0 ||
        !bearer_is_ws(value[i]))
        return -1;
    while (i < len && bearer_is_ws(value[i]))
        i++;
    while (len > i && bearer_is_ws(value[len - 1]))
        len--;
    if (i == len)
        return -1;
    *tok = value + i;
    *toklen = len - i;
    return 0;
}

bool
ff_bearer_check(const ff_bearer_t *b, const char *value, size_t len)
{
    uint8_t got[FF_BEARER_DIGEST];
    const char *tok;
    size_t toklen;
    bool ok;

    if (!b->set)
        return true;
    if (value == NULL || ff_bearer_parse(value, len, &tok, &toklen) < 0)
        return false;
    bearer_digest(tok, toklen, got);
    ok = sodium_memcmp(got, b->digest, FF_BEARER_DIGEST) == 0;
    sodium_memzero(got, sizeof(got));
    return ok;
}

bool
ff_bearer_same(const ff_bearer_t *b, const char *token)
{
    uint8_t got[FF_BEARER_DIGEST];

    if (token == NULL || !b->set)
        return token == NULL && !b->set;
    bearer_digest(token, strlen(token), got);
    return sodium_memcmp(got, b->digest, FF_BEARER_DIGEST) == 0;
}
