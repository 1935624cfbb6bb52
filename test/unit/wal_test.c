/* wal_test: the write-ahead log on real files in a temporary directory — CRC-32C vectors,
 * round trips across rotations, replay order, torn and corrupt tails cut at the last good
 * record, trim, size accounting, and an append cut short by RLIMIT_FSIZE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "wal.h"

#define MAX_SEEN 4096
#define MAX_IDS 64

typedef struct {
    long n;
    int pk[MAX_SEEN];
    int stop_at; /* return 7 on this record (1-based); 0 never */
} seen_t;

/* Payload i: a JSON row like dbfront's, of a length that varies with i. */
static size_t
payload(int i, char *buf, size_t cap)
{
    int n =
        snprintf(buf, cap, "{\"op\":\"upd\",\"t\":\"tb_character\",\"pk\":%d,\"row\":{\"p\":\"", i);
    int pad = i * 37 % 300;

    memset(buf + n, 'a' + i % 26, (size_t)pad);
    memcpy(buf + n + pad, "\"}}", 3);
    return (size_t)(n + pad + 3);
}

static size_t
frame_size(int i)
{
    char p[512];
    return 8 + payload(i, p, sizeof(p));
}

static int
collect(void *arg, const uint8_t *p, size_t len)
{
    seen_t *s = arg;
    char text[512], want[512];
    int pk;

    assert_true(len < sizeof(text));
    memcpy(text, p, len);
    text[len] = '\0';
    assert_int_equal(sscanf(text, "{\"op\":\"upd\",\"t\":\"tb_character\",\"pk\":%d", &pk), 1);
    assert_int_equal(payload(pk, want, sizeof(want)), len);
    assert_memory_equal(want, p, len);
    assert_true(s->n < MAX_SEEN);
    s->pk[s->n++] = pk;
    return s->n == s->stop_at ? 7 : 0;
}

/* Appends records from..to-1 as one batch. */
static void
append_range(dbf_wal_t *w, int from, int to)
{
    ff_buf_t b = {0};
    char p[512];

    for (int i = from; i < to; i++)
        dbf_wal_put_record(&b, p, payload(i, p, sizeof(p)));
    assert_int_equal(dbf_wal_append(w, b.data, b.len), 0);
    ff_buf_free(&b);
}

/* Opens dir and replays it into s; checks the count and the torn count. */
static dbf_wal_t *
open_replay(const char *dir, seen_t *s, long count, int torn)
{
    char err[256] = "";
    dbf_wal_t *w = dbf_wal_open(dir, err, sizeof(err));
    int t = -1;

    assert_non_null(w);
    memset(s, 0, sizeof(*s));
    assert_int_equal(dbf_wal_replay(w, collect, s, &t, err, sizeof(err)), count);
    assert_int_equal(t, torn);
    assert_int_equal(s->n, count);
    return w;
}

static void
seg_path(char *out, size_t cap, const char *dir, uint64_t id)
{
    snprintf(out, cap, "%s/wal-%016llx.log", dir, (unsigned long long)id);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The segment ids in dir, ascending; other files are ignored. */
static int
list_ids(const char *dir, uint64_t ids[MAX_IDS])
{
    char path[512];
    int n = 0;

    for (uint64_t id = 0; id < 0x40 && n < MAX_IDS; id++) {
        seg_path(path, sizeof(path), dir, id);
        if (access(path, F_OK) == 0)
            ids[n++] = id;
    }
    qsort(ids, (size_t)n, sizeof(*ids), cmp_u64);
    return n;
}

static uint64_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static uint64_t
dir_bytes(const char *dir)
{
    uint64_t ids[MAX_IDS], sum = 0;
    char path[512];
    int n = list_ids(dir, ids);

    for (int i = 0; i < n; i++) {
        seg_path(path, sizeof(path), dir, ids[i]);
        sum += file_size(path);
    }
    return sum;
}

static void
expect_ids(const char *dir, int n, const uint64_t *want)
{
    uint64_t ids[MAX_IDS];

    assert_int_equal(list_ids(dir, ids), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    char *dir = ff_strdup("/tmp/wal_test.XXXXXX");

    if (mkdtemp(dir) == NULL)
        return -1;
    *state = dir;
    return 0;
}

static int
teardown(void **state)
{
    int rc = nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    ff_free(*state);
    return rc;
}

/* Bitwise CRC-32C, the definition the fast paths must match. */
static uint32_t
crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;

    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void
test_crc_vectors(void **state)
{
    uint8_t b[32];

    (void)state;
    assert_int_equal(dbf_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(dbf_crc32c("", 0), 0);
    /* RFC 3720, appendix B.4. */
    memset(b, 0, sizeof(b));
    assert_int_equal(dbf_crc32c(b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof(b));
    assert_int_equal(dbf_crc32c(b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(dbf_crc32c(b, 32), 0x46DD794Eu);
}

static void
test_crc_matches_reference(void **state)
{
    uint8_t buf[1100];
    unsigned seed = 7;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand_r(&seed);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len += len < 70 ? 1 : 97)
            assert_int_equal(dbf_crc32c(buf + off, len), crc_ref(buf + off, len));
}

static void
test_round_trip_rotations(void **state)
{
    const char *dir = *state;
    uint64_t upto, last = 0;
    dbf_wal_t *w;
    seen_t s;
    int i = 0, batch = 0;

    w = open_replay(dir, &s, 0, 0);
    expect_ids(dir, 1, (uint64_t[]){1});
    while (i < 1000) {
        int n = 1 + batch % 17;
        append_range(w, i, i + n > 1000 ? 1000 : i + n);
        i = i + n > 1000 ? 1000 : i + n;
        if (++batch % 10 == 0) {
            assert_int_equal(dbf_wal_rotate(w, &upto), 0);
            assert_int_equal(upto, last + 1);
            last = upto;
        }
        assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    }
    dbf_wal_close(w);
    w = open_replay(dir, &s, 1000, 0);
    for (i = 0; i < 1000; i++)
        assert_int_equal(s.pk[i], i);
    assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    /* Replay made a fresh segment after the highest one. */
    uint64_t ids[MAX_IDS];
    int n = list_ids(dir, ids);
    assert_int_equal(ids[n - 1], last + 2);
    assert_int_equal(n, (int)last + 2);
    dbf_wal_close(w);
}

/* Writes records from..to-1 straight into segment id, as another run of dbfront would. */
static void
write_segment(const char *dir, uint64_t id, int from, int to)
{
    char path[512];
    ff_buf_t b = {0};
    char p[512];
    FILE *f;

    for (int i = from; i < to; i++)
        dbf_wal_put_record(&b, p, payload(i, p, sizeof(p)));
    seg_path(path, sizeof(path), dir, id);
    assert_non_null(f = fopen(path, "wb"));
    if (b.len > 0)
        assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    assert_int_equal(fclose(f), 0);
    ff_buf_free(&b);
}

static void
test_replay_order(void **state)
{
    const char *dir = *state;
    char path[512];
    dbf_wal_t *w;
    seen_t s;
    FILE *f;

    /* Created out of order; 0x10 must sort after 0x9 (numeric, not by creation). */
    write_segment(dir, 0x10, 20, 30);
    write_segment(dir, 0x2, 0, 10);
    write_segment(dir, 0x9, 10, 20);
    write_segment(dir, 0x3, 0, 0);
    snprintf(path, sizeof(path), "%s/wal-00000000000000zz.log", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("not a segment", f);
    fclose(f);
    w = open_replay(dir, &s, 30, 0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(s.pk[i], i);
    expect_ids(dir, 5, (uint64_t[]){0x2, 0x3, 0x9, 0x10, 0x11});
    append_range(w, 30, 31);
    dbf_wal_close(w);
    w = open_replay(dir, &s, 31, 0);
    assert_int_equal(s.pk[30], 30);
    dbf_wal_close(w);
}

typedef void (*damage_fn)(const char *path, uint64_t good, uint64_t end);

/* Three records in segment 1, the last one damaged: replay keeps two, cuts the file, and
 * later appends go to segment 2 and replay fine. */
static void
check_damaged_tail(const char *dir, damage_fn damage)
{
    uint64_t good = frame_size(0) + frame_size(1), end = good + frame_size(2);
    char path[512];
    dbf_wal_t *w;
    seen_t s;

    w = open_replay(dir, &s, 0, 0);
    append_range(w, 0, 1);
    append_range(w, 1, 3);
    dbf_wal_close(w);
    seg_path(path, sizeof(path), dir, 1);
    assert_int_equal(file_size(path), end);
    damage(path, good, end);

    w = open_replay(dir, &s, 2, 1);
    assert_int_equal(s.pk[0], 0);
    assert_int_equal(s.pk[1], 1);
    assert_int_equal(file_size(path), good);
    assert_int_equal(dbf_wal_size(w), good);
    expect_ids(dir, 2, (uint64_t[]){1, 2});
    append_range(w, 3, 5);
    assert_int_equal(file_size(path), good);
    assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    dbf_wal_close(w);

    w = open_replay(dir, &s, 4, 0);
    assert_int_equal(s.pk[2], 3);
    assert_int_equal(s.pk[3], 4);
    expect_ids(dir, 3, (uint64_t[]){1, 2, 3});
    dbf_wal_close(w);
}

static void
cut_mid_record(const char *path, uint64_t good, uint64_t end)
{
    (void)good;
    assert_int_equal(truncate(path, (off_t)(end - 5)), 0);
}

static void
flip_payload_byte(const char *path, uint64_t good, uint64_t end)
{
    int fd = open(path, O_RDWR);
    uint8_t c;

    assert_true(fd >= 0);
    off_t at = (off_t)(good + 8 + (end - good - 8) / 2);
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

/* Overwrites the last record's length with `len`, keeping the file's size. */
static void
bad_length(const char *path, uint64_t good, uint32_t len)
{
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    int fd = open(path, O_RDWR);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, be, 4, (off_t)good), 4);
    close(fd);
}

static void
huge_length(const char *path, uint64_t good, uint64_t end)
{
    (void)end;
    bad_length(path, good, 0xFFFFFFF0u);
}

static void
over_max_length(const char *path, uint64_t good, uint64_t end)
{
    (void)end;
    bad_length(path, good, DBF_WAL_MAX_RECORD + 1);
}

/* A length past the end of the file, but under the maximum. */
static void
long_length(const char *path, uint64_t good, uint64_t end)
{
    bad_length(path, good, (uint32_t)(end - good));
}

/* What a crash can leave on some filesystems: the size grew, the data never came. */
static void
zero_tail(const char *path, uint64_t good, uint64_t end)
{
    uint8_t zeros[4096] = {0};
    int fd = open(path, O_RDWR);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, zeros, end - good, (off_t)good), (ssize_t)(end - good));
    assert_int_equal(pwrite(fd, zeros, sizeof(zeros), (off_t)end), (ssize_t)sizeof(zeros));
    close(fd);
}

static void
test_torn_last_record(void **state)
{
    check_damaged_tail(*state, cut_mid_record);
}

static void
test_crc_flip_last_record(void **state)
{
    check_damaged_tail(*state, flip_payload_byte);
}

static void
test_garbage_length(void **state)
{
    check_damaged_tail(*state, huge_length);
}

static void
test_length_over_max(void **state)
{
    check_damaged_tail(*state, over_max_length);
}

static void
test_length_past_end(void **state)
{
    check_damaged_tail(*state, long_length);
}

static void
test_zero_filled_tail(void **state)
{
    check_damaged_tail(*state, zero_tail);
}

/* A cut in an older segment ends that segment only; the next one still replays. */
static void
test_torn_middle_segment(void **state)
{
    const char *dir = *state;
    char path[512];
    dbf_wal_t *w;
    seen_t s;

    write_segment(dir, 1, 0, 3);
    write_segment(dir, 2, 3, 6);
    seg_path(path, sizeof(path), dir, 1);
    assert_int_equal(truncate(path, (off_t)(file_size(path) - 1)), 0);
    w = open_replay(dir, &s, 5, 1);
    int want[] = {0, 1, 3, 4, 5};
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.pk[i], want[i]);
    dbf_wal_close(w);
}

static void
test_trim(void **state)
{
    const char *dir = *state;
    uint64_t upto;
    dbf_wal_t *w;
    seen_t s;

    w = open_replay(dir, &s, 0, 0);
    for (int i = 0; i < 4; i++) {
        append_range(w, i * 10, i * 10 + 10);
        assert_int_equal(dbf_wal_rotate(w, &upto), 0);
        assert_int_equal(upto, (uint64_t)i + 1);
    }
    append_range(w, 40, 50);
    expect_ids(dir, 5, (uint64_t[]){1, 2, 3, 4, 5});

    assert_int_equal(dbf_wal_trim(w, 0), 0);
    expect_ids(dir, 5, (uint64_t[]){1, 2, 3, 4, 5});
    assert_int_equal(dbf_wal_trim(w, 3), 0);
    expect_ids(dir, 2, (uint64_t[]){4, 5});
    assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    /* The current segment survives any upto. */
    assert_int_equal(dbf_wal_trim(w, UINT64_MAX), 0);
    expect_ids(dir, 1, (uint64_t[]){5});
    assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    append_range(w, 50, 52);
    dbf_wal_close(w);

    w = open_replay(dir, &s, 12, 0);
    for (int i = 0; i < 12; i++)
        assert_int_equal(s.pk[i], 40 + i);
    dbf_wal_close(w);
}

static void
test_size_accounting(void **state)
{
    const char *dir = *state;
    uint64_t upto, total = 0;
    dbf_wal_t *w;
    seen_t s;

    w = open_replay(dir, &s, 0, 0);
    assert_int_equal(dbf_wal_size(w), 0);
    for (int i = 0; i < 20; i++) {
        append_range(w, i, i + 1);
        total += frame_size(i);
        assert_int_equal(dbf_wal_size(w), total);
        if (i % 7 == 6)
            assert_int_equal(dbf_wal_rotate(w, &upto), 0);
    }
    assert_int_equal(dbf_wal_size(w), dir_bytes(dir));
    dbf_wal_close(w);
    /* Counted from the files on open, before replay too. */
    assert_non_null(w = dbf_wal_open(dir, NULL, 0));
    assert_int_equal(dbf_wal_size(w), total);
    dbf_wal_close(w);
}

/* Rotating an empty current segment keeps it (no file churn while idle). */
static void
test_rotate_empty(void **state)
{
    const char *dir = *state;
    uint64_t upto;
    dbf_wal_t *w;
    seen_t s;

    w = open_replay(dir, &s, 0, 0);
    assert_int_equal(dbf_wal_rotate(w, &upto), 0);
    assert_int_equal(upto, 0);
    assert_int_equal(dbf_wal_rotate(w, &upto), 0);
    assert_int_equal(upto, 0);
    expect_ids(dir, 1, (uint64_t[]){1});
    append_range(w, 0, 1);
    assert_int_equal(dbf_wal_rotate(w, &upto), 0);
    assert_int_equal(upto, 1);
    expect_ids(dir, 2, (uint64_t[]){1, 2});
    dbf_wal_close(w);
}

/* RLIMIT_FSIZE makes write() stop short and then fail with EFBIG in the middle of a batch:
 * the segment must be cut back to its size before the call. */
static void
test_append_failure_truncates(void **state)
{
    const char *dir = *state;
    struct rlimit old, lim;
    char path[512];
    uint64_t before;
    ff_buf_t b = {0};
    char p[512];
    dbf_wal_t *w;
    seen_t s;

    w = open_replay(dir, &s, 0, 0);
    append_range(w, 0, 3);
    seg_path(path, sizeof(path), dir, 1);
    before = file_size(path);
    for (int i = 3; i < 20; i++)
        dbf_wal_put_record(&b, p, payload(i, p, sizeof(p)));

    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = before + b.len / 2;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = dbf_wal_append(w, b.data, b.len);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);

    assert_int_equal(rc, -EFBIG);
    assert_int_equal(file_size(path), before);
    assert_int_equal(dbf_wal_size(w), before);
    assert_int_equal(dbf_wal_append(w, b.data, b.len), 0);
    assert_int_equal(dbf_wal_size(w), before + b.len);
    ff_buf_free(&b);
    dbf_wal_close(w);

    w = open_replay(dir, &s, 20, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(s.pk[i], i);
    dbf_wal_close(w);
}

static void
test_replay_stops_on_callback(void **state)
{
    const char *dir = *state;
    char err[256] = "";
    dbf_wal_t *w;
    seen_t s = {0};
    int torn = -1;

    write_segment(dir, 1, 0, 5);
    assert_non_null(w = dbf_wal_open(dir, err, sizeof(err)));
    s.stop_at = 2;
    assert_int_equal(dbf_wal_replay(w, collect, &s, &torn, err, sizeof(err)), 7);
    assert_int_equal(torn, 0);
    assert_non_null(strstr(err, "replay stopped"));
    dbf_wal_close(w);
    /* Nothing was cut. */
    w = open_replay(dir, &s, 5, 0);
    dbf_wal_close(w);
}

static void
test_open_errors_and_lock(void **state)
{
    const char *dir = *state;
    char err[256] = "", path[512];
    dbf_wal_t *w, *w2;
    seen_t s;

    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_non_null(w = dbf_wal_open(path, err, sizeof(err)));
    assert_null(w2 = dbf_wal_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot lock"));
    dbf_wal_close(w);
    w = open_replay(path, &s, 0, 0);
    dbf_wal_close(w);

    snprintf(path, sizeof(path), "%s/file", dir);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof(path), "%s/file/sub", dir);
    assert_null(dbf_wal_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot create directory"));
    assert_null(dbf_wal_open("", err, sizeof(err)));
    dbf_wal_close(NULL);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_crc_matches_reference),
        T(test_round_trip_rotations),
        T(test_replay_order),
        T(test_torn_last_record),
        T(test_crc_flip_last_record),
        T(test_garbage_length),
        T(test_length_over_max),
        T(test_length_past_end),
        T(test_zero_filled_tail),
        T(test_torn_middle_segment),
        T(test_trim),
        T(test_size_accounting),
        T(test_rotate_empty),
        T(test_append_failure_truncates),
        T(test_replay_stops_on_callback),
        T(test_open_errors_and_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
