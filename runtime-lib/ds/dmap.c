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
	uint32_t stride;      /* bytes per index in keys: key A then key B */
	struct nfcc_map *by_a;
	struct nfcc_map *by_b;
	uint8_t *used;        /* per index: 1 if it holds an entry */
	uint8_t *keys;        /* per index: stride bytes */
};

struct nfcc_dmap *nfcc_dmap_create(uint32_t capacity, uint32_t key_a_size, uint32_t key_b_size)
{
	if (capacity == 0 || capacity > (1u << 30) || key_a_size == 0 || key_a_size > (1u << 30) ||
	    key_b_size == 0 || key_b_size > (1u << 30))
		return NULL;

	size_t stride = (size_t)key_a_size + key_b_size;
	struct nfcc_dmap *d = nfcc_alloc(sizeof(*d) + capacity + capacity * stride);
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
	d->used = (uint8_t *)(d + 1);
	d->keys = d->used + capacity;
	return d;
}

int nfcc_dmap_put(struct nfcc_dmap *dmap, const void *key_a, const void *key_b, uint32_t index)
{
	if (index >= dmap->capacity)
		return NFCC_DS_INVALID;
	if (dmap->used[index])
		return NFCC_DS_EXISTS;
	/* index is free, so each map has room: only an existing key can fail a put */
	if (nfcc_map_put(dmap->by_a, key_a, index) != NFCC_DS_OK)
		return NFCC_DS_EXISTS;
	if (nfcc_map_put(dmap->by_b, key_b, index) != NFCC_DS_OK) {
		nfcc_map_erase(dmap->by_a, key_a, NULL);
		return NFCC_DS_EXISTS;
	}

	uint8_t *k = dmap->keys + (size_t)index * dmap->stride;

	memcpy(k, key_a, dmap->key_a_size);
	memcpy(k + dmap->key_a_size, key_b, dmap->key_b_size);
	dmap->used[index] = 1;
	return NFCC_DS_OK;
}

int nfcc_dmap_get_a(const struct nfcc_dmap *dmap, const void *key_a, uint32_t *index)
{
	return nfcc_map_get(dmap->by_a, key_a, index);
}

int nfcc_dmap_get_b(const struct nfcc_dmap *dmap, const void *key_b, uint32_t *index)
{
	return nfcc_map_get(dmap->by_b, key_b, index);
}

int nfcc_dmap_erase(struct nfcc_dmap *dmap, uint32_t index)
{
	if (index >= dmap->capacity || !dmap->used[index])
		return 0;

	const uint8_t *k = dmap->keys + (size_t)index * dmap->stride;

	nfcc_map_erase(dmap->by_a, k, NULL);
	nfcc_map_erase(dmap->by_b, k + dmap->key_a_size, NULL);
	dmap->used[index] = 0;
	return 1;
}

const void *nfcc_dmap_key_a(const struct nfcc_dmap *dmap, uint32_t index)
{
	if (index >= dmap->capacity || !dmap->used[index])
		return NULL;
	return dmap->keys + (size_t)index * dmap->stride;
}

const void *nfcc_dmap_key_b(const struct nfcc_dmap *dmap, uint32_t index)
{
	if (index >= dmap->capacity || !dmap->used[index])
		return NULL;
	return dmap->keys + (size_t)index * dmap->stride + dmap->key_a_size;
}
