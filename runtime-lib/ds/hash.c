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

	/*
	 * len / 4 rounds: fixed for a given key size, not a PCV. The loop keeps one pointer
	 * and one count live, no more: in a protected module each word's check needs two
	 * registers of its own, and a tighter loop leaves them free (no registers saved
	 * and restored on every call).
	 */
	for (uint32_t words = len / 4; words != 0; words--) {
		h = (h ^ mix32(load_le32(p))) * 0x9e3779b1u;
		h = h << 13 | h >> 19;
		p += 4;
	}
	uint32_t rest = len & 3;

	if (rest != 0) {
		uint32_t w = rest > 1 ? load_le16(p) : p[0];

		if (rest > 2)
			w |= (uint32_t)p[2] << 16;
		h = (h ^ mix32(w)) * 0x9e3779b1u;
	}
	return mix32(h);
}
