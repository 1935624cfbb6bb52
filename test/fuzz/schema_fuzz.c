/* schema_fuzz: dbfront's write validation (dbf_row_check) of arbitrary JSON text, parsed as
 * dbfront parses a write's arguments, as a new row and as an update of each table of a fixed
 * schema. A refusal is one message naming the table; an accepted row holds only columns of
 * its table, never an updated pk, values of the right types, and, when new, every NOT NULL
 * column without a default. */
#include <stdbool.h>
#include <string.h>

#include "fixture.h"
#include "fuzz.h"

/* What an accepted value of column c must be. */
static void
check_value(const dbf_col_t *c, json_t *v)
{
    if (json_is_null(v)) {
        FUZZ_CHECK(c->nullable);
        return;
    }
    switch (c->type) {
    case DBF_COL_INT:
        FUZZ_CHECK(json_is_integer(v) || json_is_boolean(v));
        if (json_is_integer(v)) {
            json_int_t i = json_integer_value(v);
            FUZZ_CHECK(i >= c->min && (i <= 0 || (uint64_t)i <= c->max));
        }
        break;
    case DBF_COL_FLOAT:
        FUZZ_CHECK(json_is_number(v));
        break;
    case DBF_COL_STRING:
        FUZZ_CHECK(json_is_string(v));
        FUZZ_CHECK(c->maxbytes == 0 || json_string_length(v) <= c->maxbytes);
        break;
    case DBF_COL_BLOB:
        FUZZ_CHECK(json_is_string(v) && json_string_length(v) <= c->maxlen);
        break;
    case DBF_COL_DATETIME:
        /* Checked as a C string: one holding a NUL must not pass on its prefix. */
        FUZZ_CHECK(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v));
        break;
    case DBF_COL_JSON:
        break;
    }
}

static void
check_row(const dbf_table_t *t, json_t *row, int mode)
{
    char err[256];
    const char *key;
    json_t *v;

    memset(err, 'x', sizeof(err));
    if (dbf_row_check(t, row, mode, err, sizeof(err)) < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, t->name, strlen(t->name)) == 0);
        return;
    }
    FUZZ_CHECK(json_is_object(row));
    json_object_foreach(row, key, v)
    {
        const dbf_col_t *c = dbf_table_col(t, key);
        FUZZ_CHECK(c != NULL);
        FUZZ_CHECK(mode != DBF_ROW_UPDATE || c != &t->cols[t->pk]);
        check_value(c, v);
    }
    if (mode != DBF_ROW_NEW)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        const dbf_col_t *c = &t->cols[i];
        if ((int)i == t->pk ? !t->incr : !c->nullable && !c->has_default)
            FUZZ_CHECK(json_object_get(row, c->name) != NULL);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const dbf_schema_t *s = fuzz_schema();
    /* As dbfront's store.c parses a CALL's arguments: flags 0. */
    json_t *row = json_loadb((const char *)data, size, 0, NULL);

    if (row == NULL)
        return 0;
    for (size_t i = 0; i < s->ntables; i++) {
        check_row(&s->tables[i], row, DBF_ROW_NEW);
        check_row(&s->tables[i], row, DBF_ROW_UPDATE);
    }
    json_decref(row);
    return 0;
}
