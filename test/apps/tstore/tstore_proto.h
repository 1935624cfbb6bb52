/* tstore_proto: the command ids of tstore, the test app that turns client requests into store
 * calls on tb_item (tstore.c), shared by the app and the tests. */
#ifndef TSTORE_PROTO_H
#define TSTORE_PROTO_H

enum { TSTORE_NEW = 201, TSTORE_UPD, TSTORE_DEL, TSTORE_GET, TSTORE_GETBY };

#endif
