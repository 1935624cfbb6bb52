/* auth: the bus handshake's fixed-size frames and HMAC-SHA256 proofs (libsodium). */
#include "auth.h"

#include <sodium.h>
#include <string.h>

#define AUTH_KIND 0x0a
#define AUTH_LABEL "firefly-c bus v1"

/* Everything before the nonce, and before the MAC: compared byte for byte. */
static const uint8_t challenge_head[] = {0x00,      0x00, 0x00, 0x68, 0x95,
                                         AUTH_KIND, 0x01, 0x01, 0xc4, 0x20};
static const uint8_t name_head[] = {0xc4, 0x40};
static const uint8_t proof_head[] = {0x00, 0x00, 0x00, 0x25, 0x93, AUTH_KIND, 0x02, 0xc4, 0x20};

#define NAME_AT (sizeof(challenge_head) + FF_AUTH_NONCE)

int
ff_auth_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void
ff_auth_nonce(uint8_t nonce[FF_AUTH_NONCE])
{
    randombytes_buf(nonce, FF_AUTH_NONCE);
}

bool
ff_auth_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= FF_AUTH_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

void
ff_auth_put_challenge(uint8_t *out, const uint8_t nonce[FF_AUTH_NONCE], const char *name)
{
    memcpy(out, challenge_head, sizeof(challenge_head));
    memcpy(out + sizeof(challenge_head), nonce, FF_AUTH_NONCE);
    memcpy(out + NAME_AT, name_head, sizeof(name_head));
    memset(out + NAME_AT + sizeof(name_head), 0, FF_AUTH_NAME);
    memcpy(out + NAME_AT + sizeof(name_head), name, strlen(name));
}

void
ff_auth_put_proof(uint8_t *out, const uint8_t mac[FF_AUTH_MAC])
{
    memcpy(out, proof_head, sizeof(proof_head));
    memcpy(out + sizeof(proof_head), mac, FF_AUTH_MAC);
}

/* 0 when p[0..len) matches the fixed bytes of a frame at those offsets. */
static int
auth_check(const uint8_t *p, size_t len, const uint8_t *head, size_t headlen, size_t at2,
           const uint8_t *head2, size_t head2len)
{
    size_t n = len < headlen ? len : headlen;

    if (memcmp(p, head, n) != 0)
        return -1;
    if (head2 == NULL || len <= at2)
        return 0;
    n = len - at2 < head2len ? len - at2 : head2len;
    return memcmp(p + at2, head2, n) != 0 ? -1 : 0;
}

int
ff_auth_check_challenge(const uint8_t *p, size_t len)
{
    return auth_check(p, len, challenge_head, sizeof(challenge_head), NAME_AT, name_head,
                      sizeof(name_head));
}

int
ff_auth_check_proof(const uint8_t *p, size_t len)
{
    return auth_check(p, len, proof_head, sizeof(proof_head), 0, NULL, 0);
}

int
ff_auth_get_challenge(const uint8_t *frame, uint8_t nonce[FF_AUTH_NONCE], char name[FF_AUTH_NAME])
{
    const uint8_t *wire = frame + NAME_AT + sizeof(name_head);
    size_t n = 0;

    memcpy(nonce, frame + sizeof(challenge_head), FF_AUTH_NONCE);
    while (n < FF_AUTH_NAME && wire[n] != 0)
        n++;
    if (n == FF_AUTH_NAME)
        return -1;
    for (size_t i = n; i < FF_AUTH_NAME; i++)
        if (wire[i] != 0)
            return -1;
    memcpy(name, wire, n);
    name[n] = '\0';
    return ff_auth_name_ok(name) ? 0 : -1;
}

const uint8_t *
ff_auth_get_proof(const uint8_t *frame)
{
    return frame + sizeof(proof_head);
}

/* A name as it is on the wire: 64 bytes, NUL-padded. */
static void
auth_mac_name(crypto_auth_hmacsha256_state *st, const char *name)
{
    uint8_t wire[FF_AUTH_NAME] = {0};

    memcpy(wire, name, strnlen(name, FF_AUTH_NAME - 1));
    crypto_auth_hmacsha256_update(st, wire, sizeof(wire));
}

void
ff_auth_mac(const void *secret, size_t secret_len, ff_auth_side_t side,
            const uint8_t nonce_i[FF_AUTH_NONCE], const uint8_t nonce_a[FF_AUTH_NONCE],
            const char *name_i, const char *name_a, uint8_t out[FF_AUTH_MAC])
{
    crypto_auth_hmacsha256_state st;
    uint8_t s = (uint8_t)side;

    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)AUTH_LABEL, sizeof(AUTH_LABEL) - 1);
    crypto_auth_hmacsha256_update(&st, &s, 1);
    crypto_auth_hmacsha256_update(&st, nonce_i, FF_AUTH_NONCE);
    crypto_auth_hmacsha256_update(&st, nonce_a, FF_AUTH_NONCE);
    auth_mac_name(&st, name_i);
    auth_mac_name(&st, name_a);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

bool
ff_auth_mac_eq(const uint8_t a[FF_AUTH_MAC], const uint8_t b[FF_AUTH_MAC])
{
    return crypto_verify_32(a, b) == 0;
}
