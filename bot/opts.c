/* opts: one table of options serves the config file, the command line and the console, so a
 * name means the same everywhere and every value passes the same range check. */
#include "opts.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena/arena_proto.h"

typedef enum { OPT_U32, OPT_PORT, OPT_DOUBLE, OPT_BOOL, OPT_STR, OPT_LOGIN } opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    size_t offset;
    double min, max; /* numbers: the range; strings: the length range */
    const char *help;
} opt_def_t;

#define OFF(field) offsetof(bot_opts_t, field)

static const opt_def_t opt_defs[] = {
    {"host", OPT_STR, OFF(host), 1, 255, "the net server's address"},
    {"port", OPT_PORT, OFF(port), 1, 65535, "the net server's client port"},
    {"users", OPT_U32, OFF(users), 1, 100000, "simulated users"},
    {"loop", OPT_BOOL, OFF(loop), 0, 1, "on: play until stopped; off: one game each"},
    {"duration", OPT_DOUBLE, OFF(duration_s), 0, 86400 * 7, "seconds to run, 0 = unlimited"},
    {"workers", OPT_U32, OFF(workers), 1, 64, "processes sharing the users"},
    {"login", OPT_LOGIN, OFF(login), 0, 0, "none, echo (command 1) or diablo (101)"},
    {"accountPrefix", OPT_STR, OFF(account_prefix), 1, 6, "account i is PREFIX + 5 digits"},
    {"password", OPT_STR, OFF(password), 4, 11, "password of every account"},
    {"firstAccount", OPT_U32, OFF(first_account), 0, 99999, "index of the first account"},
    {"arenaSize", OPT_U32, OFF(arena_size), ARENA_SIZE_MIN, ARENA_SIZE_MAX, "players per arena"},
    {"gameTime", OPT_U32, OFF(game_time_ms), 0, ARENA_GAME_TIME_MAX,
     "ms of play before the result"},
    {"thinkMin", OPT_U32, OFF(think_min_ms), 0, 3600000, "ms of rest after leaving, least"},
    {"thinkMax", OPT_U32, OFF(think_max_ms), 0, 3600000, "ms of rest after leaving, most"},
    {"stay", OPT_DOUBLE, OFF(stay_ratio), 0, 1, "share of players staying for another round"},
    {"rampUp", OPT_DOUBLE, OFF(ramp_per_s), 0, 1e6, "users started per second, 0 = at once"},
    {"waitTimeout", OPT_U32, OFF(wait_timeout_ms), 100, 3600000,
     "ms waiting for a full arena before leaving it"},
    {"requestTimeout", OPT_U32, OFF(request_timeout_ms), 10, 3600000,
     "ms for a reply or arenaEnded before it counts as an error"},
    {"progress", OPT_DOUBLE, OFF(progress_s), 0.1, 3600, "s between progress lines (no tty)"},
    {"seed", OPT_U32, OFF(seed), 0, 4294967295.0, "random seed"},
    {"json", OPT_STR, OFF(json_path), 0, BOT_PATH_MAX - 1, "JSON report path"},
    {"html", OPT_STR, OFF(html_path), 0, BOT_PATH_MAX - 1, "HTML report path"},
};

static const char *const login_names[] = {"none", "echo", "diablo"};

void
bot_opts_default(bot_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 11009;
    memcpy(o->proto.magic, "N%&0", 4);
    o->proto.proto_version = 9;
    o->proto.server_version = 0;
    o->proto.max_packet = 65536;
    o->users = 20;
    o->workers = 1;
    o->login = BOT_LOGIN_DIABLO;
    snprintf(o->account_prefix, sizeof(o->account_prefix), "bot");
    snprintf(o->password, sizeof(o->password), "botpass");
    o->arena_size = 4;
    o->game_time_ms = 2000;
    o->think_min_ms = 500;
    o->think_max_ms = 1500;
    o->stay_ratio = 0.5;
    o->ramp_per_s = 200;
    o->wait_timeout_ms = 10000;
    o->request_timeout_ms = 5000;
    o->progress_s = 10;
    o->seed = 1;
}

const char *
bot_login_name(bot_login_t l)
{
    return login_names[l];
}

static const opt_def_t *
opt_find(const char *name)
{
    for (size_t i = 0; i < sizeof(opt_defs) / sizeof(opt_defs[0]); i++)
        if (strcmp(opt_defs[i].name, name) == 0)
            return &opt_defs[i];
    return NULL;
}

/* Parses a whole number or a decimal into *v; false when the text is not entirely one. */
static bool
parse_number(const char *text, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(text, &end);
    return text[0] != '\0' && *end == '\0' && errno == 0 && isfinite(*v);
}

static int
set_bool(bool *dst, const char *value)
{
    if (strcmp(value, "on") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
        *dst = true;
    else if (strcmp(value, "off") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *dst = false;
    else
        return -1;
    return 0;
}

int
bot_opts_set(bot_opts_t *o, const char *name, const char *value, char *err, size_t errlen)
{
    const opt_def_t *d = opt_find(name);
    char *field = (char *)o + (d ? d->offset : 0);
    double v;
    size_t len;

    if (d == NULL) {
        snprintf(err, errlen, "%s: no such option", name);
        return -1;
    }
    switch (d->type) {
    case OPT_BOOL:
        if (set_bool((bool *)field, value) == 0)
            return 0;
        snprintf(err, errlen, "%s: expected on or off, got \"%s\"", name, value);
        return -1;
    case OPT_LOGIN:
        for (int i = 0; i < 3; i++)
            if (strcmp(value, login_names[i]) == 0) {
                *(bot_login_t *)field = (bot_login_t)i;
                return 0;
            }
        snprintf(err, errlen, "%s: expected none, echo or diablo, got \"%s\"", name, value);
        return -1;
    case OPT_STR:
        len = strlen(value);
        if (len < d->min || len > d->max) {
            snprintf(err, errlen, "%s: expected %.0f to %.0f characters, got %zu", name, d->min,
                     d->max, len);
            return -1;
        }
        memcpy(field, value, len + 1);
        return 0;
    default:
        break;
    }
    if (!parse_number(value, &v) || v < d->min || v > d->max ||
        (d->type != OPT_DOUBLE && v != floor(v))) {
        snprintf(err, errlen, "%s: expected a%s number from %g to %g, got \"%s\"", name,
                 d->type == OPT_DOUBLE ? "" : " whole", d->min, d->max, value);
        return -1;
    }
    if (d->type == OPT_U32)
        *(uint32_t *)field = (uint32_t)v;
    else if (d->type == OPT_PORT)
        *(int *)field = (int)v;
    else
        *(double *)field = v;
    return 0;
}

/* The netconnect object of a config file: the target's frame settings. */
static int
load_netconnect(bot_opts_t *o, json_t *nc, char *err, size_t errlen)
{
    const char *magic = json_string_value(json_object_get(nc, "magic"));
    json_t *pv = json_object_get(nc, "protoVersion"), *sv = json_object_get(nc, "serverVersion");
    json_t *mp = json_object_get(nc, "maxPacket");

    if (!json_is_object(nc)) {
        snprintf(err, errlen, "netconnect: expected an object");
        return -1;
    }
    if (magic != NULL && strlen(magic) != 4) {
        snprintf(err, errlen, "netconnect.magic: expected 4 characters");
        return -1;
    }
    if ((pv &&
         (!json_is_integer(pv) || json_integer_value(pv) < 0 || json_integer_value(pv) > 255)) ||
        (sv && (!json_is_integer(sv) || json_integer_value(sv) < 0 ||
                json_integer_value(sv) > UINT32_MAX)) ||
        (mp && (!json_is_integer(mp) || json_integer_value(mp) < 1 ||
                json_integer_value(mp) > UINT32_MAX))) {
        snprintf(err, errlen,
                 "netconnect: protoVersion 0..255, serverVersion and maxPacket "
                 "32-bit unsigned expected");
        return -1;
    }
    if (magic != NULL)
        memcpy(o->proto.magic, magic, 4);
    if (pv != NULL)
        o->proto.proto_version = (uint8_t)json_integer_value(pv);
    if (sv != NULL)
        o->proto.server_version = (uint32_t)json_integer_value(sv);
    if (mp != NULL)
        o->proto.max_packet = (uint32_t)json_integer_value(mp);
    return 0;
}

/* One config key: its JSON value as the text bot_opts_set takes. */
static int
load_key(bot_opts_t *o, const char *key, json_t *v, char *err, size_t errlen)
{
    char text[BOT_PATH_MAX];

    if (strcmp(key, "netconnect") == 0)
        return load_netconnect(o, v, err, errlen);
    if (json_is_string(v) && json_string_length(v) >= sizeof(text)) {
        snprintf(err, errlen, "%s: longer than %zu characters", key, sizeof(text) - 1);
        return -1;
    } else if (json_is_string(v))
        snprintf(text, sizeof(text), "%s", json_string_value(v));
    else if (json_is_boolean(v))
        snprintf(text, sizeof(text), "%s", json_is_true(v) ? "on" : "off");
    else if (json_is_integer(v))
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(text, sizeof(text), "%.17g", json_real_value(v));
    else {
        snprintf(err, errlen, "%s: expected a string, number or boolean", key);
        return -1;
    }
    return bot_opts_set(o, key, text, err, errlen);
}

/* Keeps a message about a file on one line whatever the file holds: keys, string values
 * and jansson's syntax errors quote its bytes as they are. Control characters show as '?'. */
static void
one_line(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

int
bot_opts_load(bot_opts_t *o, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *v;
    const char *key;
    char why[256];
    int rc = 0;

    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        one_line(err);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object", path);
        json_decref(root);
        return -1;
    }
    json_object_foreach(root, key, v)
    {
        if (load_key(o, key, v, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            one_line(err);
            rc = -1;
            break;
        }
    }
    json_decref(root);
    return rc;
}

int
bot_opts_check(const bot_opts_t *o, char *err, size_t errlen)
{
    size_t name_len = strlen(o->account_prefix) + 5;

    if (o->think_min_ms > o->think_max_ms) {
        snprintf(err, errlen, "thinkMin (%u) is above thinkMax (%u)", o->think_min_ms,
                 o->think_max_ms);
        return -1;
    }
    if (o->workers > o->users) {
        snprintf(err, errlen, "workers (%u) is above users (%u)", o->workers, o->users);
        return -1;
    }
    if ((uint64_t)o->first_account + o->users > 100000) {
        snprintf(err, errlen, "firstAccount + users (%u) is past the 5-digit account numbers",
                 o->first_account + o->users);
        return -1;
    }
    if (!o->loop && o->users % o->arena_size != 0) {
        snprintf(err, errlen,
                 "with loop off, users (%u) must be a multiple of arenaSize (%u): the last "
                 "arena could never fill",
                 o->users, o->arena_size);
        return -1;
    }
    if (o->login == BOT_LOGIN_DIABLO && (name_len < 4 || name_len > 11)) {
        snprintf(err, errlen, "accountPrefix: the Diablo login takes names of 4..11 characters");
        return -1;
    }
    return 0;
}

void
bot_opts_print(const bot_opts_t *o, void (*print)(void *arg, const char *line), void *arg)
{
    char line[BOT_PATH_MAX + 64], value[BOT_PATH_MAX];

    for (size_t i = 0; i < sizeof(opt_defs) / sizeof(opt_defs[0]); i++) {
        const opt_def_t *d = &opt_defs[i];
        const char *field = (const char *)o + d->offset;
        switch (d->type) {
        case OPT_U32:
            snprintf(value, sizeof(value), "%u", *(const uint32_t *)field);
            break;
        case OPT_PORT:
            snprintf(value, sizeof(value), "%d", *(const int *)field);
            break;
        case OPT_DOUBLE:
            snprintf(value, sizeof(value), "%g", *(const double *)field);
            break;
        case OPT_BOOL:
            snprintf(value, sizeof(value), "%s", *(const bool *)field ? "on" : "off");
            break;
        case OPT_LOGIN:
            snprintf(value, sizeof(value), "%s", login_names[*(const bot_login_t *)field]);
            break;
        case OPT_STR:
            snprintf(value, sizeof(value), "%s", field);
            break;
        }
        snprintf(line, sizeof(line), "%-15s %-20s %s", d->name, value, d->help);
        print(arg, line);
    }
}
