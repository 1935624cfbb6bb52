/* hist_test: the log-linear histogram: exact small values, every percentile of a uniform
 * distribution within the 1/32 bucket precision, exact min and max, merge, and extremes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hist.h"

static ff_hist_t h, g;

static void
test_small_values_exact(void **state)
{
    (void)state;
    ff_hist_reset(&h);
    for (uint64_t v = 0; v < 32; v++)
        ff_hist_record(&h, v);
    assert_int_equal(h.total, 32);
    assert_int_equal(ff_hist_percentile(&h, 50), 15);
    assert_int_equal(ff_hist_percentile(&h, 100), 31);
    assert_int_equal(ff_hist_percentile(&h, 0), 0);
}

static void
test_uniform_percentiles(void **state)
{
    (void)state;
    ff_hist_reset(&h);
    for (uint64_t v = 1; v <= 1000000; v++)
        ff_hist_record(&h, v * 1000);
    for (int pct = 1; pct <= 100; pct++) {
        double want = pct * 1e7, got = (double)ff_hist_percentile(&h, pct);
        assert_true(got >= want * (1 - 1.0 / 32) && got <= want * (1 + 1.0 / 32));
    }
    assert_int_equal(h.min, 1000);
    assert_int_equal(h.max, 1000000000ull);
    assert_int_equal(ff_hist_percentile(&h, 100), 1000000000ull);
}

static void
test_merge(void **state)
{
    (void)state;
    ff_hist_reset(&h);
    ff_hist_reset(&g);
    for (uint64_t v = 0; v < 1000; v++)
        ff_hist_record(v % 2 ? &h : &g, 5000 + v);
    ff_hist_merge(&h, &g);
    assert_int_equal(h.total, 1000);
    assert_int_equal(h.min, 5000);
    assert_int_equal(h.max, 5999);
    ff_hist_reset(&g);
    ff_hist_merge(&h, &g); /* an empty one changes nothing */
    assert_int_equal(h.min, 5000);
    assert_int_equal(h.total, 1000);
}

static void
test_extremes(void **state)
{
    (void)state;
    ff_hist_reset(&h);
    assert_int_equal(ff_hist_percentile(&h, 99), 0);
    ff_hist_record(&h, UINT64_MAX);
    ff_hist_record(&h, 7);
    assert_int_equal(ff_hist_percentile(&h, 100), UINT64_MAX);
    assert_int_equal(ff_hist_percentile(&h, 50), 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_uniform_percentiles),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
