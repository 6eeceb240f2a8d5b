/*
 * maglev.c - Maglev consistent-hash lookup table (see nfcc_ds.h).
 *
 * Permutations are never stored: backend b's cursor walks its permutation by
 * adding skip[b] modulo the table size.
 */
#include <string.h>

#include "nfcc_ds.h"

struct nfcc_maglev {
	uint32_t max_backends;
	uint32_t size;      /* table slots, a prime */
	uint32_t count;     /* active backends */
	uint32_t *table;    /* per slot: its backend, or NFCC_MAGLEV_NONE */
	uint32_t *active;   /* the count active backends, in increasing order */
	uint32_t *offset;   /* per backend: first slot of its permutation */
	uint32_t *skip;     /* per backend: step of its permutation, 1 .. size-1 */
	uint32_t *cursor;   /* per backend: next slot of its permutation (while populating) */
	uint8_t *is_active; /* per backend */
};

static int is_prime(uint32_t n)
{
	if (n < 2)
		return 0;
	/* at most sqrt(n) < 46341 divisions, at create time only: not a PCV */
	for (uint32_t d = 2; d <= n / d; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

struct nfcc_maglev *nfcc_maglev_create(uint32_t max_backends, uint32_t table_size)
{
	if (table_size == 0)
		table_size = NFCC_MAGLEV_DEFAULT_SIZE;
	if (max_backends == 0 || max_backends > (1u << 24) || table_size >= (1u << 31) ||
	    !is_prime(table_size))
		return NULL;

	size_t words = (size_t)table_size + 4 * (size_t)max_backends;
	struct nfcc_maglev *mg = nfcc_alloc(sizeof(*mg) + words * 4 + max_backends);

	if (mg == NULL)
		return NULL;
	mg->max_backends = max_backends;
	mg->size = table_size;
	mg->table = (uint32_t *)(mg + 1);
	mg->active = mg->table + table_size;
	mg->offset = mg->active + max_backends;
	mg->skip = mg->offset + max_backends;
	mg->cursor = mg->skip + max_backends;
	mg->is_active = (uint8_t *)(mg->cursor + max_backends);
	memset(mg->table, 0xff, (size_t)table_size * 4);
	return mg;
}

/* Refill the whole table from the active backends (the Maglev paper's population). */
static void populate(struct nfcc_maglev *mg)
{
	uint32_t size = mg->size;
	uint32_t turn = 0;

	memset(mg->table, 0xff, (size_t)size * 4);
	if (mg->count == 0)
		return;
	memcpy(mg->cursor, mg->offset, (size_t)mg->max_backends * 4);
	/* exactly size placements, one per slot: fixed per table, not a PCV */
	for (uint32_t filled = 0; filled < size; filled++) {
		uint32_t b = mg->active[turn];
		uint32_t c = mg->cursor[b];

		turn = turn + 1 == mg->count ? 0 : turn + 1;
		/*
		 * The test is at the end of each run: a run is one slot skipped, and a placement
		 * whose first slot is free (most of them) never enters the loop.
		 */
		if (mg->table[c] != NFCC_MAGLEV_NONE) {
			uint32_t j = 0;

			/* PCV p: taken slots skipped; fewer than size, as the permutation reaches every slot */
			do {
				NFCC_DS_COUNT(skips);
				c += mg->skip[b];
				c = c >= size ? c - size : c;
				j++;
			} while (j < size && mg->table[c] != NFCC_MAGLEV_NONE);
		}
		mg->table[c] = b;
		c += mg->skip[b];
		mg->cursor[b] = c >= size ? c - size : c;
	}
}

/* Position of the first active backend >= backend (count if none). */
static uint32_t active_position(const struct nfcc_maglev *mg, uint32_t backend)
{
	uint32_t pos;

	/* PCV b: active backends scanned */
	for (pos = 0; pos < mg->count; pos++) {
		NFCC_DS_COUNT(backends);
		if (mg->active[pos] >= backend)
			break;
	}
	return pos;
}

int nfcc_maglev_add(struct nfcc_maglev *maglev, uint32_t backend)
{
	if (backend >= maglev->max_backends)
		return NFCC_DS_INVALID;
	if (maglev->is_active[backend])
		return NFCC_DS_EXISTS;

	uint32_t pos = active_position(maglev, backend);

	memmove(&maglev->active[pos + 1], &maglev->active[pos], (size_t)(maglev->count - pos) * 4);
	maglev->active[pos] = backend;
	maglev->count++;
	maglev->is_active[backend] = 1;
	maglev->offset[backend] = nfcc_hash(&backend, 4, NFCC_MAGLEV_SEED_OFFSET) % maglev->size;
	maglev->skip[backend] = nfcc_hash(&backend, 4, NFCC_MAGLEV_SEED_SKIP) % (maglev->size - 1) + 1;
	populate(maglev);
	return NFCC_DS_OK;
}

int nfcc_maglev_remove(struct nfcc_maglev *maglev, uint32_t backend)
{
	if (backend >= maglev->max_backends || !maglev->is_active[backend])
		return NFCC_DS_INVALID;

	uint32_t pos = active_position(maglev, backend);

	memmove(&maglev->active[pos], &maglev->active[pos + 1], (size_t)(maglev->count - pos - 1) * 4);
	maglev->count--;
	maglev->is_active[backend] = 0;
	populate(maglev);
	return NFCC_DS_OK;
}

uint32_t nfcc_maglev_lookup(const struct nfcc_maglev *maglev, uint32_t flow_hash)
{
	return maglev->table[flow_hash % maglev->size];
}

uint32_t nfcc_maglev_count(const struct nfcc_maglev *maglev)
{
	return maglev->count;
}
