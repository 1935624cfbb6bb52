/* driver: a main() for a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput once on
 * every file of its corpus, so that `make test` replays the corpora with gcc and no fuzzing.
 *
 *   build/test/fuzz/frame_fuzz               test/fuzz/corpus/frame/ (run from the repo root)
 *   build/test/fuzz/frame_fuzz FILE|DIR ...  those inputs instead (a crash to reproduce)
 *
 * The target's name is the program's, without "_fuzz". Prints `ok 1 - frame: N inputs`;
 * a failed invariant aborts, so the test fails on the first bad input, named on stderr. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char target[64];
static const char *current; /* the input being run, for the crash handler */

/* Names the input that crashed, then dies of the same signal. */
static void
crash_cb(int sig)
{
    static const char what[] = "fuzz driver: crashed on input ";

    if (current != NULL) {
        (void)!write(2, what, sizeof(what) - 1);
        (void)!write(2, current, strlen(current));
        (void)!write(2, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs the target on one file; returns 0, or -1 (reported) when it cannot be read. */
static int
run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *data;
    long size;

    if (fp == NULL || fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) < 0) {
        printf("not ok 1 - %s: cannot read %s: %s\n", target, path, strerror(errno));
        if (fp != NULL)
            fclose(fp);
        return -1;
    }
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL || fread(data, 1, (size_t)size, fp) != (size_t)size) {
        printf("not ok 1 - %s: cannot read %s\n", target, path);
        fclose(fp);
        free(data);
        return -1;
    }
    fclose(fp);
    current = path;
    LLVMFuzzerTestOneInput(data, (size_t)size);
    current = NULL;
    free(data);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target on every regular file of dir, in name order; returns the count or -1. */
static long
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    long count = 0;

    if (d == NULL) {
        printf("not ok 1 - %s: cannot open %s: %s\n", target, dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap &&
            (names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names))) == NULL)
            abort();
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (count >= 0 && run_file(path) == 0)
            count++;
        else
            count = -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int
main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    char dir[256];
    struct stat st;
    long total = 0, n;

    signal(SIGABRT, crash_cb);
    signal(SIGSEGV, crash_cb);
    signal(SIGBUS, crash_cb);
    signal(SIGFPE, crash_cb);
    signal(SIGILL, crash_cb);
    snprintf(target, sizeof(target), "%.*s", (int)strcspn(base, "."), base);
    if (strlen(target) > 5 && strcmp(target + strlen(target) - 5, "_fuzz") == 0)
        target[strlen(target) - 5] = '\0';
    snprintf(dir, sizeof(dir), "test/fuzz/corpus/%s", target);
    for (int i = argc > 1 ? 1 : 0; i < argc; i++) {
        const char *arg = argc > 1 ? argv[i] : dir;
        if (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode))
            n = run_file(arg) == 0 ? 1 : -1;
        else
            n = run_dir(arg);
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        printf("not ok 1 - %s: no inputs\n", target);
        return 1;
    }
    printf("ok 1 - %s: %ld inputs\n", target, total);
    return 0;
}
