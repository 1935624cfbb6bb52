/* diablo_proto: the command ids of the Diablo sample's game node (apps/diablo/diablo.c),
 * shared by the app, the login app (which binds a player to the group serving
 * DIABLO_CMD_ENTER) and the tests. */
#ifndef DIABLO_PROTO_H
#define DIABLO_PROTO_H

enum { DIABLO_CMD_ENTER = 104, DIABLO_CMD_GAIN = 105, DIABLO_CMD_INFO = 106 };

#endif
