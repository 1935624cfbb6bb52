/* dbf: the state of the dbfront node shared by its modules (store.c answers reads and
 * writes, flush.c writes dirty rows back to MariaDB, main.c starts and stops the node). All
 * of it lives on the loop thread; the workers own their resources. */
#ifndef DBF_DBF_H
#define DBF_DBF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "db.h"
#include "mc.h"
#include "rows.h"
#include "schema.h"
#include "wal.h"
#include "worker.h"

typedef struct {
    dbf_schema_t *schema;
    dbf_rows_t rows;
    int64_t *next_ids; /* per table index: the next pk of an incr table */
    dbf_wal_t *wal;
    char *waldir;              /* the log directory, also home of meta.json and schema.json */
    char *walpath;             /* ... made absolute (NULL if realpath failed) */
    ff_worker_t *wal_worker;   /* state: dbf_wal_t */
    ff_worker_t *cache_worker; /* state: ff_mc_t (NULL without memcached) */
    ff_worker_t *reader;       /* state: dbf_db_t */
    ff_worker_t *flusher;      /* state: dbf_db_t */
    ff_mc_t *mc;
    dbf_db_t *rdb, *fdb;
    bool stopping;
    bool serving; /* the log is replayed and game nodes may call */
    struct {
        uint64_t writes, reads, errors, cache_errors, db_errors;
        uint64_t flushes, flush_failures, flushed_rows;
        uint64_t rejected;      /* changes MariaDB refused, written to rejected.jsonl */
        uint64_t last_flush_ms; /* duration of the last successful flush */
        bool db_up, cache_up;
    } st;
} dbf_t;

extern dbf_t dbf;

/* store.c */
/* The callbacks of a bus link from a game node or gate (set on accept). */
void dbf_store_accept(ff_link_t *l, void *arg);
/* Installs the per-turn batch submission; call once the schema is known. */
void dbf_store_start(void);
/* Queues a memcached update for a row: its document, or a delete when doc is NULL. */
void dbf_store_cache_row(const dbf_table_t *t, int64_t pk, json_t *doc);
/* Writes and loads in progress (the stop waits for them). */
size_t dbf_store_busy(void);

/* flush.c */
/* Starts the flush timer (every syncInterval seconds). */
void dbf_flush_start(int interval_s);
/* Flushes now unless a flush is running; done(ok) runs when this or the running flush ends. */
void dbf_flush_now(void (*done)(bool ok));
/* True while a flush is running. */
bool dbf_flush_running(void);
/* Writes `json` to DIR/NAME atomically (temp file, fsync, rename). Worker threads only.
 * Returns 0 or a negative errno. */
int dbf_flush_save(const char *dir, const char *name, json_t *json);
/* Adds the flush figures to a status object. */
void dbf_flush_status(json_t *out);

#endif
