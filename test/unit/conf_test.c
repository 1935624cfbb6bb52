/* conf_test: ff_conf_load on valid configs (values, defaults, role inference) and on a
 * table of broken ones, each of which must fail with exactly the expected message. */
#include "conf.h"
#include "log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Configs are written with ' for " to keep them readable; write_conf swaps them back, and
 * replaces $APP with the path of a file that exists. */
#define MASTER "'master': {'rootport': 9999, 'webport': 9998}"
#define GATE "'gate': {'rootport': 10000}"
#define TO_GATE "'remoteport': [{'rootname': 'gate', 'rootport': 10000}]"
#define NET "'net': {'netport': 11009, " TO_GATE "}"
/* A config of master, gate and net, plus more servers and top-level keys. */
#define CFG(servers, rest) "{" MASTER ", 'servers': {" GATE ", " NET servers "}" rest "}"

static const char valid_conf[] =
    "{'master': {'roothost': '10.0.0.1', 'rootport': 9999, 'webport': 9998, 'log': 'm.log'},\n"
    " 'servers': {\n"
    "  'gate': {'rootport': 10000, 'app': '$APP', 'log': 'gate.log'},\n"
    "  'net': {'netport': 11009, " TO_GATE "},\n"
    "  'game1': {'app': '$APP', 'mem': true, 'remoteport': [\n"
    "    {'rootname': 'gate', 'rootport': 10000},\n"
    "    {'rootname': 'dbfront', 'rootport': 10001, 'roothost': '10.0.0.2'}]},\n"
    "  'dbfront': {'rootport': 10001, 'db': true, 'mem': true, 'host': '0.0.0.0'}},\n"
    " 'db': {'host': 'db.local', 'port': 3307, 'user': 'ff', 'passwd': 'pw', 'db': 'firefly'},\n"
    " 'memcached': {'urls': ['127.0.0.1:11211', 'mc2:11212'], 'hostname': 'firefly'},\n"
    " 'netconnect': {'magic': 'ABCD', 'protoVersion': 7, 'serverVersion': 4294967295,\n"
    "                'maxPacket': 1024},\n"
    " 'cluster': {'requestTimeout': 100, 'idleTimeout': 0, 'maxOutputBuffer': 4096,\n"
    "             'maxPipeline': 1, 'maxRestarts': 1000, 'restartWindow': 1,\n"
    "             'logLevel': 'warn'}}\n";

/* Roles from the name (gate, net*, game*, dbfront) and from "role". */
static const char roles_conf[] = CFG(",\n"
                                     "'net2': {'netport': 11010, " TO_GATE "},\n"
                                     "'gameA': {'app': '$APP', " TO_GATE "},\n"
                                     "'dbfront': {'rootport': 10001},\n"
                                     "'lobby': {'role': 'game', 'app': '$APP', " TO_GATE "},\n"
                                     "'edge': {'role': 'net', 'netport': 11011, " TO_GATE "}",
                                     "");

/* memcached.hostname of FF_CONF_MC_HOSTNAME_MAX (164) bytes, and one byte more. */
#define H10 "abcdefghij"
#define H160 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10 H10
#define HOST_MAX H160 "wxyz"
#define MC(host) ", 'memcached': {'urls': ['a:1'], 'hostname': '" host "'}"

typedef struct {
    const char *name;
    const char *json;
    const char *expect; /* the message after the file's path */
} error_case_t;

static const error_case_t error_cases[] = {
    {"syntax_error", "{\n 'master': {'rootport': 9999,}\n}",
     ":2:30: string or '}' expected near '}'"},
    {"duplicate_key", "{\n 'master': {'rootport': 1,\n  'rootport': 2}}",
     ":3:12: duplicate object key near '\"rootport\"'"},
    {"top_level_array", "[1]", ": expected object, got [1]"},
    {"unknown_top_level_key", CFG("", ", 'mastr': {}"), ": mastr: unknown key"},
    {"missing_master", "{'servers': {" GATE "}}", ": master: missing"},
    {"master_not_object", "{'master': 5, 'servers': {" GATE "}}",
     ": master: expected object, got 5"},
    {"missing_master_rootport", "{'master': {'webport': 9998}, 'servers': {" GATE "}}",
     ": master.rootport: missing"},
    {"empty_servers", "{" MASTER ", 'servers': {}}",
     ": servers: expected non-empty object, got {}"},
    {"unknown_server_key", CFG(", 'game1': {'app': '$APP', 'nteport': 1, " TO_GATE "}", ""),
     ": servers.game1.nteport: unknown key"},
    {"port_as_string", CFG(", 'game1': {'rootport': '80a'}", ""),
     ": servers.game1.rootport: expected integer 1..65535, got \"80a\""},
    {"port_out_of_range", CFG(", 'dbfront': {'rootport': 65536}", ""),
     ": servers.dbfront.rootport: expected integer 1..65535, got 65536"},
    {"port_zero", "{'master': {'rootport': 0, 'webport': 9998}}",
     ": master.rootport: expected integer 1..65535, got 0"},
    {"port_as_real", CFG(", 'dbfront': {'rootport': 10001.5}", ""),
     ": servers.dbfront.rootport: expected integer 1..65535, got 10001.5"},
    {"host_not_string", CFG(", 'dbfront': {'rootport': 10001, 'host': 5}", ""),
     ": servers.dbfront.host: expected string, got 5"},
    {"bool_as_string", CFG(", 'dbfront': {'rootport': 10001, 'db': 'yes'}", ""),
     ": servers.dbfront.db: expected boolean, got \"yes\""},
    {"long_value_cut",
     CFG(", 'dbfront': {'rootport': 10001, 'log': [1111111111, 2222222222, "
         "3333333333, 4444444444]}",
         ""),
     ": servers.dbfront.log: expected string, got [1111111111,2222222222,3333333333,444444..."},
    {"bad_role", CFG(", 'lobby': {'role': 'gaet'}", ""),
     ": servers.lobby.role: expected one of gate, net, game, dbfront, got \"gaet\""},
    {"uninferable_role", CFG(", 'foo': {'rootport': 10001}", ""),
     ": servers.foo: cannot infer the role from the name; set \"role\""},
    {"bad_server_name", CFG(", 'game.1': {}", ""),
     ": servers: expected a server name of 1..32 characters [A-Za-z0-9_-], got \"game.1\""},
    {"server_name_too_long", CFG(", 'game456789012345678901234567890123': {}", ""),
     ": servers: expected a server name of 1..32 characters [A-Za-z0-9_-], got "
     "\"game456789012345678901234567890123\""},
    {"server_name_escaped", CFG(", 'a\\nb': {}", ""),
     ": servers: expected a server name of 1..32 characters [A-Za-z0-9_-], got \"a\\nb\""},
    {"server_not_object", CFG(", 'game1': [1]", ""), ": servers.game1: expected object, got [1]"},
    {"remoteport_not_array", CFG(", 'game1': {'app': '$APP', 'remoteport': {}}", ""),
     ": servers.game1.remoteport: expected array of objects, got {}"},
    {"remoteport_entry_not_object", CFG(", 'game1': {'app': '$APP', 'remoteport': [5]}", ""),
     ": servers.game1.remoteport[0]: expected object, got 5"},
    {"remoteport_missing_rootname",
     CFG(", 'game1': {'app': '$APP', 'remoteport': [{'rootport': 10000}]}", ""),
     ": servers.game1.remoteport[0].rootname: missing"},
    {"remoteport_unknown_key",
     CFG(", 'game1': {'app': '$APP', 'remoteport': [{'rootname': 'gate', 'rootport': 10000, "
         "'host': 'x'}]}",
         ""),
     ": servers.game1.remoteport[0].host: unknown key"},
    {"remoteport_dangling_name",
     "{" MASTER ", 'servers': {" GATE ", 'net': {'netport': 11009, 'remoteport': "
     "[{'rootname': 'gat', 'rootport': 10000}]}}}",
     ": servers.net.remoteport[0].rootname: no server named \"gat\""},
    {"remoteport_name_escaped",
     "{" MASTER ", 'servers': {" GATE ", 'net': {'netport': 11009, 'remoteport': "
     "[{'rootname': 'g\\\"t', 'rootport': 10000}]}}}",
     ": servers.net.remoteport[0].rootname: no server named \"g\\\"t\""},
    {"remoteport_names_non_listener",
     CFG(", 'game1': {'app': '$APP', 'remoteport': [{'rootname': 'net', 'rootport': 11009}]}", ""),
     ": servers.game1.remoteport[0].rootname: net has no rootport"},
    {"remoteport_port_mismatch",
     "{" MASTER ", 'servers': {" GATE ", 'net': {'netport': 11009, 'remoteport': "
     "[{'rootname': 'gate', 'rootport': 10001}]}}}",
     ": servers.net.remoteport[0].rootport: 10001 is not the rootport of gate (10000)"},
    {"remoteport_no_gate",
     CFG(", 'dbfront': {'rootport': 10001}, 'game1': {'app': '$APP', 'remoteport': "
         "[{'rootname': 'dbfront', 'rootport': 10001}]}",
         ""),
     ": servers.game1.remoteport: missing an entry for the gate"},
    {"no_gate", "{" MASTER ", 'servers': {'dbfront': {'rootport': 10001}}}",
     ": servers: no gate server"},
    {"two_gates", CFG(", 'gate2': {'role': 'gate', 'rootport': 10002}", ""),
     ": servers.gate2: a second gate server (only one is supported)"},
    {"gate_without_rootport", "{" MASTER ", 'servers': {'gate': {}}}",
     ": servers.gate.rootport: missing (a gate server listens on it)"},
    {"net_without_netport", CFG(", 'net2': {" TO_GATE "}", ""),
     ": servers.net2.netport: missing (a net server listens on it)"},
    {"netport_on_game", CFG(", 'game1': {'app': '$APP', 'netport': 11010, " TO_GATE "}", ""),
     ": servers.game1.netport: only a net server listens for clients"},
    {"game_without_app", CFG(", 'game1': {" TO_GATE "}", ""),
     ": servers.game1.app: missing (a game server needs its app .so)"},
    {"missing_app_file", CFG(", 'game1': {'app': 'build/apps/libx.so', " TO_GATE "}", ""),
     ": servers.game1.app: no such file \"build/apps/libx.so\""},
    {"app_is_a_directory", CFG(", 'game1': {'app': '/', " TO_GATE "}", ""),
     ": servers.game1.app: \"/\" is not a regular file"},
    {"port_clash", CFG(", 'game2': {'app': '$APP', 'rootport': 10000, " TO_GATE "}", ""),
     ": servers.game2.rootport: port 10000 is already used by servers.gate.rootport"},
    {"port_clash_with_master", CFG(", 'dbfront': {'rootport': 9998}", ""),
     ": servers.dbfront.rootport: port 9998 is already used by master.webport"},
    {"net_id_clash",
     CFG(", 'net269': {'netport': 11010, " TO_GATE "}, 'net324': {'netport': 11011, " TO_GATE "}",
         ""),
     ": servers.net324: conn id prefix clashes with servers.net269; rename one"},
    {"magic_length", CFG("", ", 'netconnect': {'magic': 'N%&'}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "\"N%&\""},
    {"magic_hex_short", CFG("", ", 'netconnect': {'magic': 'hex:0000000'}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "\"hex:0000000\""},
    {"magic_hex_digit", CFG("", ", 'netconnect': {'magic': 'hex:0000000x'}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "\"hex:0000000x\""},
    {"magic_hex_prefix", CFG("", ", 'netconnect': {'magic': 'HEX:00000000'}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "\"HEX:00000000\""},
    {"magic_array_short", CFG("", ", 'netconnect': {'magic': [0, 0, 0]}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "[0,0,0]"},
    {"magic_array_byte", CFG("", ", 'netconnect': {'magic': [0, 0, -1, 0]}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "[0,0,-1,0]"},
    {"magic_array_string", CFG("", ", 'netconnect': {'magic': ['N', '%', '&', '0']}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "[\"N\",\"%\",\"&\",\"0\"]"},
    {"magic_number", CFG("", ", 'netconnect': {'magic': 0}"),
     ": netconnect.magic: expected 4 bytes (\"N%&0\", \"hex:4e252630\" or [78,37,38,48]), got "
     "0"},
    {"magic_nul_escape", CFG("", ", 'netconnect': {'magic': '\\u0000\\u0000\\u0000\\u0000'}"),
     ":1:224: \\u0000 is not allowed without JSON_ALLOW_NUL"},
    {"proto_version_range", CFG("", ", 'netconnect': {'protoVersion': 256}"),
     ": netconnect.protoVersion: expected integer 0..255, got 256"},
    {"server_version_negative", CFG("", ", 'netconnect': {'serverVersion': -1}"),
     ": netconnect.serverVersion: expected integer 0..4294967295, got -1"},
    {"max_output_too_small", CFG("", ", 'cluster': {'maxOutputBuffer': 100}"),
     ": cluster.maxOutputBuffer: expected integer 4096..1073741824, got 100"},
    {"bad_log_level", CFG("", ", 'cluster': {'logLevel': 'loud'}"),
     ": cluster.logLevel: expected one of debug, info, warn, error, got \"loud\""},
    {"stop_timeout_range", CFG("", ", 'cluster': {'stopTimeout': -1}"),
     ": cluster.stopTimeout: expected integer 0..3600000, got -1"},
    {"unknown_cluster_key", CFG("", ", 'cluster': {'maxRestart': 3}"),
     ": cluster.maxRestart: unknown key"},
    {"empty_memcached_urls", CFG("", ", 'memcached': {'urls': []}"),
     ": memcached.urls: expected non-empty array of \"host:port\" strings, got []"},
    {"memcached_url_without_port", CFG("", ", 'memcached': {'urls': ['a:1', 'localhost']}"),
     ": memcached.urls[1]: expected \"host:port\", got \"localhost\""},
    {"memcached_without_urls", CFG("", ", 'memcached': {'hostname': 'x'}"),
     ": memcached.urls: missing"},
    {"memcached_hostname_long", CFG("", MC(HOST_MAX "z")),
     ": memcached.hostname: expected a string of 1..164 bytes without spaces or control "
     "characters, got \"" H10 H10 H10 "abcdefghi..."},
    {"memcached_hostname_space", CFG("", MC("fire fly")),
     ": memcached.hostname: expected a string of 1..164 bytes without spaces or control "
     "characters, got \"fire fly\""},
    {"memcached_hostname_empty", CFG("", MC("")),
     ": memcached.hostname: expected a string of 1..164 bytes without spaces or control "
     "characters, got \"\""},
    {"db_port_range", CFG("", ", 'db': {'port': 99999}"),
     ": db.port: expected integer 1..65535, got 99999"},
};

#define NCASES (sizeof(error_cases) / sizeof(error_cases[0]))

static char app_path[] = "/tmp/conf_test_app_XXXXXX";

/* Writes json (' for ", $APP for app_path) to a new temp file named in path[32]. */
static void
write_conf(char *path, const char *json)
{
    strcpy(path, "/tmp/conf_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    for (const char *p = json; *p != '\0'; p++) {
        if (strncmp(p, "$APP", 4) == 0) {
            fputs(app_path, fp);
            p += 3;
        } else {
            fputc(*p == '\'' ? '"' : *p, fp);
        }
    }
    assert_int_equal(fclose(fp), 0);
}

/* Loads json; on failure err holds the message and path the temp file's name. */
static ff_conf_t *
load(const char *json, char *path, char *err, size_t errlen)
{
    write_conf(path, json);
    ff_conf_t *conf = ff_conf_load(path, err, errlen);
    unlink(path);
    return conf;
}

static int
make_app(void **state)
{
    (void)state;
    int fd = mkstemp(app_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int
remove_app(void **state)
{
    (void)state;
    return unlink(app_path);
}

static void
test_error(void **state)
{
    const error_case_t *c = *state;
    char path[32], err[512], want[600];
    ff_conf_t *conf = load(c->json, path, err, sizeof(err));
    snprintf(want, sizeof(want), "%s%s", path, c->expect);
    assert_null(conf);
    assert_string_equal(err, want);
}

static void
test_valid_values(void **state)
{
    (void)state;
    char path[32], err[512] = "";
    ff_conf_t *conf = load(valid_conf, path, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(err, "");
    assert_string_equal(conf->path, path);
    assert_string_equal(conf->master.roothost, "10.0.0.1");
    assert_int_equal(conf->master.rootport, 9999);
    assert_string_equal(conf->master.webhost, "127.0.0.1");
    assert_int_equal(conf->master.webport, 9998);
    assert_string_equal(conf->master.log, "m.log");
    assert_memory_equal(conf->netconnect.magic, "ABCD", 4);
    assert_int_equal(conf->netconnect.proto_version, 7);
    assert_int_equal(conf->netconnect.server_version, 4294967295u);
    assert_int_equal(conf->netconnect.max_packet, 1024);
    assert_string_equal(conf->db.host, "db.local");
    assert_int_equal(conf->db.port, 3307);
    assert_string_equal(conf->db.user, "ff");
    assert_string_equal(conf->db.passwd, "pw");
    assert_string_equal(conf->db.db, "firefly");
    assert_string_equal(conf->db.charset, "utf8mb4");
    assert_int_equal(conf->memcached.nurls, 2);
    assert_string_equal(conf->memcached.urls[0], "127.0.0.1:11211");
    assert_string_equal(conf->memcached.urls[1], "mc2:11212");
    assert_string_equal(conf->memcached.hostname, "firefly");
    assert_int_equal(conf->cluster.request_timeout_ms, 100);
    assert_int_equal(conf->cluster.idle_timeout_s, 0);
    assert_int_equal(conf->cluster.max_output, 4096);
    assert_int_equal(conf->cluster.max_pipeline, 1);
    assert_int_equal(conf->cluster.max_restarts, 1000);
    assert_int_equal(conf->cluster.restart_window_s, 1);
    assert_int_equal(conf->cluster.log_level, FF_LOG_WARN);
    ff_conf_free(conf);
}

/* The longest hostname is accepted, and every row key then fits memcached's limit. */
static void
test_mc_hostname_max(void **state)
{
    (void)state;
    char path[32], err[512];
    ff_conf_t *conf = load(CFG("", MC(HOST_MAX)), path, err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(strlen(conf->memcached.hostname), FF_CONF_MC_HOSTNAME_MAX);
    ff_conf_free(conf);
}

static void
test_valid_servers(void **state)
{
    (void)state;
    char path[32], err[512];
    ff_conf_t *conf = load(valid_conf, path, err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(conf->nservers, 4);
    const char *order[] = {"gate", "net", "game1", "dbfront"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(conf->servers[i].name, order[i]);
    const ff_conf_server_t *gate = &conf->servers[0], *game = &conf->servers[2];
    assert_int_equal(gate->rootport, 10000);
    assert_int_equal(gate->netport, 0);
    assert_string_equal(gate->app, app_path);
    assert_string_equal(gate->log, "gate.log");
    assert_string_equal(gate->host, "127.0.0.1");
    assert_int_equal(gate->nremotes, 0);
    assert_int_equal(conf->servers[1].netport, 11009);
    assert_null(conf->servers[1].app);
    assert_null(conf->servers[1].log);
    assert_true(game->mem);
    assert_false(game->db);
    assert_int_equal(game->rootport, 0);
    assert_int_equal(game->nremotes, 2);
    assert_string_equal(game->remotes[0].rootname, "gate");
    assert_string_equal(game->remotes[0].roothost, "10.0.0.1"); /* master.roothost */
    assert_int_equal(game->remotes[0].rootport, 10000);
    assert_string_equal(game->remotes[1].rootname, "dbfront");
    assert_string_equal(game->remotes[1].roothost, "10.0.0.2");
    assert_int_equal(game->remotes[1].rootport, 10001);
    assert_true(conf->servers[3].db);
    assert_string_equal(conf->servers[3].host, "0.0.0.0");
    ff_conf_free(conf);
}

static void
test_defaults(void **state)
{
    (void)state;
    char path[32], err[512];
    ff_conf_t *conf = load(CFG("", ""), path, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(conf->master.roothost, "127.0.0.1");
    assert_string_equal(conf->master.webhost, "127.0.0.1");
    assert_null(conf->master.log);
    /* Firefly's DataPackProtoc(): four zero bytes, protoVersion 0, serverVersion 0. */
    assert_memory_equal(conf->netconnect.magic, "\0\0\0\0", 4);
    assert_int_equal(conf->netconnect.proto_version, 0);
    assert_int_equal(conf->netconnect.server_version, 0);
    assert_int_equal(conf->netconnect.max_packet, 65536);
    assert_null(conf->db.host);
    assert_null(conf->memcached.urls);
    assert_int_equal(conf->memcached.nurls, 0);
    assert_int_equal(conf->cluster.request_timeout_ms, 5000);
    assert_int_equal(conf->cluster.idle_timeout_s, 300);
    assert_int_equal(conf->cluster.max_output, 4194304);
    assert_int_equal(conf->cluster.max_pipeline, 1024);
    assert_int_equal(conf->cluster.max_restarts, 5);
    assert_int_equal(conf->cluster.restart_window_s, 60);
    assert_int_equal(conf->cluster.log_level, FF_LOG_INFO);
    assert_int_equal(conf->cluster.stop_timeout_ms, 60000);
    assert_string_equal(conf->servers[1].remotes[0].roothost, "127.0.0.1");
    ff_conf_free(conf);

    /* A db section with only some keys gets a host, a port and a charset. */
    conf = load(CFG("", ", 'db': {'user': 'u'}"), path, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(conf->db.host, "127.0.0.1");
    assert_int_equal(conf->db.port, 3306);
    assert_string_equal(conf->db.charset, "utf8mb4");
    assert_null(conf->db.passwd);
    ff_conf_free(conf);
}

/* netconnect.magic in its three spellings; a section without magic gets four zero bytes. */
static void
test_magic(void **state)
{
    static const struct {
        const char *value;
        char want[4];
    } cases[] = {
        {"'N%&0'", "N%&0"},
        {"'hex:4e252630'", "N%&0"},
        {"'hex:4E252630'", "N%&0"},
        {"'hex:00000000'", {0, 0, 0, 0}},
        {"'hex:ff00A501'", {(char)0xff, 0, (char)0xa5, 1}},
        {"[78, 37, 38, 48]", "N%&0"},
        {"[0, 0, 0, 0]", {0, 0, 0, 0}},
        {"[255, 0, 128, 1]", {(char)0xff, 0, (char)0x80, 1}},
        {"'hex:'", "hex:"}, /* 4 bytes: a magic, not a prefix */
    };
    char json[512], path[32], err[512];
    ff_conf_t *conf;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(json, sizeof(json), CFG("", ", 'netconnect': {'magic': %s}"), cases[i].value);
        conf = load(json, path, err, sizeof(err));
        if (conf == NULL)
            fail_msg("%s: %s", cases[i].value, err);
        assert_memory_equal(conf->netconnect.magic, cases[i].want, 4);
        ff_conf_free(conf);
    }
    conf = load(CFG("", ", 'netconnect': {'protoVersion': 9}"), path, err, sizeof(err));
    assert_non_null(conf);
    assert_memory_equal(conf->netconnect.magic, "\0\0\0\0", 4);
    assert_int_equal(conf->netconnect.proto_version, 9);
    ff_conf_free(conf);
}

static void
test_role_inference(void **state)
{
    (void)state;
    char path[32], err[512];
    ff_conf_t *conf = load(roles_conf, path, err, sizeof(err));
    assert_non_null(conf);
    static const struct {
        const char *name;
        ff_role_t role;
    } want[] = {{"gate", FF_ROLE_GATE},  {"net", FF_ROLE_NET},         {"net2", FF_ROLE_NET},
                {"gameA", FF_ROLE_GAME}, {"dbfront", FF_ROLE_DBFRONT}, {"lobby", FF_ROLE_GAME},
                {"edge", FF_ROLE_NET}};
    assert_int_equal(conf->nservers, 7);
    for (int i = 0; i < 7; i++) {
        const ff_conf_server_t *srv = ff_conf_server(conf, want[i].name);
        assert_non_null(srv);
        assert_int_equal(srv->role, want[i].role);
    }
    ff_conf_free(conf);
}

static void
test_server_lookup(void **state)
{
    (void)state;
    char path[32], err[512];
    ff_conf_t *conf = load(valid_conf, path, err, sizeof(err));
    assert_non_null(conf);
    assert_ptr_equal(ff_conf_server(conf, "game1"), &conf->servers[2]);
    assert_ptr_equal(ff_conf_server(conf, "gate"), &conf->servers[0]);
    assert_null(ff_conf_server(conf, "game"));
    assert_null(ff_conf_server(conf, ""));
    ff_conf_free(conf);
}

/* A relative app path is stored made absolute against the current directory. */
static void
test_relative_app(void **state)
{
    (void)state;
    char path[32], err[512], cwd[4096], old[4096], want[4200], json[512];
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir("/tmp"), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(json, sizeof(json), CFG(", 'game1': {'app': '%s', " TO_GATE "}", ""),
             app_path + strlen("/tmp/"));
    ff_conf_t *conf = load(json, path, err, sizeof(err));
    assert_int_equal(chdir(old), 0);
    assert_non_null(conf);
    snprintf(want, sizeof(want), "%s/%s", cwd, app_path + strlen("/tmp/"));
    assert_string_equal(ff_conf_server(conf, "game1")->app, want);
    ff_conf_free(conf);
}

static void
test_cannot_open(void **state)
{
    (void)state;
    char err[512];
    assert_null(ff_conf_load("/nonexistent/config.json", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/config.json: cannot open: No such file or directory");
    assert_null(ff_conf_load("/", err, sizeof(err)));
    assert_string_equal(err, "/: cannot open: Is a directory");
    /* A short buffer is cut, not overrun. */
    char small[8];
    assert_null(ff_conf_load("/nonexistent/config.json", small, sizeof(small)));
    assert_string_equal(small, "/nonexi");
}

static void
test_net_id(void **state)
{
    (void)state;
    /* 32-bit FNV-1a folded to 16 bits: "" hashes to 0x811c9dc5, "a" to 0xe40c292c. */
    assert_int_equal(ff_conf_net_id(""), 0x811c ^ 0x9dc5);
    assert_int_equal(ff_conf_net_id("a"), 0xe40c ^ 0x292c);
    assert_int_equal(ff_conf_net_id("net"), 0xb4c1);
    assert_int_equal(ff_conf_net_id("net1"), 0x71f4);
    assert_int_equal(ff_conf_net_id("net"), ff_conf_net_id("net"));
    assert_int_equal(ff_conf_net_id("net269"), ff_conf_net_id("net324"));
}

static void
test_role_names(void **state)
{
    (void)state;
    assert_string_equal(ff_conf_role_name(FF_ROLE_GATE), "gate");
    assert_string_equal(ff_conf_role_name(FF_ROLE_NET), "net");
    assert_string_equal(ff_conf_role_name(FF_ROLE_GAME), "game");
    assert_string_equal(ff_conf_role_name(FF_ROLE_DBFRONT), "dbfront");
    ff_conf_free(NULL);
}

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_valid_values),    cmocka_unit_test(test_valid_servers),
    cmocka_unit_test(test_defaults),        cmocka_unit_test(test_role_inference),
    cmocka_unit_test(test_server_lookup),   cmocka_unit_test(test_relative_app),
    cmocka_unit_test(test_cannot_open),     cmocka_unit_test(test_net_id),
    cmocka_unit_test(test_role_names),      cmocka_unit_test(test_magic),
    cmocka_unit_test(test_mc_hostname_max),
};

#define NFIXED (sizeof(fixed_tests) / sizeof(fixed_tests[0]))

/* The fixed tests, then one test per broken config, named after it. */
static struct CMUnitTest tests[NFIXED + NCASES];

int
main(void)
{
    memcpy(tests, fixed_tests, sizeof(fixed_tests));
    for (size_t i = 0; i < NCASES; i++)
        tests[NFIXED + i] = (struct CMUnitTest){error_cases[i].name, test_error, NULL, NULL,
                                                (void *)&error_cases[i]};
    return cmocka_run_group_tests_name("conf", tests, make_app, remove_app);
}
