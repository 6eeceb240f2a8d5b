/*
 * tbucket.c - token buckets with exact, overflow-free refill (see nfcc_ds.h).
 */
#include "nfcc_ds.h"

#define NS_PER_SEC 1000000000ull

struct bucket {
	uint64_t tokens;  /* whole bytes, <= burst */
	uint64_t nano;    /* billionths of a byte earned beyond tokens, < NS_PER_SEC */
	uint64_t last_ns; /* time of the last refill */
};

struct nfcc_tbucket {
	uint32_t capacity;
	uint64_t rate;    /* bytes per second */
	uint64_t burst;   /* bytes */
	uint64_t fill_ns; /* ceil(burst * 10^9 / rate): an elapsed time that fills an empty bucket */
	struct bucket *buckets;
};

struct nfcc_tbucket *nfcc_tbucket_create(uint32_t capacity, uint64_t rate, uint64_t burst)
{
	if (capacity == 0 || capacity > (1u << 30) || rate == 0 || rate > NFCC_TB_MAX_RATE ||
	    burst == 0 || burst > NFCC_TB_MAX_BURST)
		return NULL;

	struct nfcc_tbucket *tb = nfcc_alloc(sizeof(*tb) + (size_t)capacity * sizeof(struct bucket));

	if (tb == NULL)
		return NULL;
	tb->capacity = capacity;
	tb->rate = rate;
	tb->burst = burst;
	/* burst * 10^9 + rate <= 10^19 + 10^12 < 2^64 */
	tb->fill_ns = (burst * NS_PER_SEC + rate - 1) / rate;
	tb->buckets = (struct bucket *)(tb + 1);
	return tb;
}

static void refill(const struct nfcc_tbucket *tb, struct bucket *b, uint64_t now)
{
	if (now <= b->last_ns)
		return;

	uint64_t elapsed = now - b->last_ns;

	b->last_ns = now;
	if (elapsed >= tb->fill_ns) {
		b->tokens = tb->burst;
		b->nano = 0;
		return;
	}

	/* elapsed < fill_ns, so rate * elapsed < burst * 10^9 <= 10^19: no overflow */
	uint64_t earned = tb->rate * elapsed + b->nano;

	b->tokens += earned / NS_PER_SEC;
	b->nano = earned % NS_PER_SEC;
	if (b->tokens >= tb->burst) {
		b->tokens = tb->burst;
		b->nano = 0;
	}
}

int nfcc_tbucket_fill(struct nfcc_tbucket *tb, uint32_t index, uint64_t now)
{
	if (index >= tb->capacity)
		return NFCC_DS_INVALID;
	tb->buckets[index].tokens = tb->burst;
	tb->buckets[index].nano = 0;
	tb->buckets[index].last_ns = now;
	return NFCC_DS_OK;
}

uint64_t nfcc_tbucket_tokens(struct nfcc_tbucket *tb, uint32_t index, uint64_t now)
{
	if (index >= tb->capacity)
		return 0;
	refill(tb, &tb->buckets[index], now);
	return tb->buckets[index].tokens;
}

int nfcc_tbucket_consume(struct nfcc_tbucket *tb, uint32_t index, uint64_t bytes, uint64_t now)
{
	if (index >= tb->capacity)
		return 0;

	struct bucket *b = &tb->buckets[index];

	refill(tb, b, now);
	if (b->tokens < bytes)
		return 0;
	b->tokens -= bytes;
	return 1;
}
