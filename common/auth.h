/* auth: the bus handshake's frames and proofs (docs/protocol.md, "Handshake"). Pure code:
 * no loop, no state; bus.c drives it on every link before any other frame.
 *
 * Both sides send CHALLENGE as soon as the TCP connection is up; the side that connected
 * (the initiator) then sends PROOF, and the side that accepted answers with its own PROOF
 * only once the initiator's is good. Every frame has a fixed size and a fixed header, so a
 * peer's bytes are compared with a template and copied, never parsed, until it is trusted:
 *
 *   CHALLENGE  00 00 00 68  95 0a 01 01  c4 20 <nonce:32>  c4 40 <name:64, NUL-padded>
 *   PROOF      00 00 00 25  93 0a 02     c4 20 <mac:32>
 *
 * (valid msgpack: [10, 1, 1, bin nonce, bin name] and [10, 2, bin mac]). The proofs are
 *   mac = HMAC-SHA256(secret, "firefly-c bus v1" | side | nonce_I | nonce_A | name_I | name_A)
 * with side 'I' for the initiator's and 'A' for the acceptor's, so neither proof can be
 * replayed as the other, and both nonces are fresh from randombytes_buf. */
#ifndef FF_AUTH_H
#define FF_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FF_AUTH_NONCE 32
#define FF_AUTH_MAC 32
#define FF_AUTH_NAME 64 /* bytes of a name on the wire: at most 63 characters, NUL-padded */
#define FF_AUTH_CHALLENGE_LEN (4 + 104)
#define FF_AUTH_PROOF_LEN (4 + 37)
/* How long a link may take from TCP connect to the end of the handshake. */
#define FF_AUTH_TIMEOUT_MS 2000

/* Which proof: the connecting side's or the accepting side's. */
typedef enum { FF_AUTH_INITIATOR = 'I', FF_AUTH_ACCEPTOR = 'A' } ff_auth_side_t;

/* Initialises libsodium; call once before anything else here. Returns 0 or -1. */
int ff_auth_init(void);
/* Fills a fresh random nonce. */
void ff_auth_nonce(uint8_t nonce[FF_AUTH_NONCE]);
/* True for a name that fits the handshake (1..63 of [A-Za-z0-9_-]). */
bool ff_auth_name_ok(const char *name);
/* Writes the complete CHALLENGE frame (FF_AUTH_CHALLENGE_LEN bytes) for nonce and name
 * (which must pass ff_auth_name_ok). */
void ff_auth_put_challenge(uint8_t *out, const uint8_t nonce[FF_AUTH_NONCE], const char *name);
/* Writes the complete PROOF frame (FF_AUTH_PROOF_LEN bytes). */
void ff_auth_put_proof(uint8_t *out, const uint8_t mac[FF_AUTH_MAC]);
/* Checks the first len bytes a peer sent against what a CHALLENGE (or PROOF) frame must
 * start with: 0 when they fit so far (len may be shorter than a frame), -1 when they cannot
 * be one. */
int ff_auth_check_challenge(const uint8_t *p, size_t len);
int ff_auth_check_proof(const uint8_t *p, size_t len);
/* Takes nonce and name out of a complete CHALLENGE frame that ff_auth_check_challenge
 * accepted; name gets a NUL-terminated copy. Returns 0, or -1 when the name is not one
 * ff_auth_name_ok accepts or its padding is not all NUL. */
int ff_auth_get_challenge(const uint8_t *frame, uint8_t nonce[FF_AUTH_NONCE],
                          char name[FF_AUTH_NAME]);
/* The MAC of a complete PROOF frame (a pointer into it). */
const uint8_t *ff_auth_get_proof(const uint8_t *frame);
/* Computes the proof of `side` for a link between initiator name_i (nonce_i) and acceptor
 * name_a (nonce_a) under the secret. */
void ff_auth_mac(const void *secret, size_t secret_len, ff_auth_side_t side,
                 const uint8_t nonce_i[FF_AUTH_NONCE], const uint8_t nonce_a[FF_AUTH_NONCE],
                 const char *name_i, const char *name_a, uint8_t out[FF_AUTH_MAC]);
/* Compares two MACs in constant time. */
bool ff_auth_mac_eq(const uint8_t a[FF_AUTH_MAC], const uint8_t b[FF_AUTH_MAC]);

#endif
