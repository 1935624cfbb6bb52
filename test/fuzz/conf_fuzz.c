/* conf_fuzz: config.json validation (ff_conf_load_text) on arbitrary text: every refusal is
 * one line naming the file, and every config accepted holds what its checks promise (one
 * gate, ports in range and not shared, remoteport names that exist, distinct net ids). */
#include <stdbool.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

#define NAME "config.json"

static bool
port_ok(int port, bool required)
{
    return (port == 0 && !required) || (port >= 1 && port <= 65535);
}

static void
check_server(const ff_conf_t *c, const ff_conf_server_t *s)
{
    FUZZ_CHECK(s->name != NULL && ff_conf_server(c, s->name) == s);
    FUZZ_CHECK(s->role >= FF_ROLE_GATE && s->role <= FF_ROLE_DBFRONT);
    FUZZ_CHECK(s->host != NULL);
    FUZZ_CHECK(port_ok(s->rootport, s->role == FF_ROLE_GATE || s->role == FF_ROLE_DBFRONT));
    FUZZ_CHECK(port_ok(s->netport, s->role == FF_ROLE_NET));
    FUZZ_CHECK(s->role == FF_ROLE_NET || s->netport == 0);
    FUZZ_CHECK(s->role != FF_ROLE_GAME || s->app != NULL);
    FUZZ_CHECK(s->rootport == 0 ||
               (s->rootport != c->master.rootport && s->rootport != c->master.webport));
    FUZZ_CHECK(s->netport == 0 ||
               (s->netport != c->master.rootport && s->netport != c->master.webport));
    FUZZ_CHECK(s->nremotes >= 0 && (s->nremotes == 0 || s->remotes != NULL));
    for (int i = 0; i < s->nremotes; i++) {
        const ff_conf_server_t *to = ff_conf_server(c, s->remotes[i].rootname);
        FUZZ_CHECK(to != NULL && to->rootport == s->remotes[i].rootport);
        FUZZ_CHECK(s->remotes[i].roothost != NULL);
    }
    for (int j = 0; j < c->nservers; j++) {
        const ff_conf_server_t *o = &c->servers[j];
        if (o == s)
            continue;
        FUZZ_CHECK(strcmp(o->name, s->name) != 0);
        FUZZ_CHECK(s->rootport == 0 || (s->rootport != o->rootport && s->rootport != o->netport));
        FUZZ_CHECK(s->role != FF_ROLE_NET || o->role != FF_ROLE_NET ||
                   ff_conf_net_id(s->name) != ff_conf_net_id(o->name));
    }
}

static void
check_conf(const ff_conf_t *c)
{
    int gates = 0;

    FUZZ_CHECK(strcmp(c->path, NAME) == 0);
    FUZZ_CHECK(port_ok(c->master.rootport, true) && port_ok(c->master.webport, true));
    FUZZ_CHECK(c->master.rootport != c->master.webport);
    FUZZ_CHECK(c->master.roothost != NULL && c->master.webhost != NULL);
    FUZZ_CHECK(c->nservers > 0 && c->servers != NULL);
    FUZZ_CHECK(c->netconnect.max_packet >= 1 && c->netconnect.max_packet <= 16777216);
    for (int i = 0; i < c->nservers; i++) {
        gates += c->servers[i].role == FF_ROLE_GATE;
        check_server(c, &c->servers[i]);
    }
    FUZZ_CHECK(gates == 1);
    for (int i = 0; i < c->ntables; i++)
        FUZZ_CHECK(c->tables[i].name != NULL && c->tables[i].pk != NULL);
    for (int i = 0; i < c->memcached.nurls; i++)
        FUZZ_CHECK(c->memcached.urls[i] != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    ff_conf_t *c;

    memset(err, 'x', sizeof(err));
    c = ff_conf_load_text((const char *)data, size, NAME, err, sizeof(err));
    if (c == NULL) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME) + 1) == 0);
        FUZZ_CHECK(strchr(err, '\n') == NULL);
        return 0;
    }
    check_conf(c);
    ff_conf_free(c);
    return 0;
}
