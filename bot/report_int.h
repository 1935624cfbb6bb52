/* report_int: what report.c shares with report_html.c, the two halves of bot/report.h;
 * no other file includes it. Defined in report.c. */
#ifndef BOT_REPORT_INT_H
#define BOT_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"
#include "stats.h"

#define BOT_REPORT_COLS 10       /* columns of the table of ops */
#define BOT_REPORT_CELL_MAX 32   /* bytes of a cell, its '\0' included */
#define BOT_REPORT_LINE_MAX 1024 /* room for a codes or a summary line */

/* The table of ops as text, for the terminal and the HTML report alike. */
typedef struct {
    char cell[BOT_OPS + 1][BOT_REPORT_COLS][BOT_REPORT_CELL_MAX]; /* row 0: the header */
    int op[BOT_OPS + 1]; /* the op of each row after the header */
    int rows;
} bot_report_grid_t;

/* Formats v into out with commas between groups of three digits: "1,234,567". */
void bot_report_fmt_count(char *out, size_t len, uint64_t v);
/* Formats v with `decimals` places into out, its integer part grouped: "1,234.50". */
void bot_report_fmt_real(char *out, size_t len, double v, int decimals);
/* Nanoseconds as milliseconds. */
double bot_report_ns_to_ms(uint64_t ns);
/* Formats an op's error codes into out: "419004 x12 (refused), timeout x1, other x3"; empty
 * when the op has none. */
void bot_report_codes_line(char *out, size_t len, const bot_op_stats_t *o);
/* Formats the summary line of a run into out (users, games, abandoned waits, elapsed,
 * requests/s, errors). */
void bot_report_summary_line(char *out, size_t len, const bot_stats_t *s);
/* Fills t with the header and a row per op shown (every request op, and the waits with a
 * count). t is large: allocate it rather than put it on the stack. */
void bot_report_grid_build(bot_report_grid_t *t, const bot_stats_t *s);
/* Opens path.tmp for writing, its name into tmp. Returns NULL with errno on failure. */
FILE *bot_report_create(const char *path, char *tmp, size_t len);
/* Closes f and renames tmp to path when everything was written (`ok` and no stream error);
 * else removes tmp. Returns 0, or -1 with errno. */
int bot_report_commit(FILE *f, const char *tmp, const char *path, bool ok);

#endif
