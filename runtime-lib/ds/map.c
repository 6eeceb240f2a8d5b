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
	/*
	 * The tables follow the struct in the same allocation, at these byte offsets
	 * from it: per chain its first entry (heads, right after the struct), per
	 * entry the next entry of its chain or of the free stack, nfcc_hash of its
	 * key, its value and its key_size bytes of key. Offsets, not pointers: once
	 * the handle is heap-checked, every table access is a masked offset from it
	 * (OFF below, NFCC_DS_IX, NFCC_DS_ENTRY, NFCC_DS_KEY_SIZE; under 1 GiB in
	 * all), which a protected module proves without a check of its own.
	 */
	uint32_t next_off, hash_off, value_off, keys_off;
};

#define MAP_MAX 127u /* largest key size: keys_off + entry * key_size stays far below 1 GiB */
/* A mask that leaves every table offset of a valid map unchanged. */
#define OFF(o) ((uint32_t)(o) & ((1u << 27) - 1u))  /* table offsets are below 2^27 */

static inline uint32_t *heads_of(const struct nfcc_map *m)
{
	return (uint32_t *)(m + 1);
}

static inline uint32_t *table(const struct nfcc_map *m, uint32_t off)
{
	return (uint32_t *)((uint8_t *)m + OFF(off));
}

static inline uint8_t *key_of(const struct nfcc_map *m, uint32_t e)
{
	return (uint8_t *)m + OFF(m->keys_off) + (size_t)NFCC_DS_ENTRY(e) * NFCC_DS_KEY_SIZE(m->key_size);
}

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
	m->next_off = sizeof(*m) + 4 * chains;
	m->hash_off = m->next_off + 4 * capacity;
	m->value_off = m->hash_off + 4 * capacity;
	m->keys_off = m->value_off + 4 * capacity;
	return m;
}

/*
 * The entry + 1 holding key (whose hash is h), or 0 if absent; *prev is set
 * to the entry + 1 before it in the chain (0: it is the first).
 */
static inline __attribute__((always_inline)) uint32_t find(const struct nfcc_map *m, const void *key, uint32_t h, uint32_t *prev)
{
	const uint32_t *hash = table(m, m->hash_off), *next = table(m, m->next_off);
	uint32_t cur = heads_of(m)[NFCC_DS_IX(h & m->mask)];
	uint32_t before = 0;

	/* PCV t: chain entries examined (a chain holds at most capacity entries) */
	for (uint32_t i = 0; i < m->capacity; i++) {
		if (cur == 0)
			break;

		uint32_t e = cur - 1;

		NFCC_DS_COUNT(traversals);
		if (hash[NFCC_DS_IX(e)] == h) {
			if (memcmp(key_of(m, e), key, NFCC_DS_KEY_SIZE(m->key_size)) == 0) {
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
	*value = table(map, map->value_off)[NFCC_DS_IX(cur - 1)];
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
		map->free_head = table(map, map->next_off)[NFCC_DS_IX(e)];
	} else if (map->fresh < map->capacity) {
		e = map->fresh++;
	} else {
		return NFCC_DS_FULL;
	}
	memcpy(key_of(map, e), key, NFCC_DS_KEY_SIZE(map->key_size));
	table(map, map->hash_off)[NFCC_DS_IX(e)] = h;
	table(map, map->value_off)[NFCC_DS_IX(e)] = value;
	table(map, map->next_off)[NFCC_DS_IX(e)] = heads_of(map)[NFCC_DS_IX(h & map->mask)];
	heads_of(map)[NFCC_DS_IX(h & map->mask)] = e + 1;
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
		heads_of(map)[NFCC_DS_IX(h & map->mask)] = table(map, map->next_off)[NFCC_DS_IX(e)];
	else
		table(map, map->next_off)[NFCC_DS_IX(prev - 1)] = table(map, map->next_off)[NFCC_DS_IX(e)];
	table(map, map->next_off)[NFCC_DS_IX(e)] = map->free_head;
	map->free_head = cur;
	map->size--;
	if (value != NULL)
		*value = table(map, map->value_off)[NFCC_DS_IX(e)];
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
