/* store: ffbench's store section. Starts private MariaDB + memcached (dbsrv.h) with cold rows
 * seeded into MariaDB, then a cluster of gate, net, dbfront and 2 game nodes running
 * test/apps/storebench, and drives both game nodes at once (one request per node; the app
 * times every store call itself, so the figures are the game nodes'):
 *   write closed   N ff_store_new per node, C outstanding each: acknowledged writes/s;
 *   write @R       the same paced at R writes/s in all: latency at a given load;
 *   read hit       ff_store_get of rows just written (in memcached);
 *   read miss dbf  the same rows after memcached's flush_all: a miss that dbfront answers
 *                  from the rows it keeps in memory (clean rows stay for the table timeout);
 *   read miss db   cold rows seeded into MariaDB before dbfront started: memcached miss,
 *                  then dbfront reads MariaDB.
 * For each write phase it polls dbfront's /status (dirty, flushedRows, flushes, lastFlushMs)
 * from the start of the writes until dirty is 0 again: rows/s flushed into MariaDB over that
 * span, the flush's capacity (rows per second spent flushing), the backlog when the writes
 * ended and how long it took to drain. */
#ifndef BENCH_STORE_H
#define BENCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *bin;    /* the role binaries (master ...) */
    const char *app;    /* libstorebench.so, absolute */
    const char *script; /* scripts/db.sh */
    int64_t writes;     /* per game node, closed-loop write phase */
    int write_conc;     /* outstanding writes per game node */
    double rate;        /* paced write phase, writes/s over both nodes; 0 = skip */
    double paced_s;     /* its length in seconds */
    int64_t reads;      /* per game node and read phase */
    int read_conc;      /* outstanding reads per game node */
    int sync_interval_s;
    bool keep;
} bench_store_opts_t;

/* Runs the section and prints its table. Returns 0, or -1 when anything failed or any store
 * call returned an error (printed). */
int bench_store_run(const bench_store_opts_t *o);

#endif
