/*
 * expire.c - the expiry loops: free every expired dchain index and forget
 * the flow-table entry that used it.
 */
#include "nfcc_ds.h"

uint32_t nfcc_expire_map(struct nfcc_dchain *dchain, struct nfcc_map *map,
			 const struct nfcc_vector *keys, uint64_t now)
{
	dchain = NFCC_DS_HEAP(dchain);
	map = NFCC_DS_HEAP(map);
	keys = NFCC_DS_HEAP(keys);
	uint32_t capacity = nfcc_dchain_capacity(dchain);
	uint32_t n = 0;

	if (nfcc_vector_capacity(keys) < capacity ||
	    nfcc_vector_record_size(keys) < nfcc_map_key_size(map))
		return 0;
	/*
	 * The test is at the end of each run: a run of the loop is one index expired, and a
	 * call that expires nothing (most of them) never enters it.
	 */
	if (capacity == 0 || !nfcc_dchain_expire_ready(dchain, now))
		return 0;
	/* PCV e: indices expired (at most capacity: each was allocated) */
	do {
		NFCC_DS_COUNT(expired);
		nfcc_map_erase(map, nfcc_vector_get(keys, nfcc_dchain_pop_oldest(dchain)), NULL);
		n++;
	} while (n < capacity && nfcc_dchain_expire_ready(dchain, now));
	return n;
}

uint32_t nfcc_expire_dmap(struct nfcc_dchain *dchain, struct nfcc_dmap *dmap, uint64_t now)
{
	dchain = NFCC_DS_HEAP(dchain);
	dmap = NFCC_DS_HEAP(dmap);
	uint32_t capacity = nfcc_dchain_capacity(dchain);
	uint32_t n = 0;

	if (capacity == 0 || !nfcc_dchain_expire_ready(dchain, now))
		return 0;
	/* PCV e: indices expired (at most capacity: each was allocated); see nfcc_expire_map */
	do {
		NFCC_DS_COUNT(expired);
		nfcc_dmap_erase(dmap, nfcc_dchain_pop_oldest(dchain));
		n++;
	} while (n < capacity && nfcc_dchain_expire_ready(dchain, now));
	return n;
}
