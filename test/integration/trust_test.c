/* trust_test: only the cluster's own processes get onto the bus (issue 8, DESIGN §5). A
 * probe speaks raw TCP to gate's, dbfront's and master's bus ports, as a stranger (no
 * handshake, a wrong secret, silence) and as an insider that knows the secret but breaks
 * the rules (a million nested arrays, frames of 64 MiB and of almost the cap trickled in,
 * a PUSH from a net, a second node under a taken name, a control-link HELLO with a
 * published pid). Each time the probe's connection is closed, the WARN line is in the log,
 * nothing reaches /status or MariaDB, and every node keeps running under the PID it had.
 * A node started by hand with the wrong secret cannot join; a cluster without a configured
 * secret runs on a generated one, and a node started by hand there has no secret at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "auth.h"
#include "bus.h"
#include "dbenv.h"
#include "harness.h"
#include "tapp/tapp_proto.h"

#define SECRET "trust-test-secret-0123456789-abcdefghij"
#define WRONG "wrong-secret-0123456789-abcdefghijklmnop"
#define HEARTBEAT_MS 200
#define CLOSE_MS 3000 /* a probe the server must drop at once is dropped within this */
#define NEST 1000000  /* arrays nested in the probe's message, as in the probe */
#define BIG_CONNS 8
#define SPOOF_TOPIC 999
#define FLOOD (FF_BUS_MAX_HANDSHAKES + 64)

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\","
    "  \"secret\":\"" SECRET "\"},\n"
    " \"servers\":{\n"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":1,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " %s,\n"
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000,\"heartbeat\":200}}\n";

static const char plain_config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}}}";

static const char *const nodes[] = {"gate", "net", "game1", "dbfront"};
#define NNODES (sizeof(nodes) / sizeof(nodes[0]))

/* ---- the probe: a blocking TCP client that may run the handshake ---- */

static int
probe_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Writes all of p; false when the peer closed first. */
static bool
probe_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads exactly n bytes within timeout_ms. */
static bool
probe_read(int fd, void *p, size_t n, int timeout_ms)
{
    long long end = th_now_ms() + timeout_ms;
    uint8_t *b = p;

    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = end - th_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        r = recv(fd, b, n, 0);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

/* Waits until the server closes the connection (EOF or reset), discarding what it sends.
 * Returns the milliseconds it took, or -1 if it stayed open for timeout_ms. */
static long long
probe_closed_in(int fd, int timeout_ms)
{
    long long start = th_now_ms(), end = start + timeout_ms;
    uint8_t buf[4096];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = end - th_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return th_now_ms() - start;
    }
}

/* Whether the last probe_auth got the acceptor's valid proof back. */
static bool probe_authed;

/* Runs the initiator's side of the handshake as `name` under `secret`. Returns the socket,
 * authenticated when the server took the proof (probe_authed), or -1 when it could not
 * even connect. The server's verdict on a wrong secret shows as the connection closing. */
static int
probe_auth(int port, const char *secret, const char *name)
{
    uint8_t nonce[FF_AUTH_NONCE], peer_nonce[FF_AUTH_NONCE], mac[FF_AUTH_MAC];
    uint8_t ch[FF_AUTH_CHALLENGE_LEN], in[FF_AUTH_CHALLENGE_LEN], proof[FF_AUTH_PROOF_LEN];
    char peer[FF_AUTH_NAME];
    int fd = probe_connect(port);

    probe_authed = false;
    if (fd < 0)
        return -1;
    ff_auth_nonce(nonce);
    ff_auth_put_challenge(ch, nonce, name);
    if (!probe_send(fd, ch, sizeof(ch)) || !probe_read(fd, in, sizeof(in), CLOSE_MS) ||
        ff_auth_check_challenge(in, sizeof(in)) < 0 ||
        ff_auth_get_challenge(in, peer_nonce, peer) < 0)
        return fd;
    ff_auth_mac(secret, strlen(secret), FF_AUTH_INITIATOR, nonce, peer_nonce, name, peer, mac);
    ff_auth_put_proof(proof, mac);
    probe_send(fd, proof, sizeof(proof));
    /* The acceptor answers with its proof once ours is good. */
    if (probe_read(fd, proof, sizeof(proof), CLOSE_MS) &&
        ff_auth_check_proof(proof, sizeof(proof)) == 0) {
        ff_auth_mac(secret, strlen(secret), FF_AUTH_ACCEPTOR, nonce, peer_nonce, name, peer, mac);
        probe_authed = ff_auth_mac_eq(mac, ff_auth_get_proof(proof));
    }
    return fd;
}

/* Sends a frame built in b (consumed). */
static bool
probe_frame(int fd, ff_buf_t *b)
{
    bool ok = probe_send(fd, b->data, b->len);
    ff_buf_free(b);
    return ok;
}

/* ---- checks ---- */

typedef struct {
    pid_t pids[NNODES], master;
} pids_t;

static void
pids_take(th_cluster_t *c, pids_t *p)
{
    for (size_t i = 0; i < NNODES; i++)
        p->pids[i] = th_node_pid(c, nodes[i]);
    p->master = th_master_pid(c);
}

/* Every node still runs under the PID it had, and master answers. */
static void
pids_same(th_cluster_t *c, const pids_t *p, const char *after)
{
    char state[32];

    for (size_t i = 0; i < NNODES; i++) {
        TH_EQ_INT(th_node_pid(c, nodes[i]), p->pids[i], "%s: %s still has its pid", after,
                  nodes[i]);
        TH_EQ_STR(th_node_state(c, nodes[i], state, sizeof(state)), "running", "%s: %s is running",
                  after, nodes[i]);
    }
    th_ok(kill(p->master, 0) == 0, "%s: master is alive", after);
}

typedef struct {
    th_cluster_t *c;
    const char *node, *needle;
    int want;
} log_wait_t;

static bool
log_reached_cb(void *arg)
{
    log_wait_t *w = arg;
    return th_log_count(w->c, w->node, w->needle) >= w->want;
}

/* Waits until node's log has `want` lines holding needle. */
static void
expect_log(th_cluster_t *c, const char *node, const char *needle, int want, const char *what)
{
    log_wait_t w = {c, node, needle, want};
    int rc = th_wait(log_reached_cb, &w, CLOSE_MS);

    th_ok(rc == 0, "%s: %s log has \"%s\" (%d, want %d)", what, node, needle,
          th_log_count(c, node, needle), want);
}

static bool
gate_lists(th_cluster_t *c, const char *name)
{
    json_t *st = th_cluster_status(c), *peer;
    bool found = false;
    size_t i;

    json_array_foreach(json_object_get(th_status_node(st, "gate"), "peers"), i, peer)
    {
        found = found || (json_is_string(peer) && strcmp(json_string_value(peer), name) == 0);
    }
    json_decref(st);
    return found;
}

/* ---- 1: strangers ---- */

/* A well-formed HELLO, then (dbfront) a CALL that would create a row, without a handshake:
 * closed at the first bytes, with one WARN naming 127.0.0.1. */
static void
test_unauthenticated(th_cluster_t *c, dbenv_t *db)
{
    static const struct {
        const char *node, *log, *port;
    } targets[] = {{"gate", "gate", "GATEPORT"},
                   {"dbfront", "dbfront", "DBPORT"},
                   {"master", "master", "ROOTPORT"}};
    int before, fd;

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        ff_buf_t b = {0};
        before = th_log_count(c, targets[i].log, "127.0.0.1");
        fd = probe_connect(th_cluster_port(c, targets[i].port));
        ff_bus_put_hello(&b, "game9", "game", 4242, (const uint32_t[]){101}, 1, NULL);
        if (strcmp(targets[i].node, "dbfront") == 0)
            ff_bus_put_call(&b, 1, "new", "{\"t\":\"tb_item\",\"row\":{\"owner\":77,\"kind\":1}}");
        probe_frame(fd, &b);
        th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "stranger's HELLO to %s: closed",
              targets[i].node);
        close(fd);
        expect_log(c, targets[i].log, "sent something other than the bus handshake", 1, "stranger");
        th_ok(th_log_count(c, targets[i].log, "127.0.0.1") > before,
              "stranger at %s: the WARN names its address", targets[i].node);
    }
    th_ok(!gate_lists(c, "game9"), "stranger: game9 never appears among gate's peers");
    TH_EQ_INT(dbenv_count(db, "SELECT COUNT(*) FROM tb_item WHERE owner = 77"), 0,
              "stranger: no row in MariaDB");
}

/* The right handshake under a wrong secret, and a silent connection. */
static void
test_wrong_secret_and_silence(th_cluster_t *c)
{
    long long ms;
    int fd = probe_auth(th_cluster_port(c, "GATEPORT"), WRONG, "game1");

    th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "wrong secret: gate closes the connection");
    close(fd);
    expect_log(c, "gate", "failed authentication", 1, "wrong secret");
    fd = probe_auth(th_cluster_port(c, "DBPORT"), WRONG, "game1");
    th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "wrong secret: dbfront closes the connection");
    close(fd);
    expect_log(c, "dbfront", "failed authentication", 1, "wrong secret");
    fd = probe_connect(th_cluster_port(c, "ROOTPORT"));
    ms = probe_closed_in(fd, FF_AUTH_TIMEOUT_MS + CLOSE_MS);
    th_ok(ms >= FF_AUTH_TIMEOUT_MS - 100 && ms <= FF_AUTH_TIMEOUT_MS + 1000,
          "silent peer: master closes it after the %d ms handshake deadline (%lld ms)",
          FF_AUTH_TIMEOUT_MS, ms);
    close(fd);
    expect_log(c, "master", "no handshake within", 1, "silent peer");
}

/* More silent connections than a node keeps in their handshake: the oldest are dropped
 * at once, and a node of the cluster still gets in. */
static void
test_handshake_flood(th_cluster_t *c)
{
    int fds[FLOOD], dropped = 0, fd;
    long long end;

    for (int i = 0; i < FLOOD; i++)
        fds[i] = probe_connect(th_cluster_port(c, "GATEPORT"));
    /* Dropped for the flood, not at their handshake deadline, which is later than this. */
    end = th_now_ms() + FF_AUTH_TIMEOUT_MS / 2;
    fd = probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "game1");
    th_ok(probe_authed, "handshake flood: a member still authenticates behind %d strangers", FLOOD);
    close(fd);
    for (int i = 0; i < FLOOD - FF_BUS_MAX_HANDSHAKES; i++) {
        long long left = end - th_now_ms();
        dropped += probe_closed_in(fds[i], left > 0 ? (int)left : 0) >= 0;
    }
    TH_EQ_INT(dropped, FLOOD - FF_BUS_MAX_HANDSHAKES,
              "handshake flood: the oldest %d dropped at once", FLOOD - FF_BUS_MAX_HANDSHAKES);
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    expect_log(c, "gate", "still in their handshake dropped", 1, "handshake flood");
}

/* ---- 0: insiders breaking the rules ---- */

/* A million nested arrays (1 MB) in one frame, before and after the handshake. */
static void
test_deep_nesting(th_cluster_t *c)
{
    static const char *const ports[] = {"GATEPORT", "DBPORT", "ROOTPORT"};
    ff_buf_t b = {0};

    ff_buf_put_be32(&b, 0);
    ff_mp_put_array(&b, 4);
    ff_mp_put_uint(&b, FF_BUS_PUSH);
    for (int i = 0; i < NEST; i++)
        ff_mp_put_array(&b, 1);
    ff_mp_put_nil(&b);
    b.data[0] = (uint8_t)((b.len - 4) >> 24);
    b.data[1] = (uint8_t)((b.len - 4) >> 16);
    b.data[2] = (uint8_t)((b.len - 4) >> 8);
    b.data[3] = (uint8_t)(b.len - 4);
    for (size_t i = 0; i < 3; i++) {
        int fd = probe_connect(th_cluster_port(c, ports[i]));
        probe_send(fd, b.data, b.len);
        th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "nested, no handshake: %s closes", ports[i]);
        close(fd);
        fd = probe_auth(th_cluster_port(c, ports[i]), SECRET, "game1");
        probe_send(fd, b.data, b.len);
        th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "nested, authenticated: %s closes", ports[i]);
        close(fd);
    }
    ff_buf_free(&b);
}

/* Eight connections each announcing a 64 MiB frame and sending most of it: refused at the
 * length (before the handshake: not a handshake; after: over FF_BUS_MAX_FRAME). Then eight
 * authenticated ones each trickling most of a frame just under the cap: dropped when the
 * frame has not arrived within 3 heartbeats, and gate's memory goes back down. */
static void
test_big_frames(th_cluster_t *c)
{
    static uint8_t chunk[1 << 20];
    uint32_t big = 64u << 20, under = FF_BUS_MAX_FRAME - 1024;
    pid_t gate = th_node_pid(c, "gate");
    long before = th_rss_kb(gate), during = 0, after;
    int fds[BIG_CONNS], closed = 0;
    uint8_t len[4];

    for (int auth = 0; auth < 2; auth++) {
        len[0] = (uint8_t)(big >> 24), len[1] = (uint8_t)(big >> 16), len[2] = 0, len[3] = 0;
        for (int i = 0; i < BIG_CONNS; i++) {
            int fd = auth ? probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "game1")
                          : probe_connect(th_cluster_port(c, "GATEPORT"));
            bool sent = probe_send(fd, len, 4);
            for (int k = 0; sent && k < 63; k++)
                sent = probe_send(fd, chunk, sizeof(chunk));
            closed += probe_closed_in(fd, CLOSE_MS) >= 0;
            close(fd);
        }
        TH_EQ_INT(closed, BIG_CONNS * (auth + 1), "64 MiB frames (%s): every connection closed",
                  auth ? "authenticated" : "no handshake");
    }
    len[0] = (uint8_t)(under >> 24), len[1] = (uint8_t)(under >> 16);
    len[2] = (uint8_t)(under >> 8), len[3] = (uint8_t)under;
    for (int i = 0; i < BIG_CONNS; i++) {
        fds[i] = probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "game1");
        probe_send(fds[i], len, 4);
        for (uint32_t sent = 0; sent + sizeof(chunk) < under; sent += sizeof(chunk))
            probe_send(fds[i], chunk, sizeof(chunk));
    }
    during = th_rss_kb(gate);
    closed = 0;
    for (int i = 0; i < BIG_CONNS; i++) {
        closed += probe_closed_in(fds[i], 4 * HEARTBEAT_MS + CLOSE_MS) >= 0;
        close(fds[i]);
    }
    after = th_rss_kb(gate);
    TH_EQ_INT(closed, BIG_CONNS, "frames trickled in: all %d links dropped within 3 heartbeats",
              BIG_CONNS);
#ifdef __SANITIZE_ADDRESS__
    /* ASan's shadow memory and its quarantine of freed blocks make RSS say nothing here. */
    th_ok(1, "gate's memory (%ld -> %ld -> %ld kB) # SKIP not measurable under ASan", before,
          during, after);
#else
    th_ok(during - before < (long)BIG_CONNS * (FF_BUS_MAX_FRAME / 1024) + 65536,
          "gate's memory stays bounded by the cap: %ld kB -> %ld kB", before, during);
    th_ok(after - before < 65536, "gate's memory goes back down: %ld kB -> %ld kB (peak %ld)",
          before, after, during);
#endif
}

/* A net must not push, a name is taken once, a control link binds only to master's child. */
static void
test_roles(th_cluster_t *c, ffc_t *cl)
{
    ff_buf_t b = {0};
    uint64_t conn = 1;
    pid_t game1 = th_node_pid(c, "game1");
    ffc_msg_t m;
    int fd;

    /* A second "game1" while the real one is linked. */
    fd = probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "game1");
    ff_bus_put_hello(&b, "game1", "game", 4242, (const uint32_t[]){1}, 1, NULL);
    probe_frame(fd, &b);
    th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "duplicate name: closed");
    close(fd);
    expect_log(c, "gate", "a node of that name is already linked", 1, "duplicate name");
    /* A PUSH before HELLO (no role yet), aimed at every connection id we can think of. */
    fd = probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "net");
    ff_bus_put_push(&b, &conn, 1, SPOOF_TOPIC, "spoof", 5);
    probe_frame(fd, &b);
    th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "spoofed PUSH: closed");
    close(fd);
    expect_log(c, "gate", "before HELLO", 1, "spoofed PUSH");
    /* Had gate forwarded it, it would come before this reply on the same path. */
    TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "after", 5, &m, 5000), 0,
              "spoofed PUSH: the client still works");
    ffc_msg_free(&m);
    TH_EQ_INT(ffc_pending(cl), 0, "spoofed PUSH: nothing else reached the client");
    /* The control link: game1's pid is public, its token is not. */
    fd = probe_auth(th_cluster_port(c, "ROOTPORT"), SECRET, "game1");
    ff_bus_put_hello(&b, "game1", "game", game1, NULL, 0, NULL);
    probe_frame(fd, &b);
    th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "control HELLO with game1's pid: refused");
    close(fd);
    expect_log(c, "master", "not the process master started", 1, "control HELLO");
}

static bool
gate_lacks_net_cb(void *arg)
{
    return !gate_lists(arg, "net");
}

static bool
gate_has_net_cb(void *arg)
{
    return gate_lists(arg, "net");
}

/* A peer registered as a net may send requests, never pushes: with the real net stopped
 * (and so dropped by gate after 3 heartbeats), the probe takes its name, says HELLO as a
 * net and pushes; gate closes it. The real net comes back and serves its old client. */
static void
test_push_from_net(th_cluster_t *c, ffc_t *cl)
{
    pid_t net = th_node_pid(c, "net");
    ff_buf_t b = {0};
    uint64_t conn = 1;
    ffc_msg_t m;
    int fd;

    if (!th_ok(net > 0 && kill(net, SIGSTOP) == 0, "push from a net: real net stopped"))
        return;
    if (TH_EQ_INT(th_wait(gate_lacks_net_cb, c, CLOSE_MS), 0,
                  "push from a net: gate dropped the stopped net")) {
        fd = probe_auth(th_cluster_port(c, "GATEPORT"), SECRET, "net");
        ff_bus_put_hello(&b, "net", "net", 4242, NULL, 0, NULL);
        probe_frame(fd, &b);
        th_ok(th_wait(gate_has_net_cb, c, CLOSE_MS) == 0, "push from a net: the probe is a net");
        ff_bus_put_push(&b, &conn, 1, SPOOF_TOPIC, "spoof", 5);
        probe_frame(fd, &b);
        th_ok(probe_closed_in(fd, CLOSE_MS) >= 0, "push from a net: closed");
        close(fd);
        expect_log(c, "gate", "a frame of kind 7 not of its role", 1, "push from a net");
    }
    kill(net, SIGCONT);
    TH_EQ_INT(th_cluster_wait_ready(c, 10000), 0, "push from a net: the real net is back");
    TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "back", 4, &m, 5000), 0,
              "push from a net: its client is served");
    ffc_msg_free(&m);
    TH_EQ_INT(ffc_pending(cl), 0, "push from a net: nothing else reached the client");
}

/* ---- 2: a node started by hand ---- */

/* game1 under a config whose secret differs: gate and master refuse its handshakes. */
static void
test_hand_started_wrong_secret(th_cluster_t *c)
{
    char src[512], dst[512], bin[512], cmd[2048];
    int before = th_log_count(c, "gate", "failed authentication");
    pid_t pid;

    snprintf(src, sizeof(src), "%s/config.json", th_cluster_dir(c));
    snprintf(dst, sizeof(dst), "%s/wrong.json", th_cluster_dir(c));
    snprintf(cmd, sizeof(cmd), "sed -e 's/%s/%s/' -e 's#/game1.log#/hand.log#' %s > %s", SECRET,
             WRONG, src, dst);
    th_ok(system(cmd) == 0, "wrong.json written");
    snprintf(bin, sizeof(bin), "%s/bin/game", th_repo());
    pid = fork();
    if (pid == 0) {
        execl(bin, bin, "--config", dst, "--name", "game1", (char *)NULL);
        _exit(127);
    }
    expect_log(c, "gate", "failed authentication", before + 1, "hand-started, wrong secret");
    th_ok(kill(pid, 0) == 0 && gate_lists(c, "game1"), "it is refused; the real game1 stays");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void
run(th_cluster_t *c, dbenv_t *db)
{
    ffc_t *cl = th_connect(c);
    pids_t p;

    if (cl == NULL)
        return;
    pids_take(c, &p);
    test_unauthenticated(c, db);
    test_wrong_secret_and_silence(c);
    test_handshake_flood(c);
    test_deep_nesting(c);
    test_big_frames(c);
    test_roles(c, cl);
    test_push_from_net(c, cl);
    test_hand_started_wrong_secret(c);
    pids_same(c, &p, "after every probe");
    ffc_close(cl);
}

/* No secret in the config: master generates one, the cluster works, and a node started by
 * hand has none and says so. */
static void
run_generated(void)
{
    th_cluster_t *c = th_cluster_start(plain_config);
    char cmd[2048];
    ffc_t *cl;
    ffc_msg_t m;

    if (c == NULL)
        return;
    th_ok(th_log_count(c, "master", "generated one for this run") == 1,
          "generated secret: master says so");
    cl = th_connect(c);
    if (cl != NULL) {
        TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "hi", 2, &m, 5000), 0, "generated secret: echo answers");
        ffc_msg_free(&m);
        ffc_close(cl);
    }
    snprintf(cmd, sizeof(cmd),
             "%s/bin/game --config %s/config.json --name game1 2>&1 | "
             "grep -q 'no cluster secret'",
             th_repo(), th_cluster_dir(c));
    th_ok(system(cmd) == 0, "generated secret: a node started by hand has none");
    th_cluster_stop(c);
    th_cluster_free(c);
}

int
main(void)
{
    dbenv_t *db;
    th_cluster_t *c;
    char *sections, *tmpl;
    size_t len;

    if (ff_auth_init() < 0)
        return 1;
    run_generated();
    if ((db = dbenv_start()) == NULL)
        return th_done();
    sections = dbenv_config_sections(db);
    len = sizeof(config_fmt) + strlen(sections);
    tmpl = ff_malloc(len);
    snprintf(tmpl, len, config_fmt, sections);
    c = th_cluster_start(tmpl);
    if (c != NULL) {
        TH_EQ_INT(th_wait_store_linked(c, "game1", 10000), 0, "game1 linked to dbfront");
        run(c, db);
        th_cluster_stop(c);
        th_cluster_free(c);
    }
    ff_free(sections);
    ff_free(tmpl);
    dbenv_stop(db);
    return th_done();
}
