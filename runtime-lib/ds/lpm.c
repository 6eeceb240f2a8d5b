/*
 * lpm.c - IPv4 longest-prefix match, DIR-24-8 (see nfcc_ds.h).
 *
 * An entry is a uint32_t: bit 31 valid, bit 30 "refers to a chunk", bits
 * 24..29 the length of the prefix that set it, bits 0..23 the port (or the
 * chunk number). An entry that refers to a chunk carries no prefix of its
 * own: its chunk's 256 entries do.
 */
#include "nfcc_ds.h"

#define ENTRY_VALID (1u << 31)
#define ENTRY_CHUNK (1u << 30)
#define ENTRY_LEN_SHIFT 24
#define ENTRY_LEN_MASK 0x3fu
#define ENTRY_VALUE_MASK 0xffffffu

struct nfcc_lpm {
	uint32_t chunks;      /* second-stage chunks available */
	uint32_t chunks_used;
	uint32_t *first;      /* 2^24 entries, by address bits 8..31 */
	uint32_t *second;     /* chunks * 256 entries, by chunk and address bits 0..7 */
};

struct nfcc_lpm *nfcc_lpm_create(uint32_t chunks)
{
	if (chunks > (1u << 24))
		return NULL;

	struct nfcc_lpm *lpm = nfcc_alloc(sizeof(*lpm) + ((size_t)(1u << 24) + (size_t)chunks * 256) * 4);

	if (lpm == NULL)
		return NULL;
	lpm->chunks = chunks;
	lpm->first = (uint32_t *)(lpm + 1);
	lpm->second = lpm->first + (1u << 24);
	return lpm;
}

static uint32_t route_entry(uint32_t len, uint32_t port)
{
	return ENTRY_VALID | len << ENTRY_LEN_SHIFT | port;
}

/* Whether a route of length len overrides entry e (empty, or set by a prefix no longer). */
static int overrides(uint32_t e, uint32_t len)
{
	return !(e & ENTRY_VALID) || (e >> ENTRY_LEN_SHIFT & ENTRY_LEN_MASK) <= len;
}

/* Apply a route of length len to count entries of a chunk from first. */
static void set_second(struct nfcc_lpm *lpm, uint32_t chunk, uint32_t first, uint32_t count,
		       uint32_t len, uint32_t port)
{
	uint32_t *e = &lpm->second[(size_t)chunk * 256 + first];

	/* PCV r: second-stage entries examined (count <= 256) */
	for (uint32_t i = 0; i < count; i++) {
		NFCC_DS_COUNT(entries);
		if (overrides(e[i], len))
			e[i] = route_entry(len, port);
	}
}

int nfcc_lpm_add(struct nfcc_lpm *lpm, uint32_t prefix, uint32_t len, uint32_t port)
{
	if (len > 32 || port > NFCC_LPM_MAX_PORT)
		return NFCC_DS_INVALID;
	prefix &= len == 0 ? 0 : ~0u << (32 - len);

	if (len <= 24) {
		uint32_t first = prefix >> 8;
		uint32_t count = 1u << (24 - len);

		/* PCV r: first-stage entries examined (2^(24-len)), plus 256 per chunk among them */
		for (uint32_t i = first; i < first + count; i++) {
			uint32_t e = lpm->first[i];

			NFCC_DS_COUNT(entries);
			if (e & ENTRY_CHUNK)
				set_second(lpm, e & ENTRY_VALUE_MASK, 0, 256, len, port);
			else if (overrides(e, len))
				lpm->first[i] = route_entry(len, port);
		}
		return NFCC_DS_OK;
	}

	uint32_t *e = &lpm->first[prefix >> 8];

	if (!(*e & ENTRY_CHUNK)) {
		if (lpm->chunks_used == lpm->chunks)
			return NFCC_DS_FULL;

		uint32_t chunk = lpm->chunks_used++;
		uint32_t *c = &lpm->second[(size_t)chunk * 256];

		/* 256 copies of the entry the chunk replaces: fixed, not a PCV */
		for (uint32_t i = 0; i < 256; i++)
			c[i] = *e;
		*e = ENTRY_VALID | ENTRY_CHUNK | chunk;
	}
	set_second(lpm, *e & ENTRY_VALUE_MASK, prefix & 0xff, 1u << (32 - len), len, port);
	return NFCC_DS_OK;
}

uint32_t nfcc_lpm_lookup(const struct nfcc_lpm *lpm, uint32_t addr)
{
	uint32_t e = lpm->first[addr >> 8];

	NFCC_DS_COUNT(stages); /* PCV s: first stage */
	if (e & ENTRY_CHUNK) {
		NFCC_DS_COUNT(stages); /* PCV s: second stage */
		e = lpm->second[(size_t)(e & ENTRY_VALUE_MASK) * 256 + (addr & 0xff)];
	}
	return e & ENTRY_VALID ? e & ENTRY_VALUE_MASK : NFCC_LPM_NO_ROUTE;
}
