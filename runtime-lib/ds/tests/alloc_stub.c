/*
 * alloc_stub.c - test-only nfcc_alloc/nfcc_free over calloc/free, with a
 * counter of live blocks and a way to make the n-th next call fail; and
 * nfcc_heap_check, which nfcc compiles in place, as the identity.
 */
#include <stdlib.h>

#include <nfcc.h>

long alloc_stub_live;    /* blocks handed out and not yet freed */
int alloc_stub_fail_in;  /* if > 0, counts calls down; the call that reaches 0 fails */

void *nfcc_alloc(size_t size)
{
	if (alloc_stub_fail_in > 0 && --alloc_stub_fail_in == 0)
		return NULL;

	void *p = calloc(1, size == 0 ? 1 : size); /* glibc: 16-byte aligned on x86-64 */

	if (p != NULL)
		alloc_stub_live++;
	return p;
}

void nfcc_free(void *ptr)
{
	if (ptr != NULL)
		alloc_stub_live--;
	free(ptr);
}

void *nfcc_heap_check(const void *p)
{
	return (void *)p;
}
