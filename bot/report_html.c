/* report_html: the bot's self-contained HTML report (bot_report_html in report.h): the run's
 * settings, the table of ops, a latency chart and timeline charts, as inline CSS and SVG with
 * nothing fetched and no scripts. The figures come from the helpers of report_int.h. */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "report_int.h"

/* ---- HTML ------------------------------------------------------------------------- */

/* Writes s with the characters HTML gives a meaning escaped; NULL as nothing. */
static void
html_puts(FILE *f, const char *s)
{
    static const char special[] = "&<>\"'";
    static const char *const entity[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};

    for (; s != NULL && *s != '\0'; s++) {
        const char *c = strchr(special, *s);
        if (c != NULL)
            fputs(entity[c - special], f);
        else
            fputc(*s, f);
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
    bot_report_fmt_count(v, sizeof(v), m->users);
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
    bot_report_grid_t *t = ff_malloc(sizeof(*t));
    char line[BOT_REPORT_LINE_MAX];

    bot_report_grid_build(t, s);
    fputs("<table class=\"ops\">\n", f);
    for (int r = 0; r < t->rows; r++) {
        fputs("<tr>", f);
        for (int i = 0; i < BOT_REPORT_COLS; i++) {
            fprintf(f, "<%s%s>", r == 0 ? "th" : "td", i > 0 ? " class=\"n\"" : "");
            html_puts(f, t->cell[r][i]);
            fprintf(f, "</%s>", r == 0 ? "th" : "td");
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<ul class=\"codes\">\n", f);
    for (int r = 1; r < t->rows; r++) {
        bot_report_codes_line(line, sizeof(line), &s->ops[t->op[r]]);
        if (line[0] == '\0')
            continue;
        fputs("<li>", f);
        html_puts(f, bot_op_name((bot_op_t)t->op[r]));
        fputs(": ", f);
        html_puts(f, line);
        fputs("</li>\n", f);
    }
    bot_report_summary_line(line, sizeof(line), s);
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
    v[0] = bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 50));
    v[1] = bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 90));
    v[2] = bot_report_ns_to_ms(ff_hist_percentile(&o->hist, 99));
    v[3] = bot_report_ns_to_ms(o->hist.max);
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
        bot_report_fmt_real(num, sizeof(num), y, step_decimals(fr->ytick));
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
    FILE *f = bot_report_create(path, tmp, sizeof(tmp));

    if (f == NULL)
        return -1;
    errno = 0;
    html_write(f, s, m);
    return bot_report_commit(f, tmp, path, true);
}
