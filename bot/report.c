/* report: the bot's figures for people and for other bots: the end-of-run table, the live
 * progress line and the JSON report (written and loaded back for --merge), with the helpers
 * report_html.c shares (report_int.h). The JSON format is described in report.h. */
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
#include "report_int.h"

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

void
bot_report_fmt_count(char *out, size_t len, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    group_digits(out, len, num);
}

void
bot_report_fmt_real(char *out, size_t len, double v, int decimals)
{
    char num[64];

    snprintf(num, sizeof(num), "%.*f", decimals, v);
    group_digits(out, len, num);
}

double
bot_report_ns_to_ms(uint64_t ns)
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
void
bot_report_codes_line(char *out, size_t len, const bot_op_stats_t *o)
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

void
bot_report_summary_line(char *out, size_t len, const bot_stats_t *s)
{
    char users[32], games[32], abandoned[32], rps[48], errors[32];

    bot_report_fmt_count(users, sizeof(users), s->users);
    bot_report_fmt_count(games, sizeof(games), s->games);
    bot_report_fmt_count(abandoned, sizeof(abandoned), s->abandoned);
    bot_report_fmt_real(rps, sizeof(rps), requests_per_s(s), 1);
    bot_report_fmt_count(errors, sizeof(errors), bot_stats_errors(s));
    snprintf(out, len,
             "users %s  games played %s  abandoned waits %s  elapsed %.1f s  requests/s %s  "
             "errors %s",
             users, games, abandoned, s->elapsed_s, rps, errors);
}

/* ---- the table -------------------------------------------------------------------- */

static const char *const table_head[BOT_REPORT_COLS] = {
    "op", "count", "ok", "refused", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "rate/s",
};

static void
table_row(bot_report_grid_t *t, const bot_stats_t *s, int op)
{
    const bot_op_stats_t *o = &s->ops[op];
    const double pct[4] = {50, 90, 99, 100};
    char(*c)[BOT_REPORT_CELL_MAX] = t->cell[t->rows];

    t->op[t->rows++] = op;
    snprintf(c[0], BOT_REPORT_CELL_MAX, "%s", bot_op_name((bot_op_t)op));
    bot_report_fmt_count(c[1], BOT_REPORT_CELL_MAX, bot_stats_count(o));
    bot_report_fmt_count(c[2], BOT_REPORT_CELL_MAX, o->ok);
    bot_report_fmt_count(c[3], BOT_REPORT_CELL_MAX, o->refused);
    bot_report_fmt_count(c[4], BOT_REPORT_CELL_MAX, o->errors);
    for (int i = 0; i < 4; i++) {
        uint64_t ns = pct[i] < 100 ? ff_hist_percentile(&o->hist, pct[i]) : o->hist.max;
        if (o->hist.total == 0)
            snprintf(c[5 + i], BOT_REPORT_CELL_MAX, "-");
        else
            bot_report_fmt_real(c[5 + i], BOT_REPORT_CELL_MAX, bot_report_ns_to_ms(ns), 2);
    }
    if (s->elapsed_s > 0)
        bot_report_fmt_real(c[9], BOT_REPORT_CELL_MAX, op_rate(s, op), 1);
    else
        snprintf(c[9], BOT_REPORT_CELL_MAX, "-");
}

void
bot_report_grid_build(bot_report_grid_t *t, const bot_stats_t *s)
{
    t->rows = 1;
    for (int i = 0; i < BOT_REPORT_COLS; i++)
        snprintf(t->cell[0][i], BOT_REPORT_CELL_MAX, "%s", table_head[i]);
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
table_print_row(FILE *f, char (*c)[BOT_REPORT_CELL_MAX], const int *width)
{
    fprintf(f, "%s%*s", c[0], width[0] - text_width(c[0]), "");
    for (int i = 1; i < BOT_REPORT_COLS; i++)
        fprintf(f, "  %*s", width[i], c[i]);
    fputc('\n', f);
}

void
bot_report_table(FILE *f, const bot_stats_t *s)
{
    bot_report_grid_t *t = ff_malloc(sizeof(*t));
    int width[BOT_REPORT_COLS] = {0};
    char line[BOT_REPORT_LINE_MAX];

    bot_report_grid_build(t, s);
    for (int r = 0; r < t->rows; r++)
        for (int i = 0; i < BOT_REPORT_COLS; i++)
            if (text_width(t->cell[r][i]) > width[i])
                width[i] = text_width(t->cell[r][i]);
    for (int r = 0; r < t->rows; r++)
        table_print_row(f, t->cell[r], width);
    for (int r = 1; r < t->rows; r++) {
        bot_report_codes_line(line, sizeof(line), &s->ops[t->op[r]]);
        if (line[0] != '\0')
            fprintf(f, "  %s: %s\n", bot_op_name((bot_op_t)t->op[r]), line);
    }
    bot_report_summary_line(line, sizeof(line), s);
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
    bot_report_fmt_count(rps, sizeof(rps), (replies + step / 2) / step);
    bot_report_fmt_count(errors, sizeof(errors), bot_stats_errors(s));
    bot_report_fmt_count(games, sizeof(games), s->games);
    snprintf(out, len, "[%4us] online %u/%u  in game %u  req/s %s  errors %s  games %s",
             (unsigned)s->elapsed_s, s->online, s->users, s->in_game, rps, errors, games);
}

/* ---- writing files atomically ----------------------------------------------------- */

/* Opens path.tmp for writing, its name into tmp. Returns NULL with errno on failure. */
FILE *
bot_report_create(const char *path, char *tmp, size_t len)
{
    if ((size_t)snprintf(tmp, len, "%s.tmp", path) >= len) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return fopen(tmp, "w");
}

/* Closes f and renames tmp to path when everything was written (`ok` and no stream error);
 * else removes tmp. Returns 0, or -1 with errno. */
int
bot_report_commit(FILE *f, const char *tmp, const char *path, bool ok)
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
                     json_round(bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 50)), 3), "p90_ms",
                     json_round(bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 90)), 3), "p99_ms",
                     json_round(bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 99)), 3), "max_ms",
                     json_round(bot_report_ns_to_ms(o->hist.max), 3), "rate",
                     json_round(op_rate(s, op), 2), "hist", json_hist(&o->hist));
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
    if ((f = bot_report_create(path, tmp, sizeof(tmp))) == NULL) {
        json_decref(root);
        return -1;
    }
    errno = 0;
    rc = json_write_lines(f, root, 0);
    if (rc == 0)
        fputc('\n', f);
    json_decref(root);
    return bot_report_commit(f, tmp, path, rc == 0);
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
