/* db: dbfront's access to MariaDB, through libmariadb and prepared statements only. One
 * dbf_db_t is one connection with its statement cache; it is used by one worker thread. */
#ifndef DBF_DB_H
#define DBF_DB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "schema.h"

typedef struct dbf_db_s dbf_db_t;

enum { DBF_OP_UPSERT, DBF_OP_UPDATE, DBF_OP_DELETE };

/* One change of a flush batch. UPSERT: `row` is a whole row (pk included):
 * INSERT ... ON DUPLICATE KEY UPDATE, so that a replay after a crash inserts nothing twice.
 * UPDATE: `row` holds some fields: UPDATE ... WHERE pk. DELETE: `row` is NULL. */
typedef struct {
    int op;
    const dbf_table_t *table;
    int64_t pk;
    json_t *row;
} dbf_change_t;

/* A connection handle for conf's `db` section; connects lazily. */
dbf_db_t *dbf_db_new(const ff_conf_t *conf);
/* Connects (again) if not connected, with 2 s connect/read/write timeouts. Returns 0, or -1
 * with a message in err. Every other call connects first too. */
int dbf_db_connect(dbf_db_t *db, char *err, size_t errlen);
/* The columns of the configured tables, as the JSON array dbf_schema_build takes. Also
 * creates the table ff_meta (tbl VARCHAR(64) PRIMARY KEY, next_id BIGINT NOT NULL) if it is
 * missing. Returns a new reference, or NULL with err. */
json_t *dbf_db_columns(dbf_db_t *db, json_t *tables, char *err, size_t errlen);
/* Reads one row by pk: 0 with *row (a new JSON object, values typed by column), 1 when there
 * is no such row, -1 with err. */
int dbf_db_get(dbf_db_t *db, const dbf_table_t *t, int64_t pk, json_t **row, char *err,
               size_t errlen);
/* Reads every row whose fk column equals `value`: 0 with *rows (a new JSON array), -1. */
int dbf_db_get_by(dbf_db_t *db, const dbf_table_t *t, json_t *value, json_t **rows, char *err,
                  size_t errlen);
/* What dbf_db_apply returns after a ROLLBACK: MariaDB refused a change for its data (a value
 * outside an ENUM, a duplicate key, a foreign key, a CHECK constraint...: the same change
 * fails again at every retry), or anything else (a lost connection, a lock wait timeout, a
 * deadlock, a missing table: worth retrying as it is). */
enum { DBF_DB_FAILED = -1, DBF_DB_REFUSED = -2 };

/* Applies the changes in one transaction, together with the next ids of the schema's incr
 * tables (next_ids[t->index]; 0 = leave alone) written to ff_meta. Returns 0 after COMMIT,
 * or DBF_DB_REFUSED / DBF_DB_FAILED after ROLLBACK (or a lost connection) with err. */
int dbf_db_apply(dbf_db_t *db, const dbf_change_t *changes, size_t n, const dbf_schema_t *s,
                 const int64_t *next_ids, char *err, size_t errlen);
/* For each incr table: the larger of ff_meta.next_id and MAX(pk) + 1, into
 * next_ids[t->index] (1 for an empty table). Returns 0 or -1 with err. */
int dbf_db_next_ids(dbf_db_t *db, const dbf_schema_t *s, int64_t *next_ids, char *err,
                    size_t errlen);
/* Closes the connection and frees; NULL is a no-op. */
void dbf_db_free(dbf_db_t *db);

#endif
