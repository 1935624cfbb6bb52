/* iplimit_test: net's per-address connection counts against a plain array, through growth,
 * probe-run collisions and backward-shift deletion; the limit; IPv4 and IPv4-mapped IPv6
 * counting as one address; formatting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iplimit.h"

#define ADDRS 3000

static net_ip_t
ip4(const char *text)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    net_ip_t ip;

    assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
    assert_true(net_ip_from_sockaddr((struct sockaddr *)&sa, &ip));
    return ip;
}

static net_ip_t
ip6(const char *text)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    net_ip_t ip;

    assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
    assert_true(net_ip_from_sockaddr((struct sockaddr *)&sa, &ip));
    return ip;
}

/* Address k of the reference set: IPv4 addresses and IPv6 ones that share their upper half,
 * so that many differ in a few bits only. */
static net_ip_t
ref_addr(int k)
{
    net_ip_t ip;

    memset(&ip, 0, sizeof(ip));
    if (k % 2 == 0) {
        ip.b[10] = ip.b[11] = 0xff;
        ip.b[12] = 10;
        ip.b[14] = (uint8_t)(k >> 8);
        ip.b[15] = (uint8_t)k;
    } else {
        ip.b[0] = 0x20;
        ip.b[1] = 0x01;
        ip.b[14] = (uint8_t)(k >> 8);
        ip.b[15] = (uint8_t)k;
    }
    return ip;
}

static void
check_all(const net_iplimit_t *t, const uint32_t *ref)
{
    size_t live = 0;

    for (int k = 0; k < ADDRS; k++) {
        net_ip_t ip = ref_addr(k);
        assert_int_equal(net_iplimit_count(t, &ip), ref[k]);
        live += ref[k] > 0;
    }
    assert_int_equal(net_iplimit_size(t), live);
}

static void
test_against_reference(void **state)
{
    static uint32_t ref[ADDRS];
    net_iplimit_t *t = net_iplimit_new(0x1234567890abcdefull);
    unsigned seed = 7;

    (void)state;
    for (int round = 0; round < 300000; round++) {
        int k = rand_r(&seed) % ADDRS;
        net_ip_t ip = ref_addr(k);
        if (rand_r(&seed) % 2 == 0) {
            net_iplimit_release(t, &ip);
            ref[k] -= ref[k] > 0;
        } else {
            bool ok = net_iplimit_acquire(t, &ip, 3);
            assert_int_equal(ok, ref[k] < 3);
            ref[k] += ok;
        }
        if (round % 50000 == 0)
            check_all(t, ref);
    }
    check_all(t, ref);
    /* Emptying the table removes every entry through backward shifts. */
    for (int k = 0; k < ADDRS; k++) {
        net_ip_t ip = ref_addr(k);
        while (ref[k] > 0) {
            net_iplimit_release(t, &ip);
            ref[k]--;
        }
    }
    check_all(t, ref);
    net_iplimit_free(t);
}

/* Seed 0 and a table that stays at 16 slots: 7 addresses form probe runs there; removing
 * any one of them must leave the others findable. */
static void
test_small_table_deletes(void **state)
{
    (void)state;
    for (int victim = 0; victim < 7; victim++) {
        net_iplimit_t *t = net_iplimit_new(0);
        for (int k = 0; k < 7; k++) {
            net_ip_t ip = ref_addr(k * 16);
            assert_true(net_iplimit_acquire(t, &ip, 0));
        }
        net_ip_t gone = ref_addr(victim * 16);
        net_iplimit_release(t, &gone);
        assert_int_equal(net_iplimit_count(t, &gone), 0);
        for (int k = 0; k < 7; k++) {
            net_ip_t ip = ref_addr(k * 16);
            assert_int_equal(net_iplimit_count(t, &ip), k == victim ? 0 : 1);
        }
        assert_int_equal(net_iplimit_size(t), 6);
        net_iplimit_free(t);
    }
}

static void
test_limit(void **state)
{
    net_iplimit_t *t = net_iplimit_new(42);
    net_ip_t a = ip4("127.0.0.1"), b = ip6("::1");

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_true(net_iplimit_acquire(t, &a, 4));
    assert_false(net_iplimit_acquire(t, &a, 4));
    assert_int_equal(net_iplimit_count(t, &a), 4);
    assert_true(net_iplimit_acquire(t, &b, 4));
    /* A lower limit after a reload: existing connections stay, new ones are refused. */
    assert_false(net_iplimit_acquire(t, &a, 2));
    /* 0 = no limit. */
    assert_true(net_iplimit_acquire(t, &a, 0));
    assert_int_equal(net_iplimit_count(t, &a), 5);
    net_iplimit_release(t, &a);
    net_iplimit_release(t, &a);
    assert_true(net_iplimit_acquire(t, &a, 4));
    assert_int_equal(net_iplimit_size(t), 2);
    net_iplimit_free(t);
}

static void
test_release_unknown(void **state)
{
    net_iplimit_t *t = net_iplimit_new(1);
    net_ip_t a = ip4("192.0.2.1"), b = ip4("192.0.2.2");

    (void)state;
    net_iplimit_release(t, &a);
    assert_true(net_iplimit_acquire(t, &a, 1));
    net_iplimit_release(t, &b);
    assert_int_equal(net_iplimit_count(t, &a), 1);
    assert_int_equal(net_iplimit_size(t), 1);
    net_iplimit_free(t);
    net_iplimit_free(NULL);
}

static void
test_addresses(void **state)
{
    net_ip_t a = ip4("127.0.0.1"), mapped = ip6("::ffff:127.0.0.1"), v6 = ip6("2001:db8::7");
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    net_iplimit_t *t = net_iplimit_new(99);
    char buf[INET6_ADDRSTRLEN];
    net_ip_t ip;

    (void)state;
    assert_memory_equal(a.b, mapped.b, 16);
    assert_true(net_iplimit_acquire(t, &a, 1));
    assert_false(net_iplimit_acquire(t, &mapped, 1));
    assert_true(net_iplimit_acquire(t, &v6, 1));
    assert_string_equal(net_ip_name(&a, buf, sizeof(buf)), "127.0.0.1");
    assert_string_equal(net_ip_name(&v6, buf, sizeof(buf)), "2001:db8::7");
    assert_false(net_ip_from_sockaddr(&unix_sa, &ip));
    net_iplimit_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_small_table_deletes),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_release_unknown),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
