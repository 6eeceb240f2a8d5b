/* test_dmap.c - nfcc_dmap. */
#include <stddef.h>
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

/* NAT-style keys: internal (address, port) and external port. */
struct inside {
	uint32_t addr;
	uint16_t port;
};

static void test_create(void)
{
	CHECK_EQ(nfcc_dmap_create(0, 4, 4) == NULL, 1);
	CHECK_EQ(nfcc_dmap_create(4, 0, 4) == NULL, 1);
	CHECK_EQ(nfcc_dmap_create(4, 4, 0) == NULL, 1);
	CHECK_EQ(nfcc_dmap_create(4, 121, 4) == NULL, 1); /* key sizes must fit the dmap's mask */
	CHECK_EQ(nfcc_dmap_create(4, 4, 121) == NULL, 1);
	CHECK_EQ(nfcc_dmap_create(NFCC_DS_MAX_CAPACITY + 1, 4, 4) == NULL, 1);
	{
		/* the largest keys: stored whole, found by either, erased by index */
		struct nfcc_dmap *big = nfcc_dmap_create(2, 120, 119);
		uint8_t a[120], b[119];
		uint32_t i = 9;

		memset(a, 1, sizeof(a));
		memset(b, 2, sizeof(b));
		CHECK_EQ(big != NULL, 1);
		CHECK_EQ(nfcc_dmap_put(big, a, b, 1), NFCC_DS_OK);
		CHECK_EQ(nfcc_dmap_get_b(big, b, &i), 1);
		CHECK_EQ(i, 1u);
		CHECK_EQ(memcmp(nfcc_dmap_key_a(big, 1), a, 120), 0);
		CHECK_EQ(memcmp(nfcc_dmap_key_b(big, 1), b, 119), 0);
		CHECK_EQ(nfcc_dmap_erase(big, 1), 1);
		CHECK_EQ(nfcc_dmap_get_a(big, a, &i), 0);
		CHECK_EQ(nfcc_dmap_key_a(big, 1) == NULL, 1);
	}
	/* any one of the three allocations failing gives NULL and leaks nothing */
	for (int fail = 1; fail <= 3; fail++) {
		long live = alloc_stub_live;

		alloc_stub_fail_in = fail;
		CHECK_EQ(nfcc_dmap_create(4, 4, 4) == NULL, 1);
		CHECK_EQ(alloc_stub_live, live);
	}
}

static int lookup_a(struct nfcc_dmap *d, uint32_t addr, uint16_t port, uint32_t *index)
{
	struct inside in;

	memset(&in, 0, sizeof(in)); /* padding is part of the key */
	in.addr = addr;
	in.port = port;
	return nfcc_dmap_get_a(d, &in, index);
}

static int put(struct nfcc_dmap *d, uint32_t addr, uint16_t port, uint16_t ext, uint32_t index)
{
	struct inside in;

	memset(&in, 0, sizeof(in));
	in.addr = addr;
	in.port = port;
	return nfcc_dmap_put(d, &in, &ext, index);
}

static void test_both_keys(void)
{
	struct nfcc_dmap *d = nfcc_dmap_create(4, sizeof(struct inside), 2);
	uint32_t i = 99;
	uint16_t ext;

	CHECK_EQ(put(d, 0x0a000001, 1000, 5000, 2), NFCC_DS_OK);
	CHECK_EQ(lookup_a(d, 0x0a000001, 1000, &i), 1);
	CHECK_EQ(i, 2);
	ext = 5000;
	i = 99;
	CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 1);
	CHECK_EQ(i, 2);
	CHECK_EQ(((const struct inside *)nfcc_dmap_key_a(d, 2))->port, 1000);
	CHECK_EQ(*(const uint16_t *)nfcc_dmap_key_b(d, 2), 5000);
	CHECK_EQ(nfcc_dmap_key_a(d, 1) == NULL, 1);
	CHECK_EQ(nfcc_dmap_key_b(d, 4) == NULL, 1);

	/* refusals change nothing, and a refused put leaves neither key behind */
	CHECK_EQ(put(d, 0x0a000002, 1, 5001, 4), NFCC_DS_INVALID);
	CHECK_EQ(put(d, 0x0a000002, 1, 5001, 2), NFCC_DS_EXISTS);  /* index in use */
	CHECK_EQ(put(d, 0x0a000001, 1000, 5001, 3), NFCC_DS_EXISTS); /* key A present */
	ext = 5001;
	CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 0);
	CHECK_EQ(put(d, 0x0a000002, 1, 5000, 3), NFCC_DS_EXISTS); /* key B present */
	CHECK_EQ(lookup_a(d, 0x0a000002, 1, &i), 0);
	CHECK_EQ(nfcc_dmap_key_a(d, 3) == NULL, 1);

	/* erase, then reinsert the same keys elsewhere and other keys at the old index */
	CHECK_EQ(nfcc_dmap_erase(d, 2), 1);
	CHECK_EQ(nfcc_dmap_erase(d, 2), 0);
	CHECK_EQ(lookup_a(d, 0x0a000001, 1000, &i), 0);
	ext = 5000;
	CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 0);
	CHECK_EQ(nfcc_dmap_key_a(d, 2) == NULL, 1);
	CHECK_EQ(put(d, 0x0a000001, 1000, 5000, 0), NFCC_DS_OK);
	CHECK_EQ(put(d, 0x0a000009, 9, 5009, 2), NFCC_DS_OK);
	CHECK_EQ(lookup_a(d, 0x0a000001, 1000, &i), 1);
	CHECK_EQ(i, 0);
	CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 1);
	CHECK_EQ(i, 0);
	ext = 5009;
	CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 1);
	CHECK_EQ(i, 2);
	CHECK_EQ(lookup_a(d, 0x0a000009, 9, &i), 1);
	CHECK_EQ(i, 2);
}

static void test_full_and_capacity_one(void)
{
	struct nfcc_dmap *d = nfcc_dmap_create(64, sizeof(struct inside), 2);
	uint32_t i;

	for (uint32_t k = 0; k < 64; k++)
		CHECK_EQ(put(d, k, (uint16_t)k, (uint16_t)(k + 100), 63 - k), NFCC_DS_OK);
	for (uint32_t k = 0; k < 64; k++) {
		uint16_t ext = (uint16_t)(k + 100);

		CHECK_EQ(lookup_a(d, k, (uint16_t)k, &i), 1);
		CHECK_EQ(i, 63 - k);
		CHECK_EQ(nfcc_dmap_get_b(d, &ext, &i), 1);
		CHECK_EQ(i, 63 - k);
	}

	struct nfcc_dmap *one = nfcc_dmap_create(1, 4, 4);
	uint32_t a = 7, b = 8;

	CHECK_EQ(nfcc_dmap_put(one, &a, &b, 0), NFCC_DS_OK);
	CHECK_EQ(nfcc_dmap_put(one, &b, &a, 0), NFCC_DS_EXISTS);
	CHECK_EQ(nfcc_dmap_put(one, &b, &a, 1), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_dmap_erase(one, 0), 1);
	CHECK_EQ(nfcc_dmap_put(one, &b, &a, 0), NFCC_DS_OK);
	CHECK_EQ(nfcc_dmap_get_a(one, &b, &i), 1);
	CHECK_EQ(nfcc_dmap_get_b(one, &a, &i), 1);
	CHECK_EQ(nfcc_dmap_get_a(one, &a, &i), 0);
}

static void test_trace(void)
{
	struct nfcc_dmap *d = nfcc_dmap_create(8, 4, 4);
	uint32_t a = 1, b = 2, i;

	trace_reset();
	CHECK_EQ(nfcc_dmap_put(d, &a, &b, 5), NFCC_DS_OK); /* two empty chains */
	CHECK_TRACE(traversals, 0);
	CHECK_EQ(nfcc_dmap_get_a(d, &a, &i), 1);
	CHECK_TRACE(traversals, 1);
	CHECK_EQ(nfcc_dmap_erase(d, 5), 1); /* one entry in each chain */
	CHECK_TRACE(traversals, 3);
	CHECK_TRACE(collisions, 0);
}

int main(void)
{
	test_create();
	test_both_keys();
	test_full_and_capacity_one();
	test_trace();
	return check_report();
}
