/* frame_test: the client wire header of common/frame.h against Firefly's real bytes, and
 * every way a header can be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

static const ff_frame_proto_t proto = {{'N', '%', '&', '0'}, 9, 0, 65536};

/* Firefly's login request as its Python client sends it: command 101, a 42-byte body. */
static const uint8_t login_header[FF_FRAME_HEADER] = {0x4E, 0x25, 0x26, 0x30, 0x09, 0x00,
                                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                      0x2E, 0x00, 0x00, 0x00, 0x65};
static const char login_body[] = "{\"password\":\"chenee\",\"username\":\"chenee\"}\n";

/* A header for `length` (body + 4) and cmd, built by hand so that the decoder is tested
 * against bytes, not against the encoder. */
static void
make_header(uint8_t *h, uint32_t length, uint32_t cmd)
{
    memcpy(h, login_header, 9);
    h[9] = (uint8_t)(length >> 24);
    h[10] = (uint8_t)(length >> 16);
    h[11] = (uint8_t)(length >> 8);
    h[12] = (uint8_t)length;
    h[13] = (uint8_t)(cmd >> 24);
    h[14] = (uint8_t)(cmd >> 16);
    h[15] = (uint8_t)(cmd >> 8);
    h[16] = (uint8_t)cmd;
}

static void
test_encode_login(void **state)
{
    uint8_t h[FF_FRAME_HEADER];

    (void)state;
    assert_int_equal(strlen(login_body), 42);
    ff_frame_encode(&proto, 101, 42, h);
    assert_memory_equal(h, login_header, FF_FRAME_HEADER);
}

static void
test_decode_login(void **state)
{
    uint8_t pkt[FF_FRAME_HEADER + 42];
    ff_frame_t f = {0, 0};

    (void)state;
    memcpy(pkt, login_header, FF_FRAME_HEADER);
    memcpy(pkt + FF_FRAME_HEADER, login_body, 42);
    assert_int_equal(ff_frame_decode(&proto, pkt, sizeof(pkt), &f), FF_FRAME_HEADER + 42);
    assert_int_equal(f.cmd, 101);
    assert_int_equal(f.body_len, 42);
    assert_memory_equal(pkt + FF_FRAME_HEADER, login_body, f.body_len);
}

static void
test_decode_header_before_body(void **state)
{
    ff_frame_t f = {0, 0};

    (void)state;
    /* The header alone is enough to learn the frame size; the body may follow later. */
    assert_int_equal(ff_frame_decode(&proto, login_header, FF_FRAME_HEADER, &f), 59);
    assert_int_equal(f.body_len, 42);
}

static void
test_decode_partial_header(void **state)
{
    ff_frame_t f = {7, 7};
    size_t n;

    (void)state;
    for (n = 0; n < FF_FRAME_HEADER; n++)
        assert_int_equal(ff_frame_decode(&proto, login_header, n, &f), 0);
    assert_int_equal(f.cmd, 7);
    assert_int_equal(f.body_len, 7);
}

static void
test_roundtrip(void **state)
{
    static const uint32_t cmds[] = {0, 1, 101, 0x01020304, UINT32_MAX};
    static const uint32_t lens[] = {0, 1, 16, 65535, 65536};
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            ff_frame_encode(&proto, cmds[i], lens[j], h);
            assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f),
                             FF_FRAME_HEADER + (long)lens[j]);
            assert_int_equal(f.cmd, cmds[i]);
            assert_int_equal(f.body_len, lens[j]);
        }
    }
}

static void
test_other_proto(void **state)
{
    const ff_frame_proto_t p2 = {{'A', 'B', 'C', 'D'}, 3, 0x01020304, 100};
    static const uint8_t want[FF_FRAME_HEADER] = {'A', 'B', 'C', 'D', 3, 1, 2, 3, 4,
                                                  0,   0,   0,   9,   0, 0, 0, 5};
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;

    (void)state;
    ff_frame_encode(&p2, 5, 5, h);
    assert_memory_equal(h, want, FF_FRAME_HEADER);
    assert_int_equal(ff_frame_decode(&p2, h, sizeof(h), &f), FF_FRAME_HEADER + 5);
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_EMAGIC);
}

static void
test_bad_magic(void **state)
{
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        memcpy(h, login_header, sizeof(h));
        h[i] ^= 0x20;
        assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_EMAGIC);
    }
    /* A text client (telnet, HTTP) is refused as soon as 17 bytes are in. */
    assert_int_equal(ff_frame_decode(&proto, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 17, &f),
                     FF_FRAME_EMAGIC);
}

static void
test_bad_versions(void **state)
{
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;
    int i;

    (void)state;
    memcpy(h, login_header, sizeof(h));
    h[4] = 8;
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_EVERSION);
    for (i = 5; i < 9; i++) {
        memcpy(h, login_header, sizeof(h));
        h[i] = 1;
        assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_EVERSION);
    }
}

static void
test_length_below_4(void **state)
{
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;
    uint32_t len;

    (void)state;
    for (len = 0; len < 4; len++) {
        make_header(h, len, 101);
        assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_ESHORT);
    }
    make_header(h, 4, 101);
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_HEADER);
    assert_int_equal(f.body_len, 0);
}

static void
test_max_packet(void **state)
{
    uint8_t h[FF_FRAME_HEADER];
    ff_frame_t f;

    (void)state;
    make_header(h, 65536 + 4, 1);
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_HEADER + 65536);
    assert_int_equal(f.body_len, 65536);
    make_header(h, 65536 + 5, 1);
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_ETOOBIG);
    /* The largest length field must not wrap into a small size. */
    make_header(h, UINT32_MAX, 1);
    assert_int_equal(ff_frame_decode(&proto, h, sizeof(h), &f), FF_FRAME_ETOOBIG);
}

static void
test_strerror(void **state)
{
    (void)state;
    assert_string_equal(ff_frame_strerror(FF_FRAME_EMAGIC), "bad magic");
    assert_non_null(ff_frame_strerror(FF_FRAME_EVERSION));
    assert_non_null(ff_frame_strerror(FF_FRAME_ESHORT));
    assert_non_null(ff_frame_strerror(FF_FRAME_ETOOBIG));
    assert_non_null(ff_frame_strerror(-99));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_login),
        cmocka_unit_test(test_decode_login),
        cmocka_unit_test(test_decode_header_before_body),
        cmocka_unit_test(test_decode_partial_header),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_other_proto),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_versions),
        cmocka_unit_test(test_length_below_4),
        cmocka_unit_test(test_max_packet),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
