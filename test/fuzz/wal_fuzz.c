/* wal_fuzz: dbfront's log replay on arbitrary segment files: dbf_wal_open + dbf_wal_replay
 * over up to 8 segments (the input's pieces), then every record applied to a fixed schema
 * with dbf_rows_replay, as dbfront's boot does. Replay must cut each segment after its last
 * intact record, so that a second replay of the same directory finds the same records and
 * nothing torn; sizes must add up. */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "fuzz.h"
#include "rows.h"
#include "wal.h"

typedef struct {
    long n;
    uint64_t digest;
    ff_buf_t records; /* u32 length + payload each, as dbfront's boot collects them */
} replay_t;

static int
collect(void *arg, const uint8_t *payload, size_t len)
{
    replay_t *r = arg;

    FUZZ_CHECK(len > 0 && len <= DBF_WAL_MAX_RECORD);
    r->n++;
    r->digest = fuzz_hash(r->digest, payload, len);
    ff_buf_put_be32(&r->records, (uint32_t)len);
    ff_buf_put(&r->records, payload, len);
    return 0;
}

static void
write_file(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[1024];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(len == 0 || write(fd, p, len) == (ssize_t)len);
    close(fd);
}

/* Removes every file of dir (the segments of the last run). */
static void
empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[1024];

    FUZZ_CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Opens and replays the log in dir; returns the replay's figures. */
static replay_t
replay(const char *dir, int *torn, uint64_t *size)
{
    replay_t r = {0, FUZZ_HASH_INIT, {0}};
    char err[256];
    dbf_wal_t *w = dbf_wal_open(dir, err, sizeof(err));
    long n;

    FUZZ_CHECK(w != NULL);
    n = dbf_wal_replay(w, collect, &r, torn, err, sizeof(err));
    FUZZ_CHECK(n == r.n);
    *size = dbf_wal_size(w);
    dbf_wal_close(w);
    return r;
}

/* Applies the records to rows of the fixture's schema, as dbfront's replay_done does. */
static void
apply(const replay_t *r)
{
    const dbf_schema_t *s = fuzz_schema();
    int64_t max_pk[8] = {0};
    size_t at = 0;
    char err[256];
    dbf_rows_t rows;
    dbf_snapshot_t *snap;

    dbf_rows_init(&rows);
    while (at + 4 <= r->records.len) {
        uint32_t len = ff_be32(r->records.data + at);
        uint8_t *copy = fuzz_dup(r->records.data + at + 4, len);
        if (dbf_rows_replay(&rows, s, copy, len, max_pk, err, sizeof(err)) < 0)
            FUZZ_CHECK(err[0] != '\0');
        free(copy);
        at += 4 + (size_t)len;
    }
    snap = dbf_rows_snapshot(&rows);
    FUZZ_CHECK((snap == NULL) == (rows.ndirty == 0));
    if (snap != NULL)
        dbf_rows_committed(&rows, snap);
    dbf_rows_clear(&rows);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[300];
    fuzz_split_t sp;
    char name[64];
    int torn1, torn2;
    uint64_t size1, size2;
    replay_t r1, r2;

    if (dir[0] == '\0')
        snprintf(dir, sizeof(dir), "%s/wal", fuzz_tmpdir());
    mkdir(dir, 0700);
    empty_dir(dir);
    fuzz_split(&sp, data, size);
    for (size_t i = 0; i < sp.npieces; i++) {
        snprintf(name, sizeof(name), "wal-%016llx.log", (unsigned long long)i + 1);
        write_file(dir, name, sp.data + sp.at[i], sp.at[i + 1] - sp.at[i]);
    }
    r1 = replay(dir, &torn1, &size1);
    FUZZ_CHECK(torn1 >= 0 && (size_t)torn1 <= sp.npieces);
    FUZZ_CHECK(size1 == r1.records.len + 4 * (uint64_t)r1.n); /* 8-byte headers, 4 collected */
    r2 = replay(dir, &torn2, &size2);
    FUZZ_CHECK(torn2 == 0);
    FUZZ_CHECK(r2.n == r1.n && r2.digest == r1.digest && size2 == size1);
    apply(&r1);
    ff_buf_free(&r1.records);
    ff_buf_free(&r2.records);
    return 0;
}
