/* crash_test: the fatal-signal handler, in forked children: a NULL dereference, an abort()
 * and a stack overflow each leave one crash line naming the signal and what ran, a backtrace
 * and the record on the report pipe, and the child still dies of its signal. Also the
 * wording master appends to last_exit. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crash.h"
#include "log.h"

typedef struct {
    int wstatus;
    ff_crash_record_t rec;
    ssize_t rec_len;
    char log[16384];
} outcome_t;

/* Not instrumented: under `make asan`, UBSan would report the store and exit instead. */
static void null_deref(void) __attribute__((no_sanitize("address", "undefined")));

static void
null_deref(void)
{
    volatile int *p = NULL;
    *p = 1;
}

static void
do_abort(void)
{
    abort();
}

/* Far deeper than any stack: the recursion ends in a stack overflow. */
static volatile int overflow_limit = 1 << 30;

/* Recurses until the stack is gone; the volatile buffer keeps each frame. */
static int
overflow(int depth)
{
    volatile char pad[1024];

    pad[0] = (char)depth;
    if (depth >= overflow_limit)
        return 0;
    return overflow(depth + 1) + pad[0];
}

static void
do_overflow(void)
{
    overflow(0);
}

/* Runs fn in a child that has the handler installed, logs to a temp file and reports on a
 * pipe; collects all three. */
static void
run_child(void (*fn)(void), ff_crash_kind_t kind, uint32_t cmd, outcome_t *out)
{
    char path[] = "/tmp/crash_test_XXXXXX";
    int fds[2], logfd = mkstemp(path);
    FILE *f;
    pid_t pid;

    assert_true(logfd >= 0);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ff_log_init("child", path, FF_LOG_INFO);
        ff_crash_install(fds[1]);
        ff_crash_enter(kind, cmd, "/x/libgame.so");
        fn();
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(waitpid(pid, &out->wstatus, 0), pid);
    memset(&out->rec, 0, sizeof(out->rec));
    out->rec_len = read(fds[0], &out->rec, sizeof(out->rec));
    close(fds[0]);
    f = fdopen(logfd, "r");
    out->log[fread(out->log, 1, sizeof(out->log) - 1, f)] = '\0';
    fclose(f);
    unlink(path);
}

static void
check_record(const outcome_t *o, int signo, ff_crash_kind_t kind, uint32_t cmd)
{
    assert_true(WIFSIGNALED(o->wstatus));
    assert_int_equal(WTERMSIG(o->wstatus), signo);
    assert_int_equal(o->rec_len, sizeof(o->rec));
    assert_int_equal(o->rec.magic, FF_CRASH_MAGIC);
    assert_int_equal(o->rec.signo, signo);
    assert_int_equal(o->rec.kind, kind);
    assert_int_equal(o->rec.cmd, cmd);
    assert_non_null(strstr(o->log, "E crash: #0 "));
    assert_non_null(strstr(o->log, "E crash: #1 "));
}

static void
test_segv_in_command(void **state)
{
    static outcome_t o;

    (void)state;
    run_child(null_deref, FF_CRASH_COMMAND, 42, &o);
    check_record(&o, SIGSEGV, FF_CRASH_COMMAND, 42);
    assert_non_null(strstr(o.log, "] E crash: signal 11 (Segmentation fault, address 0x0) in "
                                  "command 42 (app /x/libgame.so); backtrace:\n"));
    assert_non_null(strstr(o.log, "child["));
}

static void
test_abort_in_timer(void **state)
{
    static outcome_t o;

    (void)state;
    run_child(do_abort, FF_CRASH_TIMER, 0, &o);
    check_record(&o, SIGABRT, FF_CRASH_TIMER, 0);
    assert_non_null(strstr(o.log, "E crash: signal 6 (Aborted) in an app timer (app "));
}

static void
test_stack_overflow(void **state)
{
    static outcome_t o;

    (void)state;
    run_child(do_overflow, FF_CRASH_COMMAND, 7, &o);
    check_record(&o, SIGSEGV, FF_CRASH_COMMAND, 7);
    assert_non_null(strstr(o.log, "E crash: signal 11 (Segmentation fault, address 0x"));
}

static void
test_describe(void **state)
{
    ff_crash_record_t r = {FF_CRASH_MAGIC, SIGSEGV, FF_CRASH_COMMAND, 4294901761u};
    ff_crash_ctx_t prev;
    char buf[64];

    (void)state;
    ff_crash_describe(&r, buf, sizeof(buf));
    assert_string_equal(buf, " in command 4294901761");
    r.kind = FF_CRASH_FRAMEWORK;
    ff_crash_describe(&r, buf, sizeof(buf));
    assert_string_equal(buf, " outside app code");
    r.kind = FF_CRASH_CONN_LOST;
    ff_crash_describe(&r, buf, sizeof(buf));
    assert_string_equal(buf, " in the app's connection-lost hook");
    r.magic = 0;
    ff_crash_describe(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    prev = ff_crash_enter(FF_CRASH_COMMAND, 9, NULL);
    ff_crash_where(buf, sizeof(buf));
    assert_string_equal(buf, " in command 9");
    ff_crash_leave(prev);
    ff_crash_where(buf, sizeof(buf));
    assert_string_equal(buf, " outside app code");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segv_in_command),
        cmocka_unit_test(test_abort_in_timer),
        cmocka_unit_test(test_stack_overflow),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
