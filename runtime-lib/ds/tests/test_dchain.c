/* test_dchain.c - nfcc_dchain and the expiry loops. */
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

#define W 100 /* expiry window, ns */

static void test_allocate_free(void)
{
	uint32_t i;

	CHECK_EQ(nfcc_dchain_create(0, W) == NULL, 1);
	CHECK_EQ(nfcc_dchain_create(4, 0) == NULL, 1);
	CHECK_EQ(nfcc_dchain_create(NFCC_DS_MAX_CAPACITY + 1, W) == NULL, 1); /* indices must fit NFCC_DS_IX */
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_dchain_create(4, W) == NULL, 1);

	struct nfcc_dchain *d = nfcc_dchain_create(3, W);

	for (uint32_t k = 0; k < 3; k++) {
		CHECK_EQ(nfcc_dchain_allocate(d, 10, &i), NFCC_DS_OK);
		CHECK_EQ(i, k);
		CHECK_EQ(nfcc_dchain_is_allocated(d, k), 1);
	}
	CHECK_EQ(nfcc_dchain_allocate(d, 10, &i), NFCC_DS_FULL);
	CHECK_EQ(nfcc_dchain_free(d, 1), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_is_allocated(d, 1), 0);
	CHECK_EQ(nfcc_dchain_free(d, 1), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_dchain_rejuvenate(d, 1, 10), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_dchain_free(d, 3), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_dchain_is_allocated(d, 3), 0);
	CHECK_EQ(nfcc_dchain_allocate(d, 10, &i), NFCC_DS_OK); /* works again after a free */
	CHECK_EQ(i, 1);
	CHECK_EQ(nfcc_dchain_allocate(d, 10, &i), NFCC_DS_FULL);

	/* capacity 1 */
	struct nfcc_dchain *one = nfcc_dchain_create(1, W);

	CHECK_EQ(nfcc_dchain_allocate(one, 0, &i), NFCC_DS_OK);
	CHECK_EQ(i, 0);
	CHECK_EQ(nfcc_dchain_allocate(one, 0, &i), NFCC_DS_FULL);
	CHECK_EQ(nfcc_dchain_expire_one(one, W - 1, &i), 0);
	CHECK_EQ(nfcc_dchain_expire_one(one, W, &i), 1);
	CHECK_EQ(nfcc_dchain_allocate(one, W, &i), NFCC_DS_OK);
	CHECK_EQ(i, 0);

	/* the two steps of expire_one: ready says, pop frees the oldest (capacity if none) */
	struct nfcc_dchain *two = nfcc_dchain_create(2, W);
	uint32_t x, y;

	CHECK_EQ(nfcc_dchain_expire_ready(two, 5 * W), 0); /* nothing allocated */
	CHECK_EQ(nfcc_dchain_pop_oldest(two), 2u);
	CHECK_EQ(nfcc_dchain_allocate(two, 100, &x), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_allocate(two, 200, &y), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_expire_ready(two, 100 + W - 1), 0);
	CHECK_EQ(nfcc_dchain_expire_ready(two, 100 + W), 1);
	CHECK_EQ(nfcc_dchain_pop_oldest(two), x);
	CHECK_EQ(nfcc_dchain_is_allocated(two, x), 0);
	CHECK_EQ(nfcc_dchain_expire_ready(two, 100 + W), 0); /* y is younger */
	CHECK_EQ(nfcc_dchain_pop_oldest(two), y);
	CHECK_EQ(nfcc_dchain_pop_oldest(two), 2u);
}

static void test_expiry_rule(void)
{
	struct nfcc_dchain *d = nfcc_dchain_create(4, W);
	uint32_t a, b, i = 99;

	CHECK_EQ(nfcc_dchain_allocate(d, 1000, &a), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_expire_one(d, 500, &i), 0); /* a time before the index's: not expired */
	CHECK_EQ(nfcc_dchain_allocate(d, 1010, &b), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_rejuvenate(d, a, 1020), NFCC_DS_OK); /* now b is the oldest */
	CHECK_EQ(nfcc_dchain_expire_one(d, 1010 + W - 1, &i), 0);
	CHECK_EQ(nfcc_dchain_expire_one(d, 1010 + W, &i), 1);
	CHECK_EQ(i, b);
	CHECK_EQ(nfcc_dchain_expire_one(d, 1020 + W - 1, &i), 0);
	CHECK_EQ(nfcc_dchain_is_allocated(d, a), 1);
	CHECK_EQ(nfcc_dchain_expire_one(d, 1020 + W, &i), 1);
	CHECK_EQ(i, a);
	CHECK_EQ(nfcc_dchain_expire_one(d, UINT64_MAX, &i), 0); /* empty */

	/* a time below the latest counts as the latest */
	CHECK_EQ(nfcc_dchain_allocate(d, 5000, &a), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_rejuvenate(d, a, 4000), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_expire_one(d, 5000 + W - 1, &i), 0);
	CHECK_EQ(nfcc_dchain_expire_one(d, 5000 + W, &i), 1);

	/* no overflow near the end of time: t + W would wrap */
	struct nfcc_dchain *late = nfcc_dchain_create(1, UINT64_MAX / 2);

	CHECK_EQ(nfcc_dchain_allocate(late, UINT64_MAX - 5, &a), NFCC_DS_OK);
	CHECK_EQ(nfcc_dchain_expire_one(late, UINT64_MAX, &i), 0);
	CHECK_EQ(nfcc_dchain_allocate(late, 0, &a), NFCC_DS_FULL);
}

/* Random operations against a model: expire_one must free exactly the expired, oldest first. */
static void test_random(void)
{
	enum { CAP = 50 };
	uint64_t touched[CAP] = {0}; /* order of the last allocate/rejuvenate, 0 if free */
	uint64_t time[CAP];
	uint64_t now = 0, seq = 0;
	struct nfcc_dchain *d = nfcc_dchain_create(CAP, 500);
	uint32_t i;

	for (int op = 0; op < 100000; op++) {
		uint32_t k = (uint32_t)(random64() % CAP), r = (uint32_t)(random64() % 8);
		uint32_t oldest = CAP, live = 0;

		now += random64() % 20;
		for (uint32_t j = 0; j < CAP; j++) {
			live += touched[j] != 0;
			if (touched[j] && (oldest == CAP || touched[j] < touched[oldest]))
				oldest = j;
		}
		if (r < 3) {
			CHECK_EQ(nfcc_dchain_allocate(d, now, &i), live == CAP ? NFCC_DS_FULL : NFCC_DS_OK);
			if (live < CAP) {
				CHECK_EQ(touched[i], 0);
				touched[i] = ++seq, time[i] = now;
			}
		} else if (r < 5) {
			CHECK_EQ(nfcc_dchain_rejuvenate(d, k, now), touched[k] ? NFCC_DS_OK : NFCC_DS_INVALID);
			if (touched[k])
				touched[k] = ++seq, time[k] = now;
		} else if (r < 6) {
			CHECK_EQ(nfcc_dchain_free(d, k), touched[k] ? NFCC_DS_OK : NFCC_DS_INVALID);
			touched[k] = 0;
		} else {
			int expired = oldest < CAP && now - time[oldest] >= 500;

			CHECK_EQ(nfcc_dchain_expire_one(d, now, &i), expired);
			if (expired) {
				CHECK_EQ(i, oldest);
				touched[oldest] = 0;
			}
		}
		CHECK_EQ(nfcc_dchain_is_allocated(d, k), touched[k] != 0);
	}
}

static void test_expire_map(void)
{
	struct nfcc_dchain *d = nfcc_dchain_create(4, W);
	struct nfcc_map *m = nfcc_map_create(4, 8);
	struct nfcc_vector *keys = nfcc_vector_create(4, 16); /* records: key, then other fields */
	uint32_t i, v;

	for (uint64_t t = 0; t < 4; t++) {
		CHECK_EQ(nfcc_dchain_allocate(d, t, &i), NFCC_DS_OK);
		uint64_t key = 1000 + t;

		memcpy(nfcc_vector_get(keys, i), &key, 8);
		CHECK_EQ(nfcc_map_put(m, &key, i), NFCC_DS_OK);
	}
	CHECK_EQ(nfcc_expire_map(d, m, nfcc_vector_create(3, 16), 1000), 0); /* too few records */
	CHECK_EQ(nfcc_expire_map(d, m, nfcc_vector_create(4, 4), 1000), 0);  /* records too short */
	trace_reset();
	CHECK_EQ(nfcc_expire_map(d, m, keys, 1 + W), 2); /* indices of times 0 and 1 */
	CHECK_TRACE(expired, 2);
	CHECK_EQ(nfcc_map_size(m), 2);
	for (uint64_t t = 0; t < 4; t++) {
		uint64_t key = 1000 + t;

		CHECK_EQ(nfcc_map_get(m, &key, &v), t >= 2);
		CHECK_EQ(nfcc_dchain_is_allocated(d, (uint32_t)t), t >= 2);
	}
	trace_reset();
	CHECK_EQ(nfcc_expire_map(d, m, keys, UINT64_MAX), 2);
	CHECK_TRACE(expired, 2);
	CHECK_EQ(nfcc_map_size(m), 0);
	trace_reset();
	CHECK_EQ(nfcc_expire_map(d, m, keys, UINT64_MAX), 0);
	CHECK_TRACE(expired, 0);
}

static void test_expire_dmap(void)
{
	struct nfcc_dchain *d = nfcc_dchain_create(3, W);
	struct nfcc_dmap *dm = nfcc_dmap_create(3, 4, 2);
	uint32_t i;

	for (uint32_t t = 0; t < 3; t++) {
		uint32_t a = t + 10;
		uint16_t b = (uint16_t)(t + 20);

		CHECK_EQ(nfcc_dchain_allocate(d, t * 10, &i), NFCC_DS_OK);
		CHECK_EQ(nfcc_dmap_put(dm, &a, &b, i), NFCC_DS_OK);
	}
	CHECK_EQ(nfcc_dchain_rejuvenate(d, 0, 25), NFCC_DS_OK); /* order now 1, 2, 0 */
	trace_reset();
	CHECK_EQ(nfcc_expire_dmap(d, dm, 20 + W), 2);
	CHECK_TRACE(expired, 2);
	for (uint32_t t = 0; t < 3; t++) {
		uint32_t a = t + 10;
		uint16_t b = (uint16_t)(t + 20);

		CHECK_EQ(nfcc_dmap_get_a(dm, &a, &i), t == 0);
		CHECK_EQ(nfcc_dmap_get_b(dm, &b, &i), t == 0);
	}
}

int main(void)
{
	test_allocate_free();
	test_expiry_rule();
	test_random();
	test_expire_map();
	test_expire_dmap();
	return check_report();
}
