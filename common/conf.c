/* conf: loads config.json (DESIGN §3) and validates it against one table per section,
 * in the manner of nginx's ngx_command_t: each row names a key, the slot function that
 * checks and stores it, its range, its default and whether it is required. Checks that
 * span servers (roles, remoteport names, port clashes, net ids) run after the tables. */
#include "conf.h"

#include "alloc.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_REQUIRED 1u          /* a missing key is an error */
#define CONF_DEFAULTS 2u          /* an absent section still gets its defaults */
#define CONF_GOT_MAX 40           /* bytes of the offending value quoted in a message */
#define CONF_MAX_FILE (16u << 20) /* the largest config file read */

typedef struct conf_ctx_s conf_ctx_t;
typedef struct conf_field_s conf_field_t;

/* A slot function checks v (NULL when the key is absent and not required: store the
 * default) and stores it at base + f->offset. Returns 0, or -1 with cx->err filled. */
typedef int (*conf_set_fn)(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);

struct conf_field_s {
    const char *key;
    conf_set_fn set;
    size_t offset;
    unsigned flags;
    json_int_t min, max;     /* integer range */
    json_int_t idef;         /* integer or boolean default */
    const char *sdef;        /* string default; NULL = none */
    const conf_field_t *sub; /* the table of a nested section */
};

struct conf_ctx_s {
    ff_conf_t *conf;
    char *err;
    size_t errlen;
    char path[256]; /* the key being read, e.g. "servers.net.remoteport[0]" */
    size_t plen;
};

static int conf_set_str(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_int(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_u8(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_u32(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_bool(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_magic(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_secret(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_secret_file(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_level(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_role(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_app(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_remotes(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_urls(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_mc_prefix(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_section(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_servers(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);
static int conf_set_tables(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base);

#define C(m) offsetof(ff_conf_t, m)
#define S(m) offsetof(ff_conf_server_t, m)
#define R(m) offsetof(ff_conf_remote_t, m)
#define REQ .flags = CONF_REQUIRED
#define PORT .min = 1, .max = 65535
static const conf_field_t master_fields[] = {
    {"roothost", conf_set_str, C(master.roothost), .sdef = "127.0.0.1"},
    {"rootport", conf_set_int, C(master.rootport), REQ, PORT},
    {"webhost", conf_set_str, C(master.webhost), .sdef = "127.0.0.1"},
    {"webport", conf_set_int, C(master.webport), REQ, PORT},
    {"log", conf_set_str, C(master.log), .sdef = NULL},
    {"secret", conf_set_secret, C(master.secret), .min = FF_CONF_SECRET_MIN},
    {"secretFile", conf_set_secret_file, C(master.secret), .min = FF_CONF_SECRET_MIN,
     .sdef = "secret"},
    {"webtoken", conf_set_secret, C(master.webtoken), .min = FF_CONF_WEBTOKEN_MIN},
    {"webtokenFile", conf_set_secret_file, C(master.webtoken), .min = FF_CONF_WEBTOKEN_MIN,
     .sdef = "webtoken"},
    {.key = NULL},
};

/* roothost defaults to master.roothost, filled in by conf_set_remotes. */
static const conf_field_t remote_fields[] = {
    {"rootname", conf_set_str, R(rootname), REQ},
    {"rootport", conf_set_int, R(rootport), REQ, PORT},
    {"roothost", conf_set_str, R(roothost), .sdef = NULL},
    {.key = NULL},
};

/* role comes first: it is inferred from the name when absent. */
static const conf_field_t server_fields[] = {
    {"role", conf_set_role, S(role), .sdef = NULL},
    {"host", conf_set_str, S(host), .sdef = "127.0.0.1"},
    {"rootport", conf_set_int, S(rootport), PORT},
    {"netport", conf_set_int, S(netport), PORT},
    {"app", conf_set_app, S(app), .sdef = NULL},
    {"log", conf_set_str, S(log), .sdef = NULL},
    {"db", conf_set_bool, S(db), .idef = false},
    {"mem", conf_set_bool, S(mem), .idef = false},
    {"remoteport", conf_set_remotes, S(remotes), .sub = remote_fields},
    {"wal", conf_set_str, S(wal), .sdef = NULL},
    {"syncInterval", conf_set_int, S(sync_interval_s), .min = 1, .max = 3600, .idef = 5},
    {.key = NULL},
};

#define T(m) offsetof(ff_conf_table_t, m)
static const conf_field_t table_fields[] = {
    {"pk", conf_set_str, T(pk), REQ},
    {"incr", conf_set_bool, T(incr), .idef = false},
    {"fk", conf_set_str, T(fk), .sdef = NULL},
    {"timeout", conf_set_int, T(timeout_s), .min = 1, .max = 86400 * 30, .idef = 600},
    {.key = NULL},
};
#undef T

/* host and charset have defaults so that db.host != NULL exactly when the section exists. */
static const conf_field_t db_fields[] = {
    {"host", conf_set_str, C(db.host), .sdef = "127.0.0.1"},
    {"port", conf_set_int, C(db.port), PORT, .idef = 3306},
    {"user", conf_set_str, C(db.user), .sdef = NULL},
    {"passwd", conf_set_str, C(db.passwd), .sdef = NULL},
    {"db", conf_set_str, C(db.db), .sdef = NULL},
    {"charset", conf_set_str, C(db.charset), .sdef = "utf8mb4"},
    {.key = NULL},
};

static const conf_field_t memcached_fields[] = {
    {"urls", conf_set_urls, C(memcached.urls), REQ},
    {"hostname", conf_set_mc_prefix, C(memcached.hostname), .min = 1,
     .max = FF_CONF_MC_HOSTNAME_MAX},
    {.key = NULL},
};

/* The header defaults are Firefly's own, DataPackProtoc(): four zero bytes, 0, 0. */
static const conf_field_t netconnect_fields[] = {
    {"magic", conf_set_magic, C(netconnect.magic), .sdef = "\0\0\0\0"},
    {"protoVersion", conf_set_u8, C(netconnect.proto_version), .max = 255},
    {"serverVersion", conf_set_u32, C(netconnect.server_version), .max = 4294967295LL},
    {"maxPacket", conf_set_u32, C(netconnect.max_packet), .min = 1, .max = 16777216, .idef = 65536},
    {"maxRequestsPerSecond", conf_set_int, C(netconnect.max_requests_per_s), .max = 1000000},
    {"maxConnectionsPerIp", conf_set_int, C(netconnect.max_conns_per_ip), .max = 1000000},
    {.key = NULL},
};

static const conf_field_t cluster_fields[] = {
    {"requestTimeout", conf_set_int, C(cluster.request_timeout_ms), .min = 1, .max = 3600000,
     .idef = 5000},
    {"idleTimeout", conf_set_int, C(cluster.idle_timeout_s), .max = 86400, .idef = 300},
    {"maxOutputBuffer", conf_set_u32, C(cluster.max_output), .min = 4096, .max = 1073741824,
     .idef = 4194304},
    {"maxPipeline", conf_set_int, C(cluster.max_pipeline), .min = 1, .max = 65536, .idef = 1024},
    {"maxRestarts", conf_set_int, C(cluster.max_restarts), .min = 1, .max = 1000, .idef = 5},
    {"restartWindow", conf_set_int, C(cluster.restart_window_s), .min = 1, .max = 86400,
     .idef = 60},
    {"logLevel", conf_set_level, C(cluster.log_level), .idef = FF_LOG_INFO},
    {"heartbeat", conf_set_int, C(cluster.heartbeat_ms), .min = 50, .max = 60000, .idef = 1000},
    {"startTimeout", conf_set_int, C(cluster.start_timeout_ms), .min = 100, .max = 3600000,
     .idef = 10000},
    {"stopTimeout", conf_set_int, C(cluster.stop_timeout_ms), .min = 0, .max = 3600000,
     .idef = 60000},
    {.key = NULL},
};

/* master comes before servers so that remoteport's roothost default is known. Sections
 * hold offsets from ff_conf_t, so they read into the same base. */
static const conf_field_t top_fields[] = {
    {"master", conf_set_section, 0, REQ, .sub = master_fields},
    {"servers", conf_set_servers, 0, REQ, .sub = server_fields},
    {"db", conf_set_section, 0, .sub = db_fields},
    {"memcached", conf_set_section, 0, .sub = memcached_fields},
    {"netconnect", conf_set_section, 0, .flags = CONF_DEFAULTS, .sub = netconnect_fields},
    {"cluster", conf_set_section, 0, .flags = CONF_DEFAULTS, .sub = cluster_fields},
    {"tables", conf_set_tables, 0, .sub = table_fields},
    {.key = NULL},
};

#undef C
#undef S
#undef R
#undef REQ
#undef PORT

static const char *const role_names[] = {"gate", "net", "game", "dbfront"};

/* Keeps a message on one line whatever the file holds: values are quoted as JSON, but keys
 * and names are not, and JSON lets a key hold any control character. They show as '?'. */
static void
conf_one_line(char *s, size_t size)
{
    for (size_t i = 0; i < size && s[i] != '\0'; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = '?';
}

/* Formats "<file>: <path>[.key]: <message>" into cx->err; returns -1 for the caller. */
static int __attribute__((format(printf, 3, 4)))
conf_err(conf_ctx_t *cx, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *dot = cx->plen > 0 && key != NULL ? "." : "";
    if (cx->plen == 0 && key == NULL)
        snprintf(cx->err, cx->errlen, "%s: %s", cx->conf->path, msg);
    else
        snprintf(cx->err, cx->errlen, "%s: %s%s%s: %s", cx->conf->path, cx->path, dot,
                 key ? key : "", msg);
    conf_one_line(cx->err, cx->errlen);
    return -1;
}

/* Writes v as compact JSON into buf, cut to CONF_GOT_MAX bytes plus "..." if longer, so
 * that a message stays one short line whatever the value holds. Returns buf. */
static const char *
conf_dump(const json_t *v, char *buf, size_t size)
{
    char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *s = dump ? dump : "?";
    size_t n = strlen(s), cut = n;
    if (n > CONF_GOT_MAX) {
        /* Cut at a character boundary so that the message stays valid UTF-8. */
        cut = CONF_GOT_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    snprintf(buf, size, "%.*s%s", (int)cut, s, cut < n ? "..." : "");
    free(dump);
    return buf;
}

/* Quotes a string read from the file as JSON, as conf_dump does. Returns buf. */
static const char *
conf_quote(const char *s, char *buf, size_t size)
{
    json_t *str = json_string(s);
    conf_dump(str, buf, size);
    json_decref(str);
    return buf;
}

/* Reports "<path>.key: expected <what>, got <v as conf_dump shows it>". */
static int
conf_bad(conf_ctx_t *cx, const char *key, const char *what, const json_t *v)
{
    char got[CONF_GOT_MAX + 8];
    return conf_err(cx, key, "expected %s, got %s", what, conf_dump(v, got, sizeof(got)));
}

/* Appends ".key" (or "key" at the top) to the path; returns the old length for conf_pop. */
static size_t
conf_push_key(conf_ctx_t *cx, const char *key)
{
    size_t old = cx->plen, room = sizeof(cx->path) - old;
    int n = snprintf(cx->path + old, room, "%s%s", old > 0 ? "." : "", key);
    cx->plen = n < 0 || (size_t)n >= room ? sizeof(cx->path) - 1 : old + (size_t)n;
    return old;
}

/* Appends "[i]" to the path; returns the old length for conf_pop. */
static size_t
conf_push_index(conf_ctx_t *cx, size_t i)
{
    size_t old = cx->plen, room = sizeof(cx->path) - old;
    int n = snprintf(cx->path + old, room, "[%zu]", i);
    cx->plen = n < 0 || (size_t)n >= room ? sizeof(cx->path) - 1 : old + (size_t)n;
    return old;
}

static void
conf_pop(conf_ctx_t *cx, size_t old)
{
    cx->plen = old;
    cx->path[old] = '\0';
}

static const conf_field_t *
conf_find(const conf_field_t *tab, const char *key)
{
    for (; tab->key != NULL; tab++)
        if (strcmp(tab->key, key) == 0)
            return tab;
    return NULL;
}

/* Checks every key of obj against tab, then runs each row's slot in table order. */
static int
conf_section_read(conf_ctx_t *cx, const conf_field_t *tab, json_t *obj, void *base)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (conf_find(tab, key) == NULL)
            return conf_err(cx, key, "unknown key");
    }
    for (const conf_field_t *f = tab; f->key != NULL; f++) {
        v = json_object_get(obj, f->key);
        if (v == NULL && (f->flags & CONF_REQUIRED))
            return conf_err(cx, f->key, "missing");
        if (f->set(cx, f, v, base) < 0)
            return -1;
    }
    return 0;
}

static void *
conf_slot(const conf_field_t *f, void *base)
{
    return (char *)base + f->offset;
}

static int
conf_set_str(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char **dst = conf_slot(f, base);
    if (v != NULL && !json_is_string(v))
        return conf_bad(cx, f->key, "string", v);
    *dst = ff_strdup(v != NULL ? json_string_value(v) : f->sdef);
    return 0;
}

/* Checks an integer against the row's range; stores the default when v is absent. */
static int
conf_get_int(conf_ctx_t *cx, const conf_field_t *f, json_t *v, json_int_t *out)
{
    if (v == NULL) {
        *out = f->idef;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
        char what[64];
        snprintf(what, sizeof(what), "integer %lld..%lld", (long long)f->min, (long long)f->max);
        return conf_bad(cx, f->key, what, v);
    }
    *out = json_integer_value(v);
    return 0;
}

static int
conf_set_int(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    json_int_t n;
    if (conf_get_int(cx, f, v, &n) < 0)
        return -1;
    *(int *)conf_slot(f, base) = (int)n;
    return 0;
}

static int
conf_set_u8(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    json_int_t n;
    if (conf_get_int(cx, f, v, &n) < 0)
        return -1;
    *(uint8_t *)conf_slot(f, base) = (uint8_t)n;
    return 0;
}

static int
conf_set_u32(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    json_int_t n;
    if (conf_get_int(cx, f, v, &n) < 0)
        return -1;
    *(uint32_t *)conf_slot(f, base) = (uint32_t)n;
    return 0;
}

static int
conf_set_bool(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    if (v != NULL && !json_is_boolean(v))
        return conf_bad(cx, f->key, "boolean", v);
    *(bool *)conf_slot(f, base) = v != NULL ? json_is_true(v) : f->idef != 0;
    return 0;
}

/* The value of a hex digit, or -1. */
static int
conf_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* "hex:" and 8 hex digits into out. Returns whether s was that. */
static bool
conf_magic_hex(const char *s, size_t len, char out[4])
{
    if (len != 12 || strncmp(s, "hex:", 4) != 0)
        return false;
    for (int i = 0; i < 4; i++) {
        int hi = conf_hex_digit(s[4 + 2 * i]), lo = conf_hex_digit(s[5 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (char)(hi << 4 | lo);
    }
    return true;
}

/* An array of 4 integers 0..255 into out. Returns whether v was that. */
static bool
conf_magic_array(json_t *v, char out[4])
{
    if (!json_is_array(v) || json_array_size(v) != 4)
        return false;
    for (size_t i = 0; i < 4; i++) {
        json_t *b = json_array_get(v, i);
        if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255)
            return false;
        out[i] = (char)json_integer_value(b);
    }
    return true;
}

/* Any 4 bytes, spelt as a string of 4 bytes ("N%&0"), as "hex:" and 8 hex digits
 * ("hex:00000000"), or as 4 byte values ([78, 37, 38, 48], like Firefly's
 * DataPackProtoc(78, 37, 38, 48, ...)). The last two exist because a JSON string cannot
 * hold a NUL for jansson, and Firefly's default magic is four of them. */
static int
conf_set_magic(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char *dst = conf_slot(f, base);
    if (v == NULL) {
        memcpy(dst, f->sdef, 4);
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) == 4)
        memcpy(dst, json_string_value(v), 4);
    else if (!(json_is_string(v) &&
               conf_magic_hex(json_string_value(v), json_string_length(v), dst)) &&
             !conf_magic_array(v, dst))
        return conf_bad(cx, f->key, "4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48])", v);
    return 0;
}

static int
conf_set_level(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    int level = (int)f->idef;
    if (v != NULL) {
        level = json_is_string(v) ? ff_log_parse_level(json_string_value(v)) : -1;
        if (level < 0)
            return conf_bad(cx, f->key, "one of debug, info, warn, error", v);
    }
    *(int *)conf_slot(f, base) = level;
    return 0;
}

/* A secret (f->min bytes at least) given inline. Its value is never quoted in a message. */
static int
conf_set_secret(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char **dst = conf_slot(f, base);
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return conf_err(cx, f->key, "expected a string");
    if (json_string_length(v) < (size_t)f->min || json_string_length(v) > FF_CONF_SECRET_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return conf_err(cx, f->key, "expected %lld..%d characters (without NUL), got %zu",
                        (long long)f->min, FF_CONF_SECRET_MAX, json_string_length(v));
    *dst = ff_strdup(json_string_value(v));
    return 0;
}

/* Reads a secret file into a new string, trailing white space cut. Returns NULL with why. */
static char *
conf_read_secret(const char *path, long long min, char *why, size_t whylen)
{
    char buf[FF_CONF_SECRET_MAX + 2];
    struct stat st;
    size_t n;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;

    if (fd >= 0 && fp == NULL)
        close(fd);
    if (fp == NULL || fstat(fileno(fp), &st) < 0) {
        snprintf(why, whylen, "cannot read \"%s\": %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "\"%s\" is not a regular file", path);
        goto fail;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, whylen, "\"%s\" is open to group or others (mode %04o); chmod 600 it", path,
                 (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if ((long long)n < min || n > FF_CONF_SECRET_MAX || strlen(buf) != n) {
        snprintf(why, whylen, "\"%s\" must hold %lld..%d bytes (without NUL), holds %zu", path, min,
                 FF_CONF_SECRET_MAX, n);
        return NULL;
    }
    return ff_strdup(buf);

fail:
    if (fp != NULL)
        fclose(fp);
    return NULL;
}

/* A secret read from a file that only its owner may read; f->sdef names the inline key
 * that shares the slot (read first), so that setting both is an error. */
static int
conf_set_secret_file(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char **dst = conf_slot(f, base), why[PATH_MAX + 128];
    if (v == NULL)
        return 0;
    if (*dst != NULL)
        return conf_err(cx, f->key, "set either %s or %s, not both", f->sdef, f->key);
    if (!json_is_string(v))
        return conf_bad(cx, f->key, "string", v);
    *dst = conf_read_secret(json_string_value(v), f->min, why, sizeof(why));
    return *dst != NULL ? 0 : conf_err(cx, f->key, "%s", why);
}

/* Without a "role" key, the role comes from the name as in Firefly: gate, net*, game*,
 * dbfront. */
static int
conf_set_role(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    ff_conf_server_t *srv = base;
    if (v == NULL) {
        if (strcmp(srv->name, "gate") == 0)
            srv->role = FF_ROLE_GATE;
        else if (strncmp(srv->name, "net", 3) == 0)
            srv->role = FF_ROLE_NET;
        else if (strncmp(srv->name, "game", 4) == 0)
            srv->role = FF_ROLE_GAME;
        else if (strcmp(srv->name, "dbfront") == 0)
            srv->role = FF_ROLE_DBFRONT;
        else
            return conf_err(cx, NULL, "cannot infer the role from the name; set \"role\"");
        return 0;
    }
    for (int i = 0; json_is_string(v) && i < 4; i++) {
        if (strcmp(json_string_value(v), role_names[i]) == 0) {
            srv->role = (ff_role_t)i;
            return 0;
        }
    }
    return conf_bad(cx, f->key, "one of gate, net, game, dbfront", v);
}

/* The file must exist now; a relative path is stored made absolute against the current
 * directory, so that it means the same file whatever directory loads it later. */
static int
conf_set_app(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char **dst = conf_slot(f, base), cwd[4096], q[CONF_GOT_MAX + 8];
    struct stat st;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return conf_bad(cx, f->key, "string", v);
    const char *app = json_string_value(v);
    if (stat(app, &st) < 0)
        return conf_err(cx, f->key, "no such file %s", conf_quote(app, q, sizeof(q)));
    if (!S_ISREG(st.st_mode))
        return conf_err(cx, f->key, "%s is not a regular file", conf_quote(app, q, sizeof(q)));
    if (app[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
        *dst = ff_strdup(app);
        return 0;
    }
    size_t n = strlen(cwd) + strlen(app) + 2;
    *dst = ff_malloc(n);
    snprintf(*dst, n, "%s/%s", cwd, app);
    return 0;
}

static int
conf_set_remotes(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    ff_conf_server_t *srv = base;
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return conf_bad(cx, f->key, "array of objects", v);
    srv->nremotes = (int)json_array_size(v);
    srv->remotes = ff_calloc(json_array_size(v), sizeof(ff_conf_remote_t));
    size_t old = conf_push_key(cx, f->key);
    int rc = 0;
    for (int i = 0; rc == 0 && i < srv->nremotes; i++) {
        ff_conf_remote_t *r = &srv->remotes[i];
        json_t *elem = json_array_get(v, (size_t)i);
        size_t at = conf_push_index(cx, (size_t)i);
        if (!json_is_object(elem))
            rc = conf_bad(cx, NULL, "object", elem);
        else
            rc = conf_section_read(cx, f->sub, elem, r);
        if (rc == 0 && r->roothost == NULL)
            r->roothost = ff_strdup(cx->conf->master.roothost);
        conf_pop(cx, at);
    }
    conf_pop(cx, old);
    return rc;
}

/* A memcached url is "host:port" with a non-empty host and a port in 1..65535. */
static bool
conf_url_ok(const char *url)
{
    const char *colon = strrchr(url, ':');
    if (colon == NULL || colon == url)
        return false;
    size_t n = strlen(colon + 1);
    if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") != n)
        return false;
    int port = atoi(colon + 1);
    return port >= 1 && port <= 65535;
}

static int
conf_set_urls(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    ff_conf_t *conf = base;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return conf_bad(cx, f->key, "non-empty array of \"host:port\" strings", v);
    conf->memcached.urls = ff_calloc(json_array_size(v), sizeof(char *));
    size_t old = conf_push_key(cx, f->key);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
        json_t *u = json_array_get(v, i);
        size_t at = conf_push_index(cx, i);
        if (!json_is_string(u) || !conf_url_ok(json_string_value(u)))
            rc = conf_bad(cx, NULL, "\"host:port\"", u);
        else
            conf->memcached.urls[conf->memcached.nurls++] = ff_strdup(json_string_value(u));
        conf_pop(cx, at);
    }
    conf_pop(cx, old);
    return rc;
}

/* The prefix of every memcached key: short enough that no key passes memcached's limit
 * (conf.h), and without the spaces and control characters its text protocol cannot carry. */
static int
conf_set_mc_prefix(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    char what[96];
    size_t n = json_string_length(v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    bool ok = v == NULL || (json_is_string(v) && n >= (size_t)f->min && n <= (size_t)f->max);

    for (size_t i = 0; ok && v != NULL && i < n; i++)
        ok = s[i] > ' ' && s[i] != 0x7f;
    if (!ok) {
        snprintf(what, sizeof(what),
                 "a string of %lld..%lld bytes without spaces or control characters",
                 (long long)f->min, (long long)f->max);
        return conf_bad(cx, f->key, what, v);
    }
    return conf_set_str(cx, f, v, base);
}

static int
conf_set_section(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    json_t *empty = NULL;
    if (v == NULL && !(f->flags & CONF_DEFAULTS))
        return 0;
    if (v != NULL && !json_is_object(v))
        return conf_bad(cx, f->key, "object", v);
    if (v == NULL)
        v = empty = json_object();
    size_t old = conf_push_key(cx, f->key);
    int rc = conf_section_read(cx, f->sub, v, base);
    conf_pop(cx, old);
    json_decref(empty);
    return rc;
}

static bool
conf_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 32)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int
conf_set_servers(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    ff_conf_t *conf = base;
    const char *name;
    json_t *obj;
    if (!json_is_object(v) || json_object_size(v) == 0)
        return conf_bad(cx, f->key, "non-empty object", v);
    conf->servers = ff_calloc(json_object_size(v), sizeof(ff_conf_server_t));
    size_t old = conf_push_key(cx, f->key);
    int rc = 0;
    json_object_foreach(v, name, obj)
    {
        if (!conf_name_ok(name)) {
            json_t *jname = json_string(name);
            rc = conf_bad(cx, NULL, "a server name of 1..32 characters [A-Za-z0-9_-]", jname);
            json_decref(jname);
            break;
        }
        ff_conf_server_t *srv = &conf->servers[conf->nservers++];
        srv->name = ff_strdup(name);
        size_t at = conf_push_key(cx, name);
        if (!json_is_object(obj))
            rc = conf_bad(cx, NULL, "object", obj);
        else
            rc = conf_section_read(cx, f->sub, obj, srv);
        conf_pop(cx, at);
        if (rc < 0)
            break;
    }
    conf_pop(cx, old);
    return rc;
}

static int
conf_set_tables(conf_ctx_t *cx, const conf_field_t *f, json_t *v, void *base)
{
    ff_conf_t *conf = base;
    const char *name;
    json_t *obj;
    int rc = 0;
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return conf_bad(cx, f->key, "object", v);
    conf->tables = ff_calloc(json_object_size(v), sizeof(ff_conf_table_t));
    size_t old = conf_push_key(cx, f->key);
    json_object_foreach(v, name, obj)
    {
        if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
                strlen(name) ||
            strlen(name) == 0 || strlen(name) > 64) {
            json_t *jname = json_string(name);
            rc = conf_bad(cx, NULL, "a table name of 1..64 characters [A-Za-z0-9_]", jname);
            json_decref(jname);
            break;
        }
        ff_conf_table_t *t = &conf->tables[conf->ntables++];
        t->name = ff_strdup(name);
        size_t at = conf_push_key(cx, name);
        rc = json_is_object(obj) ? conf_section_read(cx, f->sub, obj, t)
                                 : conf_bad(cx, NULL, "object", obj);
        conf_pop(cx, at);
        if (rc < 0)
            break;
    }
    conf_pop(cx, old);
    return rc;
}

/* Exactly one gate: the second is reported where it appears. */
static int
conf_check_gates(conf_ctx_t *cx)
{
    const ff_conf_server_t *gate = NULL;
    for (int i = 0; i < cx->conf->nservers; i++) {
        const ff_conf_server_t *srv = &cx->conf->servers[i];
        if (srv->role != FF_ROLE_GATE)
            continue;
        if (gate != NULL)
            return conf_err(cx, NULL, "servers.%s: a second gate server (only one is supported)",
                            srv->name);
        gate = srv;
    }
    if (gate == NULL)
        return conf_err(cx, NULL, "servers: no gate server");
    return 0;
}

/* The keys each role needs, and netport, which only net may have. */
static int
conf_check_role(conf_ctx_t *cx, const ff_conf_server_t *srv)
{
    const char *role = ff_conf_role_name(srv->role);
    bool listens = srv->role == FF_ROLE_GATE || srv->role == FF_ROLE_DBFRONT;
    if (listens && srv->rootport == 0)
        return conf_err(cx, NULL, "servers.%s.rootport: missing (a %s server listens on it)",
                        srv->name, role);
    if (srv->role == FF_ROLE_NET && srv->netport == 0)
        return conf_err(cx, NULL, "servers.%s.netport: missing (a net server listens on it)",
                        srv->name);
    if (srv->role != FF_ROLE_NET && srv->netport != 0)
        return conf_err(cx, NULL, "servers.%s.netport: only a net server listens for clients",
                        srv->name);
    if (srv->role == FF_ROLE_GAME && srv->app == NULL)
        return conf_err(cx, NULL, "servers.%s.app: missing (a game server needs its app .so)",
                        srv->name);
    return 0;
}

/* Each remoteport entry names a listening server by its name and rootport; net and game
 * servers need one for the gate. */
static int
conf_check_remotes(conf_ctx_t *cx, const ff_conf_server_t *srv)
{
    bool to_gate = false;
    char q[CONF_GOT_MAX + 8];
    for (int i = 0; i < srv->nremotes; i++) {
        const ff_conf_remote_t *r = &srv->remotes[i];
        const ff_conf_server_t *to = ff_conf_server(cx->conf, r->rootname);
        if (to == NULL)
            return conf_err(cx, NULL, "servers.%s.remoteport[%d].rootname: no server named %s",
                            srv->name, i, conf_quote(r->rootname, q, sizeof(q)));
        if (to->rootport == 0)
            return conf_err(cx, NULL, "servers.%s.remoteport[%d].rootname: %s has no rootport",
                            srv->name, i, to->name);
        if (r->rootport != to->rootport)
            return conf_err(cx, NULL,
                            "servers.%s.remoteport[%d].rootport: %d is not the rootport of %s (%d)",
                            srv->name, i, r->rootport, to->name, to->rootport);
        to_gate = to_gate || to->role == FF_ROLE_GATE;
    }
    if ((srv->role == FF_ROLE_NET || srv->role == FF_ROLE_GAME) && !to_gate)
        return conf_err(cx, NULL, "servers.%s.remoteport: missing an entry for the gate",
                        srv->name);
    return 0;
}

typedef struct {
    char where[80]; /* "servers.gate.rootport" */
    int port;
} conf_port_t;

/* Records the port keys of one section (already validated) in file order, reporting the
 * first that repeats an earlier one. */
static int
conf_ports_add(conf_ctx_t *cx, conf_port_t *ports, int *n, const char *prefix, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "rootport") != 0 && strcmp(key, "netport") != 0 &&
            strcmp(key, "webport") != 0)
            continue;
        conf_port_t *p = &ports[*n];
        snprintf(p->where, sizeof(p->where), "%s.%s", prefix, key);
        p->port = (int)json_integer_value(v);
        for (int i = 0; i < *n; i++)
            if (ports[i].port == p->port)
                return conf_err(cx, NULL, "%s: port %d is already used by %s", p->where, p->port,
                                ports[i].where);
        (*n)++;
    }
    return 0;
}

/* No two listening ports alike; the later one in file order is reported. */
static int
conf_check_ports(conf_ctx_t *cx, json_t *root)
{
    conf_port_t *ports = ff_calloc((size_t)cx->conf->nservers * 2 + 2, sizeof(conf_port_t));
    int n = 0, rc = 0;
    const char *key, *name;
    json_t *v, *obj;
    json_object_foreach(root, key, v)
    {
        if (rc == 0 && strcmp(key, "master") == 0)
            rc = conf_ports_add(cx, ports, &n, "master", v);
        if (strcmp(key, "servers") != 0)
            continue;
        json_object_foreach(v, name, obj)
        {
            char prefix[48];
            snprintf(prefix, sizeof(prefix), "servers.%s", name);
            if (rc == 0)
                rc = conf_ports_add(cx, ports, &n, prefix, obj);
        }
    }
    ff_free(ports);
    return rc;
}

static int
conf_check_net_ids(conf_ctx_t *cx)
{
    const ff_conf_t *conf = cx->conf;
    for (int i = 0; i < conf->nservers; i++) {
        if (conf->servers[i].role != FF_ROLE_NET)
            continue;
        uint16_t id = ff_conf_net_id(conf->servers[i].name);
        for (int j = 0; j < i; j++)
            if (conf->servers[j].role == FF_ROLE_NET && ff_conf_net_id(conf->servers[j].name) == id)
                return conf_err(cx, NULL,
                                "servers.%s: conn id prefix clashes with servers.%s; rename one",
                                conf->servers[i].name, conf->servers[j].name);
    }
    return 0;
}

/* True for an address of the loopback interface (127.0.0.0/8, ::1). */
static bool
conf_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* The web port stops and reloads the cluster: beyond this machine only with a token. */
static int
conf_check_webhost(conf_ctx_t *cx)
{
    size_t old;
    int rc = 0;

    if (cx->conf->master.webtoken != NULL || conf_is_loopback(cx->conf->master.webhost))
        return 0;
    old = conf_push_key(cx, "master");
    rc = conf_err(cx, "webhost",
                  "\"%s\" is not a loopback address: set master.webtoken or "
                  "master.webtokenFile to open the web port to other machines",
                  cx->conf->master.webhost);
    conf_pop(cx, old);
    return rc;
}

/* The checks that span servers, run once every section has been read. */
static int
conf_check(conf_ctx_t *cx, json_t *root)
{
    if (conf_check_webhost(cx) < 0 || conf_check_gates(cx) < 0)
        return -1;
    for (int i = 0; i < cx->conf->nservers; i++)
        if (conf_check_role(cx, &cx->conf->servers[i]) < 0 ||
            conf_check_remotes(cx, &cx->conf->servers[i]) < 0)
            return -1;
    if (conf_check_ports(cx, root) < 0)
        return -1;
    return conf_check_net_ids(cx);
}

/* Parses the text, reporting syntax errors and duplicate keys as file:line:col. */
static json_t *
conf_parse(conf_ctx_t *cx, const char *text, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);

    if (root == NULL) {
        snprintf(cx->err, cx->errlen, "%s:%d:%d: %s", cx->conf->path, je.line, je.column, je.text);
        conf_one_line(cx->err, cx->errlen);
        return NULL;
    }
    if (!json_is_object(root)) {
        conf_bad(cx, NULL, "object", root);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Reads a whole file (at most CONF_MAX_FILE bytes) into a new buffer; NULL with errno set.
 * A directory is refused: fopen() opens one for reading and it would read as empty. */
static char *
conf_read_file(const char *path, size_t *len)
{
    struct stat st;
    size_t cap = 4096, n = 0, got;
    char *text;
    FILE *fp = fopen(path, "r");

    if (fp == NULL)
        return NULL;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        errno = EISDIR;
        return NULL;
    }
    text = ff_malloc(cap);
    while ((got = fread(text + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap && cap >= CONF_MAX_FILE) {
            ff_free(text);
            fclose(fp);
            errno = EFBIG;
            return NULL;
        }
        if (n == cap)
            text = ff_realloc(text, cap *= 2);
    }
    if (ferror(fp)) {
        ff_free(text);
        fclose(fp);
        errno = EIO;
        return NULL;
    }
    fclose(fp);
    *len = n;
    return text;
}

ff_conf_t *
ff_conf_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = conf_read_file(path, &len);
    ff_conf_t *conf;

    if (text == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    conf = ff_conf_load_text(text, len, path, err, errlen);
    ff_free(text);
    return conf;
}

ff_conf_t *
ff_conf_load_text(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    conf_ctx_t cx = {.err = err, .errlen = errlen};
    cx.conf = ff_calloc(1, sizeof(ff_conf_t));
    cx.conf->path = ff_strdup(name);
    if (errlen > 0)
        err[0] = '\0';
    json_t *root = conf_parse(&cx, text, len);
    if (root == NULL)
        goto fail;
    if (conf_section_read(&cx, top_fields, root, cx.conf) < 0 || conf_check(&cx, root) < 0)
        goto fail_root;
    json_decref(root);
    return cx.conf;

fail_root:
    json_decref(root);
fail:
    ff_conf_free(cx.conf);
    return NULL;
}

static void
conf_server_free(ff_conf_server_t *srv)
{
    ff_free(srv->name);
    ff_free(srv->host);
    ff_free(srv->app);
    ff_free(srv->log);
    for (int i = 0; i < srv->nremotes; i++) {
        ff_free(srv->remotes[i].rootname);
        ff_free(srv->remotes[i].roothost);
    }
    ff_free(srv->remotes);
    ff_free(srv->wal);
}

void
ff_conf_free(ff_conf_t *conf)
{
    if (conf == NULL)
        return;
    for (int i = 0; i < conf->nservers; i++)
        conf_server_free(&conf->servers[i]);
    ff_free(conf->servers);
    for (int i = 0; i < conf->ntables; i++) {
        ff_free(conf->tables[i].name);
        ff_free(conf->tables[i].pk);
        ff_free(conf->tables[i].fk);
    }
    ff_free(conf->tables);
    for (int i = 0; i < conf->memcached.nurls; i++)
        ff_free(conf->memcached.urls[i]);
    ff_free(conf->memcached.urls);
    ff_free(conf->memcached.hostname);
    ff_free(conf->db.host);
    ff_free(conf->db.user);
    ff_free(conf->db.passwd);
    ff_free(conf->db.db);
    ff_free(conf->db.charset);
    ff_free(conf->master.roothost);
    ff_free(conf->master.webhost);
    ff_free(conf->master.log);
    if (conf->master.secret != NULL)
        sodium_memzero(conf->master.secret, strlen(conf->master.secret));
    ff_free(conf->master.secret);
    if (conf->master.webtoken != NULL)
        sodium_memzero(conf->master.webtoken, strlen(conf->master.webtoken));
    ff_free(conf->master.webtoken);
    ff_free(conf->path);
    ff_free(conf);
}

const ff_conf_server_t *
ff_conf_server(const ff_conf_t *conf, const char *name)
{
    for (int i = 0; i < conf->nservers; i++)
        if (strcmp(conf->servers[i].name, name) == 0)
            return &conf->servers[i];
    return NULL;
}

const char *
ff_conf_role_name(ff_role_t role)
{
    return (unsigned)role < 4 ? role_names[role] : "?";
}

/* 32-bit FNV-1a, xor-folded to 16 bits. */
uint16_t
ff_conf_net_id(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return (uint16_t)((h >> 16) ^ (h & 0xFFFF));
}
