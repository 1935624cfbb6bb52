/* iplimit: open client connections counted per IP address, for
 * netconnect.maxConnectionsPerIp (docs/net.md, "Flood guards"). A table keyed by the 16-byte
 * address, IPv4 stored in its IPv4-mapped IPv6 form (::ffff:a.b.c.d) so that a client counts
 * the same whether it reached an IPv4 or a dual-stack listener. Only addresses with at least
 * one connection have an entry, so the table is never larger than the connections it counts.
 * Pure code: no loop, no logging. */
#ifndef NET_IPLIMIT_H
#define NET_IPLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address: 16 bytes, IPv6 or IPv4-mapped. */
typedef struct {
    uint8_t b[16];
} net_ip_t;

typedef struct net_iplimit_s net_iplimit_t;

/* Reads the address of `sa` (AF_INET or AF_INET6) into *ip. Returns false for any other
 * family. */
bool net_ip_from_sockaddr(const struct sockaddr *sa, net_ip_t *ip);
/* Writes `ip` as text into buf (dotted IPv4 for an IPv4-mapped address); returns buf. A
 * buffer of INET6_ADDRSTRLEN bytes always suffices. */
const char *net_ip_name(const net_ip_t *ip, char *buf, size_t size);

/* A new empty table whose hash is keyed by `seed`, so that clients cannot aim their addresses
 * at one probe run without knowing it. Free with net_iplimit_free. */
net_iplimit_t *net_iplimit_new(uint64_t seed);
/* Frees the table; NULL is a no-op. */
void net_iplimit_free(net_iplimit_t *t);
/* Counts one more connection from `ip`, unless max > 0 and `ip` already has max: then returns
 * false and counts nothing. O(1) expected (amortised over growth). */
bool net_iplimit_acquire(net_iplimit_t *t, const net_ip_t *ip, uint32_t max);
/* Counts one connection from `ip` less: one that net_iplimit_acquire counted. An address
 * with no connection counted is ignored. */
void net_iplimit_release(net_iplimit_t *t, const net_ip_t *ip);
/* The connections counted for `ip` now. */
uint32_t net_iplimit_count(const net_iplimit_t *t, const net_ip_t *ip);
/* The addresses with at least one connection counted. */
size_t net_iplimit_size(const net_iplimit_t *t);

#endif
