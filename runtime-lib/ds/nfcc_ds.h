/*
 * nfcc_ds.h - stateful data structures for nfcc network functions.
 *
 * Flow tables, index allocators with expiry, a Maglev table, an IPv4 LPM
 * table and token buckets, in plain C for module code:
 *   - every structure is created once (in nf_init) by one *_create() call
 *     that takes its fixed capacity and allocates from the module heap with
 *     nfcc_alloc(); it returns NULL if an argument is invalid or the heap
 *     cannot hold it. Nothing grows afterwards, and nothing needs freeing:
 *     the module heap lives as long as the module. (Every *_create but
 *     nfcc_dmap_create makes a single nfcc_alloc call, so nfcc_free() on the
 *     returned pointer gives such a structure back.);
 *   - all state is reached through the pointer *_create() returns (the only
 *     globals are the trace counters of tracing builds);
 *   - the library calls nothing but nfcc_alloc, nfcc_free, memcpy, memmove,
 *     memset and memcmp, and needs no callbacks.
 *
 * Performance-critical variables (PCVs). Every loop whose trip count depends
 * on the state of a structure counts one PCV, named by a comment at the loop
 * (`PCV t: ...`), and is bounded by the structure's capacity. The PCVs:
 *   t  map / dmap: chain entries examined by one operation
 *   c  map / dmap: of those, entries whose stored hash equals the key's but
 *      whose key differs (each costs a key comparison)
 *   e  dchain: indices expired by one nfcc_expire_map / nfcc_expire_dmap call
 *   s  lpm: stages of one lookup (1 or 2; a branch, not a loop)
 *   b  maglev: active-backend list entries scanned by add or remove
 *   p  maglev: taken table slots skipped while repopulating (add or remove)
 *   r  lpm: table entries examined by a route add (an init-time operation)
 * Loops that run a fixed number of times for a given structure (hashing a
 * key of key_size bytes, the table_size placements of a Maglev population,
 * the 256 entries of an LPM second-stage chunk) are not PCVs; their comments
 * say so. Operations not listed have no loops.
 *
 * Build with -DNFCC_DS_TRACE to have the library add each PCV, inside those
 * very loops, to the global nfcc_ds_trace; without it the counting compiles
 * to nothing and the global does not exist.
 */
#ifndef NFCC_DS_H
#define NFCC_DS_H

#include <nfcc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes of the operations that can fail. */
#define NFCC_DS_OK 0         /* done */
#define NFCC_DS_FULL (-1)    /* no room left: capacity reached */
#define NFCC_DS_EXISTS (-2)  /* the key, index or backend is already present */
#define NFCC_DS_INVALID (-3) /* an argument is out of range, or names nothing present */

/* PCV counts of a tracing build (-DNFCC_DS_TRACE), summed over calls, until reset. */
struct nfcc_ds_trace {
	uint64_t traversals; /* t: map chain entries examined */
	uint64_t collisions; /* c: examined map entries with the key's hash but another key */
	uint64_t expired;    /* e: indices freed by the dchain expire loops */
	uint64_t stages;     /* s: LPM lookup stages */
	uint64_t backends;   /* b: Maglev active-list entries scanned */
	uint64_t skips;      /* p: taken slots skipped while populating a Maglev table */
	uint64_t entries;    /* r: LPM entries examined by route adds */
};

#ifdef NFCC_DS_TRACE
/* The counters; read them after a call, reset with `nfcc_ds_trace = (struct nfcc_ds_trace){0};`. */
extern struct nfcc_ds_trace nfcc_ds_trace;
#define NFCC_DS_COUNT(pcv) ((void)nfcc_ds_trace.pcv++)
#else
#define NFCC_DS_COUNT(pcv) ((void)0)
#endif

/*
 * NFCC_DS_CALL: the operations marked with it are real calls, never inlined into
 * the NF: the contract engine analyses each one once per calling context and
 * charges the NF by outcome (hit, miss, full, ...), which keeps contracts small
 * and quick to derive. One-line accessors (vector_get, sizes, capacities) are
 * left to the compiler: inlined, they cost nothing and add no paths.
 */
#define NFCC_DS_CALL __attribute__((noinline))

/*
 * The largest capacity of every structure, and the mask every array index goes
 * through before it addresses memory. On a consistent structure the mask changes
 * nothing (an index is at most the capacity); what it adds is a bound the
 * compiler can see. In a protected module an access at array + bounded index
 * then shares the one check of its array's base: the guard zone above the
 * module's memory covers base + NFCC_DS_IX(i) * element size (up to 1 GiB,
 * abi::MEM_INDEX_REACH), so a corrupted index faults instead of needing a
 * compare of its own.
 */
#define NFCC_DS_MAX_CAPACITY (1u << 22)
#define NFCC_DS_IX(i) ((uint32_t)(i) & (2u * NFCC_DS_MAX_CAPACITY - 1u))
/*
 * The same for an index below the capacity (an entry, a slot, a record) that is
 * multiplied by a masked size, and for key sizes (at most 127 bytes): their
 * product stays within the guard's reach.
 */
#define NFCC_DS_ENTRY(i) ((uint32_t)(i) & (NFCC_DS_MAX_CAPACITY - 1u))
#define NFCC_DS_KEY_SIZE(n) ((uint32_t)(n) & 127u)

/*
 * A structure's handle asserted to be the module's own memory (nfcc_heap_check):
 * every structure comes from nfcc_alloc, so anything else means the module
 * corrupted its state, and it is stopped. In a protected module, accesses
 * through the result at struct fields and at masked offsets (its tables live in
 * the same allocation) then need no check of their own.
 */
#define NFCC_DS_HEAP(p) ((__typeof__(p))nfcc_heap_check(p))

/*
 * Hashing (runtime-lib/c/nfcc_hash.c: nfcc's runtime, which the key's range is checked
 * for once at the call, like memcmp's).
 */

/*
 * A 32-bit hash of the len bytes at key. Deterministic: it depends only on
 * the bytes, len and seed (never on the host's byte order or on pointers).
 * Bytes are taken four at a time as little-endian words; each word is mixed
 * with a xor-shift-multiply bijection and folded into the state, and the
 * state is mixed once more at the end. For one len and seed it is a bijection
 * on 4-byte keys, so those never collide. The function is public and
 * unkeyed: an adversary can build colliding keys, which is why chain walks
 * are bounded and counted as PCVs. Runs len/4 rounds (fixed per key size).
 */
uint32_t nfcc_hash_bytes(const void *key, uint32_t seed, size_t len);
static inline uint32_t nfcc_hash(const void *key, uint32_t len, uint32_t seed)
{
	return nfcc_hash_bytes(key, seed, len);
}

/*
 * Hash map (map.c): fixed-size keys -> uint32_t values.
 *
 * Separate chaining. The map holds `capacity` entries (key, its hash, value)
 * and 2^k >= capacity chains; a key lives in chain nfcc_hash(key, key_size, 0)
 * mod 2^k. New entries go to the head of their chain, so an entry's position
 * is one plus the number of later entries of its chain. Lookups compare the
 * stored 32-bit hash first and the key bytes (memcmp) only on equal hashes.
 * A chain never holds more than `capacity` entries, which bounds every walk.
 * Free entries are reused last-freed first.
 */
struct nfcc_map;

/* capacity entries, keys of key_size bytes; NULL if either is 0, capacity > NFCC_DS_MAX_CAPACITY,
 * key_size > 127, or no memory. */
NFCC_DS_CALL struct nfcc_map *nfcc_map_create(uint32_t capacity, uint32_t key_size);

/* 1 and *value set if key is present, else 0. PCVs t, c: its chain up to key (all if absent). */
NFCC_DS_CALL int nfcc_map_get(const struct nfcc_map *map, const void *key, uint32_t *value);

/*
 * Map key to value: NFCC_DS_OK, NFCC_DS_EXISTS if key is present (its value is
 * left as is), NFCC_DS_FULL if capacity entries are present. PCVs t, c: the
 * whole chain of the key.
 */
NFCC_DS_CALL int nfcc_map_put(struct nfcc_map *map, const void *key, uint32_t value);

/* Remove key: 1 (and *value, unless value is NULL) if it was present, else 0. PCVs t, c as get. */
NFCC_DS_CALL int nfcc_map_erase(struct nfcc_map *map, const void *key, uint32_t *value);

/* Number of entries present. */
uint32_t nfcc_map_size(const struct nfcc_map *map);

/* key_size as given to nfcc_map_create. */
uint32_t nfcc_map_key_size(const struct nfcc_map *map);

/* The chain key lives in (0 .. 2^k - 1): lets tests and contracts build keys sharing a chain. */
NFCC_DS_CALL uint32_t nfcc_map_chain(const struct nfcc_map *map, const void *key);

/*
 * Double-keyed map (dmap.c): NAT-style entries reachable by either of two keys.
 *
 * Entry i (0 <= i < capacity; the caller picks i, typically from a dchain)
 * holds a key A of key_a_size bytes and a key B of key_b_size bytes. It is
 * two nfcc_maps (A -> i, B -> i) plus a copy of both keys per index, so its
 * PCVs are those of the two maps' chains, summed.
 */
struct nfcc_dmap;

/* A dmap of capacity indices; NULL if an argument is 0, capacity > NFCC_DS_MAX_CAPACITY, a key
 * size > 120, or no memory (3 nfcc_allocs). */
NFCC_DS_CALL struct nfcc_dmap *nfcc_dmap_create(uint32_t capacity, uint32_t key_a_size, uint32_t key_b_size);

/*
 * Store entry index with both keys: NFCC_DS_OK; NFCC_DS_INVALID if index >=
 * capacity; NFCC_DS_EXISTS if index is in use or either key is present
 * (nothing changes). PCVs: chain of A, then chain of B (then A again when B
 * is present and A's insertion is undone).
 */
NFCC_DS_CALL int nfcc_dmap_put(struct nfcc_dmap *dmap, const void *key_a, const void *key_b, uint32_t index);

/* 1 and *index set if an entry has key A key_a, else 0. PCVs t, c of chain A. */
NFCC_DS_CALL int nfcc_dmap_get_a(const struct nfcc_dmap *dmap, const void *key_a, uint32_t *index);

/* 1 and *index set if an entry has key B key_b, else 0. PCVs t, c of chain B. */
NFCC_DS_CALL int nfcc_dmap_get_b(const struct nfcc_dmap *dmap, const void *key_b, uint32_t *index);

/* Remove entry index (both keys): 1 if it was in use, else 0. PCVs: chain of A, then chain of B. */
NFCC_DS_CALL int nfcc_dmap_erase(struct nfcc_dmap *dmap, uint32_t index);

/* Key A of entry index, or NULL if the entry is not in use. */
const void *nfcc_dmap_key_a(const struct nfcc_dmap *dmap, uint32_t index);

/* Key B of entry index, or NULL if the entry is not in use. */
const void *nfcc_dmap_key_b(const struct nfcc_dmap *dmap, uint32_t index);

/*
 * Vector (vector.c): capacity records of a fixed size, zeroed at creation.
 *
 * Records are 8-byte aligned: the stride is record_size rounded up to a
 * multiple of 8.
 */
struct nfcc_vector;

/* capacity records of record_size bytes; NULL if either is 0, capacity > NFCC_DS_MAX_CAPACITY,
 * record_size > 120, or no memory. */
NFCC_DS_CALL struct nfcc_vector *nfcc_vector_create(uint32_t capacity, uint32_t record_size);

/* Record index, or NULL if index >= capacity. The pointer stays valid for the module's life. */
void *nfcc_vector_get(const struct nfcc_vector *vector, uint32_t index);

/* record_size as given to nfcc_vector_create. */
uint32_t nfcc_vector_record_size(const struct nfcc_vector *vector);

/* capacity as given to nfcc_vector_create. */
uint32_t nfcc_vector_capacity(const struct nfcc_vector *vector);

/*
 * Double chain (dchain.c): allocator of indices 0 .. capacity-1 with ageing.
 *
 * Each allocated index carries the time it was allocated or last
 * rejuvenated. Allocated indices form a list ordered by that time (oldest
 * first), free indices a stack. Expiry rule: with window W (fixed at
 * creation), an index whose time is t is expired at time now exactly when
 * now >= t and now - t >= W, i.e. by now = t + W but not by t + W - 1
 * (computed without overflow). Times given to allocate and rejuvenate
 * should not decrease (packet arrival times do not); one below the latest
 * stored is taken as that latest, which keeps the list ordered. Expiry
 * stores no time. All operations are O(1) except the expire loops.
 */
struct nfcc_dchain;

/* capacity indices, expiry window expiry_ns; NULL if either is 0, capacity > NFCC_DS_MAX_CAPACITY,
 * or no memory. */
NFCC_DS_CALL struct nfcc_dchain *nfcc_dchain_create(uint32_t capacity, uint64_t expiry_ns);

/*
 * Take a free index, with time now: NFCC_DS_OK and *index set, or
 * NFCC_DS_FULL. Recently freed indices are reused first; never-used ones
 * are handed out in increasing order.
 */
NFCC_DS_CALL int nfcc_dchain_allocate(struct nfcc_dchain *dchain, uint64_t now, uint32_t *index);

/* Give index the time now (it becomes the youngest): NFCC_DS_OK; NFCC_DS_INVALID if free. */
NFCC_DS_CALL int nfcc_dchain_rejuvenate(struct nfcc_dchain *dchain, uint32_t index, uint64_t now);

/* Free index: NFCC_DS_OK, or NFCC_DS_INVALID if it is not allocated. */
NFCC_DS_CALL int nfcc_dchain_free(struct nfcc_dchain *dchain, uint32_t index);

/* 1 if index is allocated, else 0 (also for index >= capacity). */
int nfcc_dchain_is_allocated(const struct nfcc_dchain *dchain, uint32_t index);

/* capacity as given to nfcc_dchain_create. */
uint32_t nfcc_dchain_capacity(const struct nfcc_dchain *dchain);

/*
 * Free the oldest index if it is expired at time now: 1 and *index set, else
 * 0. The loop a caller drives: `while (nfcc_dchain_expire_one(d, now, &i))
 * forget(i);` (it ends after at most capacity rounds).
 */
NFCC_DS_CALL int nfcc_dchain_expire_one(struct nfcc_dchain *dchain, uint64_t now, uint32_t *index);

/*
 * The same in two steps, for loops that keep no local whose address is taken
 * (which a protected module would place on its separate stack): 1 if the
 * oldest index is expired at time now, else 0; and free the oldest allocated
 * index and return it (capacity if none is allocated).
 */
NFCC_DS_CALL int nfcc_dchain_expire_ready(const struct nfcc_dchain *dchain, uint64_t now);
NFCC_DS_CALL uint32_t nfcc_dchain_pop_oldest(struct nfcc_dchain *dchain);

/*
 * Free every index expired at time now and erase its key from map. Record i
 * of keys must begin with the map key of index i; if keys has fewer records
 * than dchain has indices, or records shorter than the map's keys, nothing
 * happens. Returns the number freed. PCV e: indices expired; plus t, c of
 * each erase.
 */
NFCC_DS_CALL uint32_t nfcc_expire_map(struct nfcc_dchain *dchain, struct nfcc_map *map,
			 const struct nfcc_vector *keys, uint64_t now);

/* Free every index expired at now, erase its entry of dmap; returns how many. PCV e, + erases'. */
NFCC_DS_CALL uint32_t nfcc_expire_dmap(struct nfcc_dchain *dchain, struct nfcc_dmap *dmap, uint64_t now);

/*
 * Maglev consistent hashing (maglev.c).
 *
 * A lookup table of table_size slots (a prime) maps flow hashes to backends
 * 0 .. max_backends-1, of which any set may be active. Backend b's
 * permutation is slot (offset + j * skip) mod table_size for j = 0, 1, ...,
 * with offset = nfcc_hash(&b, 4, NFCC_MAGLEV_SEED_OFFSET) mod table_size and
 * skip = nfcc_hash(&b, 4, NFCC_MAGLEV_SEED_SKIP) mod (table_size - 1) + 1,
 * b being a uint32_t. Every add or remove repopulates the table as in the
 * Maglev paper: the active backends, in increasing order, take turns
 * claiming the next free slot of their permutation until all slots are
 * taken. So the table depends only on the set of active backends, each
 * backend owns floor or ceil of table_size / active slots, and removing a
 * backend mostly moves only the slots it owned.
 */
struct nfcc_maglev;

#define NFCC_MAGLEV_DEFAULT_SIZE 65537u /* table size used when 0 is given */
#define NFCC_MAGLEV_NONE UINT32_MAX     /* lookup result when no backend is active */
#define NFCC_MAGLEV_SEED_OFFSET 0x6d61676cu /* nfcc_hash seed of a backend's first slot */
#define NFCC_MAGLEV_SEED_SKIP 0x736b6970u   /* nfcc_hash seed of a backend's step */

/*
 * A table for backends 0 .. max_backends-1 with table_size slots (0: the
 * default); NULL if max_backends is 0 or above 2^24, table_size is not a
 * prime below 2^31, or on no memory.
 */
NFCC_DS_CALL struct nfcc_maglev *nfcc_maglev_create(uint32_t max_backends, uint32_t table_size);

/*
 * Activate backend and repopulate: NFCC_DS_OK, NFCC_DS_INVALID if backend >=
 * max_backends, NFCC_DS_EXISTS if already active. PCVs b (active list up to
 * backend's place) and p.
 */
NFCC_DS_CALL int nfcc_maglev_add(struct nfcc_maglev *maglev, uint32_t backend);

/* Deactivate backend and repopulate: NFCC_DS_OK, or NFCC_DS_INVALID if not active. PCVs b, p. */
NFCC_DS_CALL int nfcc_maglev_remove(struct nfcc_maglev *maglev, uint32_t backend);

/* The backend of slot flow_hash mod table_size, or NFCC_MAGLEV_NONE if none is active. No loop. */
NFCC_DS_CALL uint32_t nfcc_maglev_lookup(const struct nfcc_maglev *maglev, uint32_t flow_hash);

/* Number of active backends. */
uint32_t nfcc_maglev_count(const struct nfcc_maglev *maglev);

/*
 * IPv4 longest-prefix match, DIR-24-8 (lpm.c).
 *
 * Addresses and prefixes are uint32_t in host order (10.1.2.3 is
 * 0x0a010203). A first-stage table of 2^24 entries (64 MiB) is indexed by
 * the top 24 address bits; an entry holds a port and the length of the
 * prefix that set it, or refers to a second-stage chunk of 256 entries
 * (indexed by the low 8 bits) once a prefix longer than /24 falls in it.
 * A route overwrites exactly the entries whose current prefix is no longer
 * than its own, so the order of adds does not matter and re-adding a prefix
 * replaces its port. Routes cannot be deleted.
 */
struct nfcc_lpm;

#define NFCC_LPM_NO_ROUTE UINT32_MAX /* lookup result when no prefix matches */
#define NFCC_LPM_MAX_PORT 0xffffffu  /* ports are 0 .. NFCC_LPM_MAX_PORT */

/* A table with room for chunks second-stage chunks (0 .. 2^24); NULL if more, or no memory. */
NFCC_DS_CALL struct nfcc_lpm *nfcc_lpm_create(uint32_t chunks);

/*
 * Route prefix/len to port (host bits beyond len are ignored): NFCC_DS_OK,
 * NFCC_DS_INVALID if len > 32 or port > NFCC_LPM_MAX_PORT, NFCC_DS_FULL if a
 * prefix longer than /24 needs a chunk and none is left. PCV r: 2^(24-len)
 * first-stage entries for len <= 24, plus 256 per chunk under them; 2^(32-len)
 * second-stage entries otherwise.
 */
NFCC_DS_CALL int nfcc_lpm_add(struct nfcc_lpm *lpm, uint32_t prefix, uint32_t len, uint32_t port);

/* The port of the longest prefix containing addr, or NFCC_LPM_NO_ROUTE. PCV s: 1 or 2 stages. */
NFCC_DS_CALL uint32_t nfcc_lpm_lookup(const struct nfcc_lpm *lpm, uint32_t addr);

/*
 * Token buckets (tbucket.c): capacity buckets sharing one rate and burst.
 *
 * Bucket i holds up to burst bytes and refills at rate bytes per second.
 * Arithmetic is exact: a bucket also keeps the fraction of a byte it has
 * earned (in billionths of a byte), so refilling in many small steps gives
 * what one big step gives. An elapsed time long enough to fill the bucket
 * from empty fills it without computing rate * elapsed, so no idle time
 * overflows. A time earlier than the bucket's last one refills nothing.
 */
struct nfcc_tbucket;

#define NFCC_TB_MAX_RATE 1000000000000ull /* bytes per second (8 Tbit/s) */
#define NFCC_TB_MAX_BURST 10000000000ull  /* bytes */

/*
 * capacity buckets, empty at time 0; NULL if capacity is 0 or above 2^30, if
 * rate or burst is 0 or above its maximum, or on no memory.
 */
NFCC_DS_CALL struct nfcc_tbucket *nfcc_tbucket_create(uint32_t capacity, uint64_t rate, uint64_t burst);

/* Fill bucket index at time now (a new flow): NFCC_DS_OK, or NFCC_DS_INVALID if index too big. */
NFCC_DS_CALL int nfcc_tbucket_fill(struct nfcc_tbucket *tb, uint32_t index, uint64_t now);

/* Refill bucket index up to time now and return its whole bytes (0 if index >= capacity). */
NFCC_DS_CALL uint64_t nfcc_tbucket_tokens(struct nfcc_tbucket *tb, uint32_t index, uint64_t now);

/* Refill bucket index up to now; if it holds >= bytes, take them out and return 1; else 0. */
NFCC_DS_CALL int nfcc_tbucket_consume(struct nfcc_tbucket *tb, uint32_t index, uint64_t bytes, uint64_t now);

#ifdef __cplusplus
}
#endif

#endif /* NFCC_DS_H */
