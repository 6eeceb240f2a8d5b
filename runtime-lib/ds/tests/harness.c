/*
 * harness.c - what every test program shares: exact-value checks, the trace
 * counters (no-ops in a normal build) and a deterministic random generator.
 */
#include <stdio.h>

#include "nfcc_ds.h"

static int checks, failures;

void check_eq(unsigned long long got, unsigned long long want, const char *what, const char *file,
	      int line)
{
	checks++;
	if (got != want) {
		failures++;
		fprintf(stderr, "%s:%d: %s: got %llu, expected %llu\n", file, line, what, got, want);
	}
}

void trace_reset(void)
{
#ifdef NFCC_DS_TRACE
	nfcc_ds_trace = (struct nfcc_ds_trace){0};
#endif
}

/* Check one trace counter (at byte offset in struct nfcc_ds_trace) in a tracing build. */
void check_trace(size_t offset, unsigned long long want, const char *what, const char *file,
		 int line)
{
#ifdef NFCC_DS_TRACE
	check_eq(*(const uint64_t *)((const char *)&nfcc_ds_trace + offset), want, what, file, line);
#else
	(void)offset, (void)want, (void)what, (void)file, (void)line;
#endif
}

/* The summary line run.sh prints; the exit status of the test program. */
int check_report(void)
{
	printf("%d checks, %d failed\n", checks, failures);
	return failures != 0;
}

uint64_t random64(void)
{
	static uint64_t x = 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}
