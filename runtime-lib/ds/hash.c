/*
 * hash.c - the trace counters of tracing builds. nfcc_hash itself is runtime code
 * (runtime-lib/c/nfcc_hash.c): the isolation pass checks a key's range once at the call.
 */
#include "nfcc_ds.h"

#ifdef NFCC_DS_TRACE
struct nfcc_ds_trace nfcc_ds_trace;
#endif
