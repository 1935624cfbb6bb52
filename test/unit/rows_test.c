/* rows_test: dbfront's in-memory rows: writes merged per row, log records replayed to the
 * same state, flush snapshots that leave rows written during the flush dirty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "rows.h"

static dbf_schema_t *
fixture(void)
{
    json_t *tables =
        json_pack("{s:{s:s,s:b,s:s}}", "tb_character", "pk", "id", "incr", 1, "fk", "userId");
    json_t *cols = json_pack(
        "[{s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s},{s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s},"
        "{s:s,s:s,s:s,s:s,s:s,s:n,s:i,s:s},{s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:s}]",
        "TABLE_NAME", "tb_character", "COLUMN_NAME", "id", "DATA_TYPE", "int", "COLUMN_TYPE",
        "int(11)", "IS_NULLABLE", "NO", "COLUMN_DEFAULT", "CHARACTER_MAXIMUM_LENGTH", "EXTRA", "",
        "TABLE_NAME", "tb_character", "COLUMN_NAME", "userId", "DATA_TYPE", "int", "COLUMN_TYPE",
        "int(11)", "IS_NULLABLE", "NO", "COLUMN_DEFAULT", "CHARACTER_MAXIMUM_LENGTH", "EXTRA", "",
        "TABLE_NAME", "tb_character", "COLUMN_NAME", "name", "DATA_TYPE", "varchar", "COLUMN_TYPE",
        "varchar(32)", "IS_NULLABLE", "NO", "COLUMN_DEFAULT", "CHARACTER_MAXIMUM_LENGTH", 32,
        "EXTRA", "", "TABLE_NAME", "tb_character", "COLUMN_NAME", "level", "DATA_TYPE", "int",
        "COLUMN_TYPE", "int(11)", "IS_NULLABLE", "NO", "COLUMN_DEFAULT", "1",
        "CHARACTER_MAXIMUM_LENGTH", "EXTRA", "");
    char err[256] = "";
    dbf_schema_t *s = dbf_schema_build(tables, cols, err, sizeof(err));

    if (s == NULL)
        fail_msg("schema: %s", err);
    json_decref(tables);
    json_decref(cols);
    return s;
}

/* Applies a write and feeds its log record to a second set, as a replay would. */
static void
write_both(dbf_rows_t *live, dbf_rows_t *replayed, const dbf_schema_t *s, int op, int64_t pk,
           const char *json)
{
    json_t *data = json ? json_loads(json, 0, NULL) : NULL;
    char *rec, err[256];
    int64_t max_pk[2] = {0, 0};

    dbf_rows_apply(live, op, &s->tables[0], pk, data, 1);
    rec = dbf_rows_record(op, &s->tables[0], pk, data);
    assert_int_equal(
        dbf_rows_replay(replayed, s, (const uint8_t *)rec, strlen(rec), max_pk, err, sizeof(err)),
        0);
    assert_int_equal(max_pk[0], pk);
    free(rec);
    json_decref(data);
}

static void
test_writes_merge_and_replay(void **state)
{
    dbf_schema_t *s = fixture();
    dbf_rows_t live, replayed;

    (void)state;
    dbf_rows_init(&live);
    dbf_rows_init(&replayed);
    write_both(&live, &replayed, s, DBF_REC_NEW, 7, "{\"userId\":1,\"name\":\"ann\"}");
    write_both(&live, &replayed, s, DBF_REC_UPD, 7, "{\"level\":5}");
    write_both(&live, &replayed, s, DBF_REC_UPD, 8, "{\"level\":2}");
    write_both(&live, &replayed, s, DBF_REC_DEL, 9, NULL);
    for (int i = 0; i < 2; i++) {
        dbf_rows_t *rs = i ? &replayed : &live;
        dbf_row_t *r = dbf_rows_find(rs, &s->tables[0], 7);
        json_t *want =
            json_pack("{s:i,s:i,s:s,s:i}", "id", 7, "userId", 1, "name", "ann", "level", 5);
        assert_non_null(r);
        assert_int_equal(r->state, DBF_NEW); /* an update of an unflushed row stays an insert */
        assert_true(json_equal(r->doc, want));
        json_decref(want);
        r = dbf_rows_find(rs, &s->tables[0], 8);
        assert_int_equal(r->state, DBF_UPD);
        assert_null(r->doc);
        assert_int_equal(json_integer_value(json_object_get(r->fields, "level")), 2);
        assert_int_equal(dbf_rows_find(rs, &s->tables[0], 9)->state, DBF_DEL);
        assert_int_equal(rs->ndirty, 3);
        dbf_rows_clear(rs);
    }
    dbf_schema_free(s);
}

static void
test_snapshot_commit(void **state)
{
    dbf_schema_t *s = fixture();
    const dbf_table_t *t = &s->tables[0];
    dbf_rows_t rs;
    json_t *row = json_pack("{s:i,s:s}", "userId", 1, "name", "bo"),
           *lvl = json_pack("{s:i}", "level", 3);
    dbf_snapshot_t *snap;

    (void)state;
    dbf_rows_init(&rs);
    dbf_rows_apply(&rs, DBF_REC_NEW, t, 1, row, 1);
    dbf_rows_apply(&rs, DBF_REC_NEW, t, 2, row, 1);
    dbf_rows_apply(&rs, DBF_REC_DEL, t, 3, NULL, 1);
    snap = dbf_rows_snapshot(&rs);
    assert_int_equal(snap->n, 3);
    assert_int_equal(snap->changes[0].op, DBF_OP_UPSERT);
    assert_int_equal(snap->changes[2].op, DBF_OP_DELETE);
    /* Row 2 is written while the flush runs: it must stay dirty, with its new field. */
    dbf_rows_apply(&rs, DBF_REC_UPD, t, 2, lvl, 2);
    assert_null(json_object_get(snap->changes[1].row, "level")); /* the snapshot kept its copy */
    assert_int_equal(json_integer_value(json_object_get(dbf_rows_find(&rs, t, 2)->doc, "level")),
                     3);
    dbf_rows_committed(&rs, snap);
    assert_int_equal(rs.ndirty, 1);
    assert_int_equal(dbf_rows_find(&rs, t, 1)->state, DBF_CLEAN);
    assert_int_equal(dbf_rows_find(&rs, t, 2)->state, DBF_NEW);
    assert_int_equal(dbf_rows_evict(&rs, 3, 1 << 20), 1); /* the committed delete is forgotten */
    assert_null(dbf_rows_find(&rs, t, 3));
    assert_int_equal(dbf_rows_evict(&rs, 3 + 601 * 1000, 1 << 20),
                     1);                       /* row 1, idle past timeout */
    assert_non_null(dbf_rows_find(&rs, t, 2)); /* dirty rows stay */
    snap = dbf_rows_snapshot(&rs);
    dbf_rows_abandon(snap);
    assert_int_equal(rs.ndirty, 1);
    json_decref(row);
    json_decref(lvl);
    dbf_rows_clear(&rs);
    dbf_schema_free(s);
}

/* Rows whose change MariaDB refused are forgotten, unless written again during the flush. */
static void
test_snapshot_refused(void **state)
{
    dbf_schema_t *s = fixture();
    const dbf_table_t *t = &s->tables[0];
    dbf_rows_t rs;
    json_t *row = json_pack("{s:i,s:s}", "userId", 1, "name", "cy"),
           *lvl = json_pack("{s:i}", "level", 4);
    dbf_snapshot_t *snap;

    (void)state;
    dbf_rows_init(&rs);
    for (int64_t pk = 1; pk <= 3; pk++)
        dbf_rows_apply(&rs, DBF_REC_NEW, t, pk, row, 1);
    snap = dbf_rows_snapshot(&rs);
    snap->refused = ff_calloc(snap->n, sizeof(*snap->refused));
    snap->refused[0] = snap->refused[2] = true;
    dbf_rows_apply(&rs, DBF_REC_UPD, t, 3, lvl, 2); /* written again during the flush */
    dbf_rows_committed(&rs, snap);
    assert_null(dbf_rows_find(&rs, t, 1));                        /* refused: forgotten */
    assert_int_equal(dbf_rows_find(&rs, t, 2)->state, DBF_CLEAN); /* committed */
    assert_int_equal(dbf_rows_find(&rs, t, 3)->state, DBF_NEW);   /* newer write: dirty */
    assert_int_equal(rs.ndirty, 1);
    json_decref(row);
    json_decref(lvl);
    dbf_rows_clear(&rs);
    dbf_schema_free(s);
}

static void
test_bad_records(void **state)
{
    dbf_schema_t *s = fixture();
    dbf_rows_t rs;
    int64_t max_pk[2] = {0, 0};
    char err[256];
    static const char *bad[] = {"not json", "{\"op\":\"zap\",\"t\":\"tb_character\",\"pk\":1}",
                                "{\"op\":\"new\",\"t\":\"tb_nope\",\"pk\":1,\"row\":{}}",
                                "{\"op\":\"upd\",\"t\":\"tb_character\",\"pk\":0,\"row\":{}}",
                                "{\"op\":\"new\",\"t\":\"tb_character\",\"pk\":1}"};

    (void)state;
    dbf_rows_init(&rs);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dbf_rows_replay(&rs, s, (const uint8_t *)bad[i], strlen(bad[i]), max_pk,
                                         err, sizeof(err)),
                         -1);
    assert_non_null(strstr(err, "a log record that is not a write"));
    assert_int_equal(rs.ndirty, 0);
    dbf_rows_clear(&rs);
    dbf_schema_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_merge_and_replay),
        cmocka_unit_test(test_snapshot_commit),
        cmocka_unit_test(test_snapshot_refused),
        cmocka_unit_test(test_bad_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
