/* frame_fuzz: net's incremental decode loop (conn_data_cb over ff_frame_decode) on a client
 * byte stream cut into pieces where the input says; the frames and the error found must not
 * depend on the cuts, every decoded body fits maxPacket, and nothing is read past the input.
 * Mode bits 0..1 pick maxPacket: 0, 42 (the login packet's body), 1024 or 65536. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "fuzz.h"

static const uint32_t max_packets[4] = {0, 42, 1024, 65536};

typedef struct {
    size_t frames;
    uint64_t digest; /* of every frame's command, length and body, in order */
    long err;        /* the FF_FRAME_E* code that closed the connection, or 0 */
} outcome_t;

/* Decodes the complete frames at the front of data[0..len), as net does; returns the bytes
 * consumed, or -1 with o->err set when a header is malformed. */
static long
decode_all(const ff_frame_proto_t *proto, const uint8_t *data, size_t len, outcome_t *o)
{
    size_t used = 0;
    uint8_t hdr[FF_FRAME_HEADER];
    ff_frame_t f;
    long n;

    for (;;) {
        n = ff_frame_decode(proto, data + used, len - used, &f);
        if (n < 0) {
            FUZZ_CHECK(len - used >= FF_FRAME_HEADER);
            FUZZ_CHECK(strcmp(ff_frame_strerror(n), "unknown frame error") != 0);
            o->err = n;
            return -1;
        }
        if (n == 0) {
            FUZZ_CHECK(len - used < FF_FRAME_HEADER);
            break;
        }
        FUZZ_CHECK(f.body_len <= proto->max_packet);
        FUZZ_CHECK((size_t)n == FF_FRAME_HEADER + (size_t)f.body_len);
        ff_frame_encode(proto, f.cmd, f.body_len, hdr);
        FUZZ_CHECK(memcmp(hdr, data + used, FF_FRAME_HEADER) == 0);
        if ((size_t)n > len - used)
            break;
        o->digest = fuzz_hash(o->digest, &f, sizeof(f));
        o->digest = fuzz_hash(o->digest, data + used + FF_FRAME_HEADER, f.body_len);
        o->frames++;
        used += (size_t)n;
    }
    return (long)used;
}

/* Feeds the stream piece by piece (or whole) into an input buffer, decoding after each. */
static outcome_t
run(const ff_frame_proto_t *proto, const fuzz_split_t *sp, bool whole)
{
    outcome_t o = {0, FUZZ_HASH_INIT, 0};
    ff_buf_t in = {0};
    size_t npieces = whole ? (sp->len > 0) : sp->npieces;

    for (size_t i = 0; i < npieces; i++) {
        size_t from = whole ? 0 : sp->at[i], to = whole ? sp->len : sp->at[i + 1];
        uint8_t *copy;
        long used;

        ff_buf_put(&in, sp->data + from, to - from);
        copy = fuzz_dup(in.data, in.len);
        used = decode_all(proto, copy, in.len, &o);
        free(copy);
        if (used < 0)
            break;
        ff_buf_consume(&in, (size_t)used);
    }
    ff_buf_free(&in);
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ff_frame_proto_t proto = {{'N', '%', '&', '0'}, 9, 0, 0};
    fuzz_split_t sp;
    outcome_t cut, whole;

    fuzz_split(&sp, data, size);
    proto.max_packet = max_packets[sp.mode & 3];
    cut = run(&proto, &sp, false);
    whole = run(&proto, &sp, true);
    FUZZ_CHECK(cut.frames == whole.frames);
    FUZZ_CHECK(cut.digest == whole.digest);
    FUZZ_CHECK(cut.err == whole.err);
    return 0;
}
