/* conf: loads and validates config.json (DESIGN §3) into an immutable ff_conf_t.
 * Validation is table-driven: unknown keys, duplicate keys, wrong types, ports out of
 * range, port clashes, dangling remoteport names and missing app files are all errors
 * shaped `config.json: servers.game1.netport: expected integer 1..65535, got "80a"`. */
#ifndef FF_CONF_H
#define FF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shortest cluster secret and web token accepted, in bytes. */
#define FF_CONF_SECRET_MIN 32
#define FF_CONF_WEBTOKEN_MIN 16
/* The longest secret or token file read. */
#define FF_CONF_SECRET_MAX 4096
/* The longest memcached.hostname, in bytes: a row's memcached key `<hostname>:<table>:<pk>`
 * must fit memcached's 250 bytes with a table name of 64 bytes and a pk of 20 characters
 * (common/mc.c checks the sum against FF_MC_KEY_MAX). */
#define FF_CONF_MC_HOSTNAME_MAX 164

typedef enum { FF_ROLE_GATE, FF_ROLE_NET, FF_ROLE_GAME, FF_ROLE_DBFRONT } ff_role_t;

typedef struct {
    char *rootname; /* the server this entry connects to */
    char *roothost; /* default: master.roothost */
    int rootport;
} ff_conf_remote_t;

typedef struct {
    char *name;
    ff_role_t role; /* "role" key, else inferred from the name */
    char *host;     /* bind address of its listening ports; default "127.0.0.1" */
    int rootport;   /* bus listen port (gate, dbfront); 0 = none */
    int netport;    /* client port (net); 0 = none */
    char *app;      /* game logic .so path (gate, game); NULL = none */
    char *log;      /* log file; NULL = master's log */
    bool db, mem;   /* Firefly's flags: uses MariaDB / memcached */
    ff_conf_remote_t *remotes;
    int nremotes;
    char *wal;           /* dbfront: log directory; NULL = var/wal/<name> */
    int sync_interval_s; /* dbfront: seconds between flushes to MariaDB, default 5 */
} ff_conf_server_t;

typedef struct {
    char *name;
    char *pk;      /* primary key column (integer) */
    bool incr;     /* dbfront allocates ids */
    char *fk;      /* lookup column; NULL = none */
    int timeout_s; /* memcached lifetime of a row after its last write or miss, default 600 */
} ff_conf_table_t;

typedef struct {
    char *path; /* the file this was read from */
    struct {
        char *roothost; /* default "127.0.0.1" */
        int rootport;
        char *webhost; /* default "127.0.0.1" */
        int webport;
        char *log; /* NULL = stderr */
        /* The cluster secret (master.secret, or the contents of master.secretFile); NULL =
         * none configured: master generates one at each start (docs/protocol.md). */
        char *secret;
        /* The web port's bearer token (webtoken or webtokenFile); NULL = none. */
        char *webtoken;
    } master;
    ff_conf_server_t *servers; /* in file order */
    int nservers;
    ff_conf_table_t *tables; /* the `tables` dbfront serves, in file order */
    int ntables;
    struct {
        char magic[4];
        uint8_t proto_version;
        uint32_t server_version;
        uint32_t max_packet;    /* max body bytes, default 65536 */
        int max_requests_per_s; /* per connection, token bucket; 0 = no limit */
        int max_conns_per_ip;   /* open connections from one address; 0 = no limit */
    } netconnect;
    struct {
        char *host; /* MariaDB; NULL when the section is absent */
        int port;
        char *user, *passwd, *db, *charset;
    } db;
    struct {
        char **urls; /* "host:port" */
        int nurls;
        char *hostname; /* key prefix */
    } memcached;
    struct {
        int request_timeout_ms; /* default 5000 */
        int idle_timeout_s;     /* client idle timeout, default 300; 0 = none */
        uint32_t max_output;    /* bytes buffered per client before disconnect, default 4 MiB */
        int max_pipeline;       /* in-flight requests per client before reading pauses, 1024 */
        int max_restarts;       /* restarts within restart_window_s before giving up, 5 */
        int restart_window_s;   /* default 60 */
        int log_level;          /* FF_LOG_*, default info */
        int heartbeat_ms;       /* PING interval on every bus link; 3 silent = dead; 1000 */
        int start_timeout_ms;   /* a node's control link must be up within this; 10000 */
        int stop_timeout_ms;    /* a stop's wait for dbfront's last flush; 60000 */
    } cluster;
} ff_conf_t;

/* Reads and validates `path`. Returns a new config, or NULL with a one-line message in
 * err (e.g. `config.json: servers.net.remoteport[0].rootname: no server named "gat"`).
 * Relative `app` paths are resolved against the current directory. */
ff_conf_t *ff_conf_load(const char *path, char *err, size_t errlen);
/* Validates len bytes of config text (no NUL needed) as ff_conf_load does a file's, with
 * `name` in place of the path in messages and in conf->path. Relative `app` and
 * `secretFile` paths still refer to the file system, from the current directory. */
ff_conf_t *ff_conf_load_text(const char *text, size_t len, const char *name, char *err,
                             size_t errlen);
/* Frees a config; ff_conf_free(NULL) is a no-op. */
void ff_conf_free(ff_conf_t *conf);
/* The server named `name`, or NULL. */
const ff_conf_server_t *ff_conf_server(const ff_conf_t *conf, const char *name);
/* "gate", "net", "game" or "dbfront". */
const char *ff_conf_role_name(ff_role_t role);
/* The 16-bit id of a net node, used in the top bits of its conn ids (FNV-1a of the name).
 * ff_conf_load rejects two net servers whose ids clash. */
uint16_t ff_conf_net_id(const char *name);

#endif
