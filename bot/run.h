/* run: simulated users on one libuv loop, each a TCP connection playing the arena scenario
 * (docs/bot.md): log in, list, enter an arena with room or create one, wait for arenaStart,
 * play gameTime, send the result, wait for arenaEnded, then stay for another round or leave,
 * rest and list again. Every step is timed into a bot_stats_t. */
#ifndef BOT_RUN_H
#define BOT_RUN_H

#include <stdint.h>
#include <uv.h>

#include "opts.h"
#include "stats.h"

typedef struct bot_run_s bot_run_t;

/* Called once when a run has ended (every user done with --once, duration passed, or
 * bot_run_stop) and every handle is closed; the run may be freed from here. */
typedef void (*bot_run_done_fn)(bot_run_t *r, void *arg);

/* Starts users first .. first + n - 1 (account numbers o->first_account + index) on `loop`,
 * counting into `stats` (bot_stats_init'ed by the caller; the run keeps now_s, elapsed_s and
 * the gauges current). `o` is copied. Returns NULL when the target address does not resolve
 * (printed). */
bot_run_t *bot_run_start(uv_loop_t *loop, const bot_opts_t *o, bot_stats_t *stats, uint32_t first,
                         uint32_t n, bot_run_done_fn done, void *arg);
/* Ends the run now: every connection closed; requests in flight are not counted. */
void bot_run_stop(bot_run_t *r);
/* Frees an ended run. */
void bot_run_free(bot_run_t *r);

#endif
