/* schema: builds dbfront's tables from config's `tables` and the column rows of
 * information_schema.COLUMNS, and checks rows and fields against them before a write is
 * acknowledged, so that nothing that MariaDB would refuse at flush time gets into the log.
 * Pure code: no I/O, errors go to the caller's buffer. */
#include "schema.h"

#include "alloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_GOT_MAX 40      /* bytes of an offending value quoted in a message */
#define SCHEMA_TIMEOUT_DEF 600 /* seconds a clean row stays in memcached */
#define SCHEMA_IDENT_MAX 64    /* MariaDB's limit on table and column names */
#define SCHEMA_DATETIME_MAX 40 /* bytes of a date/time string */

/* The integer types: name, signed minimum, signed maximum, unsigned maximum. */
static const struct {
    const char *name;
    int64_t min;
    int64_t smax;
    uint64_t umax;
} schema_ints[] = {
    {"tinyint", INT8_MIN, INT8_MAX, UINT8_MAX},    {"smallint", INT16_MIN, INT16_MAX, UINT16_MAX},
    {"mediumint", -8388608, 8388607, 16777215},    {"int", INT32_MIN, INT32_MAX, UINT32_MAX},
    {"integer", INT32_MIN, INT32_MAX, UINT32_MAX}, {"bigint", INT64_MIN, INT64_MAX, UINT64_MAX},
};

/* The other supported DATA_TYPEs; `text` marks the TEXT family, whose limit is in bytes. */
static const struct {
    const char *name;
    dbf_coltype_t type;
    bool text;
} schema_types[] = {
    {"float", DBF_COL_FLOAT, false},       {"double", DBF_COL_FLOAT, false},
    {"decimal", DBF_COL_FLOAT, false},     {"char", DBF_COL_STRING, false},
    {"varchar", DBF_COL_STRING, false},    {"enum", DBF_COL_STRING, false},
    {"set", DBF_COL_STRING, false},        {"tinytext", DBF_COL_STRING, true},
    {"text", DBF_COL_STRING, true},        {"mediumtext", DBF_COL_STRING, true},
    {"longtext", DBF_COL_STRING, true},    {"binary", DBF_COL_BLOB, false},
    {"varbinary", DBF_COL_BLOB, false},    {"tinyblob", DBF_COL_BLOB, false},
    {"blob", DBF_COL_BLOB, false},         {"mediumblob", DBF_COL_BLOB, false},
    {"longblob", DBF_COL_BLOB, false},     {"date", DBF_COL_DATETIME, false},
    {"datetime", DBF_COL_DATETIME, false}, {"timestamp", DBF_COL_DATETIME, false},
    {"time", DBF_COL_DATETIME, false},     {"json", DBF_COL_JSON, false},
};

static void schema_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
schema_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* True when s is a name that can be backquoted without escaping: [A-Za-z0-9_]{1,64}. */
static bool
schema_ident_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SCHEMA_IDENT_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Fills c's type, range and length limit from DATA_TYPE, COLUMN_TYPE and
 * CHARACTER_MAXIMUM_LENGTH. Returns 0, or -1 for a type dbfront does not handle. */
static int
schema_col_type(dbf_col_t *c, const char *data_type, const char *column_type, json_t *maxlen)
{
    bool is_unsigned = column_type != NULL && strstr(column_type, "unsigned") != NULL;

    for (size_t i = 0; i < sizeof(schema_ints) / sizeof(schema_ints[0]); i++) {
        if (strcmp(data_type, schema_ints[i].name) == 0) {
            c->type = DBF_COL_INT;
            c->min = is_unsigned ? 0 : schema_ints[i].min;
            c->max = is_unsigned ? schema_ints[i].umax : (uint64_t)schema_ints[i].smax;
            return 0;
        }
    }
    if (strcmp(data_type, "year") == 0) {
        c->type = DBF_COL_INT;
        c->min = 0;
        c->max = 2155;
        return 0;
    }
    for (size_t i = 0; i < sizeof(schema_types) / sizeof(schema_types[0]); i++) {
        if (strcmp(data_type, schema_types[i].name) == 0) {
            c->type = schema_types[i].type;
            if (c->type != DBF_COL_STRING && c->type != DBF_COL_BLOB)
                return 0;
            /* A missing length means no limit we know of; MariaDB will say. */
            c->maxlen = json_is_integer(maxlen) && json_integer_value(maxlen) >= 0
                            ? (uint64_t)json_integer_value(maxlen)
                            : UINT64_MAX;
            c->maxbytes = schema_types[i].text ? c->maxlen : 0;
            return 0;
        }
    }
    return -1;
}

/* A string member of a column row, or NULL when absent or not a string. */
static const char *
schema_row_str(json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* Fills c from one information_schema row. Returns 0 or -1 with err. */
static int
schema_col_init(dbf_col_t *c, const char *tname, json_t *row, char *err, size_t errlen)
{
    const char *name = schema_row_str(row, "COLUMN_NAME");
    const char *data_type = schema_row_str(row, "DATA_TYPE");
    const char *nullable = schema_row_str(row, "IS_NULLABLE");
    const char *extra = schema_row_str(row, "EXTRA");
    json_t *def = json_object_get(row, "COLUMN_DEFAULT");

    if (name == NULL || data_type == NULL || nullable == NULL) {
        schema_err(err, errlen,
                   "table %s: a column row lacks COLUMN_NAME, DATA_TYPE or IS_NULLABLE", tname);
        return -1;
    }
    if (!schema_ident_ok(name)) {
        schema_err(err, errlen, "%s.%s: column name is not [A-Za-z0-9_]{1,64}", tname, name);
        return -1;
    }
    c->name = ff_strdup(name);
    c->nullable = strcmp(nullable, "YES") == 0;
    /* MariaDB reports the string "NULL" for a nullable column without a default; a
     * string default is quoted ('NULL'), so the bare word is never a real default. */
    c->has_default = (json_is_string(def) && strcmp(json_string_value(def), "NULL") != 0) ||
                     (extra != NULL && strstr(extra, "auto_increment") != NULL);
    if (schema_col_type(c, data_type, schema_row_str(row, "COLUMN_TYPE"),
                        json_object_get(row, "CHARACTER_MAXIMUM_LENGTH")) < 0) {
        schema_err(err, errlen, "%s.%s: unsupported column type %s", tname, name, data_type);
        return -1;
    }
    return 0;
}

/* Reads one table's config entry into t (name, incr, timeout) and returns the pk and fk
 * names through *pk and *fk (borrowed from cfg). Returns 0 or -1 with err. */
static int
schema_table_conf(dbf_table_t *t, const char *name, json_t *cfg, const char **pk, const char **fk,
                  char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    t->name = ff_strdup(name);
    t->fk = -1;
    t->timeout_s = SCHEMA_TIMEOUT_DEF;
    if (!schema_ident_ok(name)) {
        schema_err(err, errlen, "tables.%s: table name is not [A-Za-z0-9_]{1,64}", name);
        return -1;
    }
    if (!json_is_object(cfg)) {
        schema_err(err, errlen, "tables.%s: expected an object", name);
        return -1;
    }
    json_object_foreach(cfg, key, v)
    {
        if (strcmp(key, "pk") == 0 && json_is_string(v))
            *pk = json_string_value(v);
        else if (strcmp(key, "fk") == 0 && json_is_string(v))
            *fk = json_string_value(v);
        else if (strcmp(key, "incr") == 0 && json_is_boolean(v))
            t->incr = json_is_true(v);
        else if (strcmp(key, "timeout") == 0 && json_is_integer(v) && json_integer_value(v) >= 0 &&
                 json_integer_value(v) <= INT32_MAX)
            t->timeout_s = (int)json_integer_value(v);
        else {
            bool known = !strcmp(key, "pk") || !strcmp(key, "fk") || !strcmp(key, "incr") ||
                         !strcmp(key, "timeout");
            schema_err(err, errlen, "tables.%s.%s: %s", name, key,
                       !known                    ? "unknown key"
                       : !strcmp(key, "incr")    ? "expected true or false"
                       : !strcmp(key, "timeout") ? "expected an integer 0..2147483647"
                                                 : "expected a string");
            return -1;
        }
    }
    if (*pk == NULL) {
        schema_err(err, errlen, "tables.%s.pk: missing", name);
        return -1;
    }
    return 0;
}

/* Adds the columns of t found in `columns`, in their order there. Returns 0 or -1. */
static int
schema_table_cols(dbf_table_t *t, json_t *columns, char *err, size_t errlen)
{
    size_t i;
    json_t *row;

    json_array_foreach(columns, i, row)
    {
        const char *tname = schema_row_str(row, "TABLE_NAME");
        if (tname == NULL || strcmp(tname, t->name) != 0)
            continue;
        const char *cname = schema_row_str(row, "COLUMN_NAME");
        if (cname != NULL && dbf_table_col(t, cname) != NULL) {
            schema_err(err, errlen, "%s.%s: column listed twice", t->name, cname);
            return -1;
        }
        t->cols = ff_realloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
        memset(&t->cols[t->ncols], 0, sizeof(*t->cols));
        t->ncols++;
        if (schema_col_init(&t->cols[t->ncols - 1], t->name, row, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The database named by the column rows (TABLE_SCHEMA), for messages; "" when unknown. */
static const char *
schema_dbname(json_t *columns)
{
    const char *db = schema_row_str(json_array_get(columns, 0), "TABLE_SCHEMA");

    return db != NULL ? db : "";
}

/* Resolves t's pk and fk names to column indexes. Returns 0 or -1 with err. */
static int
schema_table_keys(dbf_table_t *t, const char *pk, const char *fk, json_t *columns, char *err,
                  size_t errlen)
{
    const dbf_col_t *c;

    if (t->ncols == 0) {
        const char *db = schema_dbname(columns);
        schema_err(err, errlen, "table %s: not in database%s%s", t->name, *db ? " " : "", db);
        return -1;
    }
    if ((c = dbf_table_col(t, pk)) == NULL) {
        schema_err(err, errlen, "table %s: pk \"%s\" is not a column", t->name, pk);
        return -1;
    }
    if (c->type != DBF_COL_INT) {
        schema_err(err, errlen, "table %s: pk \"%s\" is not an integer column", t->name, pk);
        return -1;
    }
    t->pk = (int)(c - t->cols);
    if (fk != NULL) {
        if ((c = dbf_table_col(t, fk)) == NULL) {
            schema_err(err, errlen, "table %s: fk \"%s\" is not a column", t->name, fk);
            return -1;
        }
        t->fk = (int)(c - t->cols);
    }
    return 0;
}

dbf_schema_t *
dbf_schema_build(json_t *tables, json_t *columns, char *err, size_t errlen)
{
    dbf_schema_t *s = ff_calloc(1, sizeof(*s));
    const char *name;
    json_t *cfg;

    if (!json_is_object(tables) || !json_is_array(columns)) {
        schema_err(err, errlen, "tables: expected an object, columns: an array");
        goto fail;
    }
    s->tables = ff_calloc(json_object_size(tables) + 1, sizeof(*s->tables));
    json_object_foreach(tables, name, cfg)
    {
        dbf_table_t *t = &s->tables[s->ntables];
        const char *pk = NULL, *fk = NULL;

        t->index = (int)s->ntables++;
        if (schema_table_conf(t, name, cfg, &pk, &fk, err, errlen) < 0 ||
            schema_table_cols(t, columns, err, errlen) < 0 ||
            schema_table_keys(t, pk, fk, columns, err, errlen) < 0)
            goto fail;
    }
    return s;

fail:
    dbf_schema_free(s);
    return NULL;
}

const dbf_table_t *
dbf_schema_table(const dbf_schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->ntables; i++) {
        if (strcmp(s->tables[i].name, name) == 0)
            return &s->tables[i];
    }
    return NULL;
}

const dbf_col_t *
dbf_table_col(const dbf_table_t *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->cols[i].name != NULL && strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    }
    return NULL;
}

void
dbf_schema_free(dbf_schema_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntables; i++) {
        dbf_table_t *t = &s->tables[i];
        for (size_t j = 0; j < t->ncols; j++)
            ff_free(t->cols[j].name);
        ff_free(t->cols);
        ff_free(t->name);
    }
    ff_free(s->tables);
    ff_free(s);
}

/* Writes v as compact JSON into buf (at most SCHEMA_GOT_MAX bytes, then "..."). */
static void
schema_got(json_t *v, char *buf, size_t n)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (text == NULL) {
        snprintf(buf, n, "?");
        return;
    }
    if (strlen(text) > SCHEMA_GOT_MAX)
        snprintf(buf, n, "%.*s...", SCHEMA_GOT_MAX, text);
    else
        snprintf(buf, n, "%s", text);
    free(text);
}

/* Reports that column c of t wanted `what` and got v. Returns -1. */
static int
schema_wrong_type(const dbf_table_t *t, const dbf_col_t *c, const char *what, json_t *v, char *err,
                  size_t errlen)
{
    char got[SCHEMA_GOT_MAX + 8];

    schema_got(v, got, sizeof(got));
    schema_err(err, errlen, "%s.%s: expected %s, got %s", t->name, c->name, what, got);
    return -1;
}

/* The number of UTF-8 characters in s (jansson strings are valid UTF-8). */
static size_t
schema_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Checks an integer column value: a JSON integer in range, or a boolean (0/1). */
/* Reads exactly n digits at *p into *out and advances; false when they are not there. */
static bool
schema_digits(const char **p, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *out = *out * 10 + (**p - '0');
    }
    return true;
}

/* hh:mm:ss[.ffffff] with the hours below max_h. */
static bool
schema_time_ok(const char *p, int max_h)
{
    int h = 0, m, sec, n = 0;

    while (*p >= '0' && *p <= '9' && n < 3) {
        h = h * 10 + (*p++ - '0');
        n++;
    }
    if (n < 1 || h > max_h || *p++ != ':' || !schema_digits(&p, 2, &m) || m > 59 || *p++ != ':' ||
        !schema_digits(&p, 2, &sec) || sec > 59)
        return false;
    if (*p == '.')
        for (p++, n = 0; *p >= '0' && *p <= '9'; p++)
            n++;
    return *p == '\0';
}

/* YYYY-MM-DD[( |T)hh:mm:ss[.ffffff]] with a real calendar date, or a TIME value. */
static bool
schema_datetime_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int y, m, d;
    bool leap;

    if (strchr(s, '-') == NULL || (s[0] == '-' && strchr(s + 1, '-') == NULL))
        return schema_time_ok(s[0] == '-' ? s + 1 : s, 838);
    if (!schema_digits(&p, 4, &y) || *p++ != '-' || !schema_digits(&p, 2, &m) || *p++ != '-' ||
        !schema_digits(&p, 2, &d) || y < 1000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return false;
    if (*p == '\0')
        return true;
    return (*p == ' ' || *p == 'T') && schema_time_ok(p + 1, 23);
}

static int
schema_check_int(const dbf_table_t *t, const dbf_col_t *c, json_t *v, char *err, size_t errlen)
{
    json_int_t i;

    if (json_is_boolean(v))
        i = json_is_true(v);
    else if (json_is_integer(v))
        i = json_integer_value(v);
    else
        return schema_wrong_type(t, c, "an integer", v, err, errlen);
    if (i < c->min || (i > 0 && (uint64_t)i > c->max)) {
        schema_err(err, errlen, "%s.%s: %lld is out of range %" PRId64 "..%" PRIu64, t->name,
                   c->name, (long long)i, c->min, c->max);
        return -1;
    }
    return 0;
}

/* Checks a string or blob value against the column's length limits. */
static int
schema_check_len(const dbf_table_t *t, const dbf_col_t *c, json_t *v, char *err, size_t errlen)
{
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);

    if (c->type == DBF_COL_BLOB || (c->maxbytes != 0 && bytes > c->maxbytes)) {
        uint64_t limit = c->type == DBF_COL_BLOB ? c->maxlen : c->maxbytes;
        if (bytes <= limit)
            return 0;
        schema_err(err, errlen, "%s.%s: %zu bytes, the column holds %" PRIu64, t->name, c->name,
                   bytes, limit);
        return -1;
    }
    /* Fewer bytes than the limit are fewer characters too: count only when it matters. */
    size_t chars = bytes <= c->maxlen ? bytes : schema_utf8_chars(s, bytes);
    if (chars > c->maxlen) {
        schema_err(err, errlen, "%s.%s: %zu characters, the column holds %" PRIu64, t->name,
                   c->name, chars, c->maxlen);
        return -1;
    }
    return 0;
}

/* Checks one value against its column. */
static int
schema_check_value(const dbf_table_t *t, const dbf_col_t *c, json_t *v, char *err, size_t errlen)
{
    if (json_is_null(v)) {
        if (c->nullable)
            return 0;
        schema_err(err, errlen, "%s.%s: null in a NOT NULL column", t->name, c->name);
        return -1;
    }
    switch (c->type) {
    case DBF_COL_INT:
        return schema_check_int(t, c, v, err, errlen);
    case DBF_COL_FLOAT:
        return json_is_number(v) ? 0 : schema_wrong_type(t, c, "a number", v, err, errlen);
    case DBF_COL_STRING:
    case DBF_COL_BLOB:
        if (!json_is_string(v))
            return schema_wrong_type(t, c, "a string", v, err, errlen);
        return schema_check_len(t, c, v, err, errlen);
    case DBF_COL_DATETIME:
        /* A value MariaDB's strict mode would refuse must never reach a flush, where it
         * would hold up every later write. */
        if (json_is_string(v) && json_string_length(v) <= SCHEMA_DATETIME_MAX &&
            schema_datetime_ok(json_string_value(v)))
            return 0;
        return schema_wrong_type(t, c, "a date/time string", v, err, errlen);
    case DBF_COL_JSON:
        return 0;
    }
    return schema_wrong_type(t, c, "a known column type", v, err, errlen);
}

/* Checks that a new row holds its pk (unless allocated) and every NOT NULL column that
 * has no default. */
static int
schema_check_complete(const dbf_table_t *t, json_t *fields, char *err, size_t errlen)
{
    const dbf_col_t *pk = &t->cols[t->pk];

    if (!t->incr && json_object_get(fields, pk->name) == NULL) {
        schema_err(err, errlen, "%s: missing pk \"%s\"", t->name, pk->name);
        return -1;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        const dbf_col_t *c = &t->cols[i];
        if ((int)i == t->pk || c->nullable || c->has_default ||
            json_object_get(fields, c->name) != NULL)
            continue;
        schema_err(err, errlen, "%s.%s: missing (NOT NULL, no default)", t->name, c->name);
        return -1;
    }
    return 0;
}

int
dbf_row_check(const dbf_table_t *t, json_t *fields, int mode, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    if (!json_is_object(fields)) {
        schema_err(err, errlen, "%s: expected an object of fields", t->name);
        return -1;
    }
    json_object_foreach(fields, key, v)
    {
        const dbf_col_t *c = dbf_table_col(t, key);
        if (c == NULL) {
            schema_err(err, errlen, "%s.%s: no such column", t->name, key);
            return -1;
        }
        if (mode == DBF_ROW_UPDATE && c == &t->cols[t->pk]) {
            schema_err(err, errlen, "%s.%s: the primary key cannot be updated", t->name, key);
            return -1;
        }
        if (schema_check_value(t, c, v, err, errlen) < 0)
            return -1;
    }
    return mode == DBF_ROW_NEW ? schema_check_complete(t, fields, err, errlen) : 0;
}
