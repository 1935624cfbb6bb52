/* echo_proto: the echo sample's one command (apps/echo/echo.c): the reply is the request's
 * body. Shared by the app, bin/bot (its "echo" login) and bin/ffbench. */
#ifndef ECHO_PROTO_H
#define ECHO_PROTO_H

enum { ECHO_CMD = 1 };

#endif
