/*
 * hash.c - nfcc_hash, and the trace counters of tracing builds.
 */
#include <string.h>

#include "nfcc_ds.h"

#ifdef NFCC_DS_TRACE
struct nfcc_ds_trace nfcc_ds_trace;
#endif

/* A bijection on 32-bit words (the policer's mixer): the shifts spread high product bits down. */
static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/*
 * The key's bytes as little-endian words. One load per word, not one per byte: each load
 * of a key that protected modules cannot place (a key in the packet, or in the heap,
 * handed in by pointer) costs a check, so whole words mean a quarter of the checks.
 */
static uint32_t load_le32(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

static uint32_t load_le16(const uint8_t *p)
{
	uint16_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap16(w);
#endif
	return w;
}

__attribute__((noinline)) uint32_t nfcc_hash(const void *key, uint32_t len, uint32_t seed)
{
	const uint8_t *p = key;
	uint32_t h = seed ^ (len * 0x9e3779b9u);
	uint32_t i = 0;

	/* len / 4 rounds: fixed for a given key size, not a PCV */
	for (; len - i >= 4; i += 4) {
		h = (h ^ mix32(load_le32(p + i))) * 0x9e3779b1u;
		h = h << 13 | h >> 19;
	}
	if (len > i) {
		uint32_t w = len - i > 1 ? load_le16(p + i) : p[i];

		if (len - i > 2)
			w |= (uint32_t)p[i + 2] << 16;
		h = (h ^ mix32(w)) * 0x9e3779b1u;
	}
	return mix32(h);
}
