/* root: master's end of the control links. Listens on master.roothost:rootport, greets every
 * inbound link with HELLO("master"), and binds a link to its node when the node's HELLO
 * names a server master started (see super_bind); a HELLO that does not is refused and the
 * link closed. */
#ifndef MASTER_ROOT_H
#define MASTER_ROOT_H

#include <uv.h>

/* Starts listening. Returns 0 or a libuv error. */
int root_start(uv_loop_t *loop, const char *host, int port);
/* Stops listening and closes every control link (their pending calls fail with
 * UV_ECANCELED before this returns). */
void root_close(void);

#endif
