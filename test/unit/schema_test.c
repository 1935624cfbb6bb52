/* schema_test: dbf_schema_build from a fixture of information_schema rows as MariaDB 10.11
 * reports them, its errors, and every message of dbf_row_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema.h"

/* Columns as `SELECT ... FROM information_schema.COLUMNS` returns them: COLUMN_DEFAULT is
 * SQL NULL for a NOT NULL column without default and the string "NULL" for a nullable one;
 * a JSON column comes as DATA_TYPE "json" (dbf_db_columns' rewrite of LONGTEXT + check). */
#define ROW(t, c, dt, ct, nul, def, len, extra)                                                    \
    "{\"TABLE_SCHEMA\":\"firefly\",\"TABLE_NAME\":\"" t "\",\"COLUMN_NAME\":\"" c                  \
    "\",\"DATA_TYPE\":\"" dt "\",\"COLUMN_TYPE\":\"" ct "\",\"IS_NULLABLE\":\"" nul                \
    "\",\"COLUMN_DEFAULT\":" def ",\"CHARACTER_MAXIMUM_LENGTH\":" len ",\"EXTRA\":\"" extra "\"}"

static const char
    *columns_json = "[" ROW("tb_user", "id", "int", "int(11)", "NO", "null",
                            "null", "auto_increment") "," ROW("tb_user", "username", "varchar", "varchar(11)", "NO", "null", "11", "") "," ROW("tb_user", "password", "varchar", "varchar(11)", "NO", "null", "11", "") "," ROW("tb_user", "created", "datetime", "datetime", "YES", "\"current_timestamp()\"", "null", "") "," ROW("tb_character",
                                                                                                                                                                                                                                                                                                                                    "id",
                                                                                                                                                                                                                                                                                                                                    "int",
                                                                                                                                                                                                                                                                                                                                    "int(11)",
                                                                                                                                                                                                                                                                                                                                    "NO",
                                                                                                                                                                                                                                                                                                                                    "null",
                                                                                                                                                                                                                                                                                                                                    "null", "") "," ROW("tb_character",
                                                                                                                                                                                                                                                                                                                                                        "userId",
                                                                                                                                                                                                                                                                                                                                                        "int", "int(11)", "NO", "null",
                                                                                                                                                                                                                                                                                                                                                        "null",
                                                                                                                                                                                                                                                                                                                                                        "") "," ROW("tb_character", "name", "varchar", "varchar(32)", "NO", "null", "32", "") "," ROW("tb_character",
                                                                                                                                                                                                                                                                                                                                                                                                                                                      "level",
                                                                                                                                                                                                                                                                                                                                                                                                                                                      "int", "int(11)", "YES", "\"1\"", "null",
                                                                                                                                                                                                                                                                                                                                                                                                                                                      "") "," ROW("tb_character",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "exp", "bigint", "bigint(20)", "YES", "\"0\"", "null", "") "," ROW("tb_character",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "coin",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "int",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "int(10) unsigned",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "YES",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "\"0\"", "null", "") "," ROW("tb_character", "profession", "tinyint", "tinyint(4)", "YES", "\"NULL\"", "null", "") "," ROW("tb_character", "note", "text", "text", "YES", "\"NULL\"", "65535", "") "," ROW("tb_item", "id", "bigint", "bigint(20) unsigned", "NO", "null", "null", "") "," ROW("tb_item",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "price",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "decimal",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "decimal(10,2)",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "YES", "\"NULL\"",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "null", "") "," ROW("tb_item",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "data",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "json",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "longtext",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "YES",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "\"NULL\"", "4294967295", "") "," ROW("tb_item", "icon",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "varbinary",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "varbinary(4)", "YES", "\"NULL\"", "4",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "") "," ROW("tb_item",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "born",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "date",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "date", "YES", "\"NULL\"", "null", "") "," ROW("tb_other",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "x", "geometry", "geometry", "YES", "\"NULL\"", "null",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "") "]";

static const char *tables_json =
    "{\"tb_user\": {\"pk\": \"id\", \"incr\": true, \"timeout\": 60},"
    " \"tb_character\": {\"pk\": \"id\", \"incr\": true, \"fk\": \"userId\"},"
    " \"tb_item\": {\"pk\": \"id\"}}";

typedef struct {
    dbf_schema_t *s;
    const dbf_table_t *user, *chr, *item;
} fixture_t;

static json_t *
load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);

    if (v == NULL)
        fail_msg("fixture: %s at %d:%d", je.text, je.line, je.column);
    return v;
}

/* Builds from tables/columns texts; returns the schema or NULL with err. */
static dbf_schema_t *
build(const char *tables, const char *columns, char *err, size_t errlen)
{
    json_t *t = load(tables), *c = load(columns);
    dbf_schema_t *s = dbf_schema_build(t, c, err, errlen);

    json_decref(t);
    json_decref(c);
    return s;
}

static int
setup(void **state)
{
    static fixture_t f;
    char err[256] = "";

    f.s = build(tables_json, columns_json, err, sizeof(err));
    if (f.s == NULL)
        fail_msg("build: %s", err);
    f.user = dbf_schema_table(f.s, "tb_user");
    f.chr = dbf_schema_table(f.s, "tb_character");
    f.item = dbf_schema_table(f.s, "tb_item");
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    dbf_schema_free(f->s);
    return 0;
}

static void
test_build(void **state)
{
    fixture_t *f = *state;
    const dbf_col_t *c;

    assert_int_equal(f->s->ntables, 3);
    assert_null(dbf_schema_table(f->s, "tb_other"));
    assert_int_equal(f->user->index, 0);
    assert_int_equal(f->chr->index, 1);
    assert_int_equal(f->item->index, 2);
    assert_int_equal(f->user->ncols, 4);
    assert_int_equal(f->chr->ncols, 8);
    assert_true(f->user->incr);
    assert_false(f->item->incr);
    assert_int_equal(f->user->timeout_s, 60);
    assert_int_equal(f->chr->timeout_s, 600);
    assert_int_equal(f->chr->pk, 0);
    assert_int_equal(f->chr->fk, 1);
    assert_int_equal(f->user->fk, -1);
    assert_true(f->user->cols[0].has_default); /* auto_increment */
    assert_false(f->user->cols[1].has_default);
    assert_false(f->user->cols[1].nullable);
    assert_true(f->user->cols[3].has_default);
    assert_int_equal(f->user->cols[3].type, DBF_COL_DATETIME);
    c = dbf_table_col(f->chr, "name");
    assert_int_equal(c->type, DBF_COL_STRING);
    assert_int_equal(c->maxlen, 32);
    assert_int_equal(c->maxbytes, 0);
    c = dbf_table_col(f->chr, "note");
    assert_int_equal(c->maxbytes, 65535); /* TEXT holds bytes, not characters */
    assert_true(c->nullable);
    assert_false(c->has_default); /* "NULL" is no default; nullable is what lets it be left out */
    c = dbf_table_col(f->chr, "coin");
    assert_int_equal(c->type, DBF_COL_INT);
    assert_int_equal(c->min, 0);
    assert_int_equal(c->max, UINT32_MAX);
    c = dbf_table_col(f->chr, "profession");
    assert_int_equal(c->min, -128);
    assert_int_equal(c->max, 127);
    c = dbf_table_col(f->chr, "exp");
    assert_true(c->min == INT64_MIN && c->max == (uint64_t)INT64_MAX);
    assert_int_equal(dbf_table_col(f->item, "price")->type, DBF_COL_FLOAT);
    assert_int_equal(dbf_table_col(f->item, "data")->type, DBF_COL_JSON);
    assert_int_equal(dbf_table_col(f->item, "icon")->type, DBF_COL_BLOB);
    assert_int_equal(dbf_table_col(f->item, "icon")->maxlen, 4);
    assert_null(dbf_table_col(f->chr, "nme"));
}

/* Expects the build of tables (with the fixture's columns) to fail with `want`. */
static void
build_fails(const char *tables, const char *want)
{
    char err[256] = "";
    dbf_schema_t *s = build(tables, columns_json, err, sizeof(err));

    assert_null(s);
    assert_string_equal(err, want);
}

static void
test_build_errors(void **state)
{
    (void)state;
    build_fails("{\"tb_x\": {\"pk\": \"id\"}}", "table tb_x: not in database firefly");
    build_fails("{\"tb_user\": {\"pk\": \"uid\"}}", "table tb_user: pk \"uid\" is not a column");
    build_fails("{\"tb_user\": {\"pk\": \"username\"}}",
                "table tb_user: pk \"username\" is not an integer column");
    build_fails("{\"tb_character\": {\"pk\": \"id\", \"fk\": \"uid\"}}",
                "table tb_character: fk \"uid\" is not a column");
    build_fails("{\"tb_user\": {\"pk\": \"id\", \"incr\": 1}}",
                "tables.tb_user.incr: expected true or false");
    build_fails("{\"tb_user\": {\"pk\": \"id\", \"ttl\": 1}}", "tables.tb_user.ttl: unknown key");
    build_fails("{\"tb_user\": {\"incr\": true}}", "tables.tb_user.pk: missing");
    build_fails("{\"tb user\": {\"pk\": \"id\"}}",
                "tables.tb user: table name is not [A-Za-z0-9_]{1,64}");
    build_fails("{\"tb_other\": {\"pk\": \"x\"}}", "tb_other.x: unsupported column type geometry");
}

/* Runs dbf_row_check on the fields text; want NULL = accepted, else the message. */
static void
check(const dbf_table_t *t, const char *fields, int mode, const char *want)
{
    char err[256] = "";
    json_t *v = load(fields);
    int rc = dbf_row_check(t, v, mode, err, sizeof(err));

    json_decref(v);
    if (want == NULL) {
        assert_string_equal(err, "");
        assert_int_equal(rc, 0);
    } else {
        assert_string_equal(err, want);
        assert_int_equal(rc, -1);
    }
}

static void
test_row_types(void **state)
{
    fixture_t *f = *state;
    const dbf_table_t *c = f->chr;
    const int U = DBF_ROW_UPDATE;

    check(c, "{\"nme\": \"x\"}", U, "tb_character.nme: no such column");
    check(c, "{\"level\": \"x\"}", U, "tb_character.level: expected an integer, got \"x\"");
    check(c, "{\"level\": 1.5}", U, "tb_character.level: expected an integer, got 1.5");
    check(c, "{\"level\": [1]}", U, "tb_character.level: expected an integer, got [1]");
    check(c, "{\"profession\": 300}", U, "tb_character.profession: 300 is out of range -128..127");
    check(c, "{\"profession\": -129}", U,
          "tb_character.profession: -129 is out of range -128..127");
    check(c, "{\"profession\": -128, \"level\": true}", U, NULL);
    check(c, "{\"coin\": -1}", U, "tb_character.coin: -1 is out of range 0..4294967295");
    check(c, "{\"coin\": 4294967296}", U,
          "tb_character.coin: 4294967296 is out of range 0..4294967295");
    check(c, "{\"coin\": 4294967295, \"exp\": 9223372036854775807}", U, NULL);
    check(c, "{\"name\": 5}", U, "tb_character.name: expected a string, got 5");
    check(c, "{\"name\": null}", U, "tb_character.name: null in a NOT NULL column");
    check(c, "{\"note\": null, \"profession\": null}", U, NULL);
    check(c, "{\"id\": 5}", U, "tb_character.id: the primary key cannot be updated");
    check(c, "[1]", U, "tb_character: expected an object of fields");
}

static void
test_row_lengths(void **state)
{
    fixture_t *f = *state;
    const dbf_table_t *c = f->chr;
    char fields[512];
    /* 32 characters of 3 bytes (U+4E2D) and 4 bytes (U+1F600): at the limit in characters,
     * well past it in bytes. */
    char cjk[32 * 4 + 1] = "", emoji[32 * 4 + 1] = "";

    for (int i = 0; i < 32; i++) {
        strcat(cjk, "\xe4\xb8\xad");
        strcat(emoji, "\xf0\x9f\x98\x80");
    }
    snprintf(fields, sizeof(fields), "{\"name\": \"%s\"}", cjk);
    check(c, fields, DBF_ROW_UPDATE, NULL);
    snprintf(fields, sizeof(fields), "{\"name\": \"%s\"}", emoji);
    check(c, fields, DBF_ROW_UPDATE, NULL);
    snprintf(fields, sizeof(fields), "{\"name\": \"%s\xc3\xa9\"}", cjk);
    check(c, fields, DBF_ROW_UPDATE, "tb_character.name: 33 characters, the column holds 32");
    check(c, "{\"name\": \"0123456789012345678901234567890123456789\"}", DBF_ROW_UPDATE,
          "tb_character.name: 40 characters, the column holds 32");
    check(f->item, "{\"icon\": \"abcd\"}", DBF_ROW_UPDATE, NULL);
    check(f->item, "{\"icon\": \"abc\xc3\xa9\"}", DBF_ROW_UPDATE,
          "tb_item.icon: 5 bytes, the column holds 4");
}

static void
test_row_text_bytes(void **state)
{
    fixture_t *f = *state;
    /* 21,846 three-byte characters: fewer than 65,535 characters, more than 65,535 bytes. */
    size_t n = 21846 * 3;
    char *s = malloc(n + 1);
    json_t *v;
    char err[256] = "";

    for (size_t i = 0; i < n; i += 3)
        memcpy(s + i, "\xe4\xb8\xad", 3);
    s[n] = '\0';
    v = json_pack("{s:s}", "note", s);
    assert_int_equal(dbf_row_check(f->chr, v, DBF_ROW_UPDATE, err, sizeof(err)), -1);
    assert_string_equal(err, "tb_character.note: 65538 bytes, the column holds 65535");
    json_object_set_new(v, "note", json_stringn(s, n - 3));
    assert_int_equal(dbf_row_check(f->chr, v, DBF_ROW_UPDATE, err, sizeof(err)), 0);
    json_decref(v);
    free(s);
}

static void
test_row_other_types(void **state)
{
    fixture_t *f = *state;
    const dbf_table_t *it = f->item;
    const int U = DBF_ROW_UPDATE;

    check(it, "{\"price\": 3, \"born\": \"2026-11-22\", \"data\": {\"a\": [1, \"b\"]}}", U, NULL);
    check(it, "{\"price\": 3.25, \"data\": \"text\", \"icon\": null}", U, NULL);
    check(it, "{\"price\": \"3\"}", U, "tb_item.price: expected a number, got \"3\"");
    check(it, "{\"price\": true}", U, "tb_item.price: expected a number, got true");
    check(it, "{\"born\": 20261122}", U, "tb_item.born: expected a date/time string, got 20261122");
    check(it, "{\"born\": \"soon\"}", U, "tb_item.born: expected a date/time string, got \"soon\"");
    /* Impossible dates are refused at write time: MariaDB would refuse them at flush. */
    check(it, "{\"born\": \"2024-13-45 25:61:61\"}", U,
          "tb_item.born: expected a date/time string, got \"2024-13-45 25:61:61\"");
    check(it, "{\"born\": \"2023-02-29\"}", U,
          "tb_item.born: expected a date/time string, got \"2023-02-29\"");
    check(it, "{\"born\": \"2024-02-29 23:59:59.5\"}", U, NULL);
    check(it, "{\"icon\": 1}", U, "tb_item.icon: expected a string, got 1");
    check(f->user, "{\"created\": \"2026-11-22 03:04:05.678\"}", U, NULL);
}

static void
test_row_new(void **state)
{
    fixture_t *f = *state;
    const int N = DBF_ROW_NEW;

    /* tb_item is not incr: the pk must be there. */
    check(f->item, "{\"price\": 1}", N, "tb_item: missing pk \"id\"");
    check(f->item, "{\"id\": 1}", N, NULL);
    check(f->item, "{\"id\": -1}", N, "tb_item.id: -1 is out of range 0..18446744073709551615");
    /* tb_user is incr: the pk may be left out, NOT NULL columns without default may not. */
    check(f->user, "{\"username\": \"u\"}", N, "tb_user.password: missing (NOT NULL, no default)");
    check(f->user, "{\"username\": \"u\", \"password\": \"p\"}", N, NULL);
    check(f->user, "{\"id\": 7, \"username\": \"u\", \"password\": \"p\", \"created\": null}", N,
          NULL);
    check(f->user, "{\"username\": \"u\", \"password\": null}", N,
          "tb_user.password: null in a NOT NULL column");
    check(f->chr, "{\"userId\": 1}", N, "tb_character.name: missing (NOT NULL, no default)");
    check(f->chr,
          "{\"id\": 1, \"userId\": 1, \"name\": \"\xe4\xb8\xad\", \"level\": 2, \"exp\": 0,"
          " \"coin\": 10, \"profession\": 3, \"note\": \"hi\"}",
          N, NULL);
    check(f->chr, "{\"level\": 2, \"exp\": 100, \"name\": \"n\"}", DBF_ROW_UPDATE, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),          cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_row_types),      cmocka_unit_test(test_row_lengths),
        cmocka_unit_test(test_row_text_bytes), cmocka_unit_test(test_row_other_types),
        cmocka_unit_test(test_row_new),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
