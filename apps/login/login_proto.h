/* login_proto: the command ids of Firefly's Diablo login (apps/login/login.c), which gate
 * runs, shared by the app, bin/bot and the tests. The game side is apps/diablo/diablo_proto.h. */
#ifndef LOGIN_PROTO_H
#define LOGIN_PROTO_H

enum { LOGIN_CMD_LOGIN = 101, LOGIN_CMD_CREATE_ROLE = 102, LOGIN_CMD_ENTER_GAME = 103 };

#endif
