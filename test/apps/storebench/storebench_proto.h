/* storebench_proto: the command ids of storebench, the test app bin/ffbench's store section
 * drives (storebench.c), shared by the app and the bench. */
#ifndef STOREBENCH_PROTO_H
#define STOREBENCH_PROTO_H

enum { SB_WRITE = 301, SB_READ = 302 };

#endif
