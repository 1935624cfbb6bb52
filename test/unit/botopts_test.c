/* botopts_test: the bot's options: defaults, `set` by name with range checks, config files
 * (every error names the file and the key), netconnect, and the combination checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "opts.h"

static char err[1024];

/* Writes text to a new temp file; returns its path (static). */
static const char *
temp_config(const char *text)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/botopts-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void
test_defaults(void **state)
{
    bot_opts_t o;

    (void)state;
    bot_opts_default(&o);
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 11009);
    assert_int_equal(o.users, 20);
    assert_false(o.loop);
    assert_int_equal(o.login, BOT_LOGIN_DIABLO);
    assert_memory_equal(o.proto.magic, "N%&0", 4);
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), 0);
}

static void
test_set(void **state)
{
    bot_opts_t o;

    (void)state;
    bot_opts_default(&o);
    assert_int_equal(bot_opts_set(&o, "users", "1000", err, sizeof(err)), 0);
    assert_int_equal(o.users, 1000);
    assert_int_equal(bot_opts_set(&o, "loop", "on", err, sizeof(err)), 0);
    assert_true(o.loop);
    assert_int_equal(bot_opts_set(&o, "stay", "0.25", err, sizeof(err)), 0);
    assert_true(o.stay_ratio == 0.25);
    assert_int_equal(bot_opts_set(&o, "login", "echo", err, sizeof(err)), 0);
    assert_int_equal(o.login, BOT_LOGIN_ECHO);
    assert_int_equal(bot_opts_set(&o, "users", "0", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "users"));
    assert_int_equal(bot_opts_set(&o, "users", "2.5", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "users", "12abc", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "port", "70000", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "loop", "maybe", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "login", "steam", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "accountPrefix", "toolongname", err, sizeof(err)), -1);
    assert_int_equal(bot_opts_set(&o, "nosuch", "1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nosuch: no such option"));
    assert_int_equal(o.users, 1000); /* refused values change nothing */
}

static void
test_load(void **state)
{
    bot_opts_t o;
    const char *path;

    (void)state;
    bot_opts_default(&o);
    path = temp_config("{\"users\": 500, \"loop\": true, \"gameTime\": 3000, \"stay\": 0.75,"
                       " \"host\": \"10.0.0.1\", \"json\": \"r.json\","
                       " \"netconnect\": {\"magic\": \"ABCD\", \"protoVersion\": 3}}");
    assert_int_equal(bot_opts_load(&o, path, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(o.users, 500);
    assert_true(o.loop);
    assert_int_equal(o.game_time_ms, 3000);
    assert_true(o.stay_ratio == 0.75);
    assert_string_equal(o.host, "10.0.0.1");
    assert_string_equal(o.json_path, "r.json");
    assert_memory_equal(o.proto.magic, "ABCD", 4);
    assert_int_equal(o.proto.proto_version, 3);
}

static void
test_load_errors(void **state)
{
    static const char *const bad[][2] = {
        {"{\"users\": -1}", "users"},
        {"{\"gameTime\": \"long\"}", "gameTime"},
        {"{\"loop\": [1]}", "loop"},
        {"{\"speed\": 1}", "speed"},
        {"{\"netconnect\": {\"magic\": \"AB\"}}", "netconnect.magic"},
        {"{\"users\": 1,}", ":1:"},
        {"[1, 2]", "a JSON object"},
    };
    bot_opts_t o;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *path = temp_config(bad[i][0]);
        bot_opts_default(&o);
        assert_int_equal(bot_opts_load(&o, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, bad[i][1]));
        unlink(path);
    }
    {
        char text[700];
        const char *path;

        snprintf(text, sizeof(text), "{\"json\": \"%0600d\"}", 7); /* a 600-character path */
        path = temp_config(text);
        bot_opts_default(&o);
        assert_int_equal(bot_opts_load(&o, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "json: longer than"));
        unlink(path);
    }
    assert_int_equal(bot_opts_load(&o, "/nonexistent/bot.json", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/bot.json"));
}

static void
test_check(void **state)
{
    bot_opts_t o;

    (void)state;
    bot_opts_default(&o);
    o.think_min_ms = 2000;
    o.think_max_ms = 1000;
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "thinkMin"));
    bot_opts_default(&o);
    o.workers = 30;
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), -1);
    bot_opts_default(&o);
    o.first_account = 99990;
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), -1);
    bot_opts_default(&o);
    o.users = 10; /* --once: 10 players cannot fill arenas of 4 */
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "multiple of arenaSize"));
    o.loop = true;
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), 0);
    bot_opts_default(&o);
    snprintf(o.account_prefix, sizeof(o.account_prefix), "ab");
    assert_int_equal(bot_opts_check(&o, err, sizeof(err)), 0); /* ab00000: 7 characters */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_set),
        cmocka_unit_test(test_load),     cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
