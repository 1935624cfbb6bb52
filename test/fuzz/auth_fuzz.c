/* auth_fuzz: the bus handshake's fixed-frame checks (ff_auth_check_challenge/_proof on every
 * prefix of arbitrary bytes, as bus.c calls them while bytes trickle in) and
 * ff_auth_get_challenge: a prefix refused stays refused when longer, and a frame accepted
 * whole is exactly what ff_auth_put_challenge/_proof write for the nonce, name and MAC read
 * out of it. Mode bit 0 starts with the PROOF frame instead of the CHALLENGE. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"

typedef int (*check_fn)(const uint8_t *p, size_t len);

/* Checks every prefix of p[0..len) in order; returns the length of the longest accepted one
 * (len when all are). Copies each prefix, so a read past it is caught. */
static size_t
longest_ok(check_fn check, const uint8_t *p, size_t len)
{
    size_t ok = 0;
    bool refused = false;

    for (size_t n = 0; n <= len; n++) {
        uint8_t *copy = fuzz_dup(p, n);
        int rc = check(copy, n);
        free(copy);
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK(!(refused && rc == 0));
        if (rc < 0)
            refused = true;
        else
            ok = n;
    }
    return ok;
}

/* A whole CHALLENGE frame that passed the check: what get_challenge reads out of it. */
static void
check_challenge(const uint8_t *frame)
{
    uint8_t *copy = fuzz_dup(frame, FF_AUTH_CHALLENGE_LEN), nonce[FF_AUTH_NONCE];
    uint8_t again[FF_AUTH_CHALLENGE_LEN];
    char name[FF_AUTH_NAME];

    if (ff_auth_get_challenge(copy, nonce, name) == 0) {
        FUZZ_CHECK(ff_auth_name_ok(name));
        ff_auth_put_challenge(again, nonce, name);
        FUZZ_CHECK(memcmp(again, frame, sizeof(again)) == 0);
    }
    free(copy);
}

/* A whole PROOF frame that passed the check: it is the frame of the MAC it carries. */
static void
check_proof(const uint8_t *frame)
{
    uint8_t *copy = fuzz_dup(frame, FF_AUTH_PROOF_LEN), mac[FF_AUTH_MAC];
    uint8_t again[FF_AUTH_PROOF_LEN];

    memcpy(mac, ff_auth_get_proof(copy), FF_AUTH_MAC);
    ff_auth_put_proof(again, mac);
    FUZZ_CHECK(memcmp(again, frame, sizeof(again)) == 0);
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool proof_first = size > 0 && (data[0] & 1);
    const uint8_t *p = data + (size > 0), *end = data + size;

    /* CHALLENGE then PROOF, as a link sees them (or PROOF alone). */
    if (!proof_first) {
        size_t n =
            end - p < FF_AUTH_CHALLENGE_LEN + 16 ? (size_t)(end - p) : FF_AUTH_CHALLENGE_LEN + 16;
        size_t ok = longest_ok(ff_auth_check_challenge, p, n);
        if (ok < FF_AUTH_CHALLENGE_LEN)
            return 0;
        check_challenge(p);
        p += FF_AUTH_CHALLENGE_LEN;
    }
    size_t n = end - p < FF_AUTH_PROOF_LEN + 16 ? (size_t)(end - p) : FF_AUTH_PROOF_LEN + 16;
    if (longest_ok(ff_auth_check_proof, p, n) >= FF_AUTH_PROOF_LEN)
        check_proof(p);
    return 0;
}
