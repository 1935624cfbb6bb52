/* log: timestamped single-line logging to a file or stderr. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int ff_log_level = FF_LOG_INFO;
static char log_name[64] = "firefly";
static FILE *log_file;
static int log_fd = 2;
static char last_error[512];

int
ff_log_init(const char *name, const char *path, int level)
{
    int rc = 0;

    snprintf(log_name, sizeof(log_name), "%s", name);
    ff_log_level = level;
    if (log_file != NULL && log_file != stderr)
        fclose(log_file);
    log_file = stderr;
    if (path != NULL && path[0] != '\0') {
        FILE *f = fopen(path, "a");
        if (f == NULL)
            rc = -errno;
        else
            log_file = f;
    }
    setvbuf(log_file, NULL, _IOLBF, 0);
    log_fd = fileno(log_file);
    return rc;
}

int
ff_log_fd(void)
{
    return log_fd;
}

const char *
ff_log_last_error(void)
{
    return last_error;
}

const char *
ff_log_name(void)
{
    return log_name;
}

int
ff_log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void
ff_log_write(int level, const char *fmt, ...)
{
    static const char letters[] = "DIWE";
    char stamp[32], line[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03d %s[%d] %c ", stamp, (int)(tv.tv_usec / 1000),
                 log_name, (int)getpid(), letters[level & 3]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (level >= FF_LOG_ERROR)
        snprintf(last_error, sizeof(last_error), "%s", line + n);
    fprintf(log_file ? log_file : stderr, "%s\n", line);
}
