/* db: one MariaDB connection with a cache of prepared statements keyed by their SQL text.
 * Every value travels as a bound parameter; the only names spliced into SQL are table and
 * column names, checked against [A-Za-z0-9_] and backquoted. Runs of UPSERTs of one table
 * with the same columns become multi-row INSERTs, one round trip for up to DB_UPSERT_ROWS
 * rows. A lost connection closes the handle so that the next call connects again. */
#include "db.h"

#include "alloc.h"
#include "buf.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DB_TIMEOUT_S 2             /* connect, read and write timeouts */
#define DB_CACHE_MAX 64            /* prepared statements kept per connection */
#define DB_IDLE_PING_S 30          /* a connection idle this long is pinged before use */
#define DB_UPSERT_ROWS 64          /* rows of one multi-row INSERT at most (a power of two) */
#define DB_PARAMS_MAX 65535        /* placeholders of one statement, MariaDB's limit */
#define DB_IDENT_MAX 64            /* MariaDB's limit on names */
#define DB_CLASH "ff_unique_clash" /* the UPSERT guard's value, found in its error */
#define DB_TEXT_MIN 64             /* bytes of a result buffer at least (dates come as text) */

typedef struct {
    uint64_t hash;
    char *sql;
    MYSQL_STMT *st;
    uint64_t used; /* db->tick when last used, for eviction */
} db_stmt_t;

struct dbf_db_s {
    MYSQL *my; /* NULL when not connected */
    char *host, *user, *passwd, *name, *charset;
    unsigned int port;
    db_stmt_t cache[DB_CACHE_MAX];
    size_t ncache;
    uint64_t tick;
    time_t last_use; /* CLOCK_MONOTONIC seconds */
    bool refused;    /* the last failure refused a change for its data */
};

/* The bound parameters of one execution. vals and texts are sized once, so the binds'
 * pointers into them stay valid. */
typedef struct {
    MYSQL_BIND *binds;
    union {
        long long i;
        double d;
        signed char b;
    } * vals;
    char **texts; /* json_dumps results, freed with the params */
    size_t n, cap;
} db_params_t;

/* The result buffers of one column. */
typedef struct {
    long long i;
    double d;
    char *text;
    unsigned long len;
    my_bool is_null, error;
} db_out_t;

/* Set on every new connection: a lock wait of 1 s (below the read timeout) and strict mode
 * added to the server's sql_mode. */
static const char db_session_sql[] =
    "SET SESSION innodb_lock_wait_timeout = 1, sql_mode = IF(@@SESSION.sql_mode = '', "
    "'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))";

static void db_params_init(db_params_t *p, size_t cap);
static int db_run(dbf_db_t *db, const char *sql, db_params_t *p, const char *what, char *err,
                  size_t errlen);
static void db_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
db_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static time_t
db_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* True for the errors after which the connection is unusable. */
static bool
db_lost(unsigned int e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_SERVER_LOST_EXTENDED ||
           e == CR_COMMANDS_OUT_OF_SYNC || e == ER_CONNECTION_KILLED;
}

/* True for the errors by which MariaDB refuses a row for its data: the same statement fails
 * again at every retry while the other rows of its batch are fine. Everything else (a lost
 * connection, a lock wait timeout, a deadlock, a dropped table or column) may pass on a
 * retry, or concerns every row alike, and must not single out rows. */
static bool
db_refuses_data(unsigned int e)
{
    switch (e) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME:
    case ER_BAD_NULL_ERROR:
    case ER_WARN_NULL_TO_NOTNULL:
    case ER_DATA_TOO_LONG:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case WARN_DATA_TRUNCATED: /* also a value outside an ENUM or SET */
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: /* also the UPSERT's UNIQUE-key guard */
    case ER_WRONG_VALUE:
    case ER_INVALID_CHARACTER_STRING:
    case ER_NO_REFERENCED_ROW:
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED:
    case ER_ROW_IS_REFERENCED_2:
    case ER_CONSTRAINT_FAILED: /* CHECK, also a JSON column's json_valid() */
    case ER_SIGNAL_EXCEPTION:  /* a trigger's SIGNAL */
        return true;
    default:
        return false;
    }
}

/* Closes the connection and every statement prepared on it. */
static void
db_disconnect(dbf_db_t *db)
{
    for (size_t i = 0; i < db->ncache; i++) {
        mysql_stmt_close(db->cache[i].st);
        ff_free(db->cache[i].sql);
    }
    db->ncache = 0;
    if (db->my != NULL)
        mysql_close(db->my);
    db->my = NULL;
}

/* Reports a failed connection-level call as `what: text [errno]`. Returns -1. */
static int
db_fail(dbf_db_t *db, const char *what, char *err, size_t errlen)
{
    unsigned int e = mysql_errno(db->my);

    db_err(err, errlen, "%s: %s [%u]", what, mysql_error(db->my), e);
    db->refused = db_refuses_data(e);
    if (db_lost(e))
        db_disconnect(db);
    return -1;
}

/* Reports a failed statement call the same way. Returns -1. */
static int
db_stmt_fail(dbf_db_t *db, MYSQL_STMT *st, const char *what, char *err, size_t errlen)
{
    unsigned int e = mysql_stmt_errno(st);

    db_err(err, errlen, "%s: %s [%u]", what, mysql_stmt_error(st), e);
    db->refused = db_refuses_data(e);
    if (db_lost(e))
        db_disconnect(db);
    return -1;
}

dbf_db_t *
dbf_db_new(const ff_conf_t *conf)
{
    dbf_db_t *db = ff_calloc(1, sizeof(*db));

    db->host = ff_strdup(conf->db.host);
    db->user = ff_strdup(conf->db.user);
    db->passwd = ff_strdup(conf->db.passwd);
    db->name = ff_strdup(conf->db.db);
    db->charset = ff_strdup(conf->db.charset ? conf->db.charset : "utf8mb4");
    db->port = conf->db.port > 0 ? (unsigned int)conf->db.port : 3306;
    return db;
}

/* Opens a new connection with the timeouts and charset. Returns 0 or -1 with err. */
static int
db_open(dbf_db_t *db, char *err, size_t errlen)
{
    unsigned int timeout = DB_TIMEOUT_S;
    my_bool reconnect = 0;
    MYSQL *my = mysql_init(NULL);

    if (my == NULL) {
        db_err(err, errlen, "mysql_init: out of memory");
        return -1;
    }
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_options(my, MYSQL_OPT_RECONNECT, &reconnect);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, db->charset);
    if (mysql_real_connect(my, db->host, db->user, db->passwd, db->name, db->port, NULL, 0) ==
        NULL) {
        db_err(err, errlen, "connect to %s:%u: %s [%u]", db->host, db->port, mysql_error(my),
               mysql_errno(my));
        goto fail_close;
    }
    if (mysql_autocommit(my, 1) != 0) {
        db_err(err, errlen, "autocommit: %s [%u]", mysql_error(my), mysql_errno(my));
        goto fail_close;
    }
    db->my = my;
    db->last_use = db_now();
    return 0;

fail_close:
    mysql_close(my);
    return -1;
}

int
dbf_db_connect(dbf_db_t *db, char *err, size_t errlen)
{
    db_params_t p;

    if (db->host == NULL) {
        db_err(err, errlen, "config has no db section");
        return -1;
    }
    /* A connection idle for a while may have been dropped by the server (wait_timeout):
     * find out now rather than fail the caller's statement. */
    if (db->my != NULL && db_now() - db->last_use >= DB_IDLE_PING_S && mysql_ping(db->my) != 0)
        db_disconnect(db);
    if (db->my != NULL) {
        db->last_use = db_now();
        return 0;
    }
    if (db_open(db, err, errlen) < 0)
        return -1;
    /* A lock wait longer than the 2 s read timeout would cost the connection while the
     * server kept waiting; this way it ends as an error (1205) and a clean rollback.
     * Strict mode makes a value that does not fit an error rather than a silent
     * truncation, and the UPSERT's UNIQUE-key guard depends on it. */
    db_params_init(&p, 0);
    if (db_run(db, db_session_sql, &p, "session", err, errlen) < 0) {
        db_disconnect(db);
        return -1;
    }
    return 0;
}

void
dbf_db_free(dbf_db_t *db)
{
    if (db == NULL)
        return;
    db_disconnect(db);
    ff_free(db->host);
    ff_free(db->user);
    ff_free(db->passwd);
    ff_free(db->name);
    ff_free(db->charset);
    ff_free(db);
}

static uint64_t
db_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The prepared statement for sql, from the cache or prepared now (evicting the least
 * recently used one when the cache is full). Returns NULL with err. */
static MYSQL_STMT *
db_prepare(dbf_db_t *db, const char *sql, char *err, size_t errlen)
{
    uint64_t h = db_hash(sql);
    size_t slot = db->ncache;

    for (size_t i = 0; i < db->ncache; i++) {
        if (db->cache[i].hash == h && strcmp(db->cache[i].sql, sql) == 0) {
            db->cache[i].used = ++db->tick;
            return db->cache[i].st;
        }
        if (slot == db->ncache || db->cache[i].used < db->cache[slot].used)
            slot = i;
    }
    MYSQL_STMT *st = mysql_stmt_init(db->my);
    if (st == NULL) {
        db_fail(db, "mysql_stmt_init", err, errlen);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        db_stmt_fail(db, st, "prepare", err, errlen);
        mysql_stmt_close(st);
        return NULL;
    }
    if (db->ncache < DB_CACHE_MAX) {
        slot = db->ncache++;
    } else {
        mysql_stmt_close(db->cache[slot].st);
        ff_free(db->cache[slot].sql);
    }
    db->cache[slot] = (db_stmt_t){h, ff_strdup(sql), st, ++db->tick};
    return st;
}

/* SQL text building: words, backquoted names and runs of placeholders. */
static void
db_sql(ff_buf_t *b, const char *s)
{
    ff_buf_put(b, s, strlen(s));
}

/* Appends `name` backquoted. Returns 0, or -1 when name is not [A-Za-z0-9_]{1,64}. */
static int
db_sql_ident(ff_buf_t *b, const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);

    if (n == 0 || n > DB_IDENT_MAX ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n) {
        db_err(err, errlen, "invalid name \"%.64s\": not [A-Za-z0-9_]{1,64}", name);
        return -1;
    }
    ff_buf_put(b, "`", 1);
    ff_buf_put(b, name, n);
    ff_buf_put(b, "`", 1);
    return 0;
}

/* Terminates the text and returns it (owned by b). */
static const char *
db_sql_end(ff_buf_t *b)
{
    ff_buf_put(b, "", 1);
    return (const char *)b->data;
}

static void
db_params_init(db_params_t *p, size_t cap)
{
    p->binds = ff_calloc(cap + 1, sizeof(*p->binds));
    p->vals = ff_calloc(cap + 1, sizeof(*p->vals));
    p->texts = ff_calloc(cap + 1, sizeof(*p->texts));
    p->n = 0;
    p->cap = cap;
}

static void
db_params_free(db_params_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->texts[i]); /* from json_dumps: jansson's allocator */
    ff_free(p->binds);
    ff_free(p->vals);
    ff_free(p->texts);
    memset(p, 0, sizeof(*p));
}

static void
db_param_int(db_params_t *p, long long v)
{
    MYSQL_BIND *b = &p->binds[p->n];

    p->vals[p->n].i = v;
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = &p->vals[p->n++].i;
}

static void
db_param_text(db_params_t *p, const char *s, size_t len)
{
    MYSQL_BIND *b = &p->binds[p->n++];

    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = (unsigned long)len;
}

/* Binds a JSON value. A JSON column stores the JSON text of any non-null value; elsewhere
 * objects and arrays (which the row check refuses) would be stored as their text too. */
static void
db_param_json(db_params_t *p, json_t *v, const dbf_col_t *c)
{
    MYSQL_BIND *b = &p->binds[p->n];

    if (json_is_null(v) || v == NULL) {
        b->buffer_type = MYSQL_TYPE_NULL;
        p->n++;
    } else if ((c != NULL && c->type == DBF_COL_JSON) || json_is_object(v) || json_is_array(v)) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        p->texts[p->n] = text;
        db_param_text(p, text, text ? strlen(text) : 0);
    } else if (json_is_integer(v)) {
        db_param_int(p, json_integer_value(v));
    } else if (json_is_real(v)) {
        p->vals[p->n].d = json_real_value(v);
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = &p->vals[p->n++].d;
    } else if (json_is_boolean(v)) {
        p->vals[p->n].b = json_is_true(v);
        b->buffer_type = MYSQL_TYPE_TINY;
        b->buffer = &p->vals[p->n++].b;
    } else {
        db_param_text(p, json_string_value(v), json_string_length(v));
    }
}

/* Binds p to st and executes it. Returns 0 or -1 with err. */
static int
db_execute(dbf_db_t *db, MYSQL_STMT *st, db_params_t *p, const char *what, char *err, size_t errlen)
{
    if (p != NULL && p->n != mysql_stmt_param_count(st)) {
        db_err(err, errlen, "%s: %zu values for %lu placeholders", what, p->n,
               mysql_stmt_param_count(st));
        return -1;
    }
    if (p != NULL && p->n > 0 && mysql_stmt_bind_param(st, p->binds) != 0)
        return db_stmt_fail(db, st, what, err, errlen);
    if (mysql_stmt_execute(st) != 0)
        return db_stmt_fail(db, st, what, err, errlen);
    return 0;
}

/* Prepares sql, binds p and executes it: the whole life of a statement that returns no
 * rows. Frees p. Returns 0 or -1 with err. */
static int
db_run(dbf_db_t *db, const char *sql, db_params_t *p, const char *what, char *err, size_t errlen)
{
    MYSQL_STMT *st = db_prepare(db, sql, err, errlen);
    int rc = st != NULL ? db_execute(db, st, p, what, err, errlen) : -1;

    db_params_free(p);
    return rc;
}

/* How a result column is fetched. */
enum { DB_OUT_INT, DB_OUT_REAL, DB_OUT_TEXT };

static int
db_out_kind(enum enum_field_types type)
{
    switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return DB_OUT_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return DB_OUT_REAL;
    default:
        return DB_OUT_TEXT;
    }
}

/* Points the result bind of each field at its buffers; text buffers are sized from the
 * fields' max_length, which mysql_stmt_store_result computed. */
static void
db_bind_out(MYSQL_FIELD *fields, unsigned int nf, MYSQL_BIND *binds, db_out_t *out)
{
    for (unsigned int i = 0; i < nf; i++) {
        MYSQL_BIND *b = &binds[i];
        b->is_null = &out[i].is_null;
        b->error = &out[i].error;
        b->length = &out[i].len;
        switch (db_out_kind(fields[i].type)) {
        case DB_OUT_INT:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &out[i].i;
            b->is_unsigned = (fields[i].flags & UNSIGNED_FLAG) != 0;
            break;
        case DB_OUT_REAL:
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &out[i].d;
            break;
        default:
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer_length =
                fields[i].max_length > DB_TEXT_MIN ? fields[i].max_length + 1 : DB_TEXT_MIN;
            out[i].text = ff_malloc(b->buffer_length);
            b->buffer = out[i].text;
        }
    }
}

/* Re-fetches text columns that did not fit their buffers (a value longer than the
 * max_length reported), growing the buffers. Returns 0 or -1 with err. */
static int
db_fetch_long(dbf_db_t *db, MYSQL_STMT *st, unsigned int nf, MYSQL_BIND *binds, db_out_t *out,
              char *err, size_t errlen)
{
    bool grown = false;

    for (unsigned int i = 0; i < nf; i++) {
        if (binds[i].buffer_type != MYSQL_TYPE_STRING || out[i].is_null ||
            out[i].len < binds[i].buffer_length)
            continue;
        out[i].text = ff_realloc(out[i].text, out[i].len + 1);
        binds[i].buffer = out[i].text;
        binds[i].buffer_length = out[i].len + 1;
        if (mysql_stmt_fetch_column(st, &binds[i], i, 0) != 0)
            return db_stmt_fail(db, st, "fetch column", err, errlen);
        grown = true;
    }
    /* The statement keeps a copy of the binds: give it the new buffers. */
    if (grown && mysql_stmt_bind_result(st, binds) != 0)
        return db_stmt_fail(db, st, "bind result", err, errlen);
    return 0;
}

/* The JSON value of a text column: parsed for a JSON column, else a string (blobs too:
 * their bytes, which must be UTF-8 to be a JSON string). NULL when not UTF-8. */
static json_t *
db_text_value(const db_out_t *o, const dbf_col_t *c)
{
    if (c != NULL && c->type == DBF_COL_JSON) {
        json_t *v = json_loadb(o->text, o->len, JSON_DECODE_ANY, NULL);
        if (v != NULL)
            return v;
    }
    return json_stringn(o->text, o->len);
}

/* Converts the fetched row to a JSON object. Returns NULL with err. */
static json_t *
db_row_json(const dbf_table_t *t, MYSQL_FIELD *fields, unsigned int nf, db_out_t *out, char *err,
            size_t errlen)
{
    json_t *row = json_object();

    for (unsigned int i = 0; i < nf; i++) {
        const dbf_col_t *c = t != NULL ? dbf_table_col(t, fields[i].name) : NULL;
        json_t *v;
        if (out[i].is_null)
            v = json_null();
        else if (db_out_kind(fields[i].type) == DB_OUT_REAL)
            v = json_real(out[i].d);
        else if (db_out_kind(fields[i].type) == DB_OUT_TEXT)
            v = db_text_value(&out[i], c);
        else if ((fields[i].flags & UNSIGNED_FLAG) && (unsigned long long)out[i].i > INT64_MAX)
            v = json_real((double)(unsigned long long)out[i].i); /* past json_int_t */
        else
            v = json_integer(out[i].i);
        if (v == NULL) {
            db_err(err, errlen, "%s.%s: value is not valid UTF-8", t ? t->name : "",
                   fields[i].name);
            json_decref(row);
            return NULL;
        }
        json_object_set_new(row, fields[i].name, v);
    }
    return row;
}

/* Fetches every row of the executed st into the array `rows`. Returns 0 or -1 with err. */
static int
db_fetch_rows(dbf_db_t *db, MYSQL_STMT *st, MYSQL_RES *meta, const dbf_table_t *t, json_t *rows,
              char *err, size_t errlen)
{
    unsigned int nf = mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    MYSQL_BIND *binds = ff_calloc(nf + 1, sizeof(*binds));
    db_out_t *out = ff_calloc(nf + 1, sizeof(*out));
    int rc = -1, f;

    db_bind_out(fields, nf, binds, out);
    if (mysql_stmt_bind_result(st, binds) != 0) {
        db_stmt_fail(db, st, "bind result", err, errlen);
        goto out;
    }
    while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
        if (f == MYSQL_DATA_TRUNCATED && db_fetch_long(db, st, nf, binds, out, err, errlen) < 0)
            goto out;
        json_t *row = db_row_json(t, fields, nf, out, err, errlen);
        if (row == NULL)
            goto out;
        json_array_append_new(rows, row);
    }
    if (f != MYSQL_NO_DATA) {
        db_stmt_fail(db, st, "fetch", err, errlen);
        goto out;
    }
    rc = 0;
out:
    for (unsigned int i = 0; i < nf; i++)
        ff_free(out[i].text);
    ff_free(out);
    ff_free(binds);
    return rc;
}

/* Prepares and runs a query, returning its rows as a new JSON array (values typed by the
 * columns of t when t is given). Frees p. Returns NULL with err. */
static json_t *
db_query(dbf_db_t *db, const char *sql, db_params_t *p, const dbf_table_t *t, char *err,
         size_t errlen)
{
    my_bool on = 1;
    json_t *rows = NULL;
    MYSQL_RES *meta = NULL;
    MYSQL_STMT *st = db_prepare(db, sql, err, errlen);

    if (st == NULL || db_execute(db, st, p, "query", err, errlen) < 0)
        goto fail_params;
    if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
        db_stmt_fail(db, st, "result metadata", err, errlen);
        goto fail_params;
    }
    mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (mysql_stmt_store_result(st) != 0) {
        db_stmt_fail(db, st, "store result", err, errlen);
        goto fail_meta;
    }
    rows = json_array();
    if (db_fetch_rows(db, st, meta, t, rows, err, errlen) < 0) {
        json_decref(rows);
        rows = NULL;
    }
    /* A lost connection has closed st already. */
    if (db->my != NULL)
        mysql_stmt_free_result(st);
fail_meta:
    mysql_free_result(meta);
fail_params:
    db_params_free(p);
    return rows;
}

/* The information_schema query for n tables. A LONGTEXT column with a json_valid check is
 * reported as DATA_TYPE "json", as MariaDB's JSON columns are. */
static const char *
db_columns_sql(ff_buf_t *b, size_t n)
{
    db_sql(b, "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, "
              "IF(c.DATA_TYPE = 'longtext' AND EXISTS (SELECT 1 FROM "
              "information_schema.CHECK_CONSTRAINTS k WHERE k.CONSTRAINT_SCHEMA = "
              "c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME AND k.CHECK_CLAUSE = "
              "CONCAT('json_valid(`', c.COLUMN_NAME, '`)')), 'json', c.DATA_TYPE) AS DATA_TYPE, "
              "c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_DEFAULT, c.CHARACTER_MAXIMUM_LENGTH, "
              "c.EXTRA FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = ? AND "
              "c.TABLE_NAME IN (");
    for (size_t i = 0; i < n; i++)
        db_sql(b, i ? ",?" : "?");
    db_sql(b, ") ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION");
    return db_sql_end(b);
}

/* Fails with `table tb_x: not in database firefly` when a configured table has no column
 * rows: dbf_schema_build would refuse it too, but without the database's name. */
static int
db_columns_missing(dbf_db_t *db, json_t *tables, json_t *rows, char *err, size_t errlen)
{
    const char *name;
    json_t *cfg, *row;
    size_t i;

    json_object_foreach(tables, name, cfg)
    {
        bool found = false;
        (void)cfg;
        json_array_foreach(rows, i, row)
        {
            const char *t = json_string_value(json_object_get(row, "TABLE_NAME"));
            if (t != NULL && strcmp(t, name) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            db_err(err, errlen, "table %s: not in database %s", name, db->name);
            return -1;
        }
    }
    return 0;
}

json_t *
dbf_db_columns(dbf_db_t *db, json_t *tables, char *err, size_t errlen)
{
    ff_buf_t b = {0};
    db_params_t p = {0};
    const char *name;
    json_t *cfg, *rows = NULL;

    if (!json_is_object(tables) || json_object_size(tables) == 0) {
        db_err(err, errlen, "tables: expected a non-empty object");
        return NULL;
    }
    if (dbf_db_connect(db, err, errlen) < 0)
        return NULL;
    db_params_init(&p, 0);
    if (db_run(db,
               "CREATE TABLE IF NOT EXISTS ff_meta (tbl VARCHAR(64) NOT NULL PRIMARY KEY, "
               "next_id BIGINT NOT NULL)",
               &p, "create ff_meta", err, errlen) < 0)
        return NULL;
    db_params_init(&p, json_object_size(tables) + 1);
    db_param_text(&p, db->name, strlen(db->name));
    json_object_foreach(tables, name, cfg)
    {
        (void)cfg;
        db_param_text(&p, name, strlen(name));
    }
    rows = db_query(db, db_columns_sql(&b, json_object_size(tables)), &p, NULL, err, errlen);
    ff_buf_free(&b);
    if (rows != NULL && db_columns_missing(db, tables, rows, err, errlen) < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* SELECT * FROM t WHERE col = ?, with v bound as that column's value. */
static json_t *
db_select(dbf_db_t *db, const dbf_table_t *t, const dbf_col_t *col, json_t *v, char *err,
          size_t errlen)
{
    ff_buf_t b = {0};
    db_params_t p = {0};
    json_t *rows = NULL;

    db_sql(&b, "SELECT * FROM ");
    if (db_sql_ident(&b, t->name, err, errlen) < 0)
        goto out;
    db_sql(&b, " WHERE ");
    if (db_sql_ident(&b, col->name, err, errlen) < 0)
        goto out;
    db_sql(&b, " = ?");
    if (dbf_db_connect(db, err, errlen) < 0)
        goto out;
    db_params_init(&p, 1);
    db_param_json(&p, v, col);
    rows = db_query(db, db_sql_end(&b), &p, t, err, errlen);
out:
    ff_buf_free(&b);
    return rows;
}

int
dbf_db_get(dbf_db_t *db, const dbf_table_t *t, int64_t pk, json_t **row, char *err, size_t errlen)
{
    json_t *key = json_integer(pk);
    json_t *rows = db_select(db, t, &t->cols[t->pk], key, err, errlen);

    json_decref(key);
    *row = NULL;
    if (rows == NULL)
        return -1;
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return 1;
    }
    *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int
dbf_db_get_by(dbf_db_t *db, const dbf_table_t *t, json_t *value, json_t **rows, char *err,
              size_t errlen)
{
    *rows = NULL;
    if (t->fk < 0) {
        db_err(err, errlen, "table %s: no fk", t->name);
        return -1;
    }
    *rows = db_select(db, t, &t->cols[t->fk], value, err, errlen);
    return *rows != NULL ? 0 : -1;
}

/* True when row `a` and row `b` hold the same non-pk columns of t. */
static bool
db_same_cols(const dbf_table_t *t, json_t *a, json_t *b)
{
    for (size_t i = 0; i < t->ncols; i++) {
        if ((int)i != t->pk && (json_object_get(a, t->cols[i].name) != NULL) !=
                                   (json_object_get(b, t->cols[i].name) != NULL))
            return false;
    }
    return true;
}

/* Checks that every key of row is a column of t, so that nothing is silently dropped. A row
 * that fails (written before the column was dropped) is refused like MariaDB refuses one. */
static int
db_check_keys(dbf_db_t *db, const dbf_table_t *t, json_t *row, char *err, size_t errlen)
{
    db->refused = true;
    const char *key;
    json_t *v;

    if (!json_is_object(row)) {
        db_err(err, errlen, "%s: change %s", t->name, row ? "row is not an object" : "has no row");
        return -1;
    }
    json_object_foreach(row, key, v)
    {
        (void)v;
        if (dbf_table_col(t, key) == NULL) {
            db_err(err, errlen, "%s.%s: no such column", t->name, key);
            return -1;
        }
    }
    db->refused = false;
    return 0;
}

/* The columns an UPSERT of row writes, as indexes into t->cols in table order: the pk and
 * the non-pk columns row holds. Returns their number. */
static size_t
db_upsert_cols(const dbf_table_t *t, json_t *row, int *idx)
{
    size_t n = 0;

    for (size_t i = 0; i < t->ncols; i++) {
        if ((int)i == t->pk || json_object_get(row, t->cols[i].name) != NULL)
            idx[n++] = (int)i;
    }
    return n;
}

/* The text of an UPSERT of `rows` rows of the columns idx[0..n):
 * INSERT INTO t (cols) VALUES (?..),.. ON DUPLICATE KEY UPDATE pk=IF(..),c=VALUES(c),..
 * with every non-pk column. */
static int
db_upsert_sql(ff_buf_t *b, const dbf_table_t *t, const int *idx, size_t n, size_t rows, char *err,
              size_t errlen)
{
    db_sql(b, "INSERT INTO ");
    if (db_sql_ident(b, t->name, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        db_sql(b, i ? "," : " (");
        if (db_sql_ident(b, t->cols[idx[i]].name, err, errlen) < 0)
            return -1;
    }
    db_sql(b, ") VALUES ");
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < n; i++)
            db_sql(b, i ? ",?" : (r ? ",(?" : "(?"));
        db_sql(b, ")");
    }
    /* The first assignment refuses a duplicate found through another UNIQUE key (a row
     * with a different pk), which would otherwise be overwritten in place while this row
     * is never inserted: a string in the pk fails the statement in strict mode (1366).
     * NULL would not do: an AUTO_INCREMENT pk takes it as 0. */
    const char *pk = t->cols[t->pk].name;
    db_sql(b, " ON DUPLICATE KEY UPDATE `");
    db_sql(b, pk);
    db_sql(b, "`=IF(`");
    db_sql(b, pk);
    db_sql(b, "`=VALUES(`");
    db_sql(b, pk);
    db_sql(b, "`),`");
    db_sql(b, pk);
    db_sql(b, "`,'" DB_CLASH "')");
    for (size_t i = 0; i < n; i++) {
        if (idx[i] == t->pk)
            continue;
        db_sql(b, ",`");
        db_sql(b, t->cols[idx[i]].name);
        db_sql(b, "`=VALUES(`");
        db_sql(b, t->cols[idx[i]].name);
        db_sql(b, "`)");
    }
    db_sql_end(b);
    return 0;
}

/* The number of changes from changes[0] on (at most max) that can share one multi-row
 * INSERT: UPSERTs of the same table with the same columns, rounded down to a power of two
 * so that a table needs few distinct statements in the cache. */
static size_t
db_upsert_run_len(const dbf_change_t *changes, size_t n, size_t max)
{
    size_t k = 1, p = 1;

    while (k < n && k < max && changes[k].op == DBF_OP_UPSERT &&
           changes[k].table == changes[0].table &&
           db_same_cols(changes[0].table, changes[0].row, changes[k].row))
        k++;
    while (p * 2 <= k)
        p *= 2;
    return p;
}

/* Writes UPSERTs from changes[0] on in one statement. Returns the number of changes
 * written (at least 1), or -1 with err. */
static long
db_upsert(dbf_db_t *db, const dbf_change_t *changes, size_t n, char *err, size_t errlen)
{
    const dbf_table_t *t = changes[0].table;
    int *idx = ff_malloc((t->ncols + 1) * sizeof(*idx));
    size_t ncols = db_upsert_cols(t, changes[0].row, idx);
    size_t max = DB_PARAMS_MAX / ncols < DB_UPSERT_ROWS ? DB_PARAMS_MAX / ncols : DB_UPSERT_ROWS;
    size_t rows;
    ff_buf_t b = {0};
    db_params_t p = {0};
    long rc = -1;

    rows = db_upsert_run_len(changes, n, max);
    for (size_t r = 0; r < rows; r++) {
        if (db_check_keys(db, t, changes[r].row, err, errlen) < 0)
            goto out;
    }
    if (db_upsert_sql(&b, t, idx, ncols, rows, err, errlen) < 0)
        goto out;
    db_params_init(&p, rows * ncols);
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < ncols; i++) {
            const dbf_col_t *c = &t->cols[idx[i]];
            if (idx[i] == t->pk)
                db_param_int(&p, changes[r].pk);
            else
                db_param_json(&p, json_object_get(changes[r].row, c->name), c);
        }
    }
    if (db_run(db, (const char *)b.data, &p, "upsert", err, errlen) == 0)
        rc = (long)rows;
    else if (err != NULL && strstr(err, "'" DB_CLASH "'") != NULL)
        db_err(err, errlen, "upsert %s: a row with another %s has the same value in a UNIQUE key",
               t->name, t->cols[t->pk].name);
out:
    ff_buf_free(&b);
    ff_free(idx);
    return rc;
}

/* UPDATE t SET a=?,b=? WHERE pk=?, for the non-pk fields of the change. */
static int
db_update(dbf_db_t *db, const dbf_change_t *ch, char *err, size_t errlen)
{
    const dbf_table_t *t = ch->table;
    ff_buf_t b = {0};
    db_params_t p = {0};
    int rc = -1;

    if (db_check_keys(db, t, ch->row, err, errlen) < 0)
        return -1;
    db_params_init(&p, t->ncols + 1);
    db_sql(&b, "UPDATE ");
    if (db_sql_ident(&b, t->name, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < t->ncols; i++) {
        json_t *v = json_object_get(ch->row, t->cols[i].name);
        if ((int)i == t->pk || v == NULL)
            continue;
        db_sql(&b, p.n ? "," : " SET ");
        if (db_sql_ident(&b, t->cols[i].name, err, errlen) < 0)
            goto out;
        db_sql(&b, "=?");
        db_param_json(&p, v, &t->cols[i]);
    }
    if (p.n == 0) {
        rc = 0; /* nothing to change */
        goto out;
    }
    db_sql(&b, " WHERE ");
    if (db_sql_ident(&b, t->cols[t->pk].name, err, errlen) < 0)
        goto out;
    db_sql(&b, " = ?");
    db_param_int(&p, ch->pk);
    rc = db_run(db, db_sql_end(&b), &p, "update", err, errlen);
out:
    db_params_free(&p);
    ff_buf_free(&b);
    return rc;
}

/* DELETE FROM t WHERE pk=?. */
static int
db_delete(dbf_db_t *db, const dbf_change_t *ch, char *err, size_t errlen)
{
    const dbf_table_t *t = ch->table;
    ff_buf_t b = {0};
    db_params_t p = {0};
    int rc = -1;

    db_sql(&b, "DELETE FROM ");
    if (db_sql_ident(&b, t->name, err, errlen) < 0)
        goto out;
    db_sql(&b, " WHERE ");
    if (db_sql_ident(&b, t->cols[t->pk].name, err, errlen) < 0)
        goto out;
    db_sql(&b, " = ?");
    db_params_init(&p, 1);
    db_param_int(&p, ch->pk);
    rc = db_run(db, db_sql_end(&b), &p, "delete", err, errlen);
out:
    ff_buf_free(&b);
    return rc;
}

/* Writes the non-zero next ids of the incr tables to ff_meta, never lowering one. */
static int
db_put_next_ids(dbf_db_t *db, const dbf_schema_t *s, const int64_t *next_ids, char *err,
                size_t errlen)
{
    for (size_t i = 0; s != NULL && next_ids != NULL && i < s->ntables; i++) {
        const dbf_table_t *t = &s->tables[i];
        db_params_t p = {0};
        if (!t->incr || next_ids[t->index] == 0)
            continue;
        db_params_init(&p, 2);
        db_param_text(&p, t->name, strlen(t->name));
        db_param_int(&p, next_ids[t->index]);
        if (db_run(db,
                   "INSERT INTO ff_meta (tbl, next_id) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
                   "next_id = GREATEST(next_id, VALUES(next_id))",
                   &p, "ff_meta", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Executes the changes in order inside the open transaction. Returns 0 or -1 with err. */
static int
db_apply_changes(dbf_db_t *db, const dbf_change_t *changes, size_t n, char *err, size_t errlen)
{
    size_t i = 0;

    while (i < n) {
        const dbf_change_t *ch = &changes[i];
        long done = 1;
        int rc = 0;
        if (ch->table == NULL) {
            db_err(err, errlen, "change %zu: no table", i);
            return -1;
        }
        if (ch->op == DBF_OP_UPSERT)
            rc = (done = db_upsert(db, ch, n - i, err, errlen)) < 0 ? -1 : 0;
        else if (ch->op == DBF_OP_UPDATE)
            rc = db_update(db, ch, err, errlen);
        else if (ch->op == DBF_OP_DELETE)
            rc = db_delete(db, ch, err, errlen);
        else {
            db_err(err, errlen, "change %zu: unknown op %d", i, ch->op);
            rc = -1;
        }
        if (rc < 0)
            return -1;
        i += (size_t)done;
    }
    return 0;
}

int
dbf_db_apply(dbf_db_t *db, const dbf_change_t *changes, size_t n, const dbf_schema_t *s,
             const int64_t *next_ids, char *err, size_t errlen)
{
    db->refused = false;
    if (dbf_db_connect(db, err, errlen) < 0)
        return DBF_DB_FAILED;
    if (mysql_autocommit(db->my, 0) != 0)
        return db_fail(db, "start transaction", err, errlen);
    if (db_apply_changes(db, changes, n, err, errlen) < 0)
        goto fail_rollback;
    if (db_put_next_ids(db, s, next_ids, err, errlen) < 0) {
        db->refused = false; /* not the rows' fault: never single them out for it */
        goto fail_rollback;
    }
    if (mysql_commit(db->my) != 0) {
        db_fail(db, "commit", err, errlen);
        goto fail_rollback;
    }
    if (mysql_autocommit(db->my, 1) != 0)
        return db_fail(db, "autocommit", err, errlen);
    return 0;

fail_rollback:
    /* A lost connection is closed already; the server rolls back on its side. A refusal
     * counts only if the rollback worked: otherwise nothing is known about the data. */
    if (db->my != NULL && (mysql_rollback(db->my) != 0 || mysql_autocommit(db->my, 1) != 0)) {
        db_disconnect(db);
        db->refused = false;
    }
    return db->refused && db->my != NULL ? DBF_DB_REFUSED : DBF_DB_FAILED;
}

/* The next id of one incr table: the larger of ff_meta's and MAX(pk) + 1, at least 1. */
static int
db_next_id(dbf_db_t *db, const dbf_table_t *t, int64_t *next, char *err, size_t errlen)
{
    ff_buf_t b = {0};
    db_params_t p = {0};
    json_t *rows = NULL;

    db_sql(&b, "SELECT GREATEST(COALESCE((SELECT next_id FROM ff_meta WHERE tbl = ?), 1), "
               "COALESCE((SELECT MAX(");
    if (db_sql_ident(&b, t->cols[t->pk].name, err, errlen) < 0)
        goto out;
    db_sql(&b, ") FROM ");
    if (db_sql_ident(&b, t->name, err, errlen) < 0)
        goto out;
    db_sql(&b, ") + 1, 1)) AS next_id");
    db_params_init(&p, 1);
    db_param_text(&p, t->name, strlen(t->name));
    rows = db_query(db, db_sql_end(&b), &p, NULL, err, errlen);
    if (rows != NULL) {
        json_t *v = json_object_get(json_array_get(rows, 0), "next_id");
        *next = json_is_integer(v) ? json_integer_value(v) : 1;
    }
out:
    ff_buf_free(&b);
    json_decref(rows);
    return rows != NULL ? 0 : -1;
}

int
dbf_db_next_ids(dbf_db_t *db, const dbf_schema_t *s, int64_t *next_ids, char *err, size_t errlen)
{
    if (dbf_db_connect(db, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < s->ntables; i++) {
        const dbf_table_t *t = &s->tables[i];
        next_ids[t->index] = 0;
        if (t->incr && db_next_id(db, t, &next_ids[t->index], err, errlen) < 0)
            return -1;
    }
    return 0;
}
