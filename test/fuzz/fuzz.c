/* fuzz: helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    abort();
}

void
fuzz_split(fuzz_split_t *s, const uint8_t *in, size_t size)
{
    size_t k = size > 0 ? in[0] & 7u : 0, head = 1 + 2 * k, off = 0;

    memset(s, 0, sizeof(*s));
    if (size == 0)
        return;
    s->mode = in[0] >> 3;
    if (head > size)
        head = size;
    s->data = in + head;
    s->len = size - head;
    for (size_t i = 0; i < k && off < s->len; i++) {
        size_t n = 1u + (1 + 2 * i + 1 < head ? (size_t)in[1 + 2 * i] << 8 | in[2 + 2 * i] : 0);
        s->at[s->npieces++] = off;
        off += n < s->len - off ? n : s->len - off;
    }
    if (off < s->len)
        s->at[s->npieces++] = off;
    s->at[s->npieces] = s->len;
}

uint8_t *
fuzz_dup(const void *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);

    if (d == NULL)
        abort();
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

uint64_t
fuzz_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static char tmpdir[256];

static int
remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void
fuzz_tmpdir_remove(void)
{
    nftw(tmpdir, remove_cb, 8, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(void)
{
    struct stat st;
    const char *base = getenv("TMPDIR");

    if (tmpdir[0] != '\0')
        return tmpdir;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
        base = "/dev/shm";
    else if (base == NULL)
        base = "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/ff-fuzz-%d", base, (int)getpid());
    if (mkdir(tmpdir, 0700) < 0) {
        perror(tmpdir);
        abort();
    }
    atexit(fuzz_tmpdir_remove);
    return tmpdir;
}
