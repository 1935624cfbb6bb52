/* rows: dbfront's in-memory rows: the dirty set and recently served clean rows. */
#include "rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char *const rec_ops[] = {"new", "upd", "del"};

static uint64_t
row_key(const dbf_table_t *t, int64_t pk)
{
    return (uint64_t)t->index << 56 | (uint64_t)pk;
}

void
dbf_rows_init(dbf_rows_t *rs)
{
    memset(rs, 0, sizeof(*rs));
    ff_list_init(&rs->dirty);
}

static void
row_free(dbf_row_t *r)
{
    json_decref(r->doc);
    json_decref(r->fields);
    ff_free(r);
}

void
dbf_rows_clear(dbf_rows_t *rs)
{
    for (size_t i = 0; rs->map.slots && i <= rs->map.mask; i++)
        if (rs->map.slots[i].key)
            row_free(rs->map.slots[i].value);
    ff_map_clear(&rs->map);
    dbf_rows_init(rs);
}

dbf_row_t *
dbf_rows_find(dbf_rows_t *rs, const dbf_table_t *t, int64_t pk)
{
    return ff_map_get(&rs->map, row_key(t, pk));
}

static dbf_row_t *
row_new(dbf_rows_t *rs, const dbf_table_t *t, int64_t pk)
{
    dbf_row_t *r = ff_calloc(1, sizeof(*r));

    r->t = t;
    r->pk = pk;
    ff_list_init(&r->dirty);
    ff_map_set(&rs->map, row_key(t, pk), r);
    return r;
}

dbf_row_t *
dbf_rows_add_clean(dbf_rows_t *rs, const dbf_table_t *t, int64_t pk, json_t *doc, uint64_t now)
{
    dbf_row_t *r = dbf_rows_find(rs, t, pk);

    if (r == NULL) {
        r = row_new(rs, t, pk);
        r->state = DBF_CLEAN;
        r->doc = json_deep_copy(doc);
    } else if (r->doc == NULL && r->state == DBF_UPD) {
        /* A row known only by its written fields: the stored row under them completes it. */
        r->doc = json_deep_copy(doc);
        json_object_update(r->doc, r->fields);
    }
    r->used_ms = now;
    return r;
}

/* Flush snapshots share a row's documents instead of copying them (the flusher thread reads
 * them): a document someone else holds is copied before it is changed. */
static json_t *
own(json_t *j)
{
    json_t *c;

    if (j == NULL || j->refcount <= 1)
        return j;
    c = json_deep_copy(j);
    json_decref(j);
    return c;
}

static void
mark_dirty(dbf_rows_t *rs, dbf_row_t *r, int state)
{
    if (r->state == DBF_CLEAN) {
        ff_list_push(&rs->dirty, &r->dirty);
        rs->ndirty++;
    }
    r->state = state;
}

static void
apply_update(dbf_rows_t *rs, dbf_row_t *r, json_t *fields)
{
    r->doc = own(r->doc);
    r->fields = own(r->fields);
    if (r->doc != NULL)
        json_object_update(r->doc, fields);
    if (r->state == DBF_NEW)
        return;
    if (r->state == DBF_UPD && r->fields != NULL) {
        json_object_update(r->fields, fields);
        return;
    }
    json_decref(r->fields);
    r->fields = json_deep_copy(fields);
    mark_dirty(rs, r, DBF_UPD);
}

dbf_row_t *
dbf_rows_apply(dbf_rows_t *rs, int op, const dbf_table_t *t, int64_t pk, json_t *data, uint64_t now)
{
    dbf_row_t *r = dbf_rows_find(rs, t, pk);

    if (r == NULL)
        r = row_new(rs, t, pk);
    if (op == DBF_REC_NEW) {
        json_decref(r->doc);
        json_decref(r->fields);
        r->fields = NULL;
        r->doc = json_deep_copy(data);
        json_object_set_new(r->doc, t->cols[t->pk].name, json_integer(pk));
        mark_dirty(rs, r, DBF_NEW);
    } else if (op == DBF_REC_UPD) {
        apply_update(rs, r, data);
    } else {
        json_decref(r->doc);
        json_decref(r->fields);
        r->doc = r->fields = NULL;
        mark_dirty(rs, r, DBF_DEL);
    }
    r->version++;
    r->used_ms = now;
    return r;
}

char *
dbf_rows_record(int op, const dbf_table_t *t, int64_t pk, json_t *data)
{
    json_t *j = json_pack("{s:s,s:s,s:I}", "op", rec_ops[op], "t", t->name, "pk", (json_int_t)pk);
    char *text;

    if (data != NULL)
        json_object_set(j, "row", data);
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static int
record_op(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s != NULL && strcmp(s, rec_ops[i]) == 0)
            return i;
    return -1;
}

int
dbf_rows_replay(dbf_rows_t *rs, const dbf_schema_t *s, const uint8_t *payload, size_t len,
                int64_t *max_pk, char *err, size_t errlen)
{
    json_t *j = json_loadb((const char *)payload, len, 0, NULL), *row;
    const char *op_name = NULL, *table = NULL;
    json_int_t pk = 0;
    const dbf_table_t *t;
    int op, rc = -1;

    row = NULL;
    if (j == NULL ||
        json_unpack(j, "{s:s,s:s,s:I,s?o}", "op", &op_name, "t", &table, "pk", &pk, "row", &row) !=
            0 ||
        (op = record_op(op_name)) < 0 || pk < 1 || pk > DBF_PK_MAX ||
        (op != DBF_REC_DEL && !json_is_object(row))) {
        snprintf(err, errlen, "a log record that is not a write: %.*s", (int)(len > 80 ? 80 : len),
                 (const char *)payload);
    } else if ((t = dbf_schema_table(s, table)) == NULL) {
        snprintf(err, errlen, "the log has writes to table %s, which is not in config.json", table);
    } else {
        dbf_rows_apply(rs, op, t, pk, row, 0);
        if (t->incr && pk > max_pk[t->index])
            max_pk[t->index] = pk;
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* The change that brings MariaDB to the row's state; it shares the row's JSON (see own). */
static dbf_change_t
row_change(const dbf_row_t *r)
{
    dbf_change_t c = {.table = r->t, .pk = r->pk};

    if (r->state == DBF_NEW) {
        c.op = DBF_OP_UPSERT;
        c.row = json_incref(r->doc);
    } else if (r->state == DBF_UPD) {
        c.op = DBF_OP_UPDATE;
        c.row = json_incref(r->fields);
    } else {
        c.op = DBF_OP_DELETE;
    }
    return c;
}

dbf_snapshot_t *
dbf_rows_snapshot(dbf_rows_t *rs)
{
    dbf_snapshot_t *snap;
    size_t i = 0;

    if (rs->ndirty == 0)
        return NULL;
    snap = ff_calloc(1, sizeof(*snap));
    snap->changes = ff_calloc(rs->ndirty, sizeof(*snap->changes));
    snap->rows = ff_calloc(rs->ndirty, sizeof(*snap->rows));
    snap->versions = ff_calloc(rs->ndirty, sizeof(*snap->versions));
    for (ff_list_t *n = rs->dirty.next; n != &rs->dirty; n = n->next, i++) {
        dbf_row_t *r = ff_container_of(n, dbf_row_t, dirty);
        snap->changes[i] = row_change(r);
        snap->rows[i] = r;
        snap->versions[i] = r->version;
        r->pins++;
    }
    snap->n = i;
    return snap;
}

static void
snapshot_free(dbf_snapshot_t *snap)
{
    for (size_t i = 0; i < snap->n; i++) {
        json_decref(snap->changes[i].row);
        if (snap->rows[i] != NULL)
            snap->rows[i]->pins--;
    }
    ff_free(snap->changes);
    ff_free(snap->rows);
    ff_free(snap->versions);
    ff_free(snap->refused);
    ff_free(snap);
}

/* Drops the snapshot's row i from memory: MariaDB refused its change, so the next read or
 * write finds it where it is now true, in MariaDB (or finds that it does not exist). */
static void
forget(dbf_rows_t *rs, dbf_snapshot_t *snap, size_t i)
{
    dbf_row_t *r = snap->rows[i];

    snap->rows[i] = NULL;
    if (--r->pins > 0) {
        /* Another snapshot cannot hold it (one flush at a time); stay safe regardless. */
        r->state = DBF_CLEAN;
        json_decref(r->doc);
        r->doc = NULL;
        return;
    }
    ff_map_del(&rs->map, row_key(r->t, r->pk));
    row_free(r);
}

void
dbf_rows_committed(dbf_rows_t *rs, dbf_snapshot_t *snap)
{
    for (size_t i = 0; i < snap->n; i++) {
        dbf_row_t *r = snap->rows[i];
        if (r->version != snap->versions[i])
            continue; /* written again during the flush: stays dirty */
        ff_list_remove(&r->dirty);
        rs->ndirty--;
        json_decref(r->fields);
        r->fields = NULL;
        if (snap->refused != NULL && snap->refused[i])
            forget(rs, snap, i);
        else if (r->state != DBF_DEL)
            r->state = DBF_CLEAN;
    }
    snapshot_free(snap);
}

void
dbf_rows_abandon(dbf_snapshot_t *snap)
{
    snapshot_free(snap);
}

size_t
dbf_rows_evict(dbf_rows_t *rs, uint64_t now, size_t budget)
{
    size_t n = 0;

    /* A slice of the table per call, resuming where the last one stopped, so that a sweep
     * never holds the loop for long however many rows there are. */
    for (; budget > 0 && rs->map.slots; budget--) {
        size_t i = rs->sweep_at++ & rs->map.mask;
        dbf_row_t *r = rs->map.slots[i].value;
        bool forgettable = r != NULL && ff_list_empty(&r->dirty) && r->pins == 0;
        /* A deleted row is forgotten once its DELETE is committed; a clean one when idle. */
        if (rs->map.slots[i].key && forgettable &&
            (r->state == DBF_DEL || now - r->used_ms > (uint64_t)r->t->timeout_s * 1000)) {
            ff_map_del(&rs->map, rs->map.slots[i].key);
            row_free(r);
            n++;
            rs->sweep_at--; /* backward-shift deletion may have moved another row here */
        }
    }
    return n;
}
