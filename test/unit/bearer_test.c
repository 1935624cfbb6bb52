/* bearer_test: the web port's bearer token: which Authorization values carry a token, and
 * that only the configured token passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bearer.h"

#define TOKEN "s3cret-token-0123456789"

/* Parses a NUL-terminated value; returns the token as a new static string, or NULL. */
static const char *
parse(const char *value)
{
    static char out[256];
    const char *tok;
    size_t len;

    if (ff_bearer_parse(value, strlen(value), &tok, &len) < 0)
        return NULL;
    memcpy(out, tok, len);
    out[len] = '\0';
    return out;
}

static bool
check(const ff_bearer_t *b, const char *value)
{
    return ff_bearer_check(b, value, value != NULL ? strlen(value) : 0);
}

static void
test_parse_ok(void **state)
{
    (void)state;
    assert_string_equal(parse("Bearer abc"), "abc");
    assert_string_equal(parse("bearer abc"), "abc");
    assert_string_equal(parse("BEARER abc"), "abc");
    assert_string_equal(parse("Bearer \t  abc  \t"), "abc");
    assert_string_equal(parse("Bearer a b"), "a b");
    assert_string_equal(parse("Bearer\tabc"), "abc");
}

static void
test_parse_refused(void **state)
{
    (void)state;
    assert_null(parse(""));
    assert_null(parse("Bearer"));
    assert_null(parse("Bearer "));
    assert_null(parse("Bearer    \t "));
    assert_null(parse("Bearerabc"));
    assert_null(parse("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
    assert_null(parse("Bear abc"));
    assert_null(parse(" Bearer abc"));
}

/* The value is not NUL-terminated: nothing past len may be read or counted. */
static void
test_parse_length_bound(void **state)
{
    const char value[] = "Bearer abcdef";
    const char *tok;
    size_t len;

    (void)state;
    assert_int_equal(ff_bearer_parse(value, 10, &tok, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(tok, "abc", 3);
    assert_int_equal(ff_bearer_parse(value, 6, &tok, &len), -1);
}

static void
test_check(void **state)
{
    ff_bearer_t b;

    (void)state;
    assert_int_equal(ff_bearer_init(&b, TOKEN), 0);
    assert_true(b.set);
    assert_true(check(&b, "Bearer " TOKEN));
    assert_true(check(&b, "bearer  " TOKEN " "));
    assert_false(check(&b, NULL));
    assert_false(check(&b, ""));
    assert_false(check(&b, TOKEN));
    assert_false(check(&b, "Bearer " TOKEN "x"));
    assert_false(check(&b, "Bearer s3cret-token-012345678"));
    assert_false(check(&b, "Bearer S3cret-token-0123456789"));
    assert_false(check(&b, "Basic " TOKEN));
}

static void
test_no_token_passes_all(void **state)
{
    ff_bearer_t b;

    (void)state;
    assert_int_equal(ff_bearer_init(&b, NULL), 0);
    assert_false(b.set);
    assert_true(check(&b, NULL));
    assert_true(check(&b, "Bearer whatever"));
    assert_true(check(&b, "garbage"));
}

static void
test_same(void **state)
{
    ff_bearer_t b, none;

    (void)state;
    assert_int_equal(ff_bearer_init(&b, TOKEN), 0);
    assert_int_equal(ff_bearer_init(&none, NULL), 0);
    assert_true(ff_bearer_same(&b, TOKEN));
    assert_false(ff_bearer_same(&b, TOKEN "1"));
    assert_false(ff_bearer_same(&b, NULL));
    assert_true(ff_bearer_same(&none, NULL));
    assert_false(ff_bearer_same(&none, TOKEN));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_length_bound),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_no_token_passes_all),
        cmocka_unit_test(test_same),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
