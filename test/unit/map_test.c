/* map_test: the open-addressing map against a plain array, through growth and
 * backward-shift deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "map.h"

#define KEYS 5000

static void
test_against_reference(void **state)
{
    static void *ref[KEYS];
    ff_map_t m = {0};
    unsigned seed = 42;

    (void)state;
    for (int round = 0; round < 200000; round++) {
        uint64_t k = (uint64_t)(rand_r(&seed) % KEYS) + 1;
        void *v = (void *)(uintptr_t)(round + 1);
        if (rand_r(&seed) % 3 == 0) {
            assert_ptr_equal(ff_map_del(&m, k), ref[k - 1]);
            ref[k - 1] = NULL;
        } else {
            ff_map_set(&m, k, v);
            ref[k - 1] = v;
        }
    }
    size_t count = 0;
    for (uint64_t k = 1; k <= KEYS; k++) {
        assert_ptr_equal(ff_map_get(&m, k), ref[k - 1]);
        count += ref[k - 1] != NULL;
    }
    assert_int_equal(m.count, count);
    ff_map_clear(&m);
    assert_null(ff_map_get(&m, 1));
}

static void
test_large_keys(void **state)
{
    ff_map_t m = {0};

    (void)state;
    ff_map_set(&m, UINT64_MAX, &m);
    ff_map_set(&m, 1ull << 48 | 7, &m);
    assert_ptr_equal(ff_map_get(&m, UINT64_MAX), &m);
    assert_ptr_equal(ff_map_del(&m, 1ull << 48 | 7), &m);
    assert_null(ff_map_get(&m, 1ull << 48 | 7));
    assert_null(ff_map_del(&m, 12345));
    ff_map_clear(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_large_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
