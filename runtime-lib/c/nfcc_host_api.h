/*
 * nfcc_host_api.h - what the host and the runtime linked into each module share.
 *
 * Internal to nfcc: NF authors include nfcc.h, never this file. The host mirrors
 * every type here in runtime-lib/src/abi.rs, and the isolation pass
 * (passes/src/isolate.rs) addresses struct nfcc_bounds by the offsets pinned below.
 * All of it changes together with NFCC_ABI_VERSION.
 */
#ifndef NFCC_HOST_API_H
#define NFCC_HOST_API_H

#include <setjmp.h>
#include "nfcc.h"

/* Host services, called by the runtime on the module's behalf. */
struct nfcc_host_api {
	uint32_t abi_version; /* NFCC_ABI_VERSION of the host */
	uint32_t size;        /* sizeof(struct nfcc_host_api) on the host's side */
	void *ctx;            /* the host's handle for this module instance */
	void *(*alloc)(void *ctx, size_t size);
	int (*free)(void *ctx, void *ptr); /* 0, or -1 if ptr is not a live block */
	const char *(*config_str)(void *ctx, const char *key, const char *def);
	uint64_t (*config_u64)(void *ctx, const char *key, uint64_t def, uint64_t min, uint64_t max);
	uint16_t (*port_count)(void *ctx);
	void (*log)(void *ctx, const char *msg);
};

/* Kinds of violation, as recorded in struct nfcc_violation and in check sites. */
#define NFCC_V_READ 1  /* a load outside the module's regions */
#define NFCC_V_WRITE 2 /* a store outside the module's writable regions */
#define NFCC_V_CALL 3  /* an indirect call to something not a function of the module */
#define NFCC_V_STACK 4 /* the module's unsafe stack is exhausted */
#define NFCC_V_FAULT 5 /* a hardware fault in module code (guard page, divide error, trap) */
#define NFCC_V_FREE 6  /* nfcc_free of a pointer nfcc_alloc did not return */
#define NFCC_V_API 7   /* a runtime service was handed memory outside the module's regions */

/* nfcc__enter's result when the call was stopped by a violation. */
#define NFCC__VIOLATED (-1000)

/* Bytes before a packet's data that belong to that packet (zeroed before every call). */
#define NFCC_HEADROOM 64u

/* Check sites encode their kind in the low bits: site_word = site_index << 3 | kind. */
#define NFCC_SITE_KIND_BITS 3u

/* What stopped a module. */
struct nfcc_violation {
	uint32_t kind;     /* NFCC_V_* */
	uint32_t site;     /* index into the module's nfcc__sites table, or UINT32_MAX */
	uint64_t addr;     /* the address the module tried to use */
	uint64_t size;     /* bytes it tried to touch */
};

/*
 * Per module instance: the bounds the isolation checks read, the current packet,
 * and the containment state. It lives in the runtime's own section, which no
 * module region covers, so module code can read it (the checks do) but never
 * write it; only the host and the runtime do.
 */
struct nfcc_bounds {
	uint64_t mem_lo;          /* unsafe stack + heap: one region, guard zones on both ends */
	uint64_t mem_len;
	uint64_t usp;             /* unsafe stack pointer (grows down from usp_top to mem_lo) */
	uint64_t usp_top;
	struct nfcc_packet pkt;   /* the descriptor nf_process receives (read-only to it) */
	uint64_t stack_top;       /* top of the module's call stack (return addresses, spills) */
	struct nfcc_violation v;  /* set when a call was stopped */
	uint64_t running;         /* 1 while module code runs */
	sigjmp_buf jmp;           /* where a violation returns to */
};

#define NFCC_BOUNDS_MEM_LO 0
#define NFCC_BOUNDS_MEM_LEN 8
#define NFCC_BOUNDS_USP 16
#define NFCC_BOUNDS_USP_TOP 24
#define NFCC_BOUNDS_PKT 32
#define NFCC_BOUNDS_STACK_TOP 56
#define NFCC_BOUNDS_V 64
#define NFCC_BOUNDS_RUNNING 88

/* One entry of the module's check-site table (emitted by the isolation pass). */
struct nfcc_site {
	const char *function;
	const char *file;
	uint32_t line;
	uint32_t kind;
};

/* Size of the page holding the runtime's state; the host makes it read-only after binding. */
#define NFCC_RT_STATE_SIZE 4096u

#endif /* NFCC_HOST_API_H */
