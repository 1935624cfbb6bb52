/* appstate: internals shared by the two files of apphost: apphost.c (loading, dispatch,
 * requests, timers) and appstate.c (sessions, channels, ff_app_state). Not for other
 * modules: they use apphost.h. */
#ifndef FF_APPSTATE_H
#define FF_APPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Drops the connection's session values and channel memberships. */
void ff__appstate_forget(uint64_t conn);
/* Drops every session, channel and state object; for exit. */
void ff__appstate_close(void);

/* One WARN about an app's mistake, `app: <text>`, rate-limited (apphost.c). */
void ff__apphost_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* " in command 42", " in an app timer", ...: what the node runs now. Static storage. */
const char *ff__apphost_running(void);
/* Whether a name or key the app passed is not NULL; WARNs naming the call when it is. */
bool ff__apphost_name_ok(const char *call, const char *what, const char *name);
/* Whether the array p of len items can be read (p may be NULL only when len is 0); WARNs
 * naming the call and the arguments (`what`, `lenname`) when not. */
bool ff__apphost_bytes_ok(const char *call, const void *p, size_t len, const char *what,
                          const char *lenname);

#endif
