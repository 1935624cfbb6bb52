/* botreport_test: the bot's statistics (outcomes, code slots, timeline coarsening, merges
 * across steps) and its reports: the JSON round trip must give back identical figures, the
 * HTML must escape what it shows, the table and the progress line must say what they should. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "report.h"
#include "stats.h"

static bot_stats_t *
stats_new(uint32_t users)
{
    bot_stats_t *s = ff_malloc(sizeof(*s));

    bot_stats_init(s, users);
    return s;
}

/* A run of 40 s with every kind of figure: replies over six orders of magnitude, refused
 * replies, error codes, failures, gauges, and a coarsened timeline (step 2). */
static bot_stats_t *
stats_sample(void)
{
    bot_stats_t *s = stats_new(100);

    for (uint32_t sec = 0; sec < 40; sec++) {
        s->now_s = sec;
        for (uint32_t i = 0; i < 50; i++) {
            bot_op_t op = (bot_op_t)((sec + i) % BOT_OPS);
            bot_stats_reply(s, op, 1000ull * (i + 1) * (sec + 1) * (i % 7 + 1), 0, false);
        }
        bot_stats_reply(s, BOT_OP_ENTER, 2000000, 419004, true);
        if (sec % 10 == 0)
            bot_stats_reply(s, BOT_OP_CREATE, 3000000, 500, false);
        if (sec % 13 == 0)
            bot_stats_fail(s, BOT_OP_ENTER, BOT_CODE_TIMEOUT);
        s->online = sec * 2;
        s->in_game = sec;
        bot_stats_gauge(s);
    }
    s->now_s = 700; /* coarsens to step 2 */
    bot_stats_gauge(s);
    s->games = 321;
    s->abandoned = 4;
    s->done = 17;
    s->elapsed_s = 700.25;
    s->started_ms = 1795835045678ull;
    return s;
}

static void
test_reply_accounting(void **state)
{
    bot_stats_t *s = stats_new(10);
    const bot_op_stats_t *e = &s->ops[BOT_OP_ENTER];

    (void)state;
    bot_stats_reply(s, BOT_OP_ENTER, 1500000, 0, false);
    for (int i = 0; i < 3; i++)
        bot_stats_reply(s, BOT_OP_ENTER, 2000000, 419004, true);
    bot_stats_reply(s, BOT_OP_ENTER, 2500000, 419004, false);
    bot_stats_reply(s, BOT_OP_ENTER, 3000000, 500, false);
    bot_stats_fail(s, BOT_OP_ENTER, BOT_CODE_TIMEOUT);
    bot_stats_fail(s, BOT_OP_ENTER, BOT_CODE_CLOSED);
    bot_stats_reply(s, BOT_OP_WAIT_START, 9000000, 0, false);

    assert_int_equal(e->ok, 1);
    assert_int_equal(e->refused, 3);
    assert_int_equal(e->errors, 4);
    assert_int_equal(bot_stats_count(e), 8);
    assert_int_equal(e->hist.total, 6); /* every reply, not the failures */
    assert_int_equal(e->hist.min, 1500000);
    assert_int_equal(e->hist.max, 3000000);
    assert_int_equal(e->codes[0].code, 419004);
    assert_int_equal(e->codes[0].refused, 1);
    assert_int_equal(e->codes[0].count, 3);
    assert_int_equal(e->codes[1].code, 419004);
    assert_int_equal(e->codes[1].refused, 0);
    assert_int_equal(e->codes[1].count, 1);
    assert_int_equal(e->codes[2].code, 500);
    assert_int_equal(e->codes[3].code, BOT_CODE_TIMEOUT);
    assert_int_equal(e->codes[4].code, BOT_CODE_CLOSED);
    assert_int_equal(e->codes[5].code, 0);
    assert_int_equal(s->ops[BOT_OP_WAIT_START].ok, 1);
    assert_int_equal(bot_stats_errors(s), 4);
    /* The timeline: the wait's push is no reply to a request. */
    assert_int_equal(s->nticks, 1);
    assert_int_equal(s->ticks[0].replies, 6);
    assert_int_equal(s->ticks[0].errors, 4);
    ff_free(s);
}

static void
test_code_slots_overflow(void **state)
{
    bot_stats_t *s = stats_new(1);
    const bot_op_stats_t *o = &s->ops[BOT_OP_LIST];

    (void)state;
    for (uint32_t round = 0; round < 2; round++)
        for (uint32_t code = 1000; code < 1000 + BOT_MAX_CODES + 4; code++)
            bot_stats_reply(s, BOT_OP_LIST, 1000, code, false);
    assert_int_equal(o->errors, 2 * (BOT_MAX_CODES + 4));
    for (int i = 0; i < BOT_MAX_CODES; i++) {
        assert_int_equal(o->codes[i].code, 1000 + (uint32_t)i);
        assert_int_equal(o->codes[i].count, 2);
    }
    assert_int_equal(o->other_codes, 8);
    ff_free(s);
}

static void
test_timeline_coarsening(void **state)
{
    bot_stats_t *s = stats_new(1);
    uint64_t replies = 0;

    (void)state;
    for (uint32_t sec = 0; sec <= 1500; sec++) {
        s->now_s = sec;
        bot_stats_reply(s, BOT_OP_LIST, 1000, 0, false);
        if (sec % 3 == 0)
            bot_stats_reply(s, BOT_OP_LIST, 1000, 0, false);
        s->online = sec % 4 == 1 ? 1000 + sec : sec; /* a peak inside each slot of 4 s */
        bot_stats_gauge(s);
    }
    /* 1500 s fit 600 slots of 4 s: 1500 / 4 = slot 375. */
    assert_int_equal(s->step_s, 4);
    assert_int_equal(s->nticks, 376);
    for (uint32_t i = 0; i < BOT_TIMELINE; i++)
        replies += s->ticks[i].replies;
    assert_int_equal(replies, s->ops[BOT_OP_LIST].hist.total);
    assert_int_equal(replies, 1501 + 501);
    /* Gauges keep the larger of merged slots: the peak. */
    assert_int_equal(s->ticks[0].online, 1001);
    assert_int_equal(s->ticks[100].online, 1401);
    assert_int_equal(s->ticks[375].online, 1500);
    assert_int_equal(s->ticks[376].online, 0);
    ff_free(s);
}

static uint64_t
timeline_replies(const bot_stats_t *s)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < BOT_TIMELINE; i++)
        n += s->ticks[i].replies;
    return n;
}

static void
test_merge_steps(void **state)
{
    bot_stats_t *a = stats_new(10), *b = stats_new(20), *c = stats_new(0);

    (void)state;
    for (uint32_t sec = 0; sec < 10; sec++) {
        a->now_s = sec;
        bot_stats_reply(a, BOT_OP_ENTER, 1000000, sec == 3 ? 419004 : 0, sec == 3);
        a->online = 5;
        bot_stats_gauge(a);
    }
    for (uint32_t sec = 0; sec <= 700; sec++) {
        b->now_s = sec;
        bot_stats_reply(b, BOT_OP_ENTER, 5000000, 0, false);
        b->online = 7;
        bot_stats_gauge(b);
    }
    bot_stats_fail(b, BOT_OP_ENTER, BOT_CODE_TIMEOUT);
    a->started_ms = 1000;
    b->started_ms = 2000;
    a->elapsed_s = 10;
    b->elapsed_s = 700.5;
    assert_int_equal(b->step_s, 2);

    /* The finer one into the coarser one, and the other way round. */
    memcpy(c, a, sizeof(*c));
    bot_stats_merge(c, b);
    bot_stats_merge(b, a);
    for (bot_stats_t *m = b; m != NULL; m = m == b ? c : NULL) {
        assert_int_equal(m->step_s, 2);
        assert_int_equal(m->nticks, 351);
        assert_int_equal(timeline_replies(m), 711);
        assert_int_equal(m->ticks[0].replies, 4);
        assert_int_equal(m->ticks[0].online, 12);
        assert_int_equal(m->ticks[5].online, 7);
        assert_int_equal(m->ticks[350].errors, 1);
        assert_int_equal(m->ops[BOT_OP_ENTER].ok, 710);
        assert_int_equal(m->ops[BOT_OP_ENTER].refused, 1);
        assert_int_equal(m->ops[BOT_OP_ENTER].errors, 1);
        assert_int_equal(m->ops[BOT_OP_ENTER].hist.total, 711);
        assert_int_equal(m->ops[BOT_OP_ENTER].hist.min, 1000000);
        assert_int_equal(m->users, 30);
        assert_int_equal(m->started_ms, 1000);
        assert_true(m->elapsed_s == 700.5);
        assert_int_equal(m->now_s, 700);
    }
    /* The same codes whatever the order they met in. */
    assert_int_equal(b->ops[BOT_OP_ENTER].codes[0].code, BOT_CODE_TIMEOUT);
    assert_int_equal(b->ops[BOT_OP_ENTER].codes[1].code, 419004);
    assert_int_equal(c->ops[BOT_OP_ENTER].codes[0].code, 419004);
    assert_int_equal(c->ops[BOT_OP_ENTER].codes[1].code, BOT_CODE_TIMEOUT);

    /* An odd number of slots coarsens to one more than half: 11 s at step 2 are 6 slots. */
    bot_stats_init(a, 0);
    bot_stats_init(b, 0);
    a->now_s = 10;
    bot_stats_gauge(a);
    b->step_s = 2;
    bot_stats_merge(a, b);
    assert_int_equal(a->step_s, 2);
    assert_int_equal(a->nticks, 6);
    ff_free(a);
    ff_free(b);
    ff_free(c);
}

static const bot_report_meta_t sample_meta = {
    .target = "127.0.0.1:11009",
    .login = "diablo",
    .users = 100,
    .workers = 2,
    .arena_size = 4,
    .game_time_ms = 10000,
    .loop = true,
    .duration_s = 60,
};

/* A fresh temporary file name (the file exists, empty). */
static void
temp_path(char *path, size_t len, const char *suffix)
{
    int fd;

    snprintf(path, len, "/tmp/botreport_XXXXXX%s", suffix);
    fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    close(fd);
}

/* The whole file, NUL-terminated; the caller frees it. */
static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = ff_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
test_json_round_trip(void **state)
{
    bot_stats_t *s = stats_sample(), *back = ff_calloc(1, sizeof(*back));
    char path[64], tmp[80], err[256];

    (void)state;
    temp_path(path, sizeof(path), ".json");
    assert_int_equal(bot_report_json(path, s, &sample_meta), 0);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(bot_report_load(path, back, err, sizeof(err)), 0);

    assert_int_equal(s->step_s, 2);
    assert_true(s->ops[BOT_OP_ENTER].codes[1].code != 0);
    assert_memory_equal(back->ops, s->ops, sizeof(s->ops));
    assert_memory_equal(back->ticks, s->ticks, sizeof(s->ticks));
    assert_int_equal(back->step_s, s->step_s);
    assert_int_equal(back->nticks, s->nticks);
    assert_int_equal(back->games, s->games);
    assert_int_equal(back->abandoned, s->abandoned);
    assert_int_equal(back->users, s->users);
    assert_int_equal(back->done, s->done);
    assert_int_equal(back->started_ms, s->started_ms);
    assert_true(back->elapsed_s == s->elapsed_s);

    /* A second load adds up. */
    assert_int_equal(bot_report_load(path, back, err, sizeof(err)), 0);
    assert_int_equal(back->ops[BOT_OP_ENTER].refused, 2 * s->ops[BOT_OP_ENTER].refused);
    assert_int_equal(back->ops[BOT_OP_ENTER].codes[0].count,
                     2 * s->ops[BOT_OP_ENTER].codes[0].count);
    assert_int_equal(back->ticks[3].replies, 2 * s->ticks[3].replies);
    unlink(path);
    ff_free(s);
    ff_free(back);
}

/* Loads `text` from a file; returns what bot_report_load returned, the message in err. */
static int
load_text(const char *text, char *err, size_t errlen, char *path, size_t pathlen)
{
    bot_stats_t *s = ff_calloc(1, sizeof(*s));
    FILE *f;
    int rc;

    temp_path(path, pathlen, ".json");
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    rc = bot_report_load(path, s, err, errlen);
    unlink(path);
    /* Nothing merged on an error. */
    for (int op = 0; rc < 0 && op < BOT_OPS; op++)
        assert_int_equal(s->ops[op].ok, 0);
    ff_free(s);
    return rc;
}

static void
test_json_load_errors(void **state)
{
    char err[256], path[64], want[128];
    bot_stats_t *s = ff_calloc(1, sizeof(*s));

    (void)state;
    assert_int_equal(load_text("{\"version\": 1,", err, sizeof(err), path, sizeof(path)), -1);
    snprintf(want, sizeof(want), "%s:1:", path);
    assert_memory_equal(err, want, strlen(want));
    assert_int_equal(load_text("{\"version\": 2}", err, sizeof(err), path, sizeof(path)), -1);
    assert_non_null(strstr(err, "version"));
    assert_int_equal(
        load_text("{\"version\":1,\"elapsed_s\":1,\"started\":\"2026-11-22T03:04:05.678Z\","
                  "\"users\":1,\"done\":0,\"games\":0,\"abandoned\":0,\"ops\":{\"enter\":"
                  "{\"count\":1,\"ok\":1,\"refused\":0,\"errors\":0,\"other_codes\":0,"
                  "\"codes\":{},\"hist\":{\"min\":5,\"max\":5,\"total\":1,"
                  "\"buckets\":[[5,2]]}}},\"timeline\":{\"step_s\":1,\"replies\":[],"
                  "\"errors\":[],\"online\":[],\"in_game\":[]}}",
                  err, sizeof(err), path, sizeof(path)),
        -1);
    assert_non_null(strstr(err, "ops.enter.hist"));
    assert_int_equal(bot_report_load("/nonexistent/r.json", s, err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/r.json: No such file or directory");
    ff_free(s);
}

static void
test_html(void **state)
{
    bot_stats_t *s = stats_sample();
    bot_report_meta_t m = sample_meta;
    char path[64];
    char *html;

    (void)state;
    m.target = "<x&y>";
    temp_path(path, sizeof(path), ".html");
    assert_int_equal(bot_report_html(path, s, &m), 0);
    html = slurp(path);
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "<polyline"));
    assert_non_null(strstr(html, "&lt;x&amp;y&gt;"));
    assert_null(strstr(html, "<x&y>"));
    assert_null(strstr(html, "<script"));
    /* Nothing fetched: no links, sources or CSS urls. */
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    assert_non_null(strstr(html, "enter→start"));
    assert_non_null(strstr(html, "</html>"));
    unlink(path);
    ff_free(html);
    /* A directory that does not exist: -1 with errno. */
    errno = 0;
    assert_int_equal(bot_report_html("/nonexistent/r.html", s, &m), -1);
    assert_int_equal(errno, ENOENT);
    ff_free(s);
}

static void
test_table(void **state)
{
    bot_stats_t *s = stats_sample();
    char *text = NULL;
    size_t len = 0;
    int width = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    s->ops[BOT_OP_WAIT_ENDED] = (bot_op_stats_t){0};
    bot_report_table(f, s);
    fclose(f);
    for (int op = 0; op < BOT_OPS; op++)
        if (op != BOT_OP_WAIT_ENDED)
            assert_non_null(strstr(text, bot_op_name((bot_op_t)op)));
    /* A wait with no count has no row. */
    assert_null(strstr(text, "result→ended"));
    assert_non_null(strstr(text, "  enter: 419004 x40 (refused), timeout x4\n"));
    assert_non_null(strstr(text, "  create: 500 x4\n"));
    assert_non_null(strstr(text, "users 100  games played 321  abandoned waits 4  elapsed 700."));
    assert_non_null(strstr(text, "errors 8\n"));
    /* Aligned: the header and the rows of all ops but one (11 lines) as wide on a terminal. */
    for (int i = 0, line = 0; line < BOT_OPS; line++) {
        int w = 0;
        for (; text[i] != '\n'; i++)
            w += ((unsigned char)text[i] & 0xC0) != 0x80;
        i++;
        if (line == 0)
            width = w;
        assert_int_equal(w, width);
    }
    free(text);
    ff_free(s);
}

static void
test_progress(void **state)
{
    bot_stats_t *s = stats_new(1000);
    char line[256];

    (void)state;
    bot_report_progress(line, sizeof(line), s);
    assert_string_equal(line, "[   0s] online 0/1000  in game 0  req/s 0  errors 0  games 0");
    for (uint32_t i = 0; i < 2134; i++)
        bot_stats_reply(s, BOT_OP_LIST, 1000, 0, false);
    s->now_s = 1;
    bot_stats_reply(s, BOT_OP_LIST, 1000, 0, false);
    s->elapsed_s = 12.7;
    s->online = 1000;
    s->in_game = 412;
    s->games = 3210;
    bot_report_progress(line, sizeof(line), s);
    assert_string_equal(
        line, "[  12s] online 1000/1000  in game 412  req/s 2,134  errors 0  games 3,210");
    ff_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_accounting),
        cmocka_unit_test(test_code_slots_overflow),
        cmocka_unit_test(test_timeline_coarsening),
        cmocka_unit_test(test_merge_steps),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_load_errors),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
