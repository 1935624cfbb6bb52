/* zeroheader_test: every Firefly client can connect (DESIGN §4). A config without netconnect
 * means Firefly's own defaults, DataPackProtoc(): magic of four zero bytes, protoVersion 0,
 * serverVersion 0, which its scaffold's client sends.
 * (a) Firefly's login packet under an all-zero header, sent as raw bytes, comes back with the
 *     same all-zero header (a client that decodes only that header accepts it), and echoes
 *     through the client library work with the same settings, which the harness also reads
 *     from the config.
 * (b) A client sending the shipped config.json's N%&0 / 9 is closed with one WARN.
 * (c) /reload with netconnect.magic spelt as byte values [78,37,38,48] and protoVersion 9:
 *     now an N%&0 client is answered and an all-zero one is closed; then back to "hex:00000000"
 *     and protoVersion 0, and the all-zero client is answered again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tapp/tapp_proto.h"

#define CONF_HEAD                                                                                  \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"    \
    " \"servers\":{"                                                                               \
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"                             \
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","                                  \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"                        \
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","      \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
#define CONF_TAIL " \"cluster\":{\"requestTimeout\":3000}}"

static const char config[] = CONF_HEAD CONF_TAIL;
static const char config_bytes[] =
    CONF_HEAD " \"netconnect\":{\"magic\":[78,37,38,48],\"protoVersion\":9}," CONF_TAIL;
static const char config_hex[] =
    CONF_HEAD " \"netconnect\":{\"magic\":\"hex:00000000\",\"protoVersion\":0}," CONF_TAIL;

#define WAIT_MS 5000
#define RELOAD_MS 10000
#define BAD_MAGIC "malformed frame: bad magic"

/* Firefly's login packet under DataPackProtoc()'s header: four zero bytes of magic,
 * protoVersion 0, serverVersion 0, length 46, command 101. */
static const uint8_t zero_login_header[FF_FRAME_HEADER] = {
    0x00, 0x00, 0x00, 0x00, /* magic */
    0x00,                   /* protoVersion */
    0x00, 0x00, 0x00, 0x00, /* serverVersion */
    0x00, 0x00, 0x00, 0x2E, /* length = 42 + 4 */
    0x00, 0x00, 0x00, 0x65, /* command 101 */
};
static const char login_body[] = "{\"password\":\"chenee\",\"username\":\"chenee\"}\n";
#define LOGIN_BODY_LEN (sizeof(login_body) - 1)

static const ff_frame_proto_t zero_proto = {{0, 0, 0, 0}, 0, 0, 65536};

typedef struct {
    th_cluster_t *c;
    int want;
} warns_arg_t;

static bool
bad_magic_cb(void *arg)
{
    warns_arg_t *a = arg;
    return th_log_count(a->c, "net", BAD_MAGIC) >= a->want;
}

/* Whether p has the magic, the versions and the maxPacket of want. */
static bool
proto_is(const ff_frame_proto_t *p, const ff_frame_proto_t *want)
{
    return memcmp(p->magic, want->magic, 4) == 0 && p->proto_version == want->proto_version &&
           p->server_version == want->server_version && p->max_packet == want->max_packet;
}

static ffc_t *
connect_with(th_cluster_t *c, const ff_frame_proto_t *proto)
{
    ffc_t *cl = ffc_connect("127.0.0.1", th_cluster_port(c, "NETPORT"), proto, WAIT_MS);

    if (cl == NULL)
        th_ok(0, "connect to net: %s", strerror(errno));
    return cl;
}

/* An echo round trip: true when the reply has cmd 1 and the body. */
static bool
echo_ok(ffc_t *cl, const char *body)
{
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, TAPP_ECHO, body, strlen(body), &m, WAIT_MS);
    bool ok = rc == 0 && m.cmd == 1 && m.len == strlen(body) && memcmp(m.body, body, m.len) == 0;

    if (!ok)
        th_diag("echo \"%s\": %s, cmd %u, %zu bytes", body, ffc_strerror(rc), m.cmd, m.len);
    ffc_msg_free(&m);
    return ok;
}

/* A client with `proto` sends one echo and is closed by net, with one more bad-magic WARN. */
static void
refused(th_cluster_t *c, const ff_frame_proto_t *proto, const char *what)
{
    warns_arg_t wa = {c, th_log_count(c, "net", BAD_MAGIC) + 1};
    ffc_t *cl = connect_with(c, proto);
    ffc_msg_t m = {0};

    if (cl == NULL)
        return;
    ffc_send(cl, TAPP_ECHO, "hi", 2);
    TH_EQ_INT(ffc_wait_closed(cl, WAIT_MS), 0, "%s: net closes the connection", what);
    TH_EQ_INT(ffc_recv(cl, &m, 0), -ECONNRESET, "%s: and answers nothing", what);
    ffc_msg_free(&m);
    ffc_close(cl);
    th_wait(bad_magic_cb, &wa, WAIT_MS);
    TH_EQ_INT(th_log_count(c, "net", BAD_MAGIC), wa.want, "%s: one WARN (bad magic)", what);
}

static void
test_zero_header(th_cluster_t *c)
{
    uint8_t pkt[FF_FRAME_HEADER + LOGIN_BODY_LEN];
    ffc_t *cl = connect_with(c, &zero_proto), *h;
    ffc_msg_t m = {0};

    th_ok(proto_is(th_cluster_proto(c), &zero_proto),
          "the harness reads DataPackProtoc()'s settings from a config without netconnect");
    if (cl == NULL)
        return;
    memcpy(pkt, zero_login_header, FF_FRAME_HEADER);
    memcpy(pkt + FF_FRAME_HEADER, login_body, LOGIN_BODY_LEN);
    TH_EQ_INT(ffc_send_raw(cl, pkt, sizeof(pkt)), 0, "zero header: the login packet is sent raw");
    /* The client decodes with the all-zero settings, so the reply's magic and versions are
     * checked byte for byte. */
    TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "zero header: a reply with the all-zero header");
    TH_EQ_INT(m.cmd, TAPP_LOGIN_ECHO, "zero header: the reply carries command 101");
    TH_EQ_MEM(m.body, m.len, login_body, LOGIN_BODY_LEN, "zero header: the body comes back");
    ffc_msg_free(&m);
    th_ok(echo_ok(cl, "zero"), "zero header: an echo through the client library");
    ffc_close(cl);
    h = th_connect(c);
    th_ok(h != NULL && echo_ok(h, "harness"), "zero header: th_connect's client is answered");
    ffc_close(h);
}

static void
reload(th_cluster_t *c, const char *tmpl, const char *what)
{
    int status = 0;

    th_cluster_config_write(c, tmpl);
    TH_EQ_INT(th_http_get(c, "/reload", &status, NULL), 0, "%s: GET /reload", what);
    TH_EQ_INT(status, 200, "%s: /reload answers 200", what);
}

/* After a reload net applies the new settings to the next frame: waits for an echo to work. */
static bool
echo_works_cb(void *arg)
{
    th_cluster_t *c = arg;
    ffc_t *cl = ffc_connect("127.0.0.1", th_cluster_port(c, "NETPORT"), th_cluster_proto(c), 1000);
    ffc_msg_t m = {0};
    bool ok = cl != NULL && ffc_call(cl, TAPP_ECHO, "x", 1, &m, 1000) == 0;

    ffc_msg_free(&m);
    ffc_close(cl);
    return ok;
}

static void
test_reload(th_cluster_t *c)
{
    ffc_t *cl;

    reload(c, config_bytes, "magic [78,37,38,48]");
    th_ok(proto_is(th_cluster_proto(c), ffc_proto_default()),
          "the harness reads the byte values and protoVersion 9");
    TH_EQ_INT(th_wait(echo_works_cb, c, RELOAD_MS), 0, "magic [78,37,38,48]: net takes it");
    cl = connect_with(c, ffc_proto_default());
    th_ok(cl != NULL && echo_ok(cl, "N%&0"), "magic [78,37,38,48]: an N%%&0 / 9 client answered");
    ffc_close(cl);
    refused(c, &zero_proto, "magic [78,37,38,48]: an all-zero client");

    reload(c, config_hex, "magic hex:00000000");
    th_ok(proto_is(th_cluster_proto(c), &zero_proto), "the harness reads hex:00000000");
    TH_EQ_INT(th_wait(echo_works_cb, c, RELOAD_MS), 0, "magic hex:00000000: net takes it");
    cl = connect_with(c, &zero_proto);
    th_ok(cl != NULL && echo_ok(cl, "zero again"), "magic hex:00000000: an all-zero client");
    ffc_close(cl);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);

    if (c == NULL)
        return th_done();
    test_zero_header(c);
    refused(c, ffc_proto_default(), "N%&0 / 9 without netconnect");
    test_reload(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
