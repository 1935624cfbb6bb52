/* crash: the fatal-signal handler of a node: a crash line and a backtrace in the log, a
 * record for master, then death by the same signal.
 *
 * Inside the handler only async-signal-safe calls are made: clock_gettime, getpid, write,
 * raise; the line is formatted by hand (no stdio: the signal may have interrupted it with its
 * lock held). backtrace() is the one exception the glibc manual allows for once the unwinder
 * is loaded, which ff_crash_install does by calling it once. The handler runs on an
 * alternate stack, so that a stack overflow gets its line too, with every fatal signal
 * blocked: a second fault inside it kills the process at once, by the default action. */
#include "crash.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CRASH_FRAMES 64
#define CRASH_ALTSTACK (64 * 1024)

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static volatile uint64_t crash_what;
static const char *volatile crash_app;
static int crash_report = -1;
static char crash_stack[CRASH_ALTSTACK];

/* ---- what the node runs ------------------------------------------------------------- */

ff_crash_ctx_t
ff_crash_enter(ff_crash_kind_t kind, uint32_t cmd, const char *app)
{
    ff_crash_ctx_t prev = {crash_what, crash_app};

    crash_what = (uint64_t)kind << 32 | cmd;
    crash_app = app;
    return prev;
}

void
ff_crash_leave(ff_crash_ctx_t prev)
{
    crash_what = prev.what;
    crash_app = prev.app;
}

/* " in command 42" and the like; cmd only for FF_CRASH_COMMAND. Async-signal-safe. */
static const char *
kind_text(uint32_t kind)
{
    static const char *const texts[] = {
        " outside app code",
        " in command ",
        " in an app timer",
        " in an app callback",
        " in the app's connection-lost hook",
        " in the app's init",
        " in the app's fini",
    };
    return kind < sizeof(texts) / sizeof(texts[0]) ? texts[kind] : " (unknown context)";
}

void
ff_crash_describe(const ff_crash_record_t *r, char *buf, size_t len)
{
    if (r->magic != FF_CRASH_MAGIC)
        snprintf(buf, len, "%s", "");
    else if (r->kind == FF_CRASH_COMMAND)
        snprintf(buf, len, "%s%u", kind_text(r->kind), r->cmd);
    else
        snprintf(buf, len, "%s", kind_text(r->kind));
}

void
ff_crash_where(char *buf, size_t len)
{
    uint64_t what = crash_what;
    ff_crash_record_t r = {FF_CRASH_MAGIC, 0, (uint32_t)(what >> 32), (uint32_t)what};

    ff_crash_describe(&r, buf, len);
}

/* ---- the handler: async-signal-safe from here on ------------------------------------ */

typedef struct {
    char b[1024];
    size_t n;
} line_t;

static void
put_str(line_t *l, const char *s)
{
    while (s != NULL && *s != '\0' && l->n < sizeof(l->b))
        l->b[l->n++] = *s++;
}

static void
put_num(line_t *l, uint64_t v, unsigned base, int width)
{
    char d[24];
    int i = 0;

    do {
        d[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while ((v != 0 || i < width) && i < (int)sizeof(d));
    while (i > 0 && l->n < sizeof(l->b))
        l->b[l->n++] = d[--i];
}

/* The log line's prefix `2026-11-22T03:04:05.678 game1[4242] E crash: `, the date computed by
 * hand (gmtime_r is not async-signal-safe): days to civil date, after Howard Hinnant. */
static void
put_prefix(line_t *l)
{
    struct timespec ts;
    int64_t days, z, era, doe, yoe, doy, mp, y, m, d, secs;

    clock_gettime(CLOCK_REALTIME, &ts);
    days = ts.tv_sec / 86400;
    secs = ts.tv_sec % 86400;
    z = days + 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);
    const struct {
        int64_t v;
        int width;
        const char *sep;
    } f[] = {{y, 4, "-"},
             {m, 2, "-"},
             {d, 2, "T"},
             {secs / 3600, 2, ":"},
             {secs / 60 % 60, 2, ":"},
             {secs % 60, 2, "."},
             {ts.tv_nsec / 1000000, 3, " "}};

    l->n = 0;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        put_num(l, (uint64_t)f[i].v, 10, f[i].width);
        put_str(l, f[i].sep);
    }
    put_str(l, ff_log_name());
    put_str(l, "[");
    put_num(l, (uint64_t)getpid(), 10, 1);
    put_str(l, "] E crash: ");
}

static void
write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    ssize_t n;

    while (len > 0) {
        n = write(fd, c, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        c += n;
        len -= (size_t)n;
    }
}

static const char *
signal_name(int signo)
{
    switch (signo) {
    case SIGSEGV:
        return "Segmentation fault";
    case SIGBUS:
        return "Bus error";
    case SIGFPE:
        return "Floating point exception";
    case SIGILL:
        return "Illegal instruction";
    case SIGABRT:
        return "Aborted";
    }
    return "fatal signal";
}

/* `signal 11 (Segmentation fault, address 0x0) in command 42 (app /x/libgame.so); backtrace:` */
static void
log_crash_line(int fd, int signo, const siginfo_t *si, uint64_t what, const char *app)
{
    line_t l;
    uint32_t kind = (uint32_t)(what >> 32);

    put_prefix(&l);
    put_str(&l, "signal ");
    put_num(&l, (uint64_t)signo, 10, 1);
    put_str(&l, " (");
    put_str(&l, signal_name(signo));
    if (signo != SIGABRT && si != NULL && si->si_code > 0) {
        put_str(&l, ", address 0x");
        put_num(&l, (uint64_t)(uintptr_t)si->si_addr, 16, 1);
    }
    put_str(&l, ")");
    put_str(&l, kind_text(kind));
    if (kind == FF_CRASH_COMMAND)
        put_num(&l, (uint32_t)what, 10, 1);
    if (app != NULL && kind != FF_CRASH_FRAMEWORK) {
        put_str(&l, " (app ");
        put_str(&l, app);
        put_str(&l, ")");
    }
    put_str(&l, "; backtrace:\n");
    write_all(fd, l.b, l.n);
}

/* One log line per frame, the handler's own frame left out. */
static void
log_backtrace(int fd)
{
    void *frames[CRASH_FRAMES];
    int n = backtrace(frames, CRASH_FRAMES);
    line_t l;

    for (int i = 1; i < n; i++) {
        put_prefix(&l);
        put_str(&l, "#");
        put_num(&l, (uint64_t)(i - 1), 10, 1);
        put_str(&l, " ");
        write_all(fd, l.b, l.n);
        backtrace_symbols_fd(&frames[i], 1, fd);
    }
}

static void
crash_handler(int signo, siginfo_t *si, void *uctx)
{
    int saved = errno, fd = ff_log_fd();
    uint64_t what = crash_what;
    ff_crash_record_t rec = {FF_CRASH_MAGIC, signo, (uint32_t)(what >> 32), (uint32_t)what};

    (void)uctx;
    log_crash_line(fd, signo, si, what, crash_app);
    log_backtrace(fd);
    if (crash_report >= 0)
        write_all(crash_report, &rec, sizeof(rec));
    /* SA_RESETHAND restored the default action on entry. The signal is blocked until the
     * handler returns: then it kills the process, a fault also by happening again. */
    raise(signo);
    errno = saved;
}

/* ---- installation -------------------------------------------------------------------- */

int
ff_crash_install(int report_fd)
{
    void *frame;
    stack_t ss = {.ss_sp = crash_stack, .ss_size = sizeof(crash_stack), .ss_flags = 0};
    struct sigaction sa;

    backtrace(&frame, 1);
    if (report_fd >= 0 && fcntl(report_fd, F_SETFD, FD_CLOEXEC) == 0)
        crash_report = report_fd;
    if (sigaltstack(&ss, NULL) < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
        sigaddset(&sa.sa_mask, fatal_signals[i]);
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
        if (sigaction(fatal_signals[i], &sa, NULL) < 0)
            return -errno;
    return 0;
}
