/* test_vector.c - nfcc_vector. */
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

int main(void)
{
	CHECK_EQ(nfcc_vector_create(0, 8) == NULL, 1);
	CHECK_EQ(nfcc_vector_create(8, 0) == NULL, 1);
	CHECK_EQ(nfcc_vector_create(8, (1u << 30) + 1) == NULL, 1);
	CHECK_EQ(nfcc_vector_create(8, 121) == NULL, 1); /* strides must fit the vector's mask */
	CHECK_EQ(nfcc_vector_create(NFCC_DS_MAX_CAPACITY + 1, 8) == NULL, 1);
	{
		struct nfcc_vector *big = nfcc_vector_create(3, 120);
		uint8_t *r0, *r2;

		CHECK_EQ(big != NULL, 1);
		r0 = nfcc_vector_get(big, 0);
		r2 = nfcc_vector_get(big, 2);
		CHECK_EQ((size_t)(r2 - r0), 240u);
		memset(r2, 9, 120); /* the last record is whole (ASan checks the bounds) */
		CHECK_EQ(nfcc_vector_get(big, 3) == NULL, 1);
	}
	alloc_stub_fail_in = 1;
	CHECK_EQ(nfcc_vector_create(8, 8) == NULL, 1);

	/* records of 3 bytes sit 8 bytes apart, zeroed, independent */
	struct nfcc_vector *v = nfcc_vector_create(5, 3);
	uint8_t *r0 = nfcc_vector_get(v, 0);

	CHECK_EQ(nfcc_vector_capacity(v), 5);
	CHECK_EQ(nfcc_vector_record_size(v), 3);
	CHECK_EQ(nfcc_vector_get(v, 5) == NULL, 1);
	CHECK_EQ(nfcc_vector_get(v, UINT32_MAX) == NULL, 1);
	for (uint32_t i = 0; i < 5; i++) {
		uint8_t *r = nfcc_vector_get(v, i);

		CHECK_EQ(r - r0, 8 * i);
		CHECK_EQ((uintptr_t)r % 8, 0);
		CHECK_EQ(r[0] | r[1] | r[2], 0);
		memset(r, (int)i + 1, 3);
	}
	for (uint32_t i = 0; i < 5; i++) {
		uint8_t *r = nfcc_vector_get(v, i);

		CHECK_EQ(r[0] == i + 1 && r[1] == i + 1 && r[2] == i + 1, 1);
	}

	/* capacity 1 */
	struct nfcc_vector *one = nfcc_vector_create(1, 40);

	CHECK_EQ(nfcc_vector_get(one, 0) != NULL, 1);
	CHECK_EQ(nfcc_vector_get(one, 1) == NULL, 1);
	memset(nfcc_vector_get(one, 0), 0xff, 40); /* the whole record is writable (ASan) */
	return check_report();
}
