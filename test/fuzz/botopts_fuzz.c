/* botopts_fuzz: the bot's config file parser (bot_opts_load) on arbitrary file contents,
 * then bot_opts_check and bot_opts_print: a refusal is one line naming the file, and the
 * options loaded keep their strings terminated inside their buffers. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "opts.h"

static void
print_cb(void *arg, const char *line)
{
    size_t *n = arg;

    *n += strlen(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    char err[1024];
    bot_opts_t o;
    size_t printed = 0;
    int fd;

    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/bot.json", fuzz_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
    bot_opts_default(&o);
    memset(err, 'x', sizeof(err));
    if (bot_opts_load(&o, path, err, sizeof(err)) < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && strchr(err, '\n') == NULL);
        return 0;
    }
    FUZZ_CHECK(strnlen(o.host, sizeof(o.host)) < sizeof(o.host));
    FUZZ_CHECK(strnlen(o.account_prefix, sizeof(o.account_prefix)) < sizeof(o.account_prefix));
    FUZZ_CHECK(strnlen(o.password, sizeof(o.password)) < sizeof(o.password));
    FUZZ_CHECK(strnlen(o.json_path, sizeof(o.json_path)) < sizeof(o.json_path));
    FUZZ_CHECK(strnlen(o.html_path, sizeof(o.html_path)) < sizeof(o.html_path));
    FUZZ_CHECK(o.port >= 1 && o.port <= 65535 && o.users >= 1 && o.workers >= 1);
    FUZZ_CHECK(o.login >= BOT_LOGIN_NONE && o.login <= BOT_LOGIN_DIABLO);
    if (bot_opts_check(&o, err, sizeof(err)) < 0)
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    bot_opts_print(&o, print_cb, &printed);
    FUZZ_CHECK(printed > 0);
    return 0;
}
