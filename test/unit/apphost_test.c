/* apphost_test: the reference count that keeps an app library loaded across /reload (DESIGN
 * §2: old code finishes what it started) without a running node: the test binary hosts the
 * real test apps (build/test/apps/libtapp.so, then libtapp2.so as the rebuilt one, and
 * libtlater.so whose timers outlive its requests) on its own
 * loop, with stub outputs. Which libraries are loaded is read from the dynamic linker's own
 * list (dl_iterate_phdr): apphost dlopens a private copy of each under $TMPDIR, which the
 * test points at a fresh directory, so the copies in that list are exactly the libraries
 * apphost holds. The old library must be unloaded exactly when its last request and its last
 * callback (a timer, a reference held by an asynchronous call) are done, and not before. */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apphost.h"
#include "bus.h"
#include "node.h"

enum { CMD_ECHO = 1, CMD_WHOAMI = 7, CMD_SLEEP = 8, CMD_SILENT = 9 };

static char tmpdir[] = "/tmp/apphost_test_XXXXXX";
static char app1[4200], app2[4200], later[4200];

/* What the stub respond saw. */
static struct {
    int count;
    int status;
    char body[256];
    int loaded; /* libraries loaded while the reply was being sent */
} last;

/* What the stub push saw. */
static struct {
    int count;
    int loaded; /* libraries loaded while the push was being sent */
} pushed;

static int
loaded_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_name != NULL && strncmp(info->dlpi_name, tmpdir, strlen(tmpdir)) == 0)
        ++*(int *)arg;
    return 0;
}

/* App libraries apphost has loaded now: its private copies in the dynamic linker's list. */
static int
loaded(void)
{
    int n = 0;

    dl_iterate_phdr(loaded_cb, &n);
    return n;
}

static void
stub_respond(void *origin, uint64_t conn, uint32_t rseq, int status, const void *body, size_t len)
{
    (void)origin;
    (void)conn;
    (void)rseq;
    last.count++;
    last.status = status;
    snprintf(last.body, sizeof(last.body), "%.*s", (int)len, (const char *)body);
    last.loaded = loaded();
}

static void
stub_push(const uint64_t *conns, size_t n, uint32_t cmd, const void *body, size_t len)
{
    (void)conns, (void)n, (void)cmd, (void)body, (void)len;
    pushed.count++;
    pushed.loaded = loaded();
}

static void
stub_session(uint64_t conn, bool bound)
{
    (void)conn, (void)bound;
}

static const char *
stub_bind_group(uint64_t conn, uint32_t cmd)
{
    (void)conn, (void)cmd;
    return NULL;
}

static const ff_apphost_ops_t ops = {stub_respond, stub_push, stub_session, stub_bind_group};

static void
load(const char *path)
{
    char err[512] = "";

    if (ff_apphost_load(path, err, sizeof(err)) != 0)
        fail_msg("ff_apphost_load: %s", err);
}

static void
dispatch(uint32_t rseq, uint32_t cmd, const char *body)
{
    assert_true(ff_apphost_handles(cmd));
    ff_apphost_dispatch(NULL, 1, rseq, cmd, (const uint8_t *)body, strlen(body));
}

/* Runs the loop until nothing is left on it: timers fired and closed. */
static void
run_loop(void)
{
    uv_run(ff_loop, UV_RUN_DEFAULT);
}

/* The version whoami answered: 1 for tapp, 2 for tapp2. */
static int
replied_version(void)
{
    const char *v = strstr(last.body, "\"version\":");
    return v != NULL ? atoi(v + strlen("\"version\":")) : -1;
}

/* Finds the test apps beside this binary: REPO/build/test/unit/x -> REPO/build/test/apps. */
static int
group_setup(void **state)
{
    char exe[4096], *slash;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    (void)state;
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        if ((slash = strrchr(exe, '/')) == NULL)
            return -1;
        *slash = '\0';
    }
    snprintf(app1, sizeof(app1), "%s/apps/libtapp.so", exe);
    snprintf(app2, sizeof(app2), "%s/apps/libtapp2.so", exe);
    snprintf(later, sizeof(later), "%s/apps/libtlater.so", exe);
    if (access(app1, R_OK) != 0 || access(app2, R_OK) != 0 || access(later, R_OK) != 0) {
        fprintf(stderr, "apphost_test: test apps missing in %s/apps: run make tests\n", exe);
        return -1;
    }
    if (mkdtemp(tmpdir) == NULL || setenv("TMPDIR", tmpdir, 1) != 0)
        return -1;
    ff_loop = uv_default_loop();
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

static int
setup(void **state)
{
    (void)state;
    memset(&last, 0, sizeof(last));
    memset(&pushed, 0, sizeof(pushed));
    ff_apphost_init("unit", &ops);
    return 0;
}

/* Nothing may stay loaded from one test to the next. */
static int
teardown(void **state)
{
    (void)state;
    ff_apphost_close();
    return loaded() == 0 ? 0 : -1;
}

/* With nothing in flight, a reload unloads the previous library at once. */
static void
test_reload_idle(void **state)
{
    (void)state;
    assert_int_equal(loaded(), 0);
    load(app1);
    assert_int_equal(loaded(), 1);
    dispatch(0, CMD_WHOAMI, "");
    assert_int_equal(replied_version(), 1);
    load(app2);
    assert_int_equal(loaded(), 1);
    dispatch(1, CMD_WHOAMI, "");
    assert_int_equal(replied_version(), 2);
    assert_int_equal(last.count, 2);
}

/* A request of the old library that waits on a timer: the old library stays through the
 * reload, answers (its code still loaded while it does), and is unloaded once its timer is
 * closed too, while the new one serves in the meantime. */
static void
test_reload_waits_for_request_and_timer(void **state)
{
    (void)state;
    load(app1);
    dispatch(0, CMD_SLEEP, "20");
    assert_int_equal(ff_apphost_inflight(), 1);
    load(app2);
    assert_int_equal(loaded(), 2);
    dispatch(1, CMD_ECHO, "new");
    assert_int_equal(last.count, 1);
    assert_string_equal(last.body, "new");
    assert_int_equal(loaded(), 2);
    run_loop();
    assert_int_equal(last.count, 2);
    assert_int_equal(last.status, FF_BUS_OK);
    assert_int_equal(replied_version(), 1);
    assert_int_equal(last.loaded, 2);
    assert_int_equal(ff_apphost_inflight(), 0);
    assert_int_equal(loaded(), 1);
    dispatch(2, CMD_WHOAMI, "");
    assert_int_equal(replied_version(), 2);
}

/* A timer started by a request that is already answered (tlater: reply, then push from a
 * timer) keeps the old library until the timer has run and closed: its code runs after the
 * reload, from the old library. */
static void
test_timer_outlives_request(void **state)
{
    (void)state;
    load(later);
    dispatch(0, CMD_ECHO, "soon");
    assert_int_equal(last.count, 1);
    assert_string_equal(last.body, "soon");
    assert_int_equal(ff_apphost_inflight(), 0);
    load(app2);
    assert_int_equal(loaded(), 2);
    run_loop();
    assert_int_equal(pushed.count, 1);
    assert_int_equal(pushed.loaded, 2);
    assert_int_equal(loaded(), 1);
}

/* A reference taken for an asynchronous call (what store and rpc callbacks hold) keeps the
 * old library after its requests are done, until it is released. */
static void
test_retain_outlives_requests(void **state)
{
    ff_app_t *held;

    (void)state;
    load(app1);
    held = ff_apphost_retain();
    dispatch(0, CMD_SLEEP, "10");
    load(app2);
    assert_int_equal(loaded(), 2);
    run_loop();
    assert_int_equal(last.count, 1);
    assert_int_equal(replied_version(), 1);
    assert_int_equal(loaded(), 2);
    ff_apphost_release(held);
    assert_int_equal(loaded(), 1);
}

/* The other order: the reference goes first, the request last. */
static void
test_request_outlives_retain(void **state)
{
    ff_app_t *held;

    (void)state;
    load(app1);
    held = ff_apphost_retain();
    dispatch(0, CMD_SLEEP, "10");
    load(app2);
    ff_apphost_release(held);
    assert_int_equal(loaded(), 2);
    run_loop();
    assert_int_equal(last.count, 1);
    assert_int_equal(loaded(), 1);
}

/* Two reloads while an old request waits: the middle library, with nothing in flight, goes
 * at once; the first waits for its request. */
static void
test_two_reloads(void **state)
{
    (void)state;
    load(app1);
    dispatch(0, CMD_SLEEP, "10");
    load(app2);
    load(app1);
    assert_int_equal(loaded(), 2);
    run_loop();
    assert_int_equal(replied_version(), 1);
    assert_int_equal(loaded(), 1);
}

/* A request the app never answers keeps its library for good, until the node exits:
 * ff_apphost_close frees it, and unloads that library too (teardown checks). */
static void
test_unanswered_until_close(void **state)
{
    (void)state;
    load(app1);
    dispatch(0, CMD_SILENT, "");
    load(app2);
    run_loop();
    assert_int_equal(last.count, 0);
    assert_int_equal(ff_apphost_inflight(), 1);
    assert_int_equal(loaded(), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_waits_for_request_and_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_outlives_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retain_outlives_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_outlives_retain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_until_close, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
