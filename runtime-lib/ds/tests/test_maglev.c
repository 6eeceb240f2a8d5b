/* test_maglev.c - nfcc_maglev. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nfcc_ds.h"

/* harness.c and alloc_stub.c */
void check_eq(unsigned long long got, unsigned long long want, const char *what, const char *file,
	      int line);
void check_trace(size_t offset, unsigned long long want, const char *what, const char *file,
		 int line);
void trace_reset(void);
int check_report(void);
uint64_t random64(void);
extern int alloc_stub_fail_in;
extern long alloc_stub_live;

#define CHECK_EQ(a, b) \
	check_eq((unsigned long long)(a), (unsigned long long)(b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_TRACE(pcv, n) \
	check_trace(offsetof(struct nfcc_ds_trace, pcv), (n), "trace " #pcv " == " #n, __FILE__, \
		    __LINE__)

/*
 * The Maglev paper's population, written from its pseudo-code with explicit
 * permutation tables: fills table[size] for backends[n] (increasing) and
 * returns how many taken slots were skipped.
 */
static uint64_t reference(const uint32_t *backends, uint32_t n, uint32_t size, uint32_t *table)
{
	uint32_t *perm = malloc((size_t)n * size * 4), *next = calloc(n, 4);
	uint64_t skipped = 0;
	uint32_t filled = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t offset = nfcc_hash(&backends[i], 4, NFCC_MAGLEV_SEED_OFFSET) % size;
		uint32_t skip = nfcc_hash(&backends[i], 4, NFCC_MAGLEV_SEED_SKIP) % (size - 1) + 1;

		for (uint32_t j = 0; j < size; j++)
			perm[(size_t)i * size + j] = (uint32_t)((offset + (uint64_t)j * skip) % size);
	}
	for (uint32_t s = 0; s < size; s++)
		table[s] = UINT32_MAX;
	while (filled < size) {
		for (uint32_t i = 0; i < n && filled < size; i++) {
			uint32_t c = perm[(size_t)i * size + next[i]];

			while (table[c] != UINT32_MAX) {
				skipped++;
				next[i]++;
				c = perm[(size_t)i * size + next[i]];
			}
			table[c] = backends[i];
			next[i]++;
			filled++;
		}
	}
	free(perm);
	free(next);
	return skipped;
}

/* Compare the whole table with the reference for backends (increasing); returns its skips. */
static uint64_t check_reference(struct nfcc_maglev *mg, const uint32_t *backends, uint32_t n,
				uint32_t size)
{
	uint32_t *table = malloc((size_t)size * 4);
	uint32_t mismatches = 0;
	uint64_t skipped = reference(backends, n, size, table);

	for (uint32_t s = 0; s < size; s++)
		mismatches += nfcc_maglev_lookup(mg, s) != table[s];
	CHECK_EQ(mismatches, 0);
	free(table);
	return skipped;
}

static void test_api(void)
{
	CHECK_EQ(nfcc_maglev_create(0, 13) == NULL, 1);
	CHECK_EQ(nfcc_maglev_create(4, 1) == NULL, 1);
	CHECK_EQ(nfcc_maglev_create(4, 65536) == NULL, 1);
	CHECK_EQ(nfcc_maglev_create(4, 91) == NULL, 1); /* 7 * 13 */
	CHECK_EQ(nfcc_maglev_create(4, 4294967291u) == NULL, 1); /* prime, but not below 2^31 */
	CHECK_EQ(nfcc_maglev_create((1u << 24) + 1, 13) == NULL, 1);
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_maglev_create(4, 13) == NULL, 1);

	struct nfcc_maglev *mg = nfcc_maglev_create(4, 13);

	CHECK_EQ(nfcc_maglev_lookup(mg, 5), NFCC_MAGLEV_NONE);
	CHECK_EQ(nfcc_maglev_add(mg, 4), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_maglev_remove(mg, 1), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_maglev_add(mg, 1), NFCC_DS_OK);
	CHECK_EQ(nfcc_maglev_add(mg, 1), NFCC_DS_EXISTS);
	CHECK_EQ(nfcc_maglev_count(mg), 1);
	for (uint32_t h = 0; h < 100; h++)
		CHECK_EQ(nfcc_maglev_lookup(mg, h), 1);
	CHECK_EQ(nfcc_maglev_remove(mg, 1), NFCC_DS_OK);
	CHECK_EQ(nfcc_maglev_count(mg), 0);
	CHECK_EQ(nfcc_maglev_lookup(mg, 5), NFCC_MAGLEV_NONE);

	/* capacity 1, smallest prime */
	struct nfcc_maglev *one = nfcc_maglev_create(1, 2);

	CHECK_EQ(nfcc_maglev_add(one, 0), NFCC_DS_OK);
	CHECK_EQ(nfcc_maglev_lookup(one, 0), 0);
	CHECK_EQ(nfcc_maglev_lookup(one, 1), 0);
	CHECK_EQ(nfcc_maglev_add(one, 1), NFCC_DS_INVALID);

	/* 0 means 65537 slots: lookups repeat with that period */
	struct nfcc_maglev *def = nfcc_maglev_create(3, 0);
	uint32_t same = 0, differ = 0;

	nfcc_maglev_add(def, 0);
	nfcc_maglev_add(def, 2);
	for (uint32_t h = 0; h < 65537; h++) {
		same += nfcc_maglev_lookup(def, h) == nfcc_maglev_lookup(def, h + 65537);
		differ += nfcc_maglev_lookup(def, h) != nfcc_maglev_lookup(def, h + 65536);
	}
	CHECK_EQ(same, 65537);
	CHECK_EQ(differ > 0, 1);
}

static void test_reference_small(void)
{
	uint32_t backends[] = {0, 2, 5};
	struct nfcc_maglev *mg = nfcc_maglev_create(6, 13);

	nfcc_maglev_add(mg, 5); /* order of adds does not matter */
	nfcc_maglev_add(mg, 0);
	trace_reset();
	CHECK_EQ(nfcc_maglev_add(mg, 2), NFCC_DS_OK);
	CHECK_TRACE(backends, 2); /* scanned 0, 5 */
	CHECK_TRACE(skips, check_reference(mg, backends, 3, 13));
}

/* Ten backends on 65537 slots: equal shares, and removing one moves about only its share. */
static void test_shares_and_removal(void)
{
	enum { N = 10, M = 65537 };
	static uint32_t before[M];
	uint32_t backends[N], count[N] = {0};
	struct nfcc_maglev *mg = nfcc_maglev_create(N, M);

	for (uint32_t b = 0; b < N; b++) {
		backends[b] = b;
		trace_reset();
		nfcc_maglev_add(mg, b);
	}
	CHECK_TRACE(skips, check_reference(mg, backends, N, M));
	for (uint32_t s = 0; s < M; s++) {
		before[s] = nfcc_maglev_lookup(mg, s);
		count[before[s]]++;
	}
	for (uint32_t b = 0; b < N; b++)
		CHECK_EQ(count[b] == M / N || count[b] == M / N + 1, 1); /* round-robin: floor or ceil */

	trace_reset();
	CHECK_EQ(nfcc_maglev_remove(mg, 4), NFCC_DS_OK);
	CHECK_TRACE(backends, 5);
	uint32_t left = 0, others = 0;

	for (uint32_t s = 0; s < M; s++) {
		uint32_t now = nfcc_maglev_lookup(mg, s);

		left += now == 4;
		others += before[s] != 4 && now != before[s];
	}
	CHECK_EQ(left, 0);
	/* slots of the other backends that moved: under 2% of the table (198, 0.3%, today) */
	CHECK_EQ(others < M / 50, 1);

	nfcc_maglev_add(mg, 4); /* the same set again gives the same table */
	uint32_t diff = 0;

	for (uint32_t s = 0; s < M; s++)
		diff += nfcc_maglev_lookup(mg, s) != before[s];
	CHECK_EQ(diff, 0);
}

int main(void)
{
	test_api();
	test_reference_small();
	test_shares_and_removal();
	return check_report();
}
