/* tapp_proto: the command ids of tapp, the app most integration tests load (tapp.c), shared
 * by the app and the tests. */
#ifndef TAPP_PROTO_H
#define TAPP_PROTO_H

enum {
    TAPP_ECHO = 1,         /* answers its body back */
    TAPP_WHOAMI = 7,       /* {"node","version"} */
    TAPP_SLEEP = 8,        /* sleeps the body's milliseconds, then answers like 7 */
    TAPP_SILENT = 9,       /* never answers */
    TAPP_BIND = 10,        /* binds the session to this node, then answers like 7 */
    TAPP_PUSH_ME = 11,     /* pushes its body to the caller on TAPP_TOPIC, then answers */
    TAPP_LOGIN_ECHO = 101, /* Firefly's login command id, answered like 1 */
};
enum { TAPP_TOPIC = 500 };

#endif
