/* auth_test: the bus handshake's frames (fixed bytes, names, prefixes) and its proofs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static const char secret[] = "0123456789abcdef0123456789abcdef";

static void
test_challenge_roundtrip(void **state)
{
    uint8_t nonce[FF_AUTH_NONCE], got[FF_AUTH_NONCE], frame[FF_AUTH_CHALLENGE_LEN];
    char name[FF_AUTH_NAME];

    (void)state;
    ff_auth_nonce(nonce);
    ff_auth_put_challenge(frame, nonce, "game1");
    /* The length prefix says what follows: a fixed-size msgpack array. */
    assert_int_equal(frame[3], FF_AUTH_CHALLENGE_LEN - 4);
    for (size_t n = 0; n <= sizeof(frame); n++)
        assert_int_equal(ff_auth_check_challenge(frame, n), 0);
    assert_int_equal(ff_auth_get_challenge(frame, got, name), 0);
    assert_memory_equal(got, nonce, FF_AUTH_NONCE);
    assert_string_equal(name, "game1");
    /* Not a proof, from its first byte that differs. */
    assert_int_equal(ff_auth_check_proof(frame, sizeof(frame)), -1);
}

/* Anything else first is refused as soon as a fixed byte differs, not after a full frame:
 * an ordinary bus frame, a 64 MiB length prefix, HTTP. */
static void
test_other_bytes_refused(void **state)
{
    static const uint8_t hello[] = {0x00, 0x00, 0x00, 0x08, 0x96, 0x01};
    static const uint8_t huge[] = {0x04, 0x00, 0x00, 0x00};
    static const uint8_t http[] = "GET / HTTP/1.1\r\n";

    (void)state;
    assert_int_equal(ff_auth_check_challenge(hello, 4), -1);
    assert_int_equal(ff_auth_check_challenge(huge, 1), -1);
    assert_int_equal(ff_auth_check_challenge(http, 1), -1);
    assert_int_equal(ff_auth_check_challenge(hello, 3), 0); /* 00 00 00 may still be one */
    assert_int_equal(ff_auth_check_proof(hello, sizeof(hello)), -1);
}

static void
test_bad_names(void **state)
{
    uint8_t nonce[FF_AUTH_NONCE] = {0}, frame[FF_AUTH_CHALLENGE_LEN];
    char name[FF_AUTH_NAME];
    size_t name_at = FF_AUTH_CHALLENGE_LEN - FF_AUTH_NAME;

    (void)state;
    assert_false(ff_auth_name_ok(""));
    assert_false(ff_auth_name_ok("a b"));
    assert_false(ff_auth_name_ok("a\nb"));
    assert_true(ff_auth_name_ok("game-1_x"));
    ff_auth_put_challenge(frame, nonce, "gate");
    frame[name_at + 10] = 'x'; /* a byte after the terminating NUL */
    assert_int_equal(ff_auth_get_challenge(frame, nonce, name), -1);
    memset(frame + name_at, 0, FF_AUTH_NAME); /* empty */
    assert_int_equal(ff_auth_get_challenge(frame, nonce, name), -1);
    memset(frame + name_at, 'a', FF_AUTH_NAME); /* no NUL at all */
    assert_int_equal(ff_auth_get_challenge(frame, nonce, name), -1);
    ff_auth_put_challenge(frame, nonce, "ga");
    frame[name_at + 1] = 0x07; /* a control character */
    assert_int_equal(ff_auth_get_challenge(frame, nonce, name), -1);
}

/* Each side's proof differs from the other's, from another secret's, other nonces' and
 * other names'; the same inputs give the same proof. */
static void
test_proofs(void **state)
{
    uint8_t ni[FF_AUTH_NONCE], na[FF_AUTH_NONCE], a[FF_AUTH_MAC], b[FF_AUTH_MAC];
    uint8_t frame[FF_AUTH_PROOF_LEN];

    (void)state;
    ff_auth_nonce(ni);
    ff_auth_nonce(na);
    assert_memory_not_equal(ni, na, FF_AUTH_NONCE);
    ff_auth_mac(secret, 32, FF_AUTH_INITIATOR, ni, na, "net", "gate", a);
    ff_auth_mac(secret, 32, FF_AUTH_INITIATOR, ni, na, "net", "gate", b);
    assert_true(ff_auth_mac_eq(a, b));
    ff_auth_mac(secret, 32, FF_AUTH_ACCEPTOR, ni, na, "net", "gate", b);
    assert_false(ff_auth_mac_eq(a, b));
    ff_auth_mac("1123456789abcdef0123456789abcdef", 32, FF_AUTH_INITIATOR, ni, na, "net", "gate",
                b);
    assert_false(ff_auth_mac_eq(a, b));
    ff_auth_mac(secret, 32, FF_AUTH_INITIATOR, na, ni, "net", "gate", b);
    assert_false(ff_auth_mac_eq(a, b));
    ff_auth_mac(secret, 32, FF_AUTH_INITIATOR, ni, na, "net2", "gate", b);
    assert_false(ff_auth_mac_eq(a, b));
    ff_auth_put_proof(frame, a);
    for (size_t n = 0; n <= sizeof(frame); n++)
        assert_int_equal(ff_auth_check_proof(frame, n), 0);
    assert_memory_equal(ff_auth_get_proof(frame), a, FF_AUTH_MAC);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_roundtrip),
        cmocka_unit_test(test_other_bytes_refused),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_proofs),
    };
    if (ff_auth_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
