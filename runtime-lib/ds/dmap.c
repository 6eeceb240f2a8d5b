/*
 * dmap.c - double-keyed map: two nfcc_maps (key A -> index, key B -> index)
 * and a copy of both keys per index, so erasing by index finds both keys.
 */
#include <string.h>

#include "nfcc_ds.h"

struct nfcc_dmap {
	uint32_t capacity;
	uint32_t key_a_size;
	uint32_t key_b_size;
	uint32_t stride;      /* bytes per index: key A, key B, a used byte; a multiple of 8 */
	struct nfcc_map *by_a;
	struct nfcc_map *by_b;
	/* then, in the same allocation, capacity slots of stride bytes */
};

/*
 * Slot i: a masked index times a masked stride from the handle itself (under 2^30
 * bytes with keys of at most 120 bytes), so once the handle is heap-checked a protected
 * module proves every access to a slot without a check of its own. Key A starts the
 * slot, 8-byte aligned as before.
 */
#define STRIDE(s) ((uint32_t)(s) & 255u)

static uint8_t *slot(const struct nfcc_dmap *d, uint32_t i)
{
	return (uint8_t *)(d + 1) + (size_t)NFCC_DS_ENTRY(i) * STRIDE(d->stride);
}

/* Where a slot's used byte is: after both keys. */
static uint32_t used_at(const struct nfcc_dmap *d)
{
	return NFCC_DS_KEY_SIZE(d->key_a_size) + NFCC_DS_KEY_SIZE(d->key_b_size);
}

struct nfcc_dmap *nfcc_dmap_create(uint32_t capacity, uint32_t key_a_size, uint32_t key_b_size)
{
	if (capacity == 0 || capacity > NFCC_DS_MAX_CAPACITY || key_a_size == 0 || key_a_size > 120 ||
	    key_b_size == 0 || key_b_size > 120)
		return NULL;

	size_t stride = ((size_t)key_a_size + key_b_size + 1 + 7) & ~(size_t)7;
	struct nfcc_dmap *d = nfcc_alloc(sizeof(*d) + capacity * stride);
	struct nfcc_map *a = nfcc_map_create(capacity, key_a_size);
	struct nfcc_map *b = nfcc_map_create(capacity, key_b_size);

	if (d == NULL || a == NULL || b == NULL) {
		nfcc_free(d);
		nfcc_free(a);
		nfcc_free(b);
		return NULL;
	}
	d->capacity = capacity;
	d->key_a_size = key_a_size;
	d->key_b_size = key_b_size;
	d->stride = (uint32_t)stride;
	d->by_a = a;
	d->by_b = b;
	return d;
}

int nfcc_dmap_put(struct nfcc_dmap *dmap, const void *key_a, const void *key_b, uint32_t index)
{
	dmap = NFCC_DS_HEAP(dmap);
	if (index >= dmap->capacity)
		return NFCC_DS_INVALID;

	uint8_t *k = slot(dmap, index);

	if (k[used_at(dmap)])
		return NFCC_DS_EXISTS;
	/* index is free, so each map has room: only an existing key can fail a put */
	if (nfcc_map_put(dmap->by_a, key_a, index) != NFCC_DS_OK)
		return NFCC_DS_EXISTS;
	if (nfcc_map_put(dmap->by_b, key_b, index) != NFCC_DS_OK) {
		nfcc_map_erase(dmap->by_a, key_a, NULL);
		return NFCC_DS_EXISTS;
	}
	memcpy(k, key_a, NFCC_DS_KEY_SIZE(dmap->key_a_size));
	memcpy(k + NFCC_DS_KEY_SIZE(dmap->key_a_size), key_b, NFCC_DS_KEY_SIZE(dmap->key_b_size));
	k[used_at(dmap)] = 1;
	return NFCC_DS_OK;
}

int nfcc_dmap_get_a(const struct nfcc_dmap *dmap, const void *key_a, uint32_t *index)
{
	dmap = NFCC_DS_HEAP(dmap);
	return nfcc_map_get(dmap->by_a, key_a, index);
}

int nfcc_dmap_get_b(const struct nfcc_dmap *dmap, const void *key_b, uint32_t *index)
{
	dmap = NFCC_DS_HEAP(dmap);
	return nfcc_map_get(dmap->by_b, key_b, index);
}

int nfcc_dmap_erase(struct nfcc_dmap *dmap, uint32_t index)
{
	dmap = NFCC_DS_HEAP(dmap);
	if (index >= dmap->capacity)
		return 0;

	uint8_t *k = slot(dmap, index);

	if (!k[used_at(dmap)])
		return 0;
	nfcc_map_erase(dmap->by_a, k, NULL);
	nfcc_map_erase(dmap->by_b, k + NFCC_DS_KEY_SIZE(dmap->key_a_size), NULL);
	k[used_at(dmap)] = 0;
	return 1;
}

const void *nfcc_dmap_key_a(const struct nfcc_dmap *dmap, uint32_t index)
{
	dmap = NFCC_DS_HEAP(dmap);
	if (index >= dmap->capacity || !slot(dmap, index)[used_at(dmap)])
		return NULL;
	return slot(dmap, index);
}

const void *nfcc_dmap_key_b(const struct nfcc_dmap *dmap, uint32_t index)
{
	dmap = NFCC_DS_HEAP(dmap);
	if (index >= dmap->capacity || !slot(dmap, index)[used_at(dmap)])
		return NULL;
	return slot(dmap, index) + NFCC_DS_KEY_SIZE(dmap->key_a_size);
}
