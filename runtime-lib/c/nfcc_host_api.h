/*
 * nfcc_host_api.h - the table of host services a module's runtime calls.
 *
 * Internal to nfcc: NF authors include nfcc.h, never this file. The host
 * (runtime-lib/src/abi.rs) mirrors this struct field for field; both sides
 * change together with NFCC_ABI_VERSION.
 */
#ifndef NFCC_HOST_API_H
#define NFCC_HOST_API_H

#include "nfcc.h"

struct nfcc_host_api {
	uint32_t abi_version; /* NFCC_ABI_VERSION of the host */
	uint32_t size;        /* sizeof(struct nfcc_host_api) on the host's side */
	void *ctx;            /* the host's handle for this module instance */
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *ptr);
	const char *(*config_str)(void *ctx, const char *key, const char *def);
	uint64_t (*config_u64)(void *ctx, const char *key, uint64_t def, uint64_t min, uint64_t max);
	uint16_t (*port_count)(void *ctx);
	void (*log)(void *ctx, const char *msg);
};

/* Size of the page holding the runtime's state; the host makes it read-only after binding. */
#define NFCC_RT_STATE_SIZE 4096u

#endif /* NFCC_HOST_API_H */
