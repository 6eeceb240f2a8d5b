/*
 * nfcc_hash.c - the key hash of the data-structure library (`nfcc_hash` in nfcc_ds.h),
 * part of nfcc's trusted runtime: nfcc_rt.c includes it, the library's unit tests link it.
 *
 * It runs as runtime code, not module code: the isolation pass checks the key's whole range
 * once at the call (`[key, key + len)`, as for memcmp) instead of every word the loop
 * reads, which for a key handed in by pointer (in the packet, or in the heap) was a check
 * per word. It reads exactly the len bytes at key, nothing else.
 */
#include <stddef.h>
#include <stdint.h>

/* A bijection on 32-bit words (the policer's mixer): the shifts spread high product bits down. */
static uint32_t nfcc_hash_mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* The key's bytes as little-endian words. */
static uint32_t nfcc_hash_le32(const uint8_t *p)
{
	uint32_t w;

	__builtin_memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

static uint32_t nfcc_hash_le16(const uint8_t *p)
{
	uint16_t w;

	__builtin_memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap16(w);
#endif
	return w;
}

__attribute__((noinline)) uint32_t nfcc_hash_bytes(const void *key, uint32_t seed, size_t n)
{
	const uint8_t *p = key;
	uint32_t len = (uint32_t)n;
	uint32_t h = seed ^ (len * 0x9e3779b9u);
	uint32_t words = len / 4;
	uint32_t rest = len % 4;

	/*
	 * The tail's length is taken from len, not from where the loop stopped: every way
	 * past the loop then runs the same code, which a contract charges exactly.
	 */
	/* PCV key_words: 4-byte words of the keys nfcc_hash mixed (len / 4 per key: fixed per key size) */
	for (uint32_t k = 0; k < words; k++) {
		h = (h ^ nfcc_hash_mix32(nfcc_hash_le32(p + 4 * k))) * 0x9e3779b1u;
		h = h << 13 | h >> 19;
	}
	if (rest != 0) {
		const uint8_t *t = p + 4 * words;
		uint32_t w = rest > 1 ? nfcc_hash_le16(t) : t[0];

		if (rest > 2)
			w |= (uint32_t)t[2] << 16;
		h = (h ^ nfcc_hash_mix32(w)) * 0x9e3779b1u;
	}
	return nfcc_hash_mix32(h);
}
