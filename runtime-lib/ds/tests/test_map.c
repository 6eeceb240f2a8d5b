/* test_map.c - nfcc_hash and nfcc_map. */
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

static int by_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void test_hash(void)
{
	const char *abc = "abcdefg";

	CHECK_EQ(nfcc_hash(abc, 7, 0), nfcc_hash("abcdefg", 7, 0));
	CHECK_EQ(nfcc_hash(abc, 7, 0) != nfcc_hash(abc, 7, 1), 1);
	CHECK_EQ(nfcc_hash(abc, 7, 0) != nfcc_hash(abc, 6, 0), 1);
	/* pinned: contracts and Maglev tables depend on these exact values */
	CHECK_EQ(nfcc_hash(abc, 7, 0), 0xa229a2a0u);
	CHECK_EQ(nfcc_hash(abc, 4, 42), 0x5045c66du);
	/* a bijection on 4-byte keys: 2^16 consecutive keys, 2^16 distinct values */
	static uint32_t h[1u << 16];
	uint32_t distinct = 1;

	for (uint32_t k = 0; k < 1u << 16; k++)
		h[k] = nfcc_hash(&k, 4, 0);
	qsort(h, 1u << 16, 4, by_u32);
	for (uint32_t k = 1; k < 1u << 16; k++)
		distinct += h[k] != h[k - 1];
	CHECK_EQ(distinct, 1u << 16);
}

static void test_create(void)
{
	CHECK_EQ(nfcc_map_create(0, 4) == NULL, 1);
	CHECK_EQ(nfcc_map_create(4, 0) == NULL, 1);
	CHECK_EQ(nfcc_map_create((1u << 30) + 1, 4) == NULL, 1);
	CHECK_EQ(nfcc_map_create(NFCC_DS_MAX_CAPACITY + 1, 4) == NULL, 1); /* indices must fit NFCC_DS_IX */
	CHECK_EQ(nfcc_map_create(4, 128) == NULL, 1); /* key sizes must fit the map's mask */

	/* The largest key size works: keys stored, found and told apart in full. */
	struct nfcc_map *big = nfcc_map_create(3, 127);
	uint8_t k1[127], k2[127];
	uint32_t v = 0;

	memset(k1, 7, sizeof(k1));
	memcpy(k2, k1, sizeof(k2));
	k2[126] = 8;
	CHECK_EQ(big != NULL, 1);
	CHECK_EQ(nfcc_map_put(big, k1, 11), NFCC_DS_OK);
	CHECK_EQ(nfcc_map_put(big, k2, 12), NFCC_DS_OK);
	CHECK_EQ(nfcc_map_get(big, k1, &v), 1);
	CHECK_EQ(v, 11u);
	CHECK_EQ(nfcc_map_get(big, k2, &v), 1);
	CHECK_EQ(v, 12u);
	CHECK_EQ(nfcc_map_erase(big, k1, NULL), 1);
	CHECK_EQ(nfcc_map_get(big, k1, &v), 0);
	CHECK_EQ(nfcc_map_get(big, k2, &v), 1);
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_map_create(4, 4) == NULL, 1);
}

static void test_full_and_basic(void)
{
	uint8_t key[12] = {0};
	uint32_t v;
	struct nfcc_map *m = nfcc_map_create(100, sizeof(key));

	for (uint32_t i = 0; i < 100; i++) {
		memcpy(key, &i, 4);
		CHECK_EQ(nfcc_map_put(m, key, i * 7), NFCC_DS_OK);
	}
	CHECK_EQ(nfcc_map_size(m), 100);
	for (uint32_t i = 0; i < 100; i++) {
		memcpy(key, &i, 4);
		v = 0;
		CHECK_EQ(nfcc_map_get(m, key, &v), 1);
		CHECK_EQ(v, i * 7);
	}
	uint32_t i = 100;

	memcpy(key, &i, 4);
	CHECK_EQ(nfcc_map_put(m, key, 1), NFCC_DS_FULL);
	CHECK_EQ(nfcc_map_get(m, key, &v), 0);
	i = 5;
	memcpy(key, &i, 4);
	CHECK_EQ(nfcc_map_put(m, key, 1), NFCC_DS_EXISTS);
	CHECK_EQ(nfcc_map_erase(m, key, &v), 1);
	CHECK_EQ(v, 35);
	CHECK_EQ(nfcc_map_get(m, key, &v), 0);
	CHECK_EQ(nfcc_map_erase(m, key, NULL), 0);
	CHECK_EQ(nfcc_map_size(m), 99);
	i = 100;
	memcpy(key, &i, 4);
	CHECK_EQ(nfcc_map_put(m, key, 700), NFCC_DS_OK); /* room again after the erase */
	CHECK_EQ(nfcc_map_get(m, key, &v), 1);
	CHECK_EQ(v, 700);
	CHECK_EQ(nfcc_map_size(m), 100);
	nfcc_free(m);
}

static void test_capacity_one(void)
{
	uint16_t a = 1, b = 2;
	uint32_t v;
	struct nfcc_map *m = nfcc_map_create(1, 2);

	CHECK_EQ(nfcc_map_put(m, &a, 10), NFCC_DS_OK);
	CHECK_EQ(nfcc_map_put(m, &b, 20), NFCC_DS_FULL);
	CHECK_EQ(nfcc_map_get(m, &a, &v), 1);
	CHECK_EQ(v, 10);
	CHECK_EQ(nfcc_map_erase(m, &a, NULL), 1);
	CHECK_EQ(nfcc_map_put(m, &b, 20), NFCC_DS_OK);
	CHECK_EQ(nfcc_map_get(m, &b, &v), 1);
	CHECK_EQ(v, 20);
	CHECK_EQ(nfcc_map_get(m, &a, &v), 0);
	nfcc_free(m);
}

/* Three keys in one chain, a fourth in the same chain but absent: walk lengths are exact. */
static void test_chain_walks(void)
{
	struct nfcc_map *m = nfcc_map_create(8, 8);
	uint64_t k[4];
	uint32_t n = 0, v;

	for (uint64_t key = 0; n < 4; key++)
		if (nfcc_map_chain(m, &key) == 3)
			k[n++] = key;
	for (uint32_t i = 0; i < 3; i++)
		CHECK_EQ(nfcc_map_put(m, &k[i], i), NFCC_DS_OK); /* chain: k2, k1, k0 */
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &k[0], &v), 1);
	CHECK_EQ(v, 0);
	CHECK_TRACE(traversals, 3);
	CHECK_TRACE(collisions, 0);
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &k[2], &v), 1);
	CHECK_TRACE(traversals, 1);
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &k[3], &v), 0);
	CHECK_TRACE(traversals, 3);
	trace_reset();
	CHECK_EQ(nfcc_map_put(m, &k[3], 3), NFCC_DS_OK); /* walks the whole chain first */
	CHECK_TRACE(traversals, 3);
	trace_reset();
	CHECK_EQ(nfcc_map_erase(m, &k[1], &v), 1); /* chain: k3, k2, k1, k0 */
	CHECK_EQ(v, 1);
	CHECK_TRACE(traversals, 3);
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &k[0], &v), 1); /* chain: k3, k2, k0 */
	CHECK_TRACE(traversals, 3);
	CHECK_EQ(nfcc_map_get(m, &k[1], &v), 0);
	nfcc_free(m);
}

struct hashed {
	uint32_t hash;
	uint64_t key;
};

static int by_hash(const void *a, const void *b)
{
	const struct hashed *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Two 8-byte keys with the same 32-bit hash (a birthday search over 2^18 keys). */
static void test_full_hash_collision(void)
{
	uint32_t n = 1u << 18, v;
	struct hashed *h = malloc(n * sizeof(*h));
	uint64_t a = 0, b = 0;

	for (uint32_t i = 0; i < n; i++) {
		h[i].key = (uint64_t)i * 0x100000001ull;
		h[i].hash = nfcc_hash(&h[i].key, 8, 0);
	}
	qsort(h, n, sizeof(*h), by_hash);
	for (uint32_t i = 1; i < n && a == b; i++)
		if (h[i].hash == h[i - 1].hash)
			a = h[i - 1].key, b = h[i].key;
	free(h);
	CHECK_EQ(a != b, 1);
	CHECK_EQ(nfcc_hash(&a, 8, 0), nfcc_hash(&b, 8, 0));

	struct nfcc_map *m = nfcc_map_create(4, 8);

	CHECK_EQ(nfcc_map_put(m, &a, 1), NFCC_DS_OK);
	trace_reset();
	CHECK_EQ(nfcc_map_put(m, &b, 2), NFCC_DS_OK); /* chain: b, a */
	CHECK_TRACE(traversals, 1);
	CHECK_TRACE(collisions, 1);
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &a, &v), 1);
	CHECK_EQ(v, 1);
	CHECK_TRACE(traversals, 2);
	CHECK_TRACE(collisions, 1);
	trace_reset();
	CHECK_EQ(nfcc_map_get(m, &b, &v), 1);
	CHECK_EQ(v, 2);
	CHECK_TRACE(traversals, 1);
	CHECK_TRACE(collisions, 0);
	nfcc_free(m);
}

/* Random puts, gets and erases against an array model. */
static void test_random(void)
{
	enum { CAP = 1000, KEYS = 3000 };
	static uint32_t model[KEYS]; /* value + 1, 0 if absent */
	struct nfcc_map *m = nfcc_map_create(CAP, 6);
	uint32_t size = 0, v;

	for (int op = 0; op < 200000; op++) {
		uint32_t k = (uint32_t)(random64() % KEYS);
		uint8_t key[6] = {(uint8_t)k, (uint8_t)(k >> 8), 0xaa, 0xbb, 0xcc, 0xdd};
		uint32_t r = (uint32_t)(random64() % 3);

		if (r == 0) {
			int expect = model[k] ? NFCC_DS_EXISTS : size == CAP ? NFCC_DS_FULL : NFCC_DS_OK;

			CHECK_EQ(nfcc_map_put(m, key, (uint32_t)op), expect);
			if (expect == NFCC_DS_OK)
				model[k] = (uint32_t)op + 1, size++;
		} else if (r == 1) {
			CHECK_EQ(nfcc_map_get(m, key, &v), model[k] != 0);
			if (model[k])
				CHECK_EQ(v, model[k] - 1);
		} else {
			CHECK_EQ(nfcc_map_erase(m, key, NULL), model[k] != 0);
			size -= model[k] != 0;
			model[k] = 0;
		}
	}
	CHECK_EQ(nfcc_map_size(m), size);
	nfcc_free(m);
}

int main(void)
{
	test_hash();
	test_create();
	test_full_and_basic();
	test_capacity_one();
	test_chain_walks();
	test_full_hash_collision();
	test_random();
	return check_report();
}
