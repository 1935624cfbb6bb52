/* storeload: a pipelined load of tb_item rows through the tstore app, for the dbfront
 * durability and outage tests, with the bookkeeping to check afterwards that every write the
 * cluster acknowledged reached MariaDB exactly once.
 *
 * One sl_t drives N client connections from the test's one thread (poll() over their
 * sockets). Client k writes rows {"owner":k,"kind":"<prefix><k>-<n>"} (cmd 201) with up to
 * `depth` requests outstanding, and, when asked, reads acknowledged rows back (cmd 204) and
 * checks what it reads against what it wrote. Replies on one connection may come back out
 * of order (two game nodes), so a write's acknowledgement is matched by its unique kind, a
 * read's by the id in the row; an error reply names no request and only counts. A client
 * that got an error reply keeps one request outstanding until its next success, so that an
 * outage costs a trickle of errors, not a flood.
 *
 * Typical test:
 *     char *tmpl = sl_config(db);
 *     th_cluster_t *c = th_cluster_start(tmpl);
 *     sl_wait_linked(c, 10000);
 *     sl_t *l = sl_new(c, 4, 32, "c", 0);
 *     sl_run_acks(l, 3000, 20000);
 *     ...kill something...
 *     sl_drain(l, 10000);
 *     sl_check_db(l, db, "(a)", NULL);
 *     sl_free(l);
 */
#ifndef TH_STORELOAD_H
#define TH_STORELOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbenv.h"
#include "harness.h"
#include "tstore/tstore_proto.h"

/* tstore's command ids. */

/* One acknowledged write. */
typedef struct {
    int64_t id; /* the id dbfront allocated */
    int client; /* also the row's owner */
    long n;     /* the kind is "<prefix><client>-<n>" */
    int qty;    /* the last acknowledged qty (1, the column's default, until updated) */
} sl_row_t;

/* Counters since sl_new. */
typedef struct {
    long long writes_sent, acked, write_errors;
    long long reads_sent, reads_ok, read_errors;
    long long err503, err504, err_other; /* error replies (writes and reads) by code */
    long long dup_ids;                   /* acknowledgements of an id acknowledged before */
    long long stale;                     /* reads that did not return the last written row */
    long long bad;                       /* replies that make no sense (unknown kind, no id) */
    long long closed;                    /* connections the server closed */
} sl_stats_t;

typedef struct sl_s sl_t;

/* The config template of the store tests (gate, net, game1 and game2 running tstore with
 * "mem":true, dbfront with its log in @DIR@/wal and syncInterval 1, tb_item; logLevel debug,
 * so that the logs printed after a failure show every flush), with the servers of db
 * spliced in. A new string: free with ff_free. */
char *sl_config(const dbenv_t *db);
/* Waits until /status shows game1 and game2 linked to dbfront ("store":{"dbfront":true}).
 * Returns 0, or -1 with a `# ` line. */
int sl_wait_linked(th_cluster_t *c, int timeout_ms);
/* Figure `key` of dbfront's /status entry now: an integer, a boolean as 0/1; -1 when there
 * is no answer or no such figure (dbfront down or restarting). */
long long sl_dbfront_figure(th_cluster_t *c, const char *key);

/* Connects nclients clients (at most 16); kinds start with prefix (at most 7 characters, a
 * letter first); read_every > 0 makes every read_every-th request a read of an acknowledged
 * row. Sending is on. Returns NULL with a `not ok` line when a connection fails. */
sl_t *sl_new(th_cluster_t *c, int nclients, int depth, const char *prefix, int read_every);
/* Closes the connections and frees l. NULL: no-op. */
void sl_free(sl_t *l);
/* Turns sending of new requests on or off (replies are still read). */
void sl_set_sending(sl_t *l, bool on);
/* Sends what the windows allow, then waits up to timeout_ms for replies and handles every
 * one that arrived. Returns the number of replies handled, or -1 once every connection is
 * closed. */
int sl_pump(sl_t *l, int timeout_ms);
/* Pumps until until(l, arg) is true (checked between pumps) or timeout_ms pass. Returns 0,
 * or -1 on timeout or when every connection closed first. */
int sl_run(sl_t *l, bool (*until)(sl_t *l, void *arg), void *arg, int timeout_ms);
/* sl_run until `total` writes have been acknowledged since sl_new. */
int sl_run_acks(sl_t *l, long long total, int timeout_ms);
/* Turns sending off and pumps until no request is outstanding. Returns 0 or -1 (with a
 * `# ` line naming what is still outstanding). Sending stays off. */
int sl_drain(sl_t *l, int timeout_ms);
/* Requests sent and not answered yet, on every connection still open. */
long sl_outstanding(const sl_t *l);
/* Whether the server closed every connection. */
bool sl_all_closed(const sl_t *l);

/* Sets qty of acknowledged row i (cmd 202 on client 0; nothing may be outstanding, see
 * sl_drain). Returns 0 and remembers the qty, the error code of an error reply, or a
 * negative errno (-EBUSY when requests are outstanding, or the client's error). */
int sl_update(sl_t *l, size_t i, int qty, int timeout_ms);
/* Reads acknowledged row i (cmd 204 on client 0; nothing may be outstanding) and compares
 * it with what was written. Returns 0 with *qty set (the row's qty; 1 when the row has
 * none, the column's default), 1 when the row differs in id, owner or kind (printed), the
 * error code of an error reply, or a negative errno. */
int sl_get(sl_t *l, size_t i, int *qty, int timeout_ms);

/* The counters. */
const sl_stats_t *sl_stats(const sl_t *l);
/* The number of acknowledged writes, and write i of them (in acknowledgement order). */
size_t sl_nrows(const sl_t *l);
const sl_row_t *sl_row(const sl_t *l, size_t i);
/* The last error reply's body, or "" (static storage, for diagnostics). */
const char *sl_last_error(const sl_t *l);

/* Checks in MariaDB, as TAP lines prefixed with `what`: every acknowledged write is there
 * exactly once with its id, owner and last qty; no kind of this load appears twice; no
 * id was acknowledged twice; COUNT(*) = COUNT(DISTINCT id). *unacked (may be NULL) gets
 * the number of rows of this load in MariaDB that were never acknowledged (writes answered
 * with an error, or not at all), -1 when MariaDB did not answer. Returns the number of
 * failed checks. */
int sl_check_db(sl_t *l, dbenv_t *db, const char *what, long *unacked);

#endif
