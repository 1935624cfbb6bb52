/* spawn: process creation for master: fork/exec of a role binary with the parent-death
 * signal set, and mkdir -p of the directories that log files go into. */
#ifndef MASTER_SPAWN_H
#define MASTER_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

/* The descriptor a child reads its handoff from (its argv says so: --secret-fd 3). */
#define SPAWN_HANDOFF_FD 3
/* The descriptor a child writes its crash record to (its argv says so: --crash-fd 4). */
#define SPAWN_REPORT_FD 4

/* Forks and execs `path` with `argv` (NULL-terminated), cwd and environment unchanged. The
 * child gets default signal dispositions, an empty signal mask, SIGTERM when master dies,
 * and no inherited descriptors beyond 0-2, SPAWN_HANDOFF_FD: a pipe holding the handoff_len
 * bytes at handoff, then end of file, and, when report_fd >= 0, a copy of report_fd as
 * SPAWN_REPORT_FD (the caller keeps and closes its own). Returns 0 with the child's PID in
 * *pid once the exec has succeeded, or a negative errno (fork failed, or the exec failed:
 * that child has already been reaped). The caller reaps a started child (waitpid) when it
 * exits. */
int spawn_process(const char *path, char *const argv[], const void *handoff, size_t handoff_len,
                  int report_fd, pid_t *pid);
/* Creates the directory that the file `path` lives in, and its parents (mkdir -p). A path
 * without a directory part is fine. Returns 0, or -1 with `cannot create directory DIR:
 * reason` in err. */
int spawn_mkdirs(const char *path, char *err, size_t errlen);
/* spawn_mkdirs for master's log and every server's log in conf. Returns 0 or -1 (err set). */
int spawn_log_dirs(const ff_conf_t *conf, char *err, size_t errlen);

#endif
