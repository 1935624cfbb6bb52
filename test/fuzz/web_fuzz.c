/* web_fuzz: master's web request parsing (webreq.c: http_parser with web.c's callbacks and
 * limits, the Authorization bearer check, the URL cut to its path) on bytes cut into the
 * pieces a socket delivers. The outcome (status, path, method, authorised) must not depend
 * on the cuts; the URL, the request and the kept token stay within their limits. Mode bit 0
 * configures a token ("fuzz-token-0123456789"), else none. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "webreq.h"

#define TOKEN "fuzz-token-0123456789"

typedef struct {
    int status;
    bool authorized;
    unsigned method;
    char path[WEB_MAX_URL + 1];
} outcome_t;

/* Feeds the pieces (or the whole stream) until the parser decides. */
static outcome_t
run(const fuzz_split_t *sp, const ff_bearer_t *token, bool whole)
{
    outcome_t o = {0, false, 0, ""};
    size_t npieces = whole ? (sp->len > 0) : sp->npieces, fed = 0;
    const char *what, *detail;
    webreq_t r;

    webreq_init(&r);
    for (size_t i = 0; i < npieces && o.status == 0; i++) {
        size_t from = whole ? 0 : sp->at[i], to = whole ? sp->len : sp->at[i + 1];
        char *copy = (char *)fuzz_dup(sp->data + from, to - from);

        o.status = webreq_feed(&r, copy, to - from, &what, &detail);
        free(copy);
        fed += to - from;
        FUZZ_CHECK(r.nread <= fed && r.url_len <= WEB_MAX_URL);
        FUZZ_CHECK(r.auth_len <= WEB_MAX_AUTH && (r.auth != NULL || r.auth_len == 0));
        FUZZ_CHECK(o.status == 0 || o.status == 200 || o.status == 400 || o.status == 413 ||
                   o.status == 414);
        FUZZ_CHECK((o.status == 0 || o.status == 200) == (what == NULL && detail == NULL));
    }
    if (o.status == 200) {
        FUZZ_CHECK(r.nread <= WEB_MAX_REQUEST);
        o.authorized = webreq_authorize(&r, token);
        FUZZ_CHECK(r.auth == NULL);
        FUZZ_CHECK(!o.authorized || !token->set || (r.auth_given && !r.auth_bad));
        if (webreq_path(&r) < 0) {
            o.status = 400;
        } else {
            FUZZ_CHECK(strlen(r.url) <= WEB_MAX_URL);
            memcpy(o.path, r.url, strlen(r.url) + 1);
        }
        o.method = r.parser.method;
    }
    webreq_forget(&r);
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ff_bearer_t none, token;
    fuzz_split_t sp;
    outcome_t cut, whole;

    if (!token.set && ff_bearer_init(&token, TOKEN) < 0)
        abort();
    fuzz_split(&sp, data, size);
    cut = run(&sp, sp.mode & 1 ? &token : &none, false);
    whole = run(&sp, sp.mode & 1 ? &token : &none, true);
    FUZZ_CHECK(cut.status == whole.status);
    FUZZ_CHECK(cut.authorized == whole.authorized && cut.method == whole.method);
    FUZZ_CHECK(strcmp(cut.path, whole.path) == 0);
    return 0;
}
