/* rows: the rows dbfront knows, in memory: every dirty row (written since its last flush to
 * MariaDB) and the clean rows it served recently. Applying writes, encoding them as log
 * records and replaying those, taking a snapshot for a flush and marking it committed.
 * Pure code on the loop thread: no I/O. */
#ifndef DBF_ROWS_H
#define DBF_ROWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "list.h"
#include "map.h"
#include "schema.h"

/* Primary keys are 1..DBF_PK_MAX (the map key keeps the table in the top byte). */
#define DBF_PK_MAX ((INT64_C(1) << 56) - 1)

enum { DBF_CLEAN, DBF_NEW, DBF_UPD, DBF_DEL };
enum { DBF_REC_NEW, DBF_REC_UPD, DBF_REC_DEL };

typedef struct {
    const dbf_table_t *t;
    int64_t pk;
    int state;        /* DBF_CLEAN/NEW/UPD/DEL */
    json_t *doc;      /* the whole row when known (always for NEW); NULL otherwise */
    json_t *fields;   /* DBF_UPD: the fields written since the last flush */
    uint64_t version; /* bumped by every write */
    uint64_t used_ms; /* loop time of the last write or read */
    int pins;         /* snapshots and loads holding it: not evicted */
    ff_list_t dirty;  /* in rows->dirty while state != DBF_CLEAN */
} dbf_row_t;

typedef struct {
    ff_map_t map;    /* (table index << 56 | pk) -> dbf_row_t */
    ff_list_t dirty; /* dirty rows, oldest write first */
    size_t ndirty;
    size_t sweep_at; /* where dbf_rows_evict resumes */
} dbf_rows_t;

typedef struct {
    dbf_change_t *changes; /* for dbf_db_apply; the JSON is shared with the rows, which copy
                            * a document before changing it while it is shared */
    dbf_row_t **rows;
    uint64_t *versions;
    bool *refused; /* set by the flush: changes MariaDB refused for their data; NULL = none */
    size_t n;
} dbf_snapshot_t;

/* Initialises an empty set. */
void dbf_rows_init(dbf_rows_t *rs);
/* Frees every row. */
void dbf_rows_clear(dbf_rows_t *rs);
/* The row (t, pk), or NULL. */
dbf_row_t *dbf_rows_find(dbf_rows_t *rs, const dbf_table_t *t, int64_t pk);
/* Adds a clean row read from MariaDB or memcached (doc is copied) unless the row is known
 * already; returns the row. */
dbf_row_t *dbf_rows_add_clean(dbf_rows_t *rs, const dbf_table_t *t, int64_t pk, json_t *doc,
                              uint64_t now);
/* Applies a write (already checked against the table): DBF_REC_NEW with the whole row,
 * DBF_REC_UPD with some fields (on a row that exists: the caller checked), DBF_REC_DEL
 * (data NULL). data is copied. Returns the row. */
dbf_row_t *dbf_rows_apply(dbf_rows_t *rs, int op, const dbf_table_t *t, int64_t pk, json_t *data,
                          uint64_t now);
/* The log record of a write: {"op":"new"|"upd"|"del","t":...,"pk":...,"row":...}, a new
 * string to free(). */
char *dbf_rows_record(int op, const dbf_table_t *t, int64_t pk, json_t *data);
/* Applies one log record during replay; *max_pk is raised to its pk for incr tables (an array
 * indexed by table). Returns 0, or -1 with err (a table the schema lacks, a bad record). */
int dbf_rows_replay(dbf_rows_t *rs, const dbf_schema_t *s, const uint8_t *payload, size_t len,
                    int64_t *max_pk, char *err, size_t errlen);
/* Takes every dirty row as it is now, for one flush; pins them. NULL when nothing is dirty. */
dbf_snapshot_t *dbf_rows_snapshot(dbf_rows_t *rs);
/* After the snapshot's COMMIT: rows not written since are clean again (deleted ones stay
 * known as deleted until dbf_rows_evict), and rows whose change MariaDB refused
 * (snap->refused) are forgotten, so that MariaDB's row is the truth again. Rows written
 * since the snapshot stay dirty either way. Frees the snapshot. */
void dbf_rows_committed(dbf_rows_t *rs, dbf_snapshot_t *snap);
/* After a failed flush: unpins and frees the snapshot; the rows stay dirty. */
void dbf_rows_abandon(dbf_snapshot_t *snap);
/* Looks at the next `budget` slots of the table (resuming where the last call stopped) and
 * forgets unpinned rows that are clean and unused for longer than their table's timeout, or
 * deleted with the DELETE committed. Returns how many. */
size_t dbf_rows_evict(dbf_rows_t *rs, uint64_t now, size_t budget);

#endif
