/* stats: what the bot measures, in one flat struct without pointers so that worker processes
 * can keep theirs in shared memory and the parent can merge them (and so that a JSON report
 * written on another machine can be merged back, see report.h).
 *
 * Per operation: a request's time from send to its reply (or, for the two waits, from the
 * request to the push it waits for), in nanoseconds, in a log-linear histogram. Outcomes:
 * ok; refused (an error reply the scenario expects and handles, e.g. 419004 "full" on enter
 * after another player took the last place); errors (any other error reply, a timeout, or the
 * connection lost while waiting). Every error reply is also counted by its code. */
#ifndef BOT_STATS_H
#define BOT_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

typedef enum {
    BOT_OP_CONNECT,    /* TCP connect */
    BOT_OP_LOGIN,      /* Diablo login (101) or echo (1), per --login */
    BOT_OP_LIST,       /* 3001 */
    BOT_OP_CREATE,     /* 3002 */
    BOT_OP_ENTER,      /* 3003 */
    BOT_OP_START,      /* 3005, by owners */
    BOT_OP_RESULT,     /* 3006 */
    BOT_OP_LEAVE,      /* 3004 */
    BOT_OP_WAIT_START, /* enter (or create) until arenaStart: includes waiting for players */
    BOT_OP_WAIT_ENDED, /* result until arenaEnded: includes waiting for the others' results */
    BOT_OPS
} bot_op_t;

/* Timeouts and lost connections are counted under these codes in `codes`. */
#define BOT_CODE_TIMEOUT 0xFFFFFF01u
#define BOT_CODE_CLOSED 0xFFFFFF02u
#define BOT_MAX_CODES 16 /* distinct codes kept per operation; more are summed in `other` */
#define BOT_TIMELINE 600 /* timeline slots; when full, pairs merge and the step doubles */

/* A code's count, kept apart for refused replies and errors: the same code can be expected
 * in one place and an error in another, so it may hold one slot of each kind. */
typedef struct {
    uint32_t code;    /* 0 = unused slot */
    uint32_t refused; /* 1: these replies were counted as refused, 0: as errors */
    uint64_t count;
} bot_code_count_t;

typedef struct {
    uint64_t ok, refused, errors;
    bot_code_count_t codes[BOT_MAX_CODES];
    uint64_t other_codes; /* error or refused replies whose code found no free slot */
    ff_hist_t hist;       /* ns, of every reply (ok, refused or error), not of timeouts */
} bot_op_stats_t;

/* One slot of the timeline: what happened during `step_s` seconds. */
typedef struct {
    uint64_t replies; /* replies to requests, the waits excluded (requests/s = replies / step) */
    uint64_t errors;
    uint32_t online, in_game; /* gauges at the end of the slot (max over merged workers' sums) */
} bot_tick_t;

typedef struct {
    bot_op_stats_t ops[BOT_OPS];
    uint64_t games;      /* arenaEnded received (one per user per game) */
    uint64_t abandoned;  /* waits for a full arena given up (--wait-timeout): left and relisted */
    uint32_t users;      /* users configured */
    uint32_t online;     /* connected and logged in now */
    uint32_t in_game;    /* between arenaStart and arenaEnded now */
    uint32_t done;       /* users finished (--once) */
    uint32_t now_s;      /* the current second of the run, kept by the runner */
    uint64_t started_ms; /* wall clock (ms since the epoch) when the run started */
    double elapsed_s;    /* run time so far */
    uint32_t step_s;     /* timeline slot length, >= 1 */
    uint32_t nticks;     /* slots used */
    bot_tick_t ticks[BOT_TIMELINE];
} bot_stats_t;

/* Names used in the table and the reports: "connect", "login", "list", "create", "enter",
 * "start", "result", "leave", "enter→start", "result→ended" (UTF-8 arrow). */
const char *bot_op_name(bot_op_t op);
/* The JSON/ASCII key of an op: same but "wait_start", "wait_ended" for the waits. */
const char *bot_op_key(bot_op_t op);

/* Zeroes s, sets users, step_s = 1 and started_ms to now. */
void bot_stats_init(bot_stats_t *s, uint32_t users);
/* Counts a reply of op after `ns`: code 0 = ok; refused = expected error reply. The timeline
 * slot of second s->now_s counts it: a reply unless op is one of the waits (whose "reply" is a
 * push, not an answer to a request), an error unless ok or refused. */
void bot_stats_reply(bot_stats_t *s, bot_op_t op, uint64_t ns, uint32_t code, bool refused);
/* Counts a failure without reply (BOT_CODE_TIMEOUT or BOT_CODE_CLOSED), an error in the
 * timeline slot of s->now_s. */
void bot_stats_fail(bot_stats_t *s, bot_op_t op, uint32_t code);
/* Sets the gauges of the slot holding second s->now_s from s->online and s->in_game, and
 * nticks to cover it (coarsening the timeline when now_s is past its end). */
void bot_stats_gauge(bot_stats_t *s);
/* Adds `from` into `into`: counts, histograms and codes summed, timelines summed slot by slot
 * (after bringing both to the larger step), gauges summed, elapsed_s the max, started_ms the
 * min. */
void bot_stats_merge(bot_stats_t *into, const bot_stats_t *from);
/* Total errors over all operations. */
uint64_t bot_stats_errors(const bot_stats_t *s);
/* Count of an op: ok + refused + errors. */
uint64_t bot_stats_count(const bot_op_stats_t *o);

#endif
