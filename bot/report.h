/* report: what the bot shows of a bot_stats_t: the end-of-run table, the live progress line,
 * a JSON report (which another bot can load and merge: `bot --merge a.json b.json`) and a
 * self-contained HTML report with charts.
 *
 * The JSON report, version 1 (stable: fields may be added, none removed or changed in
 * meaning without a new version). Times of operations in ms; counts are integers.
 *
 *   {"version": 1,
 *    "meta": {"target": "127.0.0.1:11009", "login": "diablo", "users": 1000, "workers": 4,
 *             "arena_size": 4, "game_time_ms": 10000, "loop": true, "duration_s": 60},
 *    "started": "2026-11-22T03:04:05.678Z",   start of the run, UTC, ms
 *    "elapsed_s": 60.02,
 *    "users": 1000, "done": 0,                 users counted, users finished (--once)
 *    "games": 3210, "abandoned": 2,
 *    "errors": 13,                             total over the ops
 *    "requests_per_s": 2134.5,                 replies of every op but the waits / elapsed_s
 *    "ops": {"<key>": {...}, ...},             key: bot_op_key(), every op, in enum order
 *    "timeline": {"step_s": 1, "replies": [...], "errors": [...], "online": [...],
 *                 "in_game": [...]}}          one element per slot; slot i = seconds
 *                                              [i * step_s, (i + 1) * step_s)
 *
 * An op:
 *   {"count": 1012, "ok": 1000, "refused": 11, "errors": 1,
 *    "codes": {"419004 (refused)": 11, "timeout": 1},  replies by error code, in slot order;
 *             "timeout" and "closed" stand for BOT_CODE_TIMEOUT and BOT_CODE_CLOSED
 *    "other_codes": 0,                         replies whose code had no slot left
 *    "p50_ms": 1.23, "p90_ms": 2.5, "p99_ms": 7.1, "max_ms": 12.345,
 *    "rate": 16.9,                             count / elapsed_s
 *    "hist": {"min": 812000, "max": 12345000, "total": 1011,   ns, of every reply
 *             "buckets": [[index, count], ...]}}               ff_hist_t, nonzero only
 *
 * Loading reads the counters, hist, codes, timeline, started, elapsed_s, users, done, games
 * and abandoned; the percentiles, rates, totals and meta are for readers and are ignored. */
#ifndef BOT_REPORT_H
#define BOT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats.h"

#define BOT_REPORT_VERSION 1

/* How the run was configured, for the JSON and HTML reports. Strings are borrowed. */
typedef struct {
    const char *target; /* "127.0.0.1:11009" */
    const char *login;  /* "diablo", "echo" or "none" */
    uint32_t users, workers, arena_size, game_time_ms;
    bool loop;         /* --loop (true) or --once */
    double duration_s; /* configured, 0 = unlimited */
} bot_report_meta_t;

/* Prints the end-of-run table on f: a row per request op and per wait that has a count (op,
 * count, ok, refused, errors, p50, p90, p99, max in ms, rate per second), a line per op with
 * error codes, then a summary line (users, games, abandoned waits, elapsed, requests/s, errors). */
void bot_report_table(FILE *f, const bot_stats_t *s);
/* Formats the live progress line into out (no newline):
 * "[  12s] online 1000/1000  in game 412  req/s 2,134  errors 0  games 3,210", req/s being
 * the replies of the last complete timeline slot per second (0 before there is one). */
void bot_report_progress(char *out, size_t len, const bot_stats_t *s);
/* Writes the JSON report to path, atomically (path.tmp, then rename). Returns 0, or -1 with
 * errno set. */
int bot_report_json(const char *path, const bot_stats_t *s, const bot_report_meta_t *m);
/* Writes a self-contained HTML report (inline CSS and SVG, nothing fetched, no scripts) to
 * path, atomically. Returns 0, or -1 with errno set. */
int bot_report_html(const char *path, const bot_stats_t *s, const bot_report_meta_t *m);
/* Reads a JSON report written by bot_report_json and merges its figures into `into` with
 * bot_stats_merge (`into` may be zeroed). Returns 0, or -1 with "path: what is wrong" in err;
 * `into` is unchanged on error. */
int bot_report_load(const char *path, bot_stats_t *into, char *err, size_t errlen);

#endif
