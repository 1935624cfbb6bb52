/* tbadabi: an app built for another app ABI version (99), as a stale build would be; the
 * node must refuse it naming both versions. */
#include "firefly/app.h"

static int
init(ff_app_t *app)
{
    (void)app;
    return 0;
}

const ff_app_module_t ff_app_module = {99, init, NULL};
