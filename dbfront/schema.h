/* schema: the tables dbfront serves — config's `tables` joined with the columns MariaDB's
 * information_schema reports — and the checks that keep a row or a field that does not
 * fit its table from ever being acknowledged. Pure code: no I/O. */
#ifndef DBF_SCHEMA_H
#define DBF_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DBF_COL_INT,      /* TINYINT..BIGINT (range from the type and UNSIGNED) */
    DBF_COL_FLOAT,    /* FLOAT, DOUBLE, DECIMAL */
    DBF_COL_STRING,   /* CHAR, VARCHAR, TEXT family: maxlen in characters */
    DBF_COL_BLOB,     /* BINARY, VARBINARY, BLOB family: maxlen in bytes; JSON string */
    DBF_COL_DATETIME, /* DATE, DATETIME, TIMESTAMP, TIME: a string MariaDB accepts */
    DBF_COL_JSON,     /* MariaDB JSON (LONGTEXT + check): any JSON value, stored as text */
} dbf_coltype_t;

typedef struct {
    char *name;
    dbf_coltype_t type;
    int64_t min;       /* DBF_COL_INT */
    uint64_t max;      /* DBF_COL_INT */
    uint64_t maxlen;   /* DBF_COL_STRING (characters) / DBF_COL_BLOB (bytes) */
    uint64_t maxbytes; /* DBF_COL_STRING: also a limit in bytes (TEXT family); 0 = none */
    bool nullable;     /* IS_NULLABLE */
    bool has_default;  /* a COLUMN_DEFAULT or auto_increment: may be left out of a new row */
} dbf_col_t;

typedef struct {
    char *name;
    dbf_col_t *cols;
    size_t ncols;
    int pk;    /* index of the primary key column (an integer column) */
    int fk;    /* index of the lookup column, -1 = none */
    bool incr; /* dbfront allocates the pk of new rows */
    int timeout_s;
    int index; /* position in the schema */
} dbf_table_t;

typedef struct {
    dbf_table_t *tables;
    size_t ntables;
} dbf_schema_t;

/* What a row check is for. */
enum {
    DBF_ROW_NEW,    /* a whole new row: the pk may be absent only on an incr table; every
                     * NOT NULL column without a default must be present */
    DBF_ROW_UPDATE, /* some fields of an existing row: not the pk */
};

/* Builds a schema from config's `tables` object ({"tb": {"pk","incr","fk","timeout"}}) and
 * the column rows of information_schema.COLUMNS given as a JSON array of objects with keys
 * TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,
 * CHARACTER_MAXIMUM_LENGTH, EXTRA (the shape dbfront saves in schema.json, so a cached
 * copy loads the same way). Returns NULL with a message in err: a configured table with no
 * columns (`table tb_x: not in database firefly`), a pk or fk that is not a column, a pk
 * that is not an integer. */
dbf_schema_t *dbf_schema_build(json_t *tables, json_t *columns, char *err, size_t errlen);
/* The table named `name`, or NULL. */
const dbf_table_t *dbf_schema_table(const dbf_schema_t *s, const char *name);
/* The column named `name` of t, or NULL. */
const dbf_col_t *dbf_table_col(const dbf_table_t *t, const char *name);
/* Frees a schema; NULL is a no-op. */
void dbf_schema_free(dbf_schema_t *s);

/* Checks a JSON object of fields against t for `mode` (DBF_ROW_*). Returns 0, or -1 with a
 * message naming table and column in err, e.g. `tb_character.nme: no such column`,
 * `tb_character.level: expected an integer, got "x"`, `tb_character.level: 300 is out of
 * range -128..127`, `tb_character.name: 40 characters, the column holds 32`,
 * `tb_character.name: null in a NOT NULL column`, `tb_character.id: the primary key cannot
 * be updated`, `tb_character: missing pk "id"`, `tb_user.password: missing (NOT NULL, no
 * default)`. Strings are counted in UTF-8 characters. */
int dbf_row_check(const dbf_table_t *t, json_t *fields, int mode, char *err, size_t errlen);

#endif
