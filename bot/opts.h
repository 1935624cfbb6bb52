/* opts: what a bot run does: target, users, scenario timings and reports, from defaults, then
 * a JSON config file (--config), then the command line, then console `set` commands; every
 * value is range-checked with a message naming the file or option and what is wrong. */
#ifndef BOT_OPTS_H
#define BOT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

typedef enum { BOT_LOGIN_NONE, BOT_LOGIN_ECHO, BOT_LOGIN_DIABLO } bot_login_t;

#define BOT_PATH_MAX 512

typedef struct {
    char host[256];
    int port;
    ff_frame_proto_t proto; /* netconnect of the target (Firefly's defaults) */
    uint32_t users;
    bool loop;         /* true: play until stopped or duration; false: one game each */
    double duration_s; /* 0: unlimited (loop) / until every user played (once) */
    uint32_t workers;  /* processes sharing the users */
    bot_login_t login;
    char account_prefix[8]; /* account i is prefix + i in 5 digits: "bot00042" */
    char password[12];
    uint32_t first_account; /* index of the first account (several machines: disjoint ranges) */
    uint32_t arena_size;
    uint32_t game_time_ms;
    uint32_t think_min_ms, think_max_ms; /* rest after leaving an arena, uniform */
    double stay_ratio;                   /* share of players who stay for another round */
    double ramp_per_s;                   /* users started per second; 0 = all at once */
    uint32_t wait_timeout_ms;            /* waiting for a full arena longer: leave, relist */
    uint32_t request_timeout_ms;         /* a reply (or arenaEnded) later: an error */
    double progress_s;                   /* live line interval when not on a terminal */
    uint32_t seed;
    char json_path[BOT_PATH_MAX];
    char html_path[BOT_PATH_MAX];
} bot_opts_t;

/* Fills the defaults: 127.0.0.1:11009, 20 users, once, 1 worker, login diablo, accounts
 * bot00000.., password "botpass", arena size 4, game time 2000 ms, think 500..1500 ms, stay
 * 0.5, ramp-up 200 users/s, wait timeout 10 s, request timeout 5 s, progress every 10 s. */
void bot_opts_default(bot_opts_t *o);
/* Applies a JSON config file. Returns 0, or -1 with "FILE: key: what is wrong" in err. */
int bot_opts_load(bot_opts_t *o, const char *path, char *err, size_t errlen);
/* Sets one option by its name as in the config file or console ("users", "loop", "gameTime",
 * ...) from text ("20", "on"). Returns 0, or -1 with "name: what is wrong" in err. */
int bot_opts_set(bot_opts_t *o, const char *name, const char *value, char *err, size_t errlen);
/* Checks the combination (think min <= max, account names fit the login's 4..11 characters,
 * workers <= users...). Returns 0, or -1 with the reason in err. */
int bot_opts_check(const bot_opts_t *o, char *err, size_t errlen);
/* The login's name: "none", "echo", "diablo". */
const char *bot_login_name(bot_login_t l);
/* Prints every option and its value, one per line, prefixed with `prefix`. */
void bot_opts_print(const bot_opts_t *o, void (*print)(void *arg, const char *line), void *arg);

#endif
