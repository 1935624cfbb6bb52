/* log: one line per event, `2026-11-22T03:04:05.678 game1[4242] W bus: text`. */
#ifndef FF_LOG_H
#define FF_LOG_H

enum { FF_LOG_DEBUG, FF_LOG_INFO, FF_LOG_WARN, FF_LOG_ERROR };

extern int ff_log_level;

/* Sets the process name shown in every line and opens `path` for appending (NULL or "" =
 * stderr). Returns 0, or -errno when the file cannot be opened (stderr is used then). */
int ff_log_init(const char *name, const char *path, int level);
/* Parses "debug"/"info"/"warn"/"error"; returns -1 when unknown. */
int ff_log_parse_level(const char *s);
/* The descriptor lines go to (the log file's, or 2), for code that may not use stdio: the
 * crash handler. */
int ff_log_fd(void);
/* The text of the last ERROR line written (after `E `), "" when none: what a process that
 * fails to start repeats on its stderr. */
const char *ff_log_last_error(void);
/* The process name shown in every line. */
const char *ff_log_name(void);
/* Writes one line; use the ff_log macro, which tests the level first. */
void ff_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ff_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= ff_log_level)                                                               \
            ff_log_write((level), __VA_ARGS__);                                                    \
    } while (0)

#endif
