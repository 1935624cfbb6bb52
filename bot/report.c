/* report: the bot's figures for people and for other bots: the end-of-run table, the live
 * progress line, the JSON report (written and loaded back for --merge) and the HTML report
 * with its SVG charts. The JSON format is described in report.h. */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"

#define TABLE_COLS 10
#define CELL_MAX 32
#define CODES_LINE_MAX 1024

/* ---- numbers and words ----------------------------------------------------------- */

/* Copies the number in `num` to out with a comma between groups of three digits of its
 * integer part: "1234567.5" -> "1,234,567.5". */
static void
group_digits(char *out, size_t len, const char *num)
{
    size_t digits = strspn(num + (*num == '-'), "0123456789"), o = 0;
    const char *p = num;

    if (*p == '-' && o + 1 < len)
        out[o++] = *p++;
    for (size_t i = 0; i < digits && o + 1 < len; i++) {
        if (i > 0 && (digits - i) % 3 == 0 && o + 2 < len)
            out[o++] = ',';
        out[o++] = *p++;
    }
    while (*p != '\0' && o + 1 < len)
        out[o++] = *p++;
    out[o] = '\0';
}

static void
fmt_count(char *out, size_t len, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    group_digits(out, len, num);
}

static void
fmt_real(char *out, size_t len, double v, int decimals)
{
    char num[64];

    snprintf(num, sizeof(num), "%.*f", decimals, v);
    group_digits(out, len, num);
}

static double
ns_to_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static bool
op_is_request(int op)
{
    return op != BOT_OP_WAIT_START && op != BOT_OP_WAIT_ENDED;
}

/* An op has a row in the table and the reports when it is a request op or has a count. */
static bool
op_shown(const bot_stats_t *s, int op)
{
    return op_is_request(op) || bot_stats_count(&s->ops[op]) > 0;
}

/* Replies to requests (the waits excluded) per second of the run. */
static double
requests_per_s(const bot_stats_t *s)
{
    uint64_t n = 0;

    for (int op = 0; op < BOT_OPS; op++)
        if (op_is_request(op))
            n += s->ops[op].hist.total;
    return s->elapsed_s > 0 ? (double)n / s->elapsed_s : 0;
}

static double
op_rate(const bot_stats_t *s, int op)
{
    return s->elapsed_s > 0 ? (double)bot_stats_count(&s->ops[op]) / s->elapsed_s : 0;
}

/* The name of an error code: "timeout", "closed" or its number. */
static const char *
code_name(uint32_t code, char *buf, size_t len)
{
    if (code == BOT_CODE_TIMEOUT)
        return "timeout";
    if (code == BOT_CODE_CLOSED)
        return "closed";
    snprintf(buf, len, "%u", code);
    return buf;
}

/* "419004 x12 (refused), timeout x1, other x3"; empty when the op has no codes. */
static void
codes_line(char *out, size_t len, const bot_op_stats_t *o)
{
    size_t n = 0;
    char num[16];

    out[0] = '\0';
    for (int i = 0; i < BOT_MAX_CODES && o->codes[i].code != 0 && n < len; i++) {
        const bot_code_count_t *c = &o->codes[i];
        n += (size_t)snprintf(out + n, len - n, "%s%s x%llu%s", n > 0 ? ", " : "",
                              code_name(c->code, num, sizeof(num)), (unsigned long long)c->count,
                              c->refused ? " (refused)" : "");
    }
    if (o->other_codes > 0 && n < len)
        snprintf(out + n, len - n, "%sother x%llu", n > 0 ? ", " : "",
                 (unsigned long long)o->other_codes);
}

static void
summary_line(char *out, size_t len, const bot_stats_t *s)
{
    char users[32], games[32], abandoned[32], rps[48], errors[32];

    fmt_count(users, sizeof(users), s->users);
    fmt_count(games, sizeof(games), s->games);
    fmt_count(abandoned, sizeof(abandoned), s->abandoned);
    fmt_real(rps, sizeof(rps), requests_per_s(s), 1);
    fmt_count(errors, sizeof(errors), bot_stats_errors(s));
    snprintf(out, len,
             "users %s  games played %s  abandoned waits %s  elapsed %.1f s  requests/s %s  "
             "errors %s",
             users, games, abandoned, s->elapsed_s, rps, errors);
}

/* ---- the table -------------------------------------------------------------------- */

typedef struct {
    char cell[BOT_OPS + 1][TABLE_COLS][CELL_MAX]; /* row 0: the header */
    int op[BOT_OPS + 1];                          /* the op of each row after the header */
    int rows;
} table_t;

static const char *const table_head[TABLE_COLS] = {
    "op", "count", "ok", "refused", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "rate/s",
};

static void
table_row(table_t *t, const bot_stats_t *s, int op)
{
    const bot_op_stats_t *o = &s->ops[op];
    const double pct[4] = {50, 90, 99, 100};
    char(*c)[CELL_MAX] = t->cell[t->rows];

    t->op[t->rows++] = op;
    snprintf(c[0], CELL_MAX, "%s", bot_op_name((bot_op_t)op));
    fmt_count(c[1], CELL_MAX, bot_stats_count(o));
    fmt_count(c[2], CELL_MAX, o->ok);
    fmt_count(c[3], CELL_MAX, o->refused);
    fmt_count(c[4], CELL_MAX, o->errors);
    for (int i = 0; i < 4; i++) {
        uint64_t ns = pct[i] < 100 ? ff_hist_percentile(&o->hist, pct[i]) : o->hist.max;
        if (o->hist.total == 0)
            snprintf(c[5 + i], CELL_MAX, "-");
        else
            fmt_real(c[5 + i], CELL_MAX, ns_to_ms(ns), 2);
    }
    if (s->elapsed_s > 0)
        fmt_real(c[9], CELL_MAX, op_rate(s, op), 1);
    else
        snprintf(c[9], CELL_MAX, "-");
}

static void
table_build(table_t *t, const bot_stats_t *s)
{
    t->rows = 1;
    for (int i = 0; i < TABLE_COLS; i++)
        snprintf(t->cell[0][i], CELL_MAX, "%s", table_head[i]);
    for (int op = 0; op < BOT_OPS; op++)
        if (op_shown(s, op))
            table_row(t, s, op);
}

/* Columns on a terminal: UTF-8 code points (the arrow in "enter→start" is 3 bytes). */
static int
text_width(const char *p)
{
    int w = 0;

    for (; *p != '\0'; p++)
        w += ((unsigned char)*p & 0xC0) != 0x80;
    return w;
}

static void
table_print_row(FILE *f, char (*c)[CELL_MAX], const int *width)
{
    fprintf(f, "%s%*s", c[0], width[0] - text_width(c[0]), "");
    for (int i = 1; i < TABLE_COLS; i++)
        fprintf(f, "  %*s", width[i], c[i]);
    fputc('\n', f);
}

void
bot_report_table(FILE *f, const bot_stats_t *s)
{
    table_t *t = ff_malloc(sizeof(*t));
    int width[TABLE_COLS] = {0};
    char line[CODES_LINE_MAX];

    table_build(t, s);
    for (int r = 0; r < t->rows; r++)
        for (int i = 0; i < TABLE_COLS; i++)
            if (text_width(t->cell[r][i]) > width[i])
                width[i] = text_width(t->cell[r][i]);
    for (int r = 0; r < t->rows; r++)
        table_print_row(f, t->cell[r], width);
    for (int r = 1; r < t->rows; r++) {
        codes_line(line, sizeof(line), &s->ops[t->op[r]]);
        if (line[0] != '\0')
            fprintf(f, "  %s: %s\n", bot_op_name((bot_op_t)t->op[r]), line);
    }
    summary_line(line, sizeof(line), s);
    fprintf(f, "%s\n", line);
    ff_free(t);
}

/* ---- the progress line ------------------------------------------------------------ */

void
bot_report_progress(char *out, size_t len, const bot_stats_t *s)
{
    uint32_t step = s->step_s < 1 ? 1 : s->step_s, slot = s->now_s / step;
    uint64_t replies = 0;
    char rps[32], errors[32], games[32];

    /* The current slot is still filling: the last complete one gives a steady figure. */
    if (slot >= 1 && slot - 1 < s->nticks && slot - 1 < BOT_TIMELINE)
        replies = s->ticks[slot - 1].replies;
    fmt_count(rps, sizeof(rps), (replies + step / 2) / step);
    fmt_count(errors, sizeof(errors), bot_stats_errors(s));
    fmt_count(games, sizeof(games), s->games);
    snprintf(out, len, "[%4us] online %u/%u  in game %u  req/s %s  errors %s  games %s",
             (unsigned)s->elapsed_s, s->online, s->users, s->in_game, rps, errors, games);
}

/* ---- writing files atomically ----------------------------------------------------- */

/* Opens path.tmp for writing, its name into tmp. Returns NULL with errno on failure. */
static FILE *
report_create(const char *path, char *tmp, size_t len)
{
    if ((size_t)snprintf(tmp, len, "%s.tmp", path) >= len) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return fopen(tmp, "w");
}

/* Closes f and renames tmp to path when everything was written (`ok` and no stream error);
 * else removes tmp. Returns 0, or -1 with errno. */
static int
report_commit(FILE *f, const char *tmp, const char *path, bool ok)
{
    int err = 0;

    if (!ok || ferror(f))
        err = errno != 0 ? errno : EIO;
    if (fclose(f) != 0 && err == 0)
        err = errno != 0 ? errno : EIO;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        errno = err;
        return -1;
    }
    return 0;
}

/* "2026-11-22T03:04:05.678Z" */
static void
iso_time(char *out, size_t len, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char day[32];

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03uZ", day, (unsigned)(ms % 1000));
}

/* ---- JSON: writing ---------------------------------------------------------------- */

/* Rounds to `decimals` places, so that the file reads 1.23 rather than 1.2299999999999999. */
static json_t *
json_round(double v, int decimals)
{
    double k = pow(10, decimals);

    return json_real(round(v * k) / k);
}

static json_t *
json_codes(const bot_op_stats_t *o)
{
    json_t *codes = json_object();
    char num[16], key[32];

    for (int i = 0; i < BOT_MAX_CODES && o->codes[i].code != 0; i++) {
        const bot_code_count_t *c = &o->codes[i];
        snprintf(key, sizeof(key), "%s%s", code_name(c->code, num, sizeof(num)),
                 c->refused ? " (refused)" : "");
        json_object_set_new(codes, key, json_integer((json_int_t)c->count));
    }
    return codes;
}

static json_t *
json_hist(const ff_hist_t *h)
{
    json_t *buckets = json_array();

    for (int i = 0; i < FF_HIST_BUCKETS; i++)
        if (h->counts[i] != 0)
            json_array_append_new(buckets, json_pack("[i,I]", i, (json_int_t)h->counts[i]));
    return json_pack("{s:I,s:I,s:I,s:o}", "min", (json_int_t)h->min, "max", (json_int_t)h->max,
                     "total", (json_int_t)h->total, "buckets", buckets);
}

static json_t *
json_op(const bot_stats_t *s, int op)
{
    const bot_op_stats_t *o = &s->ops[op];

    return json_pack("{s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "count",
                     (json_int_t)bot_stats_count(o), "ok", (json_int_t)o->ok, "refused",
                     (json_int_t)o->refused, "errors", (json_int_t)o->errors, "codes",
                     json_codes(o), "other_codes", (json_int_t)o->other_codes, "p50_ms",
                     json_round(ns_to_ms(ff_hist_percentile(&o->hist, 50)), 3), "p90_ms",
                     json_round(ns_to_ms(ff_hist_percentile(&o->hist, 90)), 3), "p99_ms",
                     json_round(ns_to_ms(ff_hist_percentile(&o->hist, 99)), 3), "max_ms",
                     json_round(ns_to_ms(o->hist.max), 3), "rate", json_round(op_rate(s, op), 2),
                     "hist", json_hist(&o->hist));
}

static json_t *
json_timeline(const bot_stats_t *s)
{
    json_t *replies = json_array(), *errors = json_array(), *online = json_array(),
           *in_game = json_array();
    uint32_t n = s->nticks > BOT_TIMELINE ? BOT_TIMELINE : s->nticks;

    for (uint32_t i = 0; i < n; i++) {
        json_array_append_new(replies, json_integer((json_int_t)s->ticks[i].replies));
        json_array_append_new(errors, json_integer((json_int_t)s->ticks[i].errors));
        json_array_append_new(online, json_integer(s->ticks[i].online));
        json_array_append_new(in_game, json_integer(s->ticks[i].in_game));
    }
    return json_pack("{s:I,s:o,s:o,s:o,s:o}", "step_s", (json_int_t)s->step_s, "replies", replies,
                     "errors", errors, "online", online, "in_game", in_game);
}

static json_t *
json_meta(const bot_report_meta_t *m)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b,s:o}", "target", m->target ? m->target : "",
                     "login", m->login ? m->login : "", "users", (json_int_t)m->users, "workers",
                     (json_int_t)m->workers, "arena_size", (json_int_t)m->arena_size,
                     "game_time_ms", (json_int_t)m->game_time_ms, "loop", m->loop, "duration_s",
                     json_round(m->duration_s, 3));
}

static json_t *
json_report(const bot_stats_t *s, const bot_report_meta_t *m)
{
    json_t *ops = json_object();
    char started[40];

    for (int op = 0; op < BOT_OPS; op++)
        json_object_set_new(ops, bot_op_key((bot_op_t)op), json_op(s, op));
    iso_time(started, sizeof(started), s->started_ms);
    return json_pack("{s:i,s:o,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "version",
                     BOT_REPORT_VERSION, "meta", json_meta(m), "started", started, "elapsed_s",
                     json_round(s->elapsed_s, 3), "users", (json_int_t)s->users, "done",
                     (json_int_t)s->done, "games", (json_int_t)s->games, "abandoned",
                     (json_int_t)s->abandoned, "errors", (json_int_t)bot_stats_errors(s),
                     "requests_per_s", json_round(requests_per_s(s), 2), "ops", ops, "timeline",
                     json_timeline(s));
}

/* Writes obj with a member a line, and so the members of "ops": jansson's indentation would
 * put every bucket of every histogram on lines of its own, thousands of them. Returns 0 or
 * -1 like json_dumpf. */
static int
json_write_lines(FILE *f, json_t *obj, int indent)
{
    const size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(15);
    size_t left = json_object_size(obj);
    const char *key;
    json_t *v, *k;
    int rc = 0;

    fputs("{\n", f);
    json_object_foreach(obj, key, v)
    {
        fprintf(f, "%*s", indent + 1, "");
        k = json_string(key);
        rc |= json_dumpf(k, f, flags);
        json_decref(k);
        fputs(": ", f);
        if (indent == 0 && strcmp(key, "ops") == 0)
            rc |= json_write_lines(f, v, indent + 1);
        else
            rc |= json_dumpf(v, f, flags);
        fputs(--left > 0 ? ",\n" : "\n", f);
    }
    fprintf(f, "%*s}", indent, "");
    return rc;
}

int
bot_report_json(const char *path, const bot_stats_t *s, const bot_report_meta_t *m)
{
    json_t *root = json_report(s, m);
    char tmp[PATH_MAX + 8];
    FILE *f;
    int rc;

    if (root == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if ((f = report_create(path, tmp, sizeof(tmp))) == NULL) {
        json_decref(root);
        return -1;
    }
    errno = 0;
    rc = json_write_lines(f, root, 0);
    if (rc == 0)
        fputc('\n', f);
    json_decref(root);
    return report_commit(f, tmp, path, rc == 0);
}

/* ---- JSON: loading ---------------------------------------------------------------- */

typedef struct {
    const char *path;
    char *err;
    size_t errlen;
} load_t;

/* Puts "path: <message>" in the error buffer. Returns -1. */
static int __attribute__((format(printf, 2, 3))) load_fail(load_t *l, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(l->err, l->errlen, "%s: ", l->path);

    if (n >= 0 && (size_t)n < l->errlen) {
        va_start(ap, fmt);
        vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reads v as a count 0..max; `where` names it in the error. */
static int
load_uint(load_t *l, const json_t *v, uint64_t max, const char *where, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return load_fail(l, "%s: expected an integer 0..%llu", where, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Reads obj.key as a count 0..max. */
static int
load_field(load_t *l, const json_t *obj, const char *where, const char *key, uint64_t max,
           uint64_t *out)
{
    char name[96];

    snprintf(name, sizeof(name), "%s%s%s", where, where[0] ? "." : "", key);
    if (json_object_get(obj, key) == NULL)
        return load_fail(l, "%s: missing", name);
    return load_uint(l, json_object_get(obj, key), max, name, out);
}

static int
load_field32(load_t *l, const json_t *obj, const char *where, const char *key, uint32_t *out)
{
    uint64_t v;

    if (load_field(l, obj, where, key, UINT32_MAX, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A code key: "419004", "timeout" or "closed", with an optional " (refused)". */
static int
load_code_key(const char *key, uint32_t *code, uint32_t *refused)
{
    char *end;
    unsigned long v;

    if (strncmp(key, "timeout", 7) == 0) {
        v = BOT_CODE_TIMEOUT;
        end = (char *)key + 7;
    } else if (strncmp(key, "closed", 6) == 0) {
        v = BOT_CODE_CLOSED;
        end = (char *)key + 6;
    } else {
        if (key[0] < '1' || key[0] > '9')
            return -1;
        errno = 0;
        v = strtoul(key, &end, 10);
        if (errno != 0 || v > UINT32_MAX)
            return -1;
    }
    *refused = strcmp(end, " (refused)") == 0;
    *code = (uint32_t)v;
    return *refused || *end == '\0' ? 0 : -1;
}

static int
load_codes(load_t *l, const json_t *codes, const char *where, bot_op_stats_t *o)
{
    const char *key;
    json_t *v;
    int i = 0;
    char name[96];

    if (!json_is_object(codes))
        return load_fail(l, "%s.codes: expected an object", where);
    json_object_foreach((json_t *)codes, key, v)
    {
        bot_code_count_t *c = &o->codes[i];
        snprintf(name, sizeof(name), "%s.codes.%s", where, key);
        if (i == BOT_MAX_CODES)
            return load_fail(l, "%s.codes: more than %d codes", where, BOT_MAX_CODES);
        if (load_code_key(key, &c->code, &c->refused) < 0)
            return load_fail(l,
                             "%s: expected a code, \"timeout\" or \"closed\", with an "
                             "optional \" (refused)\"",
                             name);
        /* No code twice: keys are unique (JSON_REJECT_DUPLICATES) and spelt one way only. */
        if (load_uint(l, v, INT64_MAX, name, &c->count) < 0)
            return -1;
        i++;
    }
    return 0;
}

static int
load_buckets(load_t *l, const json_t *buckets, const char *where, ff_hist_t *h)
{
    uint64_t index, count, sum = 0;
    int64_t last = -1;
    size_t i;
    json_t *b;

    if (!json_is_array(buckets))
        return load_fail(l, "%s.buckets: expected an array", where);
    json_array_foreach(buckets, i, b)
    {
        if (!json_is_array(b) || json_array_size(b) != 2 ||
            load_uint(l, json_array_get(b, 0), FF_HIST_BUCKETS - 1, where, &index) < 0 ||
            load_uint(l, json_array_get(b, 1), INT64_MAX, where, &count) < 0 ||
            (int64_t)index <= last || count == 0)
            return load_fail(l,
                             "%s.buckets[%zu]: expected [index, count], indexes 0..%d rising, "
                             "counts > 0",
                             where, i, FF_HIST_BUCKETS - 1);
        h->counts[index] = count;
        last = (int64_t)index;
        sum += count;
    }
    if (sum != h->total)
        return load_fail(l, "%s: buckets count %llu values, total says %llu", where,
                         (unsigned long long)sum, (unsigned long long)h->total);
    return 0;
}

static int
load_hist(load_t *l, const json_t *hist, const char *op_where, ff_hist_t *h)
{
    char where[64];

    snprintf(where, sizeof(where), "%s.hist", op_where);
    if (!json_is_object(hist))
        return load_fail(l, "%s: expected an object", where);
    if (load_field(l, hist, where, "min", INT64_MAX, &h->min) < 0 ||
        load_field(l, hist, where, "max", INT64_MAX, &h->max) < 0 ||
        load_field(l, hist, where, "total", INT64_MAX, &h->total) < 0)
        return -1;
    if (h->min > h->max)
        return load_fail(l, "%s: min above max", where);
    return load_buckets(l, json_object_get(hist, "buckets"), where, h);
}

static int
load_op(load_t *l, const char *key, const json_t *jo, bot_op_stats_t *o)
{
    char where[48];
    uint64_t count;

    snprintf(where, sizeof(where), "ops.%s", key);
    if (!json_is_object(jo))
        return load_fail(l, "%s: expected an object", where);
    if (load_field(l, jo, where, "count", INT64_MAX, &count) < 0 ||
        load_field(l, jo, where, "ok", INT64_MAX, &o->ok) < 0 ||
        load_field(l, jo, where, "refused", INT64_MAX, &o->refused) < 0 ||
        load_field(l, jo, where, "errors", INT64_MAX, &o->errors) < 0 ||
        load_field(l, jo, where, "other_codes", INT64_MAX, &o->other_codes) < 0 ||
        load_codes(l, json_object_get(jo, "codes"), where, o) < 0 ||
        load_hist(l, json_object_get(jo, "hist"), where, &o->hist) < 0)
        return -1;
    if (count != bot_stats_count(o))
        return load_fail(l, "%s.count: %llu is not ok + refused + errors", where,
                         (unsigned long long)count);
    return 0;
}

static int
load_ops(load_t *l, const json_t *ops, bot_stats_t *s)
{
    const char *key;
    json_t *jo;
    int op;

    if (!json_is_object(ops))
        return load_fail(l, "ops: expected an object");
    json_object_foreach((json_t *)ops, key, jo)
    {
        for (op = 0; op < BOT_OPS && strcmp(key, bot_op_key((bot_op_t)op)) != 0; op++)
            ;
        if (op == BOT_OPS)
            return load_fail(l, "ops.%s: unknown operation", key);
        if (load_op(l, key, jo, &s->ops[op]) < 0)
            return -1;
    }
    return 0;
}

/* The arrays of the timeline and the fields of bot_tick_t they fill. */
static const struct {
    const char *key;
    size_t offset;
    bool gauge; /* a uint32_t */
} load_series_fields[] = {
    {"replies", offsetof(bot_tick_t, replies), false},
    {"errors", offsetof(bot_tick_t, errors), false},
    {"online", offsetof(bot_tick_t, online), true},
    {"in_game", offsetof(bot_tick_t, in_game), true},
};

/* Reads the array timeline.<key> (n long) into its field of each tick. */
static int
load_series(load_t *l, const json_t *tl, int field, size_t n, bot_stats_t *s)
{
    const char *key = load_series_fields[field].key;
    bool gauge = load_series_fields[field].gauge;
    const json_t *a = json_object_get(tl, key);
    char where[64];
    uint64_t v;
    uint32_t v32;

    if (!json_is_array(a) || json_array_size(a) != n)
        return load_fail(l, "timeline.%s: expected an array as long as timeline.replies", key);
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)&s->ticks[i] + load_series_fields[field].offset;
        snprintf(where, sizeof(where), "timeline.%s[%zu]", key, i);
        if (load_uint(l, json_array_get(a, i), gauge ? UINT32_MAX : INT64_MAX, where, &v) < 0)
            return -1;
        v32 = (uint32_t)v;
        memcpy(p, gauge ? (void *)&v32 : (void *)&v, gauge ? sizeof(v32) : sizeof(v));
    }
    return 0;
}

static int
load_timeline(load_t *l, const json_t *tl, bot_stats_t *s)
{
    const json_t *replies = json_object_get(tl, "replies");
    size_t n = json_array_size(replies);

    if (!json_is_object(tl))
        return load_fail(l, "timeline: expected an object");
    if (load_field32(l, tl, "timeline", "step_s", &s->step_s) < 0)
        return -1;
    if (s->step_s == 0 || (s->step_s & (s->step_s - 1)) != 0)
        return load_fail(l, "timeline.step_s: expected a power of two, got %u", s->step_s);
    if (!json_is_array(replies) || n > BOT_TIMELINE)
        return load_fail(l, "timeline.replies: expected an array of at most %d", BOT_TIMELINE);
    s->nticks = (uint32_t)n;
    for (int i = 0; i < 4; i++)
        if (load_series(l, tl, i, n, s) < 0)
            return -1;
    return 0;
}

/* "2026-11-22T03:04:05.678Z" (the milliseconds optional) to ms since the epoch. */
static int
load_started(load_t *l, const json_t *v, uint64_t *ms)
{
    struct tm tm = {0};
    int frac = 0, end = 0;
    const char *str = json_string_value(v);
    time_t t;

    if (str == NULL ||
        (sscanf(str, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &end) != 7 &&
         sscanf(str, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &end) != 6) ||
        str[end] != '\0' || end == 0 || frac < 0)
        return load_fail(l, "started: expected a UTC time like \"2026-11-22T03:04:05.678Z\"");
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if ((t = timegm(&tm)) < 0)
        return load_fail(l, "started: before 1970");
    *ms = (uint64_t)t * 1000 + (uint64_t)frac;
    return 0;
}

static int
load_report(load_t *l, const json_t *root, bot_stats_t *s)
{
    const json_t *elapsed = json_object_get(root, "elapsed_s");

    if (!json_is_object(root))
        return load_fail(l, "expected an object");
    if (json_integer_value(json_object_get(root, "version")) != BOT_REPORT_VERSION)
        return load_fail(l, "version: expected %d", BOT_REPORT_VERSION);
    if (!json_is_number(elapsed) || json_number_value(elapsed) < 0 ||
        json_number_value(elapsed) > UINT32_MAX)
        return load_fail(l, "elapsed_s: expected a number of seconds");
    s->elapsed_s = json_number_value(elapsed);
    s->now_s = (uint32_t)s->elapsed_s;
    if (load_started(l, json_object_get(root, "started"), &s->started_ms) < 0 ||
        load_field32(l, root, "", "users", &s->users) < 0 ||
        load_field32(l, root, "", "done", &s->done) < 0 ||
        load_field(l, root, "", "games", INT64_MAX, &s->games) < 0 ||
        load_field(l, root, "", "abandoned", INT64_MAX, &s->abandoned) < 0 ||
        load_ops(l, json_object_get(root, "ops"), s) < 0)
        return -1;
    return load_timeline(l, json_object_get(root, "timeline"), s);
}

int
bot_report_load(const char *path, bot_stats_t *into, char *err, size_t errlen)
{
    load_t l = {.path = path, .err = err, .errlen = errlen};
    bot_stats_t *s;
    json_error_t je;
    json_t *root;
    FILE *f = fopen(path, "r");
    int rc;

    if (f == NULL)
        return load_fail(&l, "%s", strerror(errno));
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    s = ff_calloc(1, sizeof(*s));
    rc = load_report(&l, root, s);
    if (rc == 0)
        bot_stats_merge(into, s);
    ff_free(s);
    json_decref(root);
    return rc;
}

/* ---- HTML ------------------------------------------------------------------------- */

/* Writes s with the characters HTML gives a meaning escaped; NULL as nothing. */
static void
html_puts(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* "2026-11-22 03:04:05 UTC" */
static void
html_date(char *out, size_t len, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static const char html_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}"
    "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd}"
    "th{text-align:left;background:#f4f4f4}.n{text-align:right;font-variant-numeric:tabular-nums}"
    "table.meta td:first-child{color:#666}svg{display:block;margin:.5em 0}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}.grid{stroke:#e4e4e4}"
    ".axis{stroke:#999}ul.codes{margin:.5em 0}p.summary{font-weight:600}";

/* One row of the meta table; value is escaped. */
static void
html_meta_row(FILE *f, const char *name, const char *value)
{
    fprintf(f, "<tr><td>%s</td><td>", name);
    html_puts(f, value);
    fputs("</td></tr>\n", f);
}

static void
html_meta(FILE *f, const bot_stats_t *s, const bot_report_meta_t *m)
{
    char v[64];

    fputs("<table class=\"meta\">\n", f);
    html_meta_row(f, "target", m->target);
    html_meta_row(f, "login", m->login);
    fmt_count(v, sizeof(v), m->users);
    html_meta_row(f, "users", v);
    snprintf(v, sizeof(v), "%u", m->workers);
    html_meta_row(f, "workers", v);
    snprintf(v, sizeof(v), "%u", m->arena_size);
    html_meta_row(f, "arena size", v);
    snprintf(v, sizeof(v), "%u ms", m->game_time_ms);
    html_meta_row(f, "game time", v);
    html_meta_row(f, "mode", m->loop ? "loop" : "once");
    if (m->duration_s > 0)
        snprintf(v, sizeof(v), "%g s", m->duration_s);
    html_meta_row(f, "duration", m->duration_s > 0 ? v : "unlimited");
    html_date(v, sizeof(v), s->started_ms);
    html_meta_row(f, "started", v);
    snprintf(v, sizeof(v), "%.1f s", s->elapsed_s);
    html_meta_row(f, "elapsed", v);
    fputs("</table>\n", f);
}

static void
html_table(FILE *f, const bot_stats_t *s)
{
    table_t *t = ff_malloc(sizeof(*t));
    char line[CODES_LINE_MAX];

    table_build(t, s);
    fputs("<table class=\"ops\">\n", f);
    for (int r = 0; r < t->rows; r++) {
        fputs("<tr>", f);
        for (int i = 0; i < TABLE_COLS; i++) {
            fprintf(f, "<%s%s>", r == 0 ? "th" : "td", i > 0 ? " class=\"n\"" : "");
            html_puts(f, t->cell[r][i]);
            fprintf(f, "</%s>", r == 0 ? "th" : "td");
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<ul class=\"codes\">\n", f);
    for (int r = 1; r < t->rows; r++) {
        codes_line(line, sizeof(line), &s->ops[t->op[r]]);
        if (line[0] == '\0')
            continue;
        fputs("<li>", f);
        html_puts(f, bot_op_name((bot_op_t)t->op[r]));
        fputs(": ", f);
        html_puts(f, line);
        fputs("</li>\n", f);
    }
    summary_line(line, sizeof(line), s);
    fputs("</ul>\n<p class=\"summary\">", f);
    html_puts(f, line);
    fputs("</p>\n", f);
    ff_free(t);
}

/* ---- HTML: the latency chart ------------------------------------------------------ */

#define SVG_W 820
#define LAT_LEFT 110 /* op names */
#define LAT_RIGHT 70 /* values after the longest bars */
#define LAT_BAR 8
#define LAT_ROW (4 * LAT_BAR + 12)
#define LAT_TOP 26 /* legend */
#define LAT_BOTTOM 30

static const char *const lat_names[4] = {"p50", "p90", "p99", "max"};
static const char *const lat_colors[4] = {"#4e79a7", "#59a14f", "#f28e2b", "#e15759"};

/* p50, p90, p99 and max of an op, in ms. */
static void
lat_values(const bot_op_stats_t *o, double *v)
{
    v[0] = ns_to_ms(ff_hist_percentile(&o->hist, 50));
    v[1] = ns_to_ms(ff_hist_percentile(&o->hist, 90));
    v[2] = ns_to_ms(ff_hist_percentile(&o->hist, 99));
    v[3] = ns_to_ms(o->hist.max);
}

/* The decades the axis spans, from 10^lo to 10^hi ms (1 us at least). */
static void
lat_decades(const bot_stats_t *s, int *lo, int *hi)
{
    double vmin = 1e300, vmax = 0, v[4];

    for (int op = 0; op < BOT_OPS; op++) {
        if (s->ops[op].hist.total == 0)
            continue;
        lat_values(&s->ops[op], v);
        vmin = fmin(vmin, fmax(v[0], 1e-3));
        vmax = fmax(vmax, v[3]);
    }
    *lo = (int)floor(log10(vmin));
    *hi = (int)ceil(log10(fmax(vmax, 1e-3)));
    if (*hi <= *lo)
        *hi = *lo + 1;
}

static double
lat_x(double ms, int lo, int hi)
{
    double e = log10(fmax(ms, pow(10, lo)));

    return LAT_LEFT + (SVG_W - LAT_LEFT - LAT_RIGHT) * (e - lo) / (hi - lo);
}

static void
svg_legend(FILE *f, int x, int y, const char *const *names, const char *const *colors, int n)
{
    for (int i = 0; i < n; i++, x += 90) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>", x, y - 9,
                colors[i]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 16, y);
        html_puts(f, names[i]);
        fputs("</text>\n", f);
    }
}

static void
lat_axis(FILE *f, int lo, int hi, int bottom)
{
    for (int e = lo; e <= hi; e++) {
        double x = lat_x(pow(10, e), lo, hi);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, LAT_TOP,
                x, bottom);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n", x, bottom + 14,
                e < 0 ? -e : 0, pow(10, e));
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">ms (log scale)</text>\n", SVG_W - 4,
            bottom + 28);
}

static void
lat_row(FILE *f, const bot_op_stats_t *o, const char *name, int y, int lo, int hi)
{
    double v[4];

    lat_values(o, v);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LAT_LEFT - 8, y + 2 * LAT_BAR + 4);
    html_puts(f, name);
    fputs("</text>\n", f);
    for (int i = 0; i < 4; i++) {
        double x = lat_x(v[i], lo, hi);
        int by = y + i * LAT_BAR;
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                "<title>%s %.3f ms</title></rect>",
                LAT_LEFT, by, x - LAT_LEFT, LAT_BAR - 1, lat_colors[i], lat_names[i], v[i]);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" style=\"font-size:8px\">%.2f</text>\n", x + 3,
                by + LAT_BAR - 1, v[i]);
    }
}

static void
html_latency_chart(FILE *f, const bot_stats_t *s)
{
    int n = 0, lo, hi, y = LAT_TOP + 8, height;

    for (int op = 0; op < BOT_OPS; op++)
        n += s->ops[op].hist.total > 0;
    if (n == 0) {
        fputs("<p>No replies.</p>\n", f);
        return;
    }
    lat_decades(s, &lo, &hi);
    height = LAT_TOP + 8 + n * LAT_ROW + LAT_BOTTOM;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"latency per operation\">\n",
            SVG_W, height, SVG_W, height);
    svg_legend(f, LAT_LEFT, 14, lat_names, lat_colors, 4);
    lat_axis(f, lo, hi, height - LAT_BOTTOM);
    for (int op = 0; op < BOT_OPS; op++) {
        if (s->ops[op].hist.total == 0)
            continue;
        lat_row(f, &s->ops[op], bot_op_name((bot_op_t)op), y, lo, hi);
        y += LAT_ROW;
    }
    fputs("</svg>\n", f);
}

/* ---- HTML: the timeline charts ---------------------------------------------------- */

#define LINE_LEFT 70
#define LINE_RIGHT 20
#define LINE_TOP 26
#define LINE_BOTTOM 36

typedef struct {
    const char *name, *color;
    double (*value)(const bot_tick_t *t, double step_s);
} series_t;

typedef struct {
    double xmax, ymax, xtick, ytick;
    int height;
} frame_t;

static double
tick_replies(const bot_tick_t *t, double step_s)
{
    return (double)t->replies / step_s;
}

static double
tick_errors(const bot_tick_t *t, double step_s)
{
    return (double)t->errors / step_s;
}

static double
tick_online(const bot_tick_t *t, double step_s)
{
    (void)step_s;
    return t->online;
}

static double
tick_in_game(const bot_tick_t *t, double step_s)
{
    (void)step_s;
    return t->in_game;
}

/* A round step (1, 2 or 5 times a power of ten) that cuts range into about n parts. */
static double
nice_step(double range, int n)
{
    double p, m;

    if (range <= 0)
        return 1;
    p = pow(10, floor(log10(range / n)));
    m = range / n / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* Decimals that show a multiple of step exactly enough. */
static int
step_decimals(double step)
{
    return step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

static double
frame_x(const frame_t *fr, double x)
{
    return LINE_LEFT + (SVG_W - LINE_LEFT - LINE_RIGHT) * x / fr->xmax;
}

static double
frame_y(const frame_t *fr, double y)
{
    return fr->height - LINE_BOTTOM - (fr->height - LINE_TOP - LINE_BOTTOM) * y / fr->ymax;
}

static void
frame_axes(FILE *f, const frame_t *fr, const char *ylabel)
{
    char num[48];

    for (double y = 0; y <= fr->ymax + fr->ytick / 2; y += fr->ytick) {
        fmt_real(num, sizeof(num), y, step_decimals(fr->ytick));
        fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", LINE_LEFT,
                frame_y(fr, y), SVG_W - LINE_RIGHT, frame_y(fr, y));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LINE_LEFT - 6,
                frame_y(fr, y) + 4, num);
    }
    for (double x = 0; x <= fr->xmax + fr->xtick / 1000; x += fr->xtick)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n", frame_x(fr, x),
                fr->height - LINE_BOTTOM + 14, step_decimals(fr->xtick), x);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LINE_LEFT,
            fr->height - LINE_BOTTOM, SVG_W - LINE_RIGHT, fr->height - LINE_BOTTOM);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">seconds</text>\n", SVG_W - LINE_RIGHT,
            fr->height - 4);
    fprintf(f, "<text x=\"%d\" y=\"%d\">", 4, LINE_TOP - 10);
    html_puts(f, ylabel);
    fputs("</text>\n", f);
}

/* One polyline: the value of each slot at the middle of its seconds. */
static void
frame_series(FILE *f, const frame_t *fr, const bot_stats_t *s, const series_t *se)
{
    double step = s->step_s;

    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", se->color);
    for (uint32_t i = 0; i < s->nticks && i < BOT_TIMELINE; i++)
        fprintf(f, "%s%.1f,%.1f", i > 0 ? " " : "", frame_x(fr, (i + 0.5) * step),
                frame_y(fr, se->value(&s->ticks[i], step)));
    fputs("\"/>\n", f);
}

/* A line chart of the series over the timeline; ymin is the least top of the y axis. */
static void
html_line_chart(FILE *f, const bot_stats_t *s, const series_t *se, int n, int height,
                const char *ylabel, double ymin)
{
    frame_t fr = {.height = height, .ymax = ymin};
    const char *names[4], *colors[4];

    for (int k = 0; k < n; k++) {
        names[k] = se[k].name;
        colors[k] = se[k].color;
        for (uint32_t i = 0; i < s->nticks && i < BOT_TIMELINE; i++)
            fr.ymax = fmax(fr.ymax, se[k].value(&s->ticks[i], s->step_s));
    }
    /* The x axis ends with the run, the y axis on a round number above the highest point. */
    fr.xmax = (double)s->nticks * s->step_s;
    fr.xtick = fmax(nice_step(fr.xmax, 10), s->step_s);
    fr.ytick = nice_step(fr.ymax > 0 ? fr.ymax : 1, 5);
    fr.ymax = fmax(ceil(fr.ymax / fr.ytick), 1) * fr.ytick;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            SVG_W, height, SVG_W, height);
    html_puts(f, ylabel);
    fputs("\">\n", f);
    svg_legend(f, LINE_LEFT + 150, 14, names, colors, n);
    frame_axes(f, &fr, ylabel);
    for (int k = 0; k < n; k++)
        frame_series(f, &fr, s, &se[k]);
    fputs("</svg>\n", f);
}

static void
html_timeline(FILE *f, const bot_stats_t *s)
{
    static const series_t rates[] = {
        {"requests/s", "#4e79a7", tick_replies},
        {"errors/s", "#e15759", tick_errors},
    };
    static const series_t users[] = {
        {"online", "#59a14f", tick_online},
        {"in game", "#b07aa1", tick_in_game},
    };

    if (s->nticks == 0 || s->step_s == 0) {
        fputs("<p>No timeline.</p>\n", f);
        return;
    }
    fprintf(f, "<p>One point per %u s.</p>\n", s->step_s);
    html_line_chart(f, s, rates, 2, 300, "per second", 0);
    html_line_chart(f, s, users, 2, 180, "users", s->users);
}

static void
html_write(FILE *f, const bot_stats_t *s, const bot_report_meta_t *m)
{
    char date[64];

    html_date(date, sizeof(date), s->started_ms);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>bot: ", f);
    html_puts(f, m->target);
    fprintf(f, ", %s</title>\n<style>%s</style>\n</head>\n<body>\n<h1>bot: ", date, html_css);
    html_puts(f, m->target);
    fprintf(f, ", %s</h1>\n", date);
    html_meta(f, s, m);
    fputs("<h2>Operations</h2>\n", f);
    html_table(f, s);
    fputs("<h2>Latency</h2>\n", f);
    html_latency_chart(f, s);
    fputs("<h2>Over time</h2>\n", f);
    html_timeline(f, s);
    fputs("</body>\n</html>\n", f);
}

int
bot_report_html(const char *path, const bot_stats_t *s, const bot_report_meta_t *m)
{
    char tmp[PATH_MAX + 8];
    FILE *f = report_create(path, tmp, sizeof(tmp));

    if (f == NULL)
        return -1;
    errno = 0;
    html_write(f, s, m);
    return report_commit(f, tmp, path, true);
}
