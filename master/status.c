/* status: builds GET /status. The node entries are made first, from the supervisor's table;
 * then one CALL "status" per running node fills in its entry. A call's context points at
 * the entry (kept alive by the document), never at the node, which a reload may free while
 * the call is out. */
#include "status.h"

#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "log.h"
#include "super.h"

#define STATUS_CALL_TIMEOUT_MS 1000

typedef struct {
    json_t *doc;
    int pending; /* calls out, plus one while they are being made */
    status_done_cb cb;
    void *arg;
} status_op_t;

typedef struct {
    status_op_t *op;
    json_t *entry; /* borrowed from op->doc */
} status_call_t;

static uint64_t status_started;

void
status_init(void)
{
    status_started = uv_hrtime();
}

static void
status_op_done(status_op_t *op)
{
    if (--op->pending > 0)
        return;
    op->cb(op->arg, op->doc);
    ff_free(op);
}

static void
status_call_cb(void *arg, int status, const char *result, size_t len)
{
    status_call_t *call = arg;
    json_t *extra = NULL;

    if (status == 0)
        extra = json_loadb(result, len, 0, NULL);
    if (json_is_object(extra))
        json_object_update_missing(call->entry, extra);
    else
        ff_log(FF_LOG_DEBUG, "status of %s: %s",
               json_string_value(json_object_get(call->entry, "name")),
               status < 0 ? uv_strerror(status) : "not a JSON object");
    json_decref(extra);
    status_op_done(call->op);
    ff_free(call);
}

static json_t *
status_entry(const super_info_t *info)
{
    json_t *e = json_pack("{s:s,s:s,s:i,s:s,s:i,s:I}", "name", info->name, "role",
                          ff_conf_role_name(info->role), "pid", (int)info->pid, "state",
                          super_state_name(info->state), "restarts", info->restarts, "uptime",
                          (json_int_t)(info->uptime_ms / 1000));

    if (info->last_exit[0] != '\0')
        json_object_set_new(e, "last_exit", json_string(info->last_exit));
    return e;
}

/* Asks a running node for its figures; the answer lands in entry. */
static void
status_ask(status_op_t *op, ff_link_t *link, json_t *entry)
{
    status_call_t *call = ff_malloc(sizeof(*call));

    call->op = op;
    call->entry = entry;
    op->pending++;
    if (ff_link_call(link, "status", "{}", STATUS_CALL_TIMEOUT_MS, status_call_cb, call) < 0) {
        op->pending--;
        ff_free(call);
    }
}

void
status_collect(status_done_cb cb, void *arg)
{
    status_op_t *op = ff_malloc(sizeof(*op));
    json_t *nodes = json_array();
    size_t n = super_count();

    op->cb = cb;
    op->arg = arg;
    op->pending = 1;
    op->doc = json_pack("{s:{s:i,s:I},s:o}", "master", "pid", (int)getpid(), "uptime",
                        (json_int_t)((uv_hrtime() - status_started) / 1000000000), "nodes", nodes);
    for (size_t i = 0; i < n; i++) {
        super_info_t info;
        json_t *entry;

        super_info(i, &info);
        entry = status_entry(&info);
        json_array_append_new(nodes, entry);
        if (info.state == SUPER_RUNNING && info.link != NULL)
            status_ask(op, info.link, entry);
    }
    status_op_done(op);
}
