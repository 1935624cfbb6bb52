/* arena_proto: the arena's wire protocol (docs/arena.md), shared by the app, bin/bot and the
 * tests: command ids, push ids, error codes and the limits a request body must respect. */
#ifndef ARENA_PROTO_H
#define ARENA_PROTO_H

/* Requests. */
enum {
    ARENA_LIST = 3001,
    ARENA_CREATE = 3002,
    ARENA_ENTER = 3003,
    ARENA_LEAVE = 3004,
    ARENA_START = 3005,
    ARENA_RESULT = 3006,
};

/* Pushes. */
enum {
    ARENA_PUSH_START = 3101,
    ARENA_PUSH_ENDED = 3102,
    ARENA_PUSH_MEMBERS = 3103,
};

/* Refusals: the code of an error reply. */
enum {
    ARENA_E_IN_ARENA = 419001,
    ARENA_E_NO_SUCH_ARENA = 419002,
    ARENA_E_BAD_BODY = 419003,
    ARENA_E_FULL = 419004,
    ARENA_E_PLAYING = 419005,
    ARENA_E_NOT_IN_ARENA = 419006,
    ARENA_E_NOT_OWNER = 419007,
    ARENA_E_NOT_FULL = 419008,
    ARENA_E_NOT_PLAYING = 419009,
    ARENA_E_RESULT_SENT = 419010,
};

/* Limits and defaults of request fields; a game ends at gameTime + ARENA_GRACE_MS at the
 * latest. */
enum {
    ARENA_SIZE_MIN = 2,
    ARENA_SIZE_MAX = 64,
    ARENA_SIZE_DEFAULT = 4,
    ARENA_GAME_TIME_MAX = 600000,
    ARENA_GAME_TIME_DEFAULT = 10000,
    ARENA_GRACE_MS = 3000,
    ARENA_NAME_MAX = 32,
    ARENA_PLAYER_MAX = 32,
    ARENA_LIMIT_MAX = 500,
    ARENA_LIMIT_DEFAULT = 50,
};

#endif
