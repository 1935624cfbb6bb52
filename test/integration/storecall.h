/* storecall: single store calls through the tstore app, checked as TAP lines, and direct
 * looks into the memcached of a cluster's config, for the dbfront tests that follow a few
 * rows one by one (storeload.h drives pipelined loads instead).
 *
 * Typical test:
 *     th_cluster_t *c = th_cluster_start(tmpl);
 *     ffc_t *cl = th_connect(c);
 *     long long id = sc_new(cl, "{\"row\":{\"owner\":1,\"kind\":\"a\"}}", "new a");
 *     sc_mc_t *mc = sc_mc_open(c);
 *     char *doc = sc_mc_get(mc, "tb_item", id);
 *     ...
 *     ff_free(doc);
 *     sc_mc_close(mc);
 */
#ifndef TH_STORECALL_H
#define TH_STORECALL_H

#include <jansson.h>
#include <stdint.h>

#include "dbenv.h"
#include "harness.h"
#include "tstore/tstore_proto.h"

/* tstore's command ids. */

/* Sends cmd with body and waits up to 5 s for the reply. Returns its parsed body (an error
 * reply too), or NULL after a `not ok` line (no reply, or not JSON). *code (may be NULL)
 * gets the error code of an error reply, 0 otherwise. */
json_t *sc_call(ffc_t *cl, uint32_t cmd, const char *body, int *code, const char *what);
/* sc_call that must succeed: the reply, or NULL after a `not ok` line. */
json_t *sc_call_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what);
/* 201 with body; returns the new row's "id", or -1 after a `not ok` line. */
long long sc_new(ffc_t *cl, const char *body, const char *what);

/* dbenv_config_sections with memcached.hostname set to `hostname`. Free with ff_free. */
char *sc_config_sections(const dbenv_t *db, const char *hostname);

typedef struct sc_mc_s sc_mc_t;

/* A memcached client for the cluster's current config.json (its urls and hostname), or NULL
 * after a `not ok` line. */
sc_mc_t *sc_mc_open(th_cluster_t *c);
/* The document memcached holds for the row right now (a new string, ff_free it), or NULL
 * on a miss, a placeholder or an error. */
char *sc_mc_get(sc_mc_t *mc, const char *table, int64_t pk);
/* Frees mc; NULL is a no-op. */
void sc_mc_close(sc_mc_t *mc);

#endif
