/* crash: what a node says when it dies of a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT). Its log gets one ERROR line naming the signal and what the node was running (the
 * command whose handler ran, a timer, ...), then the backtrace, one frame a line; master gets
 * a fixed-size record on the crash descriptor it handed the node (`--crash-fd 4`), which it
 * reads when it reaps the node, so that /status shows the crash with the exit. Then the
 * signal is raised again with its default action: the node dies of it as it would have, and
 * master sees that signal. The handler makes async-signal-safe calls only. */
#ifndef FF_CRASH_H
#define FF_CRASH_H

#include <stddef.h>
#include <stdint.h>

/* What the node runs, for the crash line and the record. */
typedef enum {
    FF_CRASH_FRAMEWORK, /* the node's own code, no app code on the stack */
    FF_CRASH_COMMAND,   /* the handler of a command (cmd is its id) */
    FF_CRASH_TIMER,     /* an app timer (ff_timer_once) */
    FF_CRASH_CALLBACK,  /* an app callback (store) */
    FF_CRASH_CONN_LOST, /* the app's connection-lost hook */
    FF_CRASH_INIT,      /* the app's init */
    FF_CRASH_FINI,      /* the app's fini */
} ff_crash_kind_t;

#define FF_CRASH_MAGIC 0x46464352u /* "FFCR" */

/* The record a crashing node writes to its crash descriptor: one write(2) of this size. */
typedef struct {
    uint32_t magic; /* FF_CRASH_MAGIC */
    int32_t signo;
    uint32_t kind; /* ff_crash_kind_t */
    uint32_t cmd;  /* with FF_CRASH_COMMAND */
} ff_crash_record_t;

/* Installs the handler for the fatal signals on an alternate stack (a stack overflow is
 * reported too), loads the unwinder now (backtrace() once) so that the handler never has
 * to, and keeps report_fd (-1 = none; made close-on-exec) for the record. The crash line and
 * backtrace go to the log's descriptor (ff_log_fd()). Returns 0 or -errno. */
int ff_crash_install(int report_fd);
/* What the node runs: see ff_crash_enter. */
typedef struct {
    uint64_t what; /* kind << 32 | cmd */
    const char *app;
} ff_crash_ctx_t;

/* Sets what the node runs from now on (app is the app's path, borrowed until the matching
 * ff_crash_leave; may be NULL). Returns the previous state for ff_crash_leave. */
ff_crash_ctx_t ff_crash_enter(ff_crash_kind_t kind, uint32_t cmd, const char *app);
/* Restores the state ff_crash_enter returned. */
void ff_crash_leave(ff_crash_ctx_t prev);
/* What the node runs now, worded as ff_crash_describe does: " in command 42". */
void ff_crash_where(char *buf, size_t len);
/* " in command 42", " in an app timer", ... for a record read by master: appended to
 * `signal 11 (Segmentation fault)`. Writes "" for a record that is not one (wrong magic). */
void ff_crash_describe(const ff_crash_record_t *r, char *buf, size_t len);

#endif
