/* ffcli: command-line Firefly client. Sends one request and prints the reply body, prints
 * pushes for a while (--listen), or runs `CMD BODY` lines from stdin (--interactive). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "conf.h"
#include "ffclient.h"

typedef struct {
    const char *host;
    int port;
    int timeout_ms;
    double listen_s; /* < 0: no --listen */
    bool interactive;
    ff_frame_proto_t proto;
} cli_opts_t;

static void
cli_usage(FILE *f)
{
    fprintf(f, "usage: ffcli [--host H] [--port P] [--config FILE] [--timeout MS]\n"
               "             [--listen SECONDS] [--interactive] [CMD [BODY]]\n"
               "  CMD BODY          send request CMD with BODY (\"-\" = read stdin), print the "
               "reply body\n"
               "  --listen S        then print pushes (`push CMD BODY`) for S seconds\n"
               "  --interactive     read `CMD BODY` lines from stdin, print each reply\n"
               "  --config FILE     take port and netconnect from config.json's first net "
               "server\n"
               "  defaults: --host 127.0.0.1 --port 11009 --timeout 5000, and the shipped\n"
               "  config.json's netconnect (magic N%%&0, protoVersion 9, serverVersion 0)\n");
}

static int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints `ffcli: <message>` to stderr and returns the exit status 1. */
static int
cli_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ffcli: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Parses a non-negative integer no larger than max. Returns 0 or -1. */
static int
cli_parse_num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || *out > max)
        return -1;
    return 0;
}

/* Reads netconnect and the first net server's netport from a config.json, with master's own
 * loader, so that every spelling of netconnect.magic and every default (Firefly's
 * DataPackProtoc(): four zero bytes, 0, 0 when netconnect says nothing) means the same here
 * as to net. Returns 0 or 1 (master's message printed). */
static int
cli_load_config(cli_opts_t *o, const char *path)
{
    char err[1024];
    ff_conf_t *conf = ff_conf_load(path, err, sizeof(err));

    if (conf == NULL)
        return cli_fail("%s", err);
    memcpy(o->proto.magic, conf->netconnect.magic, sizeof(o->proto.magic));
    o->proto.proto_version = conf->netconnect.proto_version;
    o->proto.server_version = conf->netconnect.server_version;
    for (int i = 0; i < conf->nservers; i++) {
        if (conf->servers[i].role == FF_ROLE_NET) {
            o->port = conf->servers[i].netport;
            break;
        }
    }
    ff_conf_free(conf);
    return 0;
}

/* Writes a body followed by a newline unless it ends with one. */
static void
cli_print_body(const uint8_t *body, size_t len)
{
    fwrite(body, 1, len, stdout);
    if (len == 0 || body[len - 1] != '\n')
        fputc('\n', stdout);
    fflush(stdout);
}

/* Prints `push CMD BODY` for every frame already queued. */
static void
cli_print_pushes(ffc_t *c)
{
    ffc_msg_t m;

    while (ffc_pending(c) > 0 && ffc_recv(c, &m, 0) == 0) {
        printf("push %u ", m.cmd);
        cli_print_body(m.body, m.len);
        ffc_msg_free(&m);
    }
}

/* The error code of a {"error":{"code":N,"message":"..."}} body, or 0; sets *msg. */
static int
cli_error_code(const ffc_msg_t *m, char *msg, size_t msglen)
{
    json_t *root = json_loadb((const char *)m->body, m->len, 0, NULL);
    json_t *err = json_object_get(root, "error");
    int code = (int)json_integer_value(json_object_get(err, "code"));
    const char *text = json_string_value(json_object_get(err, "message"));

    snprintf(msg, msglen, "%s", text != NULL ? text : "");
    json_decref(root);
    return code;
}

/* Sends one request and prints its reply. Returns 0, 1 for an error reply or a failure. */
static int
cli_request(ffc_t *c, const cli_opts_t *o, const char *cmd_s, const char *body, size_t len)
{
    unsigned long cmd;
    char msg[256];
    ffc_msg_t m;
    int rc, code;

    if (cli_parse_num(cmd_s, UINT32_MAX, &cmd) < 0)
        return cli_fail("invalid command id \"%s\"", cmd_s);
    rc = ffc_call(c, (uint32_t)cmd, body, len, &m, o->timeout_ms);
    if (rc < 0)
        return cli_fail("command %lu: %s", cmd, ffc_strerror(rc));
    cli_print_body(m.body, m.len);
    code = cli_error_code(&m, msg, sizeof(msg));
    ffc_msg_free(&m);
    if (code != 0) {
        return cli_fail("command %lu: error %d: %s", cmd, code, msg);
    }
    return 0;
}

/* Prints every frame that arrives within `seconds`. Returns 0, or 1 when the connection
 * ends early. */
static int
cli_listen(ffc_t *c, double seconds)
{
    struct timespec ts;
    double end, now;
    ffc_msg_t m;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    end = (double)ts.tv_sec + ts.tv_nsec / 1e9 + seconds;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
        rc = ffc_recv(c, &m, now >= end ? 0 : (int)((end - now) * 1000) + 1);
        if (rc == -ETIMEDOUT)
            return 0;
        if (rc < 0)
            return cli_fail("listen: %s", ffc_strerror(rc));
        printf("push %u ", m.cmd);
        cli_print_body(m.body, m.len);
        ffc_msg_free(&m);
    }
}

/* Runs `CMD BODY` lines from stdin. Returns 0, or 1 when the connection is lost. */
static int
cli_interactive(ffc_t *c, const cli_opts_t *o)
{
    char *line = NULL, *cmd, *body;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        cmd = line + strspn(line, " \t");
        if (*cmd == '\0' || *cmd == '#')
            continue;
        body = cmd + strcspn(cmd, " \t");
        if (*body != '\0')
            *body++ = '\0';
        cli_print_pushes(c);
        /* A failed request has printed why; only a lost connection ends the session. */
        if (cli_request(c, o, cmd, body, strlen(body)) != 0 && ffc_wait_closed(c, 0) == 0)
            rc = 1;
        cli_print_pushes(c);
    }
    free(line);
    return rc;
}

/* Reads all of stdin into a new buffer. */
static char *
cli_read_stdin(size_t *len)
{
    size_t cap = 4096, n;
    char *buf = ff_malloc(cap);

    *len = 0;
    while ((n = fread(buf + *len, 1, cap - *len, stdin)) > 0)
        if ((*len += n) == cap)
            buf = ff_realloc(buf, cap *= 2);
    return buf;
}

/* Parses the options; returns the index of the first operand, or -1 (message printed). */
static int
cli_parse_args(int argc, char **argv, cli_opts_t *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},   {"port", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'}, {"interactive", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    unsigned long v;
    char *end;
    int ch;

    while ((ch = getopt_long(argc, argv, "+H:p:c:t:l:ih", longopts, NULL)) != -1) {
        if (ch == 'H') {
            o->host = optarg;
        } else if (ch == 'p' || ch == 't') {
            if (cli_parse_num(optarg, ch == 'p' ? 65535 : 86400000, &v) < 0 || v == 0)
                return -cli_fail("invalid --%s \"%s\"", ch == 'p' ? "port" : "timeout", optarg);
            *(ch == 'p' ? &o->port : &o->timeout_ms) = (int)v;
        } else if (ch == 'c') {
            if (cli_load_config(o, optarg) != 0)
                return -1;
        } else if (ch == 'l') {
            o->listen_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(o->listen_s >= 0))
                return -cli_fail("invalid --listen \"%s\"", optarg);
        } else if (ch == 'i') {
            o->interactive = true;
        } else {
            cli_usage(ch == 'h' ? stdout : stderr);
            return -1;
        }
    }
    return optind;
}

/* Runs the one-shot request, then --listen or --interactive, as asked. */
static int
cli_run(ffc_t *c, const cli_opts_t *o, int nargs, char **args)
{
    char *stdin_body = NULL;
    const char *body = nargs >= 2 ? args[1] : "";
    size_t len = strlen(body);
    int rc = 0;

    if (nargs >= 1) {
        if (strcmp(body, "-") == 0)
            body = stdin_body = cli_read_stdin(&len);
        rc = cli_request(c, o, args[0], body, len);
        ff_free(stdin_body);
        cli_print_pushes(c);
    }
    if (rc == 0 && o->listen_s >= 0)
        rc = cli_listen(c, o->listen_s);
    if (rc == 0 && o->interactive)
        rc = cli_interactive(c, o);
    return rc;
}

int
main(int argc, char **argv)
{
    cli_opts_t o = {"127.0.0.1", 11009, 5000, -1, false, *ffc_proto_default()};
    ffc_t *c;
    int first, rc;

    if ((first = cli_parse_args(argc, argv, &o)) < 0)
        return 1;
    if (argc - first > 2 || (argc == first && o.listen_s < 0 && !o.interactive)) {
        cli_usage(stderr);
        return 1;
    }
    c = ffc_connect(o.host, o.port, &o.proto, o.timeout_ms);
    if (c == NULL)
        return cli_fail("cannot connect to %s:%d: %s", o.host, o.port,
                        errno == ENOENT ? "unknown host" : strerror(errno));
    rc = cli_run(c, &o, argc - first, argv + first);
    ffc_close(c);
    return rc;
}
