/*
 * map.c - hash map with separate chaining (see nfcc_ds.h).
 *
 * Entries live in arrays indexed by entry number. Links (chain heads, next
 * pointers, the free stack) hold entry + 1, so 0 means "none" and the zeroed
 * memory nfcc_alloc returns is an empty map.
 */
#include <string.h>

#include "nfcc_ds.h"

struct nfcc_map {
	uint32_t capacity;
	uint32_t key_size;
	uint32_t mask;      /* chains - 1; chains is a power of two >= capacity */
	uint32_t size;      /* entries present */
	uint32_t fresh;     /* entries fresh .. capacity-1 have never been used */
	uint32_t free_head; /* top of the stack of erased entries */
	uint32_t *heads;    /* per chain: its first entry */
	uint32_t *next;     /* per entry: the next entry of its chain, or of the free stack */
	uint32_t *hash;     /* per entry: nfcc_hash of its key */
	uint32_t *value;    /* per entry */
	uint8_t *keys;      /* per entry: key_size bytes */
};

#define MAP_MAX (1u << 30) /* largest key size */

struct nfcc_map *nfcc_map_create(uint32_t capacity, uint32_t key_size)
{
	if (capacity == 0 || capacity > NFCC_DS_MAX_CAPACITY || key_size == 0 || key_size > MAP_MAX)
		return NULL;

	/* the smallest power of two >= capacity */
	uint32_t chains = capacity == 1 ? 1 : 1u << (32 - __builtin_clz(capacity - 1));
	size_t words = (size_t)chains + 3 * (size_t)capacity;
	struct nfcc_map *m = nfcc_alloc(sizeof(*m) + words * 4 + (size_t)capacity * key_size);

	if (m == NULL)
		return NULL;
	m->capacity = capacity;
	m->key_size = key_size;
	m->mask = chains - 1;
	m->heads = (uint32_t *)(m + 1);
	m->next = m->heads + chains;
	m->hash = m->next + capacity;
	m->value = m->hash + capacity;
	m->keys = (uint8_t *)(m->value + capacity);
	return m;
}

/*
 * The entry + 1 holding key (whose hash is h), or 0 if absent; *prev is set
 * to the entry + 1 before it in the chain (0: it is the first).
 */
static inline __attribute__((always_inline)) uint32_t find(const struct nfcc_map *m, const void *key, uint32_t h, uint32_t *prev)
{
	const uint32_t *hash = NFCC_DS_HEAP(m->hash), *next = NFCC_DS_HEAP(m->next);
	uint32_t cur = NFCC_DS_HEAP(m->heads)[NFCC_DS_IX(h & m->mask)];
	uint32_t before = 0;

	/* PCV t: chain entries examined (a chain holds at most capacity entries) */
	for (uint32_t i = 0; i < m->capacity; i++) {
		if (cur == 0)
			break;

		uint32_t e = cur - 1;

		NFCC_DS_COUNT(traversals);
		if (hash[NFCC_DS_IX(e)] == h) {
			if (memcmp(m->keys + (size_t)e * m->key_size, key, m->key_size) == 0) {
				*prev = before;
				return cur;
			}
			NFCC_DS_COUNT(collisions); /* PCV c: same hash, other key */
		}
		before = cur;
		cur = next[NFCC_DS_IX(e)];
	}
	return 0;
}

int nfcc_map_get(const struct nfcc_map *map, const void *key, uint32_t *value)
{
	map = NFCC_DS_HEAP(map);
	uint32_t prev;
	uint32_t cur = find(map, key, nfcc_hash(key, map->key_size, 0), &prev);

	if (cur == 0)
		return 0;
	*value = map->value[NFCC_DS_IX(cur - 1)];
	return 1;
}

int nfcc_map_put(struct nfcc_map *map, const void *key, uint32_t value)
{
	map = NFCC_DS_HEAP(map);
	uint32_t h = nfcc_hash(key, map->key_size, 0);
	uint32_t prev, e;

	if (find(map, key, h, &prev) != 0)
		return NFCC_DS_EXISTS;
	if (map->free_head != 0) {
		e = map->free_head - 1;
		map->free_head = map->next[NFCC_DS_IX(e)];
	} else if (map->fresh < map->capacity) {
		e = map->fresh++;
	} else {
		return NFCC_DS_FULL;
	}
	memcpy(map->keys + (size_t)e * map->key_size, key, map->key_size);
	map->hash[NFCC_DS_IX(e)] = h;
	map->value[NFCC_DS_IX(e)] = value;
	map->next[NFCC_DS_IX(e)] = map->heads[NFCC_DS_IX(h & map->mask)];
	map->heads[NFCC_DS_IX(h & map->mask)] = e + 1;
	map->size++;
	return NFCC_DS_OK;
}

int nfcc_map_erase(struct nfcc_map *map, const void *key, uint32_t *value)
{
	map = NFCC_DS_HEAP(map);
	uint32_t h = nfcc_hash(key, map->key_size, 0);
	uint32_t prev;
	uint32_t cur = find(map, key, h, &prev);

	if (cur == 0)
		return 0;

	uint32_t e = cur - 1;

	if (prev == 0)
		map->heads[NFCC_DS_IX(h & map->mask)] = map->next[NFCC_DS_IX(e)];
	else
		map->next[NFCC_DS_IX(prev - 1)] = map->next[NFCC_DS_IX(e)];
	map->next[NFCC_DS_IX(e)] = map->free_head;
	map->free_head = cur;
	map->size--;
	if (value != NULL)
		*value = map->value[NFCC_DS_IX(e)];
	return 1;
}

uint32_t nfcc_map_size(const struct nfcc_map *map)
{
	return map->size;
}

uint32_t nfcc_map_chain(const struct nfcc_map *map, const void *key)
{
	return nfcc_hash(key, map->key_size, 0) & map->mask;
}

uint32_t nfcc_map_key_size(const struct nfcc_map *map)
{
	return map->key_size;
}
