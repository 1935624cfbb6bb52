/* frame: Firefly's client wire format (DESIGN §4, a contract): a 17-byte big-endian header
 * `magic[4] protoVersion[1] serverVersion[4] length[4] command[4]`, length = body + 4. */
#ifndef FF_FRAME_H
#define FF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FF_FRAME_HEADER 17

enum {
    FF_FRAME_EMAGIC = -1,   /* magic differs from netconnect.magic */
    FF_FRAME_EVERSION = -2, /* protoVersion or serverVersion differs */
    FF_FRAME_ESHORT = -3,   /* length < 4 */
    FF_FRAME_ETOOBIG = -4,  /* length - 4 > maxPacket */
};

typedef struct {
    char magic[4];
    uint8_t proto_version;
    uint32_t server_version;
    uint32_t max_packet;
} ff_frame_proto_t;

typedef struct {
    uint32_t cmd;
    uint32_t body_len;
} ff_frame_t;

/* Decodes the header at the front of `buf`. Returns 0 when fewer than 17 bytes are there,
 * the total frame size (17 + body) when a header was read into *out (the body may not have
 * arrived yet: compare with len), or an FF_FRAME_E* code. Checks the size before anyone
 * allocates. */
long ff_frame_decode(const ff_frame_proto_t *proto, const uint8_t *buf, size_t len,
                     ff_frame_t *out);
/* Writes the 17-byte header for a body of `body_len` bytes to `out`. */
void ff_frame_encode(const ff_frame_proto_t *proto, uint32_t cmd, uint32_t body_len,
                     uint8_t out[FF_FRAME_HEADER]);
/* A short text for an FF_FRAME_E* code. */
const char *ff_frame_strerror(long code);

#endif
