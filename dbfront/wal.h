/* wal: dbfront's write-ahead log. A directory of segments `wal-<16 hex digits>.log`, each a
 * sequence of records `u32 length (big-endian) | u32 CRC-32C of the payload | payload`.
 * Appends go to the newest segment and are made durable with fdatasync; rotation starts a
 * new segment so that the older ones can be deleted once a flush to MariaDB covered them.
 * Every function but dbf_wal_put_record does file I/O: call them from one worker thread. */
#ifndef DBF_WAL_H
#define DBF_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DBF_WAL_MAX_RECORD (16u << 20)

typedef struct dbf_wal_s dbf_wal_t;

/* Called by replay for each intact record, oldest first; returns 0, or non-zero to stop
 * the replay with that value. The payload is valid during the call only. */
typedef int (*dbf_wal_record_fn)(void *arg, const uint8_t *payload, size_t len);

/* Opens (creating the directory, mkdir -p) the log in `dir`. Returns NULL with a message
 * in err. Does not read the records: call dbf_wal_replay. */
dbf_wal_t *dbf_wal_open(const char *dir, char *err, size_t errlen);
/* Reads every segment in order and calls fn for each record. A record that is cut short
 * or fails its CRC ends the replay of its segment, which is truncated there (a crash in the
 * middle of an append: that write was never acknowledged); the count of such cuts goes to
 * *torn (may be NULL). Afterwards appends go to a fresh segment. Returns the number of
 * records, or a negative errno (or fn's non-zero value) with a message in err. */
long dbf_wal_replay(dbf_wal_t *w, dbf_wal_record_fn fn, void *arg, int *torn, char *err,
                    size_t errlen);
/* Appends a batch of framed records (built with dbf_wal_put_record) and fdatasyncs.
 * Returns 0 or a negative errno; on error the segment is truncated back to its size
 * before the call, so that no partial batch stays behind. */
int dbf_wal_append(dbf_wal_t *w, const void *records, size_t len);
/* Closes the current segment and starts a new one. *upto receives the id of the segment
 * just closed: every record appended before the call is in a segment <= upto. Returns 0 or
 * a negative errno. */
int dbf_wal_rotate(dbf_wal_t *w, uint64_t *upto);
/* Deletes every segment with an id <= upto (never the current one). Returns 0 or a
 * negative errno. */
int dbf_wal_trim(dbf_wal_t *w, uint64_t upto);
/* Total bytes in all segments. */
uint64_t dbf_wal_size(const dbf_wal_t *w);
/* Closes the files; dbf_wal_close(NULL) is a no-op. */
void dbf_wal_close(dbf_wal_t *w);
/* Appends one framed record (length, CRC-32C, payload) to b. Pure; any thread. */
void dbf_wal_put_record(ff_buf_t *b, const void *payload, size_t len);
/* CRC-32C (Castagnoli) of len bytes. */
uint32_t dbf_crc32c(const void *p, size_t len);

#endif
