/* fuzz: what the fuzz targets share: libFuzzer's entry point, an invariant check that
 * aborts naming file and line, and the cutting of an input into the pieces in which a
 * socket might deliver it. Each target is test/fuzz/<name>_fuzz.c; `make fuzz` links it
 * with libFuzzer (clang), `make test` with driver.c (gcc) to replay its corpus once. */
#ifndef FF_FUZZ_H
#define FF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input; returns 0 (libFuzzer's contract). Defined by each target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with "file:line: invariant failed: what" when cond is false; the fuzzer then
 * keeps the input as a crash. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#define FUZZ_MAX_PIECES 8

/* An input cut into pieces. Its first byte's low 3 bits give the number of cuts k; the
 * next 2k bytes the lengths minus one of the first k pieces (big-endian 16 bits each; a
 * length past the end is cut short); the rest of the input is the stream, and the last
 * piece is whatever the first k leave. Bits 3..7 of the first byte are the target's
 * (`mode`). No piece is empty, so an empty stream has no pieces. */
typedef struct {
    const uint8_t *data; /* the stream */
    size_t len;
    unsigned mode; /* the first byte >> 3 */
    size_t npieces;
    size_t at[FUZZ_MAX_PIECES + 1]; /* piece i is data[at[i] .. at[i + 1]) */
} fuzz_split_t;

/* Cuts an input as described above. */
void fuzz_split(fuzz_split_t *s, const uint8_t *in, size_t size);
/* A new heap copy of n bytes (at least one byte allocated), so that AddressSanitizer
 * catches a read past the n: buffers with spare capacity would hide it. Free with free(). */
uint8_t *fuzz_dup(const void *p, size_t n);
/* FNV-1a of n bytes, continuing from h (start with FUZZ_HASH_INIT). */
#define FUZZ_HASH_INIT 0xcbf29ce484222325ull
uint64_t fuzz_hash(uint64_t h, const void *p, size_t n);
/* A directory of this process's own under /dev/shm (else $TMPDIR or /tmp), made on the
 * first call and removed with its files at exit; for targets whose code reads files. */
const char *fuzz_tmpdir(void);

#endif
