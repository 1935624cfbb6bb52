/* stats: the bot's counters: outcomes and latency histograms per operation, error codes, and
 * a timeline of fixed slots that coarsens (pairs merge, the step doubles) instead of growing,
 * so a run of any length fits in one flat struct. */
#include "stats.h"

#include <string.h>
#include <time.h>

#include "alloc.h"

static const char *const bot_op_names[BOT_OPS] = {
    "connect", "login",  "list",  "create",      "enter",
    "start",   "result", "leave", "enter→start", "result→ended",
};

static const char *const bot_op_keys[BOT_OPS] = {
    "connect", "login",  "list",  "create",     "enter",
    "start",   "result", "leave", "wait_start", "wait_ended",
};

const char *
bot_op_name(bot_op_t op)
{
    return (unsigned)op < BOT_OPS ? bot_op_names[op] : "?";
}

const char *
bot_op_key(bot_op_t op)
{
    return (unsigned)op < BOT_OPS ? bot_op_keys[op] : "?";
}

void
bot_stats_init(bot_stats_t *s, uint32_t users)
{
    struct timespec ts;

    memset(s, 0, sizeof(*s));
    s->users = users;
    s->step_s = 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->started_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Halves the resolution of a timeline: slots 2i and 2i+1 become slot i (counts summed,
 * gauges the larger of the two), and the step doubles. */
static void
timeline_coarsen(bot_tick_t *ticks, uint32_t *nticks, uint32_t *step_s)
{
    for (uint32_t i = 0; i < BOT_TIMELINE / 2; i++) {
        const bot_tick_t *a = &ticks[2 * i], *b = &ticks[2 * i + 1];
        bot_tick_t t = {
            .replies = a->replies + b->replies,
            .errors = a->errors + b->errors,
            .online = a->online > b->online ? a->online : b->online,
            .in_game = a->in_game > b->in_game ? a->in_game : b->in_game,
        };
        ticks[i] = t;
    }
    memset(&ticks[BOT_TIMELINE / 2], 0, sizeof(bot_tick_t) * (BOT_TIMELINE - BOT_TIMELINE / 2));
    *nticks = (*nticks > BOT_TIMELINE ? BOT_TIMELINE : *nticks + 1) / 2;
    *step_s = (*step_s < 1 ? 1 : *step_s) * 2;
}

/* The slot holding second s->now_s, after coarsening the timeline until it fits; nticks
 * grows to cover it. */
static bot_tick_t *
stats_tick(bot_stats_t *s)
{
    uint32_t i;

    if (s->step_s < 1)
        s->step_s = 1;
    while ((i = s->now_s / s->step_s) >= BOT_TIMELINE)
        timeline_coarsen(s->ticks, &s->nticks, &s->step_s);
    if (s->nticks < i + 1)
        s->nticks = i + 1;
    return &s->ticks[i];
}

/* Adds n to the slot of (code, refused): the one that holds it, else the first free one,
 * else other_codes. */
static void
stats_code_add(bot_op_stats_t *o, uint32_t code, uint32_t refused, uint64_t n)
{
    for (int i = 0; i < BOT_MAX_CODES; i++) {
        bot_code_count_t *c = &o->codes[i];
        if (c->code == 0) {
            c->code = code;
            c->refused = refused;
        }
        if (c->code == code && c->refused == refused) {
            c->count += n;
            return;
        }
    }
    o->other_codes += n;
}

static bool
op_is_wait(bot_op_t op)
{
    return op == BOT_OP_WAIT_START || op == BOT_OP_WAIT_ENDED;
}

void
bot_stats_reply(bot_stats_t *s, bot_op_t op, uint64_t ns, uint32_t code, bool refused)
{
    bot_op_stats_t *o;
    bot_tick_t *t;

    if ((unsigned)op >= BOT_OPS)
        return;
    o = &s->ops[op];
    t = stats_tick(s);
    ff_hist_record(&o->hist, ns);
    if (!op_is_wait(op))
        t->replies++;
    if (code == 0) {
        o->ok++;
    } else if (refused) {
        o->refused++;
        stats_code_add(o, code, 1, 1);
    } else {
        o->errors++;
        stats_code_add(o, code, 0, 1);
        t->errors++;
    }
}

void
bot_stats_fail(bot_stats_t *s, bot_op_t op, uint32_t code)
{
    if ((unsigned)op >= BOT_OPS)
        return;
    s->ops[op].errors++;
    stats_code_add(&s->ops[op], code, 0, 1);
    stats_tick(s)->errors++;
}

void
bot_stats_gauge(bot_stats_t *s)
{
    bot_tick_t *t = stats_tick(s);

    t->online = s->online;
    t->in_game = s->in_game;
}

static void
op_merge(bot_op_stats_t *into, const bot_op_stats_t *from)
{
    into->ok += from->ok;
    into->refused += from->refused;
    into->errors += from->errors;
    for (int i = 0; i < BOT_MAX_CODES; i++)
        if (from->codes[i].code != 0)
            stats_code_add(into, from->codes[i].code, from->codes[i].refused, from->codes[i].count);
    into->other_codes += from->other_codes;
    ff_hist_merge(&into->hist, &from->hist);
}

/* Sums from's timeline into into's, both brought to the larger step first. from may be
 * written meanwhile by a worker (shared memory), so its nticks is bounded, never trusted. */
static void
timeline_merge(bot_stats_t *into, const bot_stats_t *from)
{
    uint32_t step = from->step_s < 1 ? 1 : from->step_s;
    uint32_t n = from->nticks > BOT_TIMELINE ? BOT_TIMELINE : from->nticks;
    const bot_tick_t *src = from->ticks;
    bot_tick_t *copy = NULL;

    if (into->step_s < 1)
        into->step_s = 1;
    while (into->step_s < step)
        timeline_coarsen(into->ticks, &into->nticks, &into->step_s);
    if (step < into->step_s) {
        /* ~14 KB: on the heap, as merges may run on small stacks. */
        copy = ff_malloc(sizeof(from->ticks));
        memcpy(copy, from->ticks, sizeof(from->ticks));
        while (step < into->step_s)
            timeline_coarsen(copy, &n, &step);
        src = copy;
    }
    for (uint32_t i = 0; i < n; i++) {
        into->ticks[i].replies += src[i].replies;
        into->ticks[i].errors += src[i].errors;
        into->ticks[i].online += src[i].online;
        into->ticks[i].in_game += src[i].in_game;
    }
    if (into->nticks < n)
        into->nticks = n;
    ff_free(copy);
}

void
bot_stats_merge(bot_stats_t *into, const bot_stats_t *from)
{
    for (int op = 0; op < BOT_OPS; op++)
        op_merge(&into->ops[op], &from->ops[op]);
    into->games += from->games;
    into->abandoned += from->abandoned;
    into->users += from->users;
    into->online += from->online;
    into->in_game += from->in_game;
    into->done += from->done;
    if (from->now_s > into->now_s)
        into->now_s = from->now_s;
    if (from->elapsed_s > into->elapsed_s)
        into->elapsed_s = from->elapsed_s;
    /* A zeroed `into` (a merge of loaded reports) has no start of its own yet. */
    if (from->started_ms != 0 && (into->started_ms == 0 || from->started_ms < into->started_ms))
        into->started_ms = from->started_ms;
    timeline_merge(into, from);
}

uint64_t
bot_stats_errors(const bot_stats_t *s)
{
    uint64_t n = 0;

    for (int op = 0; op < BOT_OPS; op++)
        n += s->ops[op].errors;
    return n;
}

uint64_t
bot_stats_count(const bot_op_stats_t *o)
{
    return o->ok + o->refused + o->errors;
}
