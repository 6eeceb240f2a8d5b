/* test_tbucket.c - nfcc_tbucket. */
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


#define SEC 1000000000ull

static void test_create(void)
{
	CHECK_EQ(nfcc_tbucket_create(0, 1, 1) == NULL, 1);
	CHECK_EQ(nfcc_tbucket_create(1, 0, 1) == NULL, 1);
	CHECK_EQ(nfcc_tbucket_create(1, 1, 0) == NULL, 1);
	CHECK_EQ(nfcc_tbucket_create(1, NFCC_TB_MAX_RATE + 1, 1) == NULL, 1);
	CHECK_EQ(nfcc_tbucket_create(1, 1, NFCC_TB_MAX_BURST + 1) == NULL, 1);
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_tbucket_create(1, 1, 1) == NULL, 1);
}

static void test_exact(void)
{
	struct nfcc_tbucket *tb = nfcc_tbucket_create(2, 1000, 10000); /* 1 byte per ms */
	uint64_t t = 5 * SEC;

	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, 0), 0); /* created empty */
	CHECK_EQ(nfcc_tbucket_fill(tb, 0, t), NFCC_DS_OK);
	CHECK_EQ(nfcc_tbucket_fill(tb, 1, t), NFCC_DS_OK);
	CHECK_EQ(nfcc_tbucket_fill(tb, 2, t), NFCC_DS_INVALID);
	CHECK_EQ(nfcc_tbucket_consume(tb, 2, 1, t), 0);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 2, t), 0);
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 10001, t), 0); /* more than burst never passes */
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 10000, t), 1);
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 1, t), 0);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, t + 999999), 0);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, t + 1000000), 1);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, t + 1500000), 1);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, t + 1000), 1); /* time going back refills nothing */
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, t + 2000000), 2);
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 2, t + 2999999), 1);
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 1, t + 2999999), 0);
	CHECK_EQ(nfcc_tbucket_consume(tb, 0, 1, t + 3000000), 1);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 1, t + 3000000), 10000); /* bucket 1 untouched */

	/* three million 1 ns steps earn exactly 3 bytes (a per-step rounding would earn 0) */
	uint64_t now = t + 3000000;

	for (int i = 0; i < 3000000; i++)
		nfcc_tbucket_tokens(tb, 0, ++now);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, now), 3);
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, now + 10 * SEC), 10000); /* capped at burst */
	CHECK_EQ(nfcc_tbucket_tokens(tb, 0, now + 100 * SEC), 10000);

	/* capacity 1 */
	struct nfcc_tbucket *one = nfcc_tbucket_create(1, 1, 1);

	CHECK_EQ(nfcc_tbucket_consume(one, 0, 1, SEC - 1), 0);
	CHECK_EQ(nfcc_tbucket_consume(one, 0, 1, SEC), 1);
	CHECK_EQ(nfcc_tbucket_consume(one, 0, 1, 2 * SEC - 1), 0);
	CHECK_EQ(nfcc_tbucket_consume(one, 1, 1, 9 * SEC), 0);
}

/* At the limits, rate * elapsed would overflow for long idle times; refill must not. */
static void test_no_overflow(void)
{
	struct nfcc_tbucket *fast = nfcc_tbucket_create(1, NFCC_TB_MAX_RATE, NFCC_TB_MAX_BURST);

	nfcc_tbucket_fill(fast, 0, 0);
	CHECK_EQ(nfcc_tbucket_consume(fast, 0, NFCC_TB_MAX_BURST, 0), 1);
	/* 10^10 bytes at 10^12 B/s fill in 10^7 ns */
	CHECK_EQ(nfcc_tbucket_tokens(fast, 0, 10000000 - 1), NFCC_TB_MAX_BURST - 1000);
	CHECK_EQ(nfcc_tbucket_consume(fast, 0, NFCC_TB_MAX_BURST - 1000, 10000000 - 1), 1);
	CHECK_EQ(nfcc_tbucket_tokens(fast, 0, UINT64_MAX), NFCC_TB_MAX_BURST);

	struct nfcc_tbucket *slow = nfcc_tbucket_create(1, 1, NFCC_TB_MAX_BURST);

	nfcc_tbucket_fill(slow, 0, 1);
	CHECK_EQ(nfcc_tbucket_consume(slow, 0, NFCC_TB_MAX_BURST, 1), 1);
	/* 10^10 bytes at 1 B/s fill in 10^19 ns: one ns short earns 10^10 - 1 bytes */
	CHECK_EQ(nfcc_tbucket_tokens(slow, 0, 10000000000000000000ull), NFCC_TB_MAX_BURST - 1);
	CHECK_EQ(nfcc_tbucket_tokens(slow, 0, 10000000000000000001ull), NFCC_TB_MAX_BURST);
	CHECK_EQ(nfcc_tbucket_consume(slow, 0, NFCC_TB_MAX_BURST, UINT64_MAX), 1);
	CHECK_EQ(nfcc_tbucket_tokens(slow, 0, UINT64_MAX), 0);
}

int main(void)
{
	test_create();
	test_exact();
	test_no_overflow();
	return check_report();
}
