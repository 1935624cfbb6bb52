/* iplimit: open addressing with linear probing and backward-shift deletion, like common/map.c,
 * but keyed by 16 bytes and with the count as the value: a count of 0 marks an empty slot, so
 * every address (even ::) is a valid key. The table doubles past 50% load and never shrinks. */
#include "iplimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define IPLIMIT_INITIAL 16

typedef struct {
    net_ip_t ip;
    uint32_t count; /* 0 = empty */
} iplimit_slot_t;

struct net_iplimit_s {
    iplimit_slot_t *slots;
    size_t mask, used;
    uint64_t seed;
};

bool
net_ip_from_sockaddr(const struct sockaddr *sa, net_ip_t *ip)
{
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

    if (sa->sa_family == AF_INET6) {
        memcpy(ip->b, &in6->sin6_addr, 16);
        return true;
    }
    if (sa->sa_family != AF_INET)
        return false;
    memset(ip->b, 0, 10);
    ip->b[10] = ip->b[11] = 0xff;
    memcpy(ip->b + 12, &in4->sin_addr, 4);
    return true;
}

const char *
net_ip_name(const net_ip_t *ip, char *buf, size_t size)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(ip->b, v4mapped, sizeof(v4mapped)) == 0) {
        if (inet_ntop(AF_INET, ip->b + 12, buf, (socklen_t)size) == NULL)
            snprintf(buf, size, "?");
    } else if (inet_ntop(AF_INET6, ip->b, buf, (socklen_t)size) == NULL) {
        snprintf(buf, size, "?");
    }
    return buf;
}

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The home slot of ip. mix() is a bijection, so two addresses that differ only in their low
 * half (an IPv4 address, or an IPv6 interface id) never share a full 64-bit hash. */
static size_t
slot_of(const net_iplimit_t *t, const net_ip_t *ip)
{
    uint64_t hi, lo;

    memcpy(&hi, ip->b, 8);
    memcpy(&lo, ip->b + 8, 8);
    return (size_t)mix(mix(hi ^ t->seed) ^ lo) & t->mask;
}

/* The slot holding ip, or the empty slot where its probe run ends. */
static size_t
find(const net_iplimit_t *t, const net_ip_t *ip)
{
    size_t i;

    for (i = slot_of(t, ip); t->slots[i].count != 0; i = (i + 1) & t->mask)
        if (memcmp(t->slots[i].ip.b, ip->b, 16) == 0)
            break;
    return i;
}

net_iplimit_t *
net_iplimit_new(uint64_t seed)
{
    net_iplimit_t *t = ff_calloc(1, sizeof(*t));

    t->mask = IPLIMIT_INITIAL - 1;
    t->slots = ff_calloc(IPLIMIT_INITIAL, sizeof(*t->slots));
    t->seed = seed;
    return t;
}

void
net_iplimit_free(net_iplimit_t *t)
{
    if (t == NULL)
        return;
    ff_free(t->slots);
    ff_free(t);
}

static void
grow(net_iplimit_t *t)
{
    iplimit_slot_t *old = t->slots;
    size_t n = t->mask + 1;

    t->mask = n * 2 - 1;
    t->slots = ff_calloc(n * 2, sizeof(*t->slots));
    for (size_t i = 0; i < n; i++)
        if (old[i].count != 0)
            t->slots[find(t, &old[i].ip)] = old[i];
    ff_free(old);
}

bool
net_iplimit_acquire(net_iplimit_t *t, const net_ip_t *ip, uint32_t max)
{
    size_t i = find(t, ip);

    if (t->slots[i].count == 0) {
        if ((t->used + 1) * 2 > t->mask + 1) {
            grow(t);
            i = find(t, ip);
        }
        t->slots[i].ip = *ip;
        t->used++;
    } else if (max > 0 && t->slots[i].count >= max) {
        return false;
    }
    t->slots[i].count++;
    return true;
}

void
net_iplimit_release(net_iplimit_t *t, const net_ip_t *ip)
{
    size_t i = find(t, ip), j;

    if (t->slots[i].count == 0 || --t->slots[i].count > 0)
        return;
    /* Backward shift: move later entries of the probe run into the hole, so that lookups
     * never stop early at it. */
    for (j = (i + 1) & t->mask; t->slots[j].count != 0; j = (j + 1) & t->mask) {
        size_t home = slot_of(t, &t->slots[j].ip);
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].count = 0;
    t->used--;
}

uint32_t
net_iplimit_count(const net_iplimit_t *t, const net_ip_t *ip)
{
    return t->slots[find(t, ip)].count;
}

size_t
net_iplimit_size(const net_iplimit_t *t)
{
    return t->used;
}
