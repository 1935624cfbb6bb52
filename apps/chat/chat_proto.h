/* chat_proto: the chat sample's wire protocol (apps/chat/chat.c), shared by the app and the
 * tests: command ids, the event push id and the limits of a request body. */
#ifndef CHAT_PROTO_H
#define CHAT_PROTO_H

enum { CHAT_JOIN = 2001, CHAT_SAY = 2002, CHAT_LEAVE = 2003, CHAT_EVENT = 2100 };
enum { CHAT_MAX_NAME = 32, CHAT_MAX_TEXT = 1024, CHAT_MAX_MEMBERS = 4096 };

#endif
