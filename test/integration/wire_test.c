/* wire_test: Firefly's wire format byte for byte (DESIGN §4). Firefly's real login packet,
 * sent as raw bytes through net -> gate -> game1 (tapp: 101 answers the body back), comes
 * back as a frame whose every byte is the request's (same magic, versions, length and cmd);
 * a header and body sent apart, two frames in one write and an empty body work too; and a
 * command nobody registered gets error 404 under its own command id instead of silence. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tapp/tapp_proto.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"netconnect\":{\"magic\":\"N%&0\",\"protoVersion\":9,\"serverVersion\":0,"
    "  \"maxPacket\":65536},"
    " \"cluster\":{\"requestTimeout\":3000}}";

/* Firefly's login packet: the 17-byte header, then the 42-byte body. */
static const uint8_t login_header[FF_FRAME_HEADER] = {
    0x4E, 0x25, 0x26, 0x30, /* magic N%&0 */
    0x09,                   /* protoVersion */
    0x00, 0x00, 0x00, 0x00, /* serverVersion */
    0x00, 0x00, 0x00, 0x2E, /* length = 42 + 4 */
    0x00, 0x00, 0x00, 0x65, /* command 101 */
};
static const char login_body[] = "{\"password\":\"chenee\",\"username\":\"chenee\"}\n";
#define LOGIN_BODY_LEN (sizeof(login_body) - 1)
#define LOGIN_LEN (FF_FRAME_HEADER + LOGIN_BODY_LEN)

#define WAIT_MS 5000

static void
login_packet(uint8_t out[LOGIN_LEN])
{
    memcpy(out, login_header, FF_FRAME_HEADER);
    memcpy(out + FF_FRAME_HEADER, login_body, LOGIN_BODY_LEN);
}

/* A plain TCP socket to 127.0.0.1:port, so that reply headers can be read as bytes. */
static int
raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int
raw_write(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    ssize_t n;

    while (len > 0) {
        n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes within timeout_ms. Returns 0, -ETIMEDOUT or -ECONNRESET. */
static int
raw_read(int fd, void *p, size_t len, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint8_t *b = p;
    ssize_t n;
    int left;

    while (len > 0) {
        left = (int)(deadline - th_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) == 0)
            return -ETIMEDOUT;
        n = recv(fd, b, len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -ECONNRESET;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The login packet through the client library: one reply, cmd 101, the same body. */
static void
test_login_ffc(th_cluster_t *c)
{
    uint8_t pkt[LOGIN_LEN];
    ffc_msg_t m = {0};
    ffc_t *cl = th_connect(c);

    if (cl == NULL)
        return;
    login_packet(pkt);
    TH_EQ_INT(ffc_send_raw(cl, pkt, sizeof(pkt)), 0, "login: raw packet sent");
    TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "login: a reply arrives");
    TH_EQ_INT(m.cmd, TAPP_LOGIN_ECHO, "login: the reply carries command 101");
    TH_EQ_MEM(m.body, m.len, login_body, LOGIN_BODY_LEN, "login: the body comes back unchanged");
    ffc_msg_free(&m);
    TH_EQ_INT(ffc_pending(cl), 0, "login: nothing else queued");
    ffc_close(cl);
}

/* The login packet on a raw socket: the reply is byte for byte the request, so its header
 * is Firefly's: magic N%&0, protoVersion 9, serverVersion 0, length 46, command 101. */
static void
test_login_raw(th_cluster_t *c)
{
    uint8_t pkt[LOGIN_LEN], hdr[FF_FRAME_HEADER], body[LOGIN_BODY_LEN];
    int fd = raw_connect(th_cluster_port(c, "NETPORT"));

    if (!th_ok(fd >= 0, "raw: connected to net"))
        return;
    login_packet(pkt);
    TH_EQ_INT(raw_write(fd, pkt, sizeof(pkt)), 0, "raw: login packet written");
    if (TH_EQ_INT(raw_read(fd, hdr, sizeof(hdr), WAIT_MS), 0, "raw: 17-byte reply header read")) {
        TH_EQ_MEM(hdr, 4, "N%&0", 4, "raw: reply magic is N%%&0");
        TH_EQ_INT(hdr[4], 9, "raw: reply protoVersion is 9");
        TH_EQ_INT(be32(hdr + 5), 0, "raw: reply serverVersion is 0");
        TH_EQ_INT(be32(hdr + 9), LOGIN_BODY_LEN + 4, "raw: reply length is body + 4 (big-endian)");
        TH_EQ_INT(be32(hdr + 13), 101, "raw: reply command is 101 (big-endian)");
        TH_EQ_MEM(hdr, sizeof(hdr), login_header, sizeof(login_header),
                  "raw: reply header bytes equal the login header's");
        TH_EQ_INT(raw_read(fd, body, sizeof(body), WAIT_MS), 0, "raw: 42-byte reply body read");
        TH_EQ_MEM(body, sizeof(body), login_body, LOGIN_BODY_LEN, "raw: reply body is the login's");
    }
    close(fd);
}

/* Frames split across writes and several frames in one write are reassembled by net. */
static void
test_framing(th_cluster_t *c)
{
    uint8_t two[2 * LOGIN_LEN];
    ffc_msg_t m = {0};
    ffc_t *cl = th_connect(c);
    int i;

    if (cl == NULL)
        return;
    TH_EQ_INT(ffc_send_raw(cl, login_header, 5), 0, "split: first 5 header bytes sent");
    TH_EQ_INT(ffc_recv(cl, &m, 200), -ETIMEDOUT, "split: no reply to a partial header");
    TH_EQ_INT(ffc_send_raw(cl, login_header + 5, FF_FRAME_HEADER - 5), 0,
              "split: rest of the header sent");
    TH_EQ_INT(ffc_send_raw(cl, login_body, 10), 0, "split: part of the body sent");
    TH_EQ_INT(ffc_send_raw(cl, login_body + 10, LOGIN_BODY_LEN - 10), 0,
              "split: rest of the body sent");
    TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "split: the reply arrives");
    TH_EQ_INT(m.cmd, TAPP_LOGIN_ECHO, "split: reply command 101");
    TH_EQ_MEM(m.body, m.len, login_body, LOGIN_BODY_LEN, "split: reply body is the login's");
    ffc_msg_free(&m);

    login_packet(two);
    login_packet(two + LOGIN_LEN);
    TH_EQ_INT(ffc_send_raw(cl, two, sizeof(two)), 0, "two frames in one write sent");
    for (i = 0; i < 2; i++) {
        TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "two frames: reply %d arrives", i + 1);
        TH_EQ_INT(m.cmd, TAPP_LOGIN_ECHO, "two frames: reply %d has command 101", i + 1);
        TH_EQ_MEM(m.body, m.len, login_body, LOGIN_BODY_LEN, "two frames: reply %d body", i + 1);
        ffc_msg_free(&m);
    }

    TH_EQ_INT(ffc_send(cl, TAPP_ECHO, NULL, 0), 0, "empty body: echo request sent");
    TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "empty body: the reply arrives");
    TH_EQ_INT(m.cmd, TAPP_ECHO, "empty body: reply command 1");
    TH_EQ_INT(m.len, 0, "empty body: reply body is empty");
    ffc_msg_free(&m);
    ffc_close(cl);
}

/* A command no node registered: error 404 under the same command id, and the connection
 * keeps working. */
static void
test_unknown_command(th_cluster_t *c)
{
    static const char body[] = "{\"x\":1}";
    ffc_msg_t m = {0};
    ffc_t *cl = th_connect(c);
    int rc;

    if (cl == NULL)
        return;
    rc = ffc_call(cl, 4040, body, sizeof(body) - 1, &m, WAIT_MS);
    TH_EQ_INT(rc, 0, "unknown cmd 4040: a reply arrives (not silence)");
    TH_EQ_INT(m.cmd, 4040, "unknown cmd: the reply carries command 4040");
    TH_EQ_INT(th_error_code(m.body, m.len), 404, "unknown cmd: error code 404 (body %s)",
              m.body != NULL ? (const char *)m.body : "");
    ffc_msg_free(&m);
    rc = ffc_call(cl, TAPP_ECHO, "still", 5, &m, WAIT_MS);
    TH_EQ_INT(rc, 0, "unknown cmd: the connection still answers echo");
    TH_EQ_MEM(m.body, m.len, "still", 5, "unknown cmd: echo body after the 404");
    ffc_msg_free(&m);
    ffc_close(cl);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);

    if (c == NULL)
        return th_done();
    test_login_ffc(c);
    test_login_raw(c);
    test_framing(c);
    test_unknown_command(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
