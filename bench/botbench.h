/* botbench: ffbench's bot section: a cluster whose game1 runs the arena app and game2 the
 * echo app, and `BIN/bot` playing looping users against it (echo login, short games), whose
 * own report table is the result. */
#ifndef BENCH_BOTBENCH_H
#define BENCH_BOTBENCH_H

#include <stdbool.h>

typedef struct {
    const char *bin; /* directory of master, bot, ... */
    int users;
    double duration_s;
    int game_time_ms;
    bool keep; /* keep the cluster's temp dir */
} bench_bot_opts_t;

/* Runs the section. Returns 0, or -1 when the cluster failed or the bot reported errors. */
int bench_bot_run(const bench_bot_opts_t *o);

#endif
