/* tbadsym: an app that calls a function nothing defines, so that dlopen (RTLD_NOW) fails;
 * the node's error must name this file, not the private copy it loads. */
#include "firefly/app.h"

void tbadsym_missing_function(void);

static int
init(ff_app_t *app)
{
    (void)app;
    tbadsym_missing_function();
    return 0;
}

FF_APP_MODULE(init, NULL);
