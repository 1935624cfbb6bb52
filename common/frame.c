/* frame: encoder and incremental decoder of Firefly's 17-byte client frame header. */
#include "frame.h"

#include <string.h>

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

long
ff_frame_decode(const ff_frame_proto_t *proto, const uint8_t *buf, size_t len, ff_frame_t *out)
{
    uint32_t length;

    if (len < FF_FRAME_HEADER)
        return 0;
    if (memcmp(buf, proto->magic, 4) != 0)
        return FF_FRAME_EMAGIC;
    if (buf[4] != proto->proto_version || get_be32(buf + 5) != proto->server_version)
        return FF_FRAME_EVERSION;
    length = get_be32(buf + 9);
    if (length < 4)
        return FF_FRAME_ESHORT;
    if (length - 4 > proto->max_packet)
        return FF_FRAME_ETOOBIG;
    out->body_len = length - 4;
    out->cmd = get_be32(buf + 13);
    return (long)FF_FRAME_HEADER + out->body_len;
}

void
ff_frame_encode(const ff_frame_proto_t *proto, uint32_t cmd, uint32_t body_len,
                uint8_t out[FF_FRAME_HEADER])
{
    memcpy(out, proto->magic, 4);
    out[4] = proto->proto_version;
    put_be32(out + 5, proto->server_version);
    put_be32(out + 9, body_len + 4);
    put_be32(out + 13, cmd);
}

const char *
ff_frame_strerror(long code)
{
    switch (code) {
    case FF_FRAME_EMAGIC:
        return "bad magic";
    case FF_FRAME_EVERSION:
        return "bad protocol or server version";
    case FF_FRAME_ESHORT:
        return "length field below 4";
    case FF_FRAME_ETOOBIG:
        return "length over maxPacket";
    default:
        return "unknown frame error";
    }
}
