/* wal: dbfront's write-ahead log — segment files in one directory, records framed with a
 * length and a CRC-32C, appends made durable with fdatasync, torn tails cut on replay.
 *
 * The directory is flock()ed while open, so two dbfront processes never share one log.
 * Segments are kept in an array sorted by id; the current one (if any) is the last. Sizes
 * are counted as records are appended, cut and trimmed, never stat()ed on the hot path. */
#include "wal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

#define WAL_HDR 8               /* u32 length + u32 CRC-32C */
#define WAL_NAME_LEN 24         /* "wal-" + 16 hex digits + ".log" */
#define CRC32C_POLY 0x82F63B78u /* Castagnoli, reflected */

#if defined(__x86_64__) && defined(__GNUC__)
#define WAL_CRC_HW 1
#endif

typedef struct {
    uint64_t id, size;
} wal_seg_t;

struct dbf_wal_s {
    char *dir;        /* for error messages */
    int dirfd;        /* open (and flock()ed) for the lifetime of the log */
    int fd;           /* the current segment, O_APPEND; -1 until one is needed */
    int started;      /* a segment was created: replay would re-read our own records */
    uint64_t next_id; /* highest id seen + 1 */
    wal_seg_t *segs;  /* every segment on disk, ascending ids */
    size_t nsegs, cap;
    _Atomic uint64_t size; /* sum of segs[].size; atomic so that status may read it anywhere */
};

typedef struct {
    dbf_wal_record_fn fn;
    void *arg;
    long count;
    int torn;
    char *err;
    size_t errlen;
} wal_replay_t;

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#ifdef WAL_CRC_HW
static int crc_hw;
#endif

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = crc_table[t - 1][i] >> 8 ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#ifdef WAL_CRC_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Slicing-by-8: eight table lookups per eight bytes instead of one per byte. */
static uint32_t
crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    const uint32_t(*t)[256] = crc_table;

    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = c ^ le32(p), hi = le32(p + 4);
        c = t[7][lo & 0xff] ^ t[6][lo >> 8 & 0xff] ^ t[5][lo >> 16 & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][hi >> 8 & 0xff] ^ t[1][hi >> 16 & 0xff] ^ t[0][hi >> 24];
    }
    while (n--)
        c = t[0][(c ^ *p++) & 0xff] ^ c >> 8;
    return c;
}

#ifdef WAL_CRC_HW
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c, v;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t
dbf_crc32c(const void *p, size_t len)
{
    pthread_once(&crc_once, crc_init);
#ifdef WAL_CRC_HW
    if (crc_hw)
        return ~crc_sse42(~0u, p, len);
#endif
    return ~crc_sw(~0u, p, len);
}

/* An empty payload is refused because its CRC-32C is 0: a zero-filled tail (a file extended
 * but never written, after a crash) would otherwise replay as a run of empty records. */
void
dbf_wal_put_record(ff_buf_t *b, const void *payload, size_t len)
{
    assert(len > 0 && len <= DBF_WAL_MAX_RECORD);
    ff_buf_reserve(b, WAL_HDR + len);
    ff_buf_put_be32(b, (uint32_t)len);
    ff_buf_put_be32(b, dbf_crc32c(payload, len));
    ff_buf_put(b, payload, len);
}

/* Formats "<fmt>: <strerror(e)>" into err (which may be NULL) and returns -e. */
__attribute__((format(printf, 4, 5))) static int
wal_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
    char why[128];
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return -e;
    va_start(ap, fmt);
    n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s", strerror_r(e, why, sizeof(why)));
    return -e;
}

static void
seg_name(char name[WAL_NAME_LEN + 1], uint64_t id)
{
    snprintf(name, WAL_NAME_LEN + 1, "wal-%016llx.log", (unsigned long long)id);
}

/* Returns 1 and the id when name is exactly "wal-<16 lowercase hex digits>.log". */
static int
seg_parse(const char *name, uint64_t *id)
{
    uint64_t v = 0;

    if (strlen(name) != WAL_NAME_LEN || memcmp(name, "wal-", 4) || strcmp(name + 20, ".log"))
        return 0;
    for (const char *p = name + 4; p < name + 20; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return 1;
}

static void
seg_push(dbf_wal_t *w, uint64_t id, uint64_t size)
{
    if (w->nsegs == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->segs = ff_realloc(w->segs, w->cap * sizeof(*w->segs));
    }
    w->segs[w->nsegs].id = id;
    w->segs[w->nsegs++].size = size;
    if (id >= w->next_id)
        w->next_id = id + 1;
}

static int
seg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const wal_seg_t *)a)->id, y = ((const wal_seg_t *)b)->id;
    return (x > y) - (x < y);
}

static void
recount(dbf_wal_t *w)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < w->nsegs; i++)
        sum += w->segs[i].size;
    atomic_store_explicit(&w->size, sum, memory_order_relaxed);
}

/* fsyncs the directory that holds path (its last component's parent). */
static int
fsync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    int fd, rc = 0, e;

    if (slash)
        *slash = '\0';
    fd = open(slash == path ? "/" : slash ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    e = errno;
    if (slash)
        *slash = '/';
    if (fd < 0)
        return -e;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* mkdir -p; the parent of every directory made is fsynced so that the new entry survives a
 * crash along with the segments that will live below it. */
static int
mkdir_p(const char *dir)
{
    char *p = ff_strdup(dir), *s = p;
    int rc = 0;

    for (;;) {
        s = strchr(s + 1, '/');
        if (s)
            *s = '\0';
        if (mkdir(p, 0755) == 0)
            rc = fsync_parent(p);
        else if (errno != EEXIST)
            rc = -errno;
        if (rc < 0 || s == NULL)
            break;
        *s = '/';
    }
    ff_free(p);
    return rc;
}

/* Lists the segments in the directory with their sizes. */
static int
scan(dbf_wal_t *w)
{
    int fd = openat(w->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
    struct dirent *de;
    struct stat st;
    uint64_t id;
    DIR *d;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        e = errno;
        if (fd >= 0)
            close(fd);
        return -e;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (!seg_parse(de->d_name, &id))
            continue;
        if (fstatat(w->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            e = errno;
            break;
        }
        if (S_ISREG(st.st_mode))
            seg_push(w, id, (uint64_t)st.st_size);
    }
    if (de == NULL)
        e = errno;
    closedir(d);
    if (w->nsegs > 1)
        qsort(w->segs, w->nsegs, sizeof(*w->segs), seg_cmp);
    recount(w);
    return -e;
}

dbf_wal_t *
dbf_wal_open(const char *dir, char *err, size_t errlen)
{
    dbf_wal_t *w = ff_calloc(1, sizeof(*w));
    int rc, e;

    w->fd = -1;
    w->next_id = 1;
    w->dir = ff_strdup(dir);
    rc = *dir ? mkdir_p(dir) : -EINVAL;
    if (rc < 0) {
        wal_err(err, errlen, -rc, "wal: cannot create directory \"%s\"", dir);
        goto fail_mkdir;
    }
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        e = errno;
        wal_err(err, errlen, e, "wal: %s", dir);
        goto fail_mkdir;
    }
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
        e = errno;
        wal_err(err, errlen, e, "wal: %s: cannot lock (another dbfront using it?)", dir);
        goto fail_lock;
    }
    if ((rc = scan(w)) < 0) {
        wal_err(err, errlen, -rc, "wal: %s: cannot list", dir);
        goto fail_lock;
    }
    return w;

fail_lock:
    close(w->dirfd);
fail_mkdir:
    ff_free(w->segs);
    ff_free(w->dir);
    ff_free(w);
    return NULL;
}

/* Creates segment next_id and makes it current. O_EXCL because a segment is new by
 * construction: finding the name taken means another writer or a bookkeeping bug, and
 * appending to a file we did not replay could hide acknowledged records behind a torn one.
 * O_APPEND because after a failed append is cut back with ftruncate, the next write must
 * land at the new end; a plain offset would stay past the cut and leave a hole of zeros. */
static int
seg_create(dbf_wal_t *w)
{
    char name[WAL_NAME_LEN + 1];
    int fd, e;

    seg_name(name, w->next_id);
    fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (fsync(w->dirfd) < 0) {
        e = errno;
        close(fd);
        unlinkat(w->dirfd, name, 0);
        return -e;
    }
    seg_push(w, w->next_id, 0);
    w->fd = fd;
    w->started = 1;
    return 0;
}

/* Calls fn for each intact record of p[0..size); returns the offset past the last good one.
 * *stop receives fn's non-zero value, if any. */
static uint64_t
scan_records(const uint8_t *p, uint64_t size, wal_replay_t *r, int *stop)
{
    uint64_t off = 0;
    uint32_t len;

    while (size - off >= WAL_HDR) {
        len = ff_be32(p + off);
        if (len == 0 || len > DBF_WAL_MAX_RECORD || size - off - WAL_HDR < len)
            break;
        if (dbf_crc32c(p + off + WAL_HDR, len) != ff_be32(p + off + 4))
            break;
        if (r->fn && (*stop = r->fn(r->arg, p + off + WAL_HDR, len)) != 0)
            return off;
        r->count++;
        off += WAL_HDR + len;
    }
    return off;
}

/* Replays one segment and cuts it after its last good record. */
static int
replay_seg(dbf_wal_t *w, wal_seg_t *s, wal_replay_t *r)
{
    char name[WAL_NAME_LEN + 1];
    struct stat st;
    uint8_t *p = NULL;
    uint64_t good = 0;
    int fd, e = 0, stop = 0;

    seg_name(name, s->id);
    if ((fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        e = errno;
        goto fail_open;
    }
    s->size = (uint64_t)st.st_size;
    if (s->size > 0 && (p = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        e = errno;
        goto fail_open;
    }
    good = scan_records(p, s->size, r, &stop);
    if (p)
        munmap(p, s->size);
    if (stop == 0 && good < s->size) {
        if (ftruncate(fd, (off_t)good) < 0 || fdatasync(fd) < 0) {
            e = errno;
            goto fail_open;
        }
        s->size = good;
        r->torn++;
    }
    close(fd);
    if (stop != 0 && r->err && r->errlen)
        snprintf(r->err, r->errlen, "wal: %s/%s: replay stopped (%d)", w->dir, name, stop);
    return stop;

fail_open:
    if (fd >= 0)
        close(fd);
    return wal_err(r->err, r->errlen, e, "wal: %s/%s", w->dir, name);
}

long
dbf_wal_replay(dbf_wal_t *w, dbf_wal_record_fn fn, void *arg, int *torn, char *err, size_t errlen)
{
    wal_replay_t r = {fn, arg, 0, 0, err, errlen};
    int rc = 0;

    if (w->started) {
        rc = wal_err(err, errlen, EINVAL, "wal: %s: replay after appends", w->dir);
        goto done;
    }
    for (size_t i = 0; i < w->nsegs && rc == 0; i++)
        rc = replay_seg(w, &w->segs[i], &r);
    if (rc == 0 && (rc = seg_create(w)) < 0)
        wal_err(err, errlen, -rc, "wal: %s: cannot create a segment", w->dir);
    recount(w);
done:
    if (torn)
        *torn = r.torn;
    return rc != 0 ? rc : r.count;
}

/* One write of the whole batch, resumed after signals and short writes. */
static int
write_all(int fd, const uint8_t *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* After a failed append: cut the segment back to its last good size. If even that fails,
 * the segment may end in a partial batch, and an acknowledged record written after it would
 * be lost at replay (which stops at the first bad record); so the segment is abandoned and
 * the next append starts a new one. */
static void
append_undo(dbf_wal_t *w, wal_seg_t *s)
{
    struct stat st;

    if (ftruncate(w->fd, (off_t)s->size) == 0 && fdatasync(w->fd) == 0)
        return;
    if (fstat(w->fd, &st) == 0 && (uint64_t)st.st_size != s->size) {
        atomic_fetch_add_explicit(&w->size, (uint64_t)st.st_size - s->size, memory_order_relaxed);
        s->size = (uint64_t)st.st_size;
    }
    close(w->fd);
    w->fd = -1;
}

int
dbf_wal_append(dbf_wal_t *w, const void *records, size_t len)
{
    wal_seg_t *s;
    int rc;

    if (len == 0)
        return 0;
    if (w->fd < 0 && (rc = seg_create(w)) < 0)
        return rc;
    s = &w->segs[w->nsegs - 1];
    rc = write_all(w->fd, records, len);
    if (rc == 0 && fdatasync(w->fd) < 0)
        rc = -errno;
    if (rc < 0) {
        append_undo(w, s);
        return rc;
    }
    s->size += len;
    atomic_fetch_add_explicit(&w->size, len, memory_order_relaxed);
    return 0;
}

/* A current segment that is still empty is kept: rotating it would only churn files (and
 * fsync the directory twice) every flush interval while the server is idle. */
int
dbf_wal_rotate(dbf_wal_t *w, uint64_t *upto)
{
    int rc;

    if (w->fd >= 0 && w->segs[w->nsegs - 1].size == 0) {
        *upto = w->segs[w->nsegs - 1].id - 1;
        return 0;
    }
    if (w->fd >= 0) {
        if (fdatasync(w->fd) < 0)
            return -errno;
        close(w->fd);
        w->fd = -1;
    }
    if ((rc = seg_create(w)) < 0)
        return rc;
    *upto = w->segs[w->nsegs - 1].id - 1;
    return 0;
}

int
dbf_wal_trim(dbf_wal_t *w, uint64_t upto)
{
    char name[WAL_NAME_LEN + 1];
    size_t n = 0, keep = w->fd >= 0 ? w->nsegs - 1 : w->nsegs;
    int rc = 0;

    for (; n < keep && w->segs[n].id <= upto; n++) {
        seg_name(name, w->segs[n].id);
        if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
            rc = -errno;
            break;
        }
        atomic_fetch_sub_explicit(&w->size, w->segs[n].size, memory_order_relaxed);
    }
    if (n == 0)
        return rc;
    memmove(w->segs, w->segs + n, (w->nsegs - n) * sizeof(*w->segs));
    w->nsegs -= n;
    if (fsync(w->dirfd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

uint64_t
dbf_wal_size(const dbf_wal_t *w)
{
    return atomic_load_explicit(&w->size, memory_order_relaxed);
}

void
dbf_wal_close(dbf_wal_t *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    close(w->dirfd);
    ff_free(w->segs);
    ff_free(w->dir);
    ff_free(w);
}
