/*
 * policer: a per-destination IPv4 token bucket.
 *
 * Every IPv4 destination address gets a bucket of `burst` bytes that refills
 * at `rate` bytes per second. A packet to that destination passes if the
 * bucket holds at least its frame length (which is then taken out), and is
 * dropped otherwise. Non-IPv4 frames pass untouched. Frames too short to hold
 * an IPv4 header are dropped.
 *
 * Buckets live in a fixed-capacity open-addressing table (`capacity` entries,
 * linear probing). A bucket idle for `expiry` nanoseconds is full again and
 * may be reused for another destination. When every slot on a probe path is
 * taken by a live destination, packets to new destinations are dropped.
 *
 * Output: the packet leaves on port 1 if it came in on port 0 and on port 0
 * otherwise (a bump in the wire); with one port it goes back out of port 0.
 */
#include <nfcc.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPV4_MIN_HDR_LEN 20
#define NS_PER_SEC 1000000000ull

struct bucket {
	uint32_t dst;     /* destination IPv4 address, network byte order */
	uint32_t used;    /* 1 if this slot holds a destination */
	uint64_t tokens;  /* bytes that may pass now */
	uint64_t last_ns; /* time tokens was last brought up to date */
};

static struct bucket *table;
static uint32_t capacity;
static uint64_t rate;   /* bytes per second */
static uint64_t burst;  /* bucket size in bytes */
static uint64_t expiry; /* idle time after which a slot may be reused, ns */
static uint16_t n_ports;

int nf_init(void)
{
	rate = nfcc_config_u64("rate", 1000000, 1, 100000000000ull);
	burst = nfcc_config_u64("burst", 100000, 1514, 1000000000ull);
	capacity = (uint32_t)nfcc_config_u64("capacity", 65536, 1, 1u << 24);
	expiry = nfcc_config_u64("expiry", 10 * NS_PER_SEC, 1, UINT64_MAX / 2);
	n_ports = nfcc_port_count();

	table = nfcc_alloc((size_t)capacity * sizeof(struct bucket));
	if (table == NULL) {
		nfcc_log("cannot allocate the bucket table; lower capacity=");
		return -1;
	}
	return 0;
}

static uint32_t hash32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* Tokens after `elapsed` ns of refill, capped at burst without overflowing. */
static uint64_t refill(uint64_t tokens, uint64_t elapsed)
{
	/* rate * elapsed overflows for long idle times: a full refill caps it anyway. */
	if (elapsed >= burst * NS_PER_SEC / rate)
		return burst;
	tokens += rate * elapsed / NS_PER_SEC;
	return tokens < burst ? tokens : burst;
}

/* The bucket for dst, claiming a free or expired slot if dst has none; NULL if the table is full. */
static struct bucket *find_bucket(uint32_t dst, uint64_t now)
{
	/*
	 * The table is ours (nfcc_alloc'd in nf_init) and slot < capacity <= 2^24: with the
	 * heap check and the mask (which changes no valid slot), a protected build needs no
	 * check per probe.
	 */
	struct bucket *t = nfcc_heap_check(table);
	struct bucket *reusable = NULL;
	uint32_t slot = hash32(dst) % capacity;

	for (uint32_t i = 0; i < capacity; i++) {
		struct bucket *b = &t[slot & ((1u << 24) - 1)];

		if (b->used && b->dst == dst)
			return b;
		if (reusable == NULL && (!b->used || now - b->last_ns >= expiry || now < b->last_ns))
			reusable = b;
		if (!b->used)
			break; /* dst would have been placed here or earlier */
		slot = slot + 1 == capacity ? 0 : slot + 1;
	}
	if (reusable != NULL) {
		reusable->used = 1;
		reusable->dst = dst;
		reusable->tokens = burst;
		reusable->last_ns = now;
	}
	return reusable;
}

int nf_process(const struct nfcc_packet *pkt)
{
	const uint8_t *eth = pkt->data;
	int out = n_ports == 1 ? 0 : (pkt->port == 0 ? 1 : 0);

	if (pkt->len < ETH_HDR_LEN)
		return NFCC_DROP;
	if ((uint16_t)(eth[12] << 8 | eth[13]) != ETHERTYPE_IPV4)
		return out;
	if (pkt->len < ETH_HDR_LEN + IPV4_MIN_HDR_LEN)
		return NFCC_DROP;

	const uint8_t *ip = eth + ETH_HDR_LEN;
	uint32_t dst = (uint32_t)ip[16] | (uint32_t)ip[17] << 8 | (uint32_t)ip[18] << 16 |
		       (uint32_t)ip[19] << 24;
	struct bucket *b = find_bucket(dst, pkt->time_ns);

	if (b == NULL)
		return NFCC_DROP;
	if (pkt->time_ns > b->last_ns) {
		b->tokens = refill(b->tokens, pkt->time_ns - b->last_ns);
		b->last_ns = pkt->time_ns;
	}
	if (b->tokens < pkt->len)
		return NFCC_DROP;
	b->tokens -= pkt->len;
	return out;
}
