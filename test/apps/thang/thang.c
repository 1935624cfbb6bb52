/* thang: an app whose init never returns in time (it sleeps 30 s), standing in for a node
 * that hangs before its loop runs, for the cluster.startTimeout test. */
#include <unistd.h>

#include "firefly/app.h"

static int
thang_init(ff_app_t *app)
{
    (void)app;
    sleep(30);
    return 0;
}

FF_APP_MODULE(thang_init, NULL);
