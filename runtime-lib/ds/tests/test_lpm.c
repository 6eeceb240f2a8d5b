/* test_lpm.c - nfcc_lpm. */
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

#define IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

struct route {
	uint32_t prefix, len, port;
};

/* Nested routes: 10.1.2.3/32 in 10.1.2.64/26 in 10.1.2.0/24 in 10.1.0.0/16 in 10.0.0.0/8. */
static const struct route nested[] = {
	{IP(10, 0, 0, 0), 8, 1},
	{IP(10, 1, 0, 0), 16, 2},
	{IP(10, 1, 2, 0), 24, 3},
	{IP(10, 1, 2, 3), 32, 4},
	{IP(10, 1, 2, 64), 26, 5},
};

static void check_nested(struct nfcc_lpm *lpm, uint32_t no_route)
{
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 3)), 4);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 2)), 3);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 4)), 3);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 63)), 3);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 64)), 5);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 127)), 5);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 128)), 3);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 3, 1)), 2);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 255, 255)), 2);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 2, 0, 0)), 1);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 255, 255, 255)), 1);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(11, 0, 0, 0)), no_route);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(9, 255, 255, 255)), no_route);
	CHECK_EQ(nfcc_lpm_lookup(lpm, 0), no_route);
}

static void test_nested(void)
{
	/* shortest first, then longest first: the same answers */
	for (int reverse = 0; reverse < 2; reverse++) {
		struct nfcc_lpm *lpm = nfcc_lpm_create(4);

		CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 3)), NFCC_LPM_NO_ROUTE);
		for (int i = 0; i < 5; i++) {
			const struct route *r = &nested[reverse ? 4 - i : i];

			CHECK_EQ(nfcc_lpm_add(lpm, r->prefix, r->len, r->port), NFCC_DS_OK);
		}
		check_nested(lpm, NFCC_LPM_NO_ROUTE);
		CHECK_EQ(nfcc_lpm_add(lpm, 0, 0, 9), NFCC_DS_OK); /* default route */
		check_nested(lpm, 9);
		CHECK_EQ(nfcc_lpm_lookup(lpm, UINT32_MAX), 9);
		nfcc_free(lpm);
	}
}

static void test_api(void)
{
	CHECK_EQ(nfcc_lpm_create((1u << 24) + 1) == NULL, 1);
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_lpm_create(1) == NULL, 1);

	struct nfcc_lpm *lpm = nfcc_lpm_create(1); /* capacity 1: one chunk */

	CHECK_EQ(nfcc_lpm_add(lpm, 0, 33, 1), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_lpm_add(lpm, 0, 8, NFCC_LPM_MAX_PORT + 1), NFCC_DS_INVALID);
	/* host bits are ignored */
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 7, 77), 24, NFCC_LPM_MAX_PORT), NFCC_DS_OK);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 7, 0)), NFCC_LPM_MAX_PORT);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 8, 0)), NFCC_LPM_NO_ROUTE);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 7, 0), 24, 6), NFCC_DS_OK); /* re-added: new port */
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 7, 200)), 6);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 7, 0), 25, 7), NFCC_DS_OK);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 7, 128), 25, 8), NFCC_DS_OK); /* same chunk */
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 8, 0), 25, 9), NFCC_DS_FULL); /* a second chunk */
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 8, 0)), NFCC_LPM_NO_ROUTE);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(192, 168, 8, 0), 24, 9), NFCC_DS_OK); /* /24 needs none */
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 7, 1)), 7);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 7, 129)), 8);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(192, 168, 8, 1)), 9);
	nfcc_free(lpm);

	lpm = nfcc_lpm_create(0);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(1, 2, 3, 4), 32, 1), NFCC_DS_FULL);
	CHECK_EQ(nfcc_lpm_add(lpm, IP(1, 2, 3, 4), 24, 1), NFCC_DS_OK);
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(1, 2, 3, 4)), 1);
	nfcc_free(lpm);
}

static void test_trace(void)
{
	struct nfcc_lpm *lpm = nfcc_lpm_create(2);

	trace_reset();
	nfcc_lpm_add(lpm, IP(10, 1, 2, 0), 24, 1);
	CHECK_TRACE(entries, 1);
	trace_reset();
	nfcc_lpm_add(lpm, IP(10, 1, 2, 16), 28, 2); /* a new chunk; 16 of its entries */
	CHECK_TRACE(entries, 16);
	trace_reset();
	nfcc_lpm_add(lpm, IP(10, 1, 0, 0), 16, 3); /* 256 first-stage entries, one of them the chunk */
	CHECK_TRACE(entries, 256 + 256);
	trace_reset();
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 3, 0)), 3);
	CHECK_TRACE(stages, 1);
	trace_reset();
	CHECK_EQ(nfcc_lpm_lookup(lpm, IP(10, 1, 2, 17)), 2);
	CHECK_TRACE(stages, 2);
	nfcc_free(lpm);
}

/* Random nested routes against a linear-scan model (the last add of equal prefixes wins). */
static void test_random(void)
{
	enum { ROUTES = 300, LOOKUPS = 100000 };
	static struct route routes[ROUTES];
	struct nfcc_lpm *lpm = nfcc_lpm_create(ROUTES);
	uint32_t wrong = 0;

	for (int i = 0; i < ROUTES; i++) {
		/* addresses within 10.0.0.0/14 so that prefixes nest often */
		uint32_t len = (uint32_t)(random64() % 33);
		uint32_t addr = IP(10, 0, 0, 0) | (uint32_t)(random64() % (1u << 18));

		if (i == 0 || len < 8)
			len = i == 0 ? 0 : 8; /* one default route, some /8 */
		routes[i].len = len;
		routes[i].prefix = addr & (len == 0 ? 0 : ~0u << (32 - len));
		routes[i].port = (uint32_t)(random64() % 1000);
		CHECK_EQ(nfcc_lpm_add(lpm, addr, len, routes[i].port), NFCC_DS_OK);
	}
	for (int n = 0; n < LOOKUPS; n++) {
		uint32_t addr = n % 2 ? IP(10, 0, 0, 0) | (uint32_t)(random64() % (1u << 18))
				      : routes[random64() % ROUTES].prefix + (uint32_t)(random64() % 3) - 1;
		uint32_t expect = NFCC_LPM_NO_ROUTE, best = 0;

		for (int i = 0; i < ROUTES; i++) {
			uint32_t mask = routes[i].len == 0 ? 0 : ~0u << (32 - routes[i].len);

			if ((addr & mask) == routes[i].prefix &&
			    (expect == NFCC_LPM_NO_ROUTE || routes[i].len >= best))
				expect = routes[i].port, best = routes[i].len;
		}
		wrong += nfcc_lpm_lookup(lpm, addr) != expect;
	}
	CHECK_EQ(wrong, 0);
	nfcc_free(lpm);
}

int main(void)
{
	test_api();
	test_nested();
	test_trace();
	test_random();
	return check_report();
}
