/* absent: commands of game nodes that are down, by node. A handful of nodes at most, so a
 * scan of an array, made only for a command that no linked node handles. */
#include "absent.h"

#include <string.h>

#include "alloc.h"

typedef struct {
    char *name;
    uint32_t *cmds;
    size_t n;
} absent_t;

static absent_t *absent;
static size_t nabsent;

static void
absent_drop(size_t i)
{
    ff_free(absent[i].name);
    ff_free(absent[i].cmds);
    absent[i] = absent[--nabsent];
}

void
gate_absent_remove(const char *node)
{
    for (size_t i = 0; i < nabsent; i++)
        if (strcmp(absent[i].name, node) == 0) {
            absent_drop(i);
            return;
        }
}

void
gate_absent_add(const char *node, const uint32_t *cmds, size_t n)
{
    absent_t *a;

    gate_absent_remove(node);
    if (n == 0)
        return;
    absent = ff_realloc(absent, (nabsent + 1) * sizeof(*absent));
    a = &absent[nabsent++];
    a->name = ff_strdup(node);
    a->cmds = ff_malloc(n * sizeof(*a->cmds));
    memcpy(a->cmds, cmds, n * sizeof(*a->cmds));
    a->n = n;
}

void
gate_absent_prune(const ff_conf_t *conf)
{
    for (size_t i = nabsent; i-- > 0;) {
        const ff_conf_server_t *srv = ff_conf_server(conf, absent[i].name);
        if (srv == NULL || srv->role != FF_ROLE_GAME)
            absent_drop(i);
    }
}

const char *
gate_absent_node(uint32_t cmd)
{
    for (size_t i = 0; i < nabsent; i++)
        for (size_t k = 0; k < absent[i].n; k++)
            if (absent[i].cmds[k] == cmd)
                return absent[i].name;
    return NULL;
}

void
gate_absent_clear(void)
{
    while (nabsent > 0)
        absent_drop(nabsent - 1);
    ff_free(absent);
    absent = NULL;
}
