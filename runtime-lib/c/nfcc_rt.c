/*
 * nfcc_rt.c - the module's side of the nfcc runtime, linked into every module.
 *
 * It forwards the services of nfcc.h to the host through the table the host
 * hands over in nfcc__bind(). The pointer to that table lives alone in one
 * page, which the host write-protects right after binding, so module code can
 * never redirect the runtime's calls into the host.
 */
#include "nfcc_host_api.h"

/* The host mirrors these layouts in runtime-lib/src/abi.rs. */
_Static_assert(sizeof(struct nfcc_packet) == 24, "struct nfcc_packet layout changed");
_Static_assert(__builtin_offsetof(struct nfcc_packet, time_ns) == 16, "struct nfcc_packet layout changed");
_Static_assert(sizeof(struct nfcc_host_api) == 64, "struct nfcc_host_api layout changed");

/* Exported: the host refuses modules whose version differs from its own. */
__attribute__((visibility("default"))) const uint32_t nfcc_abi_version = NFCC_ABI_VERSION;

static union {
	const struct nfcc_host_api *api;
	char page[NFCC_RT_STATE_SIZE];
} nfcc__rt __attribute__((aligned(NFCC_RT_STATE_SIZE), section(".data.nfcc_rt")));

/*
 * Called by the host once, before nf_init(). Returns the address of the state
 * page so the host can write-protect it, or NULL if the table is not one this
 * runtime understands.
 */
__attribute__((visibility("default"))) void *nfcc__bind(const struct nfcc_host_api *api)
{
	if (api == NULL || api->abi_version != NFCC_ABI_VERSION ||
	    api->size != sizeof(struct nfcc_host_api))
		return NULL;
	nfcc__rt.api = api;
	return &nfcc__rt;
}

void *nfcc_alloc(size_t size)
{
	return nfcc__rt.api->alloc(nfcc__rt.api->ctx, size);
}

void nfcc_free(void *ptr)
{
	if (ptr != NULL)
		nfcc__rt.api->free(nfcc__rt.api->ctx, ptr);
}

const char *nfcc_config_str(const char *key, const char *def)
{
	return nfcc__rt.api->config_str(nfcc__rt.api->ctx, key, def);
}

uint64_t nfcc_config_u64(const char *key, uint64_t def, uint64_t min, uint64_t max)
{
	return nfcc__rt.api->config_u64(nfcc__rt.api->ctx, key, def, min, max);
}

uint16_t nfcc_port_count(void)
{
	return nfcc__rt.api->port_count(nfcc__rt.api->ctx);
}

void nfcc_log(const char *msg)
{
	nfcc__rt.api->log(nfcc__rt.api->ctx, msg);
}
