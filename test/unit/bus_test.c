/* bus_test: the bus codec. Frames written by ff_bus_put_* are read back by ff_bus_decode and
 * by the reference msgpack-c library; values written by msgpack-c are read by ff_mp_*. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <msgpack.h>

#include "bus.h"
#include "mp.h"

static void
decode_frame(ff_buf_t *b, ff_bus_msg_t *m)
{
    assert_true(b->len >= 4);
    assert_int_equal(ff_be32(b->data), b->len - 4);
    assert_int_equal(ff_bus_decode(b->data + 4, b->len - 4, m), 0);
}

static void
test_request_roundtrip(void **state)
{
    ff_buf_t b = {0};
    ff_bus_msg_t m;
    const char body[] = "{\"password\":\"chenee\",\"username\":\"chenee\"}\n";

    (void)state;
    ff_bus_put_request(&b, 0xabcd000000001234ull, 77, 101, body, sizeof(body) - 1);
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_REQUEST);
    assert_true(m.conn == 0xabcd000000001234ull);
    assert_int_equal(m.seq, 77);
    assert_int_equal(m.cmd, 101);
    assert_int_equal(m.body_len, sizeof(body) - 1);
    assert_memory_equal(m.body, body, sizeof(body) - 1);
    ff_buf_free(&b);
}

static void
test_response_error_and_push(void **state)
{
    ff_buf_t b = {0};
    ff_bus_msg_t m;
    uint64_t conns[3] = {1, 1ull << 40, UINT64_MAX}, c;

    (void)state;
    ff_bus_put_error(&b, 5, 6, 503, "node game1 is unavailable");
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_RESPONSE);
    assert_int_equal(m.status, FF_BUS_ERROR);
    assert_memory_equal(m.body, "{\"error\":{\"code\":503,", 21);
    b.len = 0;
    ff_bus_put_push(&b, conns, 3, 2100, "x", 1);
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_PUSH);
    assert_int_equal(m.nlist, 3);
    assert_int_equal(m.cmd, 2100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ff_mp_get_uint(&m.list, &c), 0);
        assert_true(c == conns[i]);
    }
    ff_buf_free(&b);
}

static void
test_hello_and_call(void **state)
{
    ff_buf_t b = {0};
    ff_bus_msg_t m;
    uint32_t cmds[] = {1, 101, 70000};
    uint64_t c;
    uint8_t token[FF_BUS_TOKEN];

    (void)state;
    memset(token, 0xab, sizeof(token));
    ff_bus_put_hello(&b, "game1", "game", 4242, cmds, 3, token);
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_HELLO);
    assert_true(ff_str_eq(m.name, "game1"));
    assert_true(ff_str_eq(m.role, "game"));
    assert_int_equal(m.pid, 4242);
    assert_int_equal(m.nlist, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ff_mp_get_uint(&m.list, &c), 0);
        assert_int_equal(c, cmds[i]);
    }
    assert_int_equal(m.token_len, FF_BUS_TOKEN);
    assert_memory_equal(m.token, token, FF_BUS_TOKEN);
    b.len = 0;
    ff_bus_put_hello(&b, "net", "net", 1, NULL, 0, NULL);
    decode_frame(&b, &m);
    assert_int_equal(m.token_len, 0);
    b.len = 0;
    ff_bus_put_call(&b, 9, "status", "{}");
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_CALL);
    assert_int_equal(m.seq, 9);
    assert_true(ff_str_eq(m.method, "status"));
    assert_int_equal(m.body_len, 2);
    ff_buf_free(&b);
}

/* PING/PONG carry a stamp; LIVE a list of conns. */
static void
test_ping_and_live(void **state)
{
    ff_buf_t b = {0};
    ff_bus_msg_t m;
    uint64_t conns[] = {7, 1ull << 60}, c;

    (void)state;
    ff_bus_put_ping(&b, FF_BUS_PONG, 123456789012ull);
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_PONG);
    assert_true(m.stamp == 123456789012ull);
    b.len = 0;
    ff_bus_put_live(&b, conns, 2);
    decode_frame(&b, &m);
    assert_int_equal(m.kind, FF_BUS_LIVE);
    assert_int_equal(m.nlist, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ff_mp_get_uint(&m.list, &c), 0);
        assert_true(c == conns[i]);
    }
    ff_buf_free(&b);
}

/* The probe's message: a million nested arrays where HELLO's command list goes. Skipping it
 * is a loop, not a recursion; the frame decodes (the token after it is read) or fails, and
 * a truncated nest fails, without touching the stack. */
static void
test_deep_nesting(void **state)
{
    const size_t depth = 1000000;
    ff_buf_t b = {0};
    ff_bus_msg_t m;

    (void)state;
    ff_mp_put_array(&b, 6);
    ff_mp_put_uint(&b, FF_BUS_HELLO);
    ff_mp_put_str(&b, "x", 1);
    ff_mp_put_str(&b, "game", 4);
    ff_mp_put_int(&b, 1);
    ff_mp_put_array(&b, 1);
    for (size_t i = 0; i < depth; i++)
        ff_mp_put_array(&b, 1);
    ff_mp_put_nil(&b);
    ff_mp_put_bin(&b, NULL, 0);
    assert_int_equal(ff_bus_decode(b.data, b.len, &m), 0);
    assert_int_equal(m.nlist, 1);
    assert_int_equal(ff_bus_decode(b.data, b.len - 3, &m), -1);
    b.len = 0;
    ff_mp_put_array(&b, 4);
    ff_mp_put_uint(&b, FF_BUS_PUSH);
    for (size_t i = 0; i < depth; i++)
        ff_mp_put_map(&b, 1);
    assert_int_equal(ff_bus_decode(b.data, b.len, &m), -1);
    ff_buf_free(&b);
}

/* Every proper prefix of a frame payload is malformed: a decoder never reads past it. */
static void
test_truncated_rejected(void **state)
{
    ff_buf_t b = {0};
    ff_bus_msg_t m;

    (void)state;
    ff_bus_put_request(&b, 1, 2, 3, "hello", 5);
    for (size_t n = 0; n < b.len - 4; n++)
        assert_int_equal(ff_bus_decode(b.data + 4, n, &m), -1);
    b.data[5] = 0x7f; /* an unknown kind */
    assert_int_equal(ff_bus_decode(b.data + 4, b.len - 4, &m), -1);
    ff_buf_free(&b);
}

/* Our encoding of every integer width is what msgpack-c reads, and the reverse. */
static void
test_ints_against_msgpack_c(void **state)
{
    static const int64_t vals[] = {
        0,   1,   127,  128,  255,    256,    65535,     65536,         4294967295, 4294967296, -1,
        -32, -33, -128, -129, -32768, -32769, INT32_MIN, -2147483649LL, INT64_MIN,  INT64_MAX};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    ff_mp_reader_t r;
    size_t n = sizeof(vals) / sizeof(vals[0]);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        ff_buf_t b = {0};
        msgpack_unpacked u;
        int64_t got;

        ff_mp_put_int(&b, vals[i]);
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, (const char *)b.data, b.len, NULL),
                         MSGPACK_UNPACK_SUCCESS);
        if (vals[i] >= 0)
            assert_true(u.data.via.u64 == (uint64_t)vals[i]);
        else
            assert_true(u.data.via.i64 == vals[i]);
        msgpack_unpacked_destroy(&u);

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_int64(&pk, vals[i]);
        ff_mp_reader_init(&r, sb.data, sb.size);
        assert_int_equal(ff_mp_get_int(&r, &got), 0);
        assert_true(got == vals[i]);
        assert_true(r.p == r.end);
        msgpack_sbuffer_destroy(&sb);
        ff_buf_free(&b);
    }
}

/* A frame built by msgpack-c decodes; long str/bin sizes use the 16- and 32-bit forms. */
static void
test_frame_from_msgpack_c(void **state)
{
    static char big[70000];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    ff_bus_msg_t m;

    (void)state;
    memset(big, 'z', sizeof(big));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint8(&pk, FF_BUS_RESPONSE);
    msgpack_pack_uint64(&pk, 1ull << 50);
    msgpack_pack_uint32(&pk, 300);
    msgpack_pack_int8(&pk, FF_BUS_OK);
    msgpack_pack_bin(&pk, sizeof(big));
    msgpack_pack_bin_body(&pk, big, sizeof(big));
    assert_int_equal(ff_bus_decode((const uint8_t *)sb.data, sb.size, &m), 0);
    assert_int_equal(m.kind, FF_BUS_RESPONSE);
    assert_true(m.conn == 1ull << 50);
    assert_int_equal(m.seq, 300);
    assert_int_equal(m.body_len, sizeof(big));
    assert_memory_equal(m.body, big, sizeof(big));
    msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_response_error_and_push),
        cmocka_unit_test(test_hello_and_call),
        cmocka_unit_test(test_truncated_rejected),
        cmocka_unit_test(test_ping_and_live),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_ints_against_msgpack_c),
        cmocka_unit_test(test_frame_from_msgpack_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
