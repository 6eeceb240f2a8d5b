/*
 * nfcc.h - the module ABI of nfcc network functions.
 *
 * A network function (NF) is a C file that includes this header and defines
 * nf_process() (and, if it keeps state, nf_init()). `nfcc build` compiles it
 * into a module; `nfcc run` loads modules into one host process and sends
 * packets through them.
 *
 * Rules for module code:
 *   - Allocate memory only with nfcc_alloc() (never malloc): each module owns
 *     a private heap region, and protected builds confine the module to it.
 *   - Allocate what you need in nf_init(); nf_process() runs per packet.
 *   - Touch a packet only within [pkt->data, pkt->data + pkt->len).
 *   - Protected builds (the default, `nfcc build --protect rw`) check every load
 *     and store against the module's own regions: its heap, its globals, its
 *     stack, and the packet being processed. A violation stops the packet, and
 *     the host quarantines the module.
 *
 * This header is the one owner of the ABI. Changing the layout of any type or
 * the meaning of any function below requires a new NFCC_ABI_VERSION; the host
 * refuses modules built for a version other than its own.
 */
#ifndef NFCC_H
#define NFCC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI. A module records the version it was built against. */
#define NFCC_ABI_VERSION 3u /* 3: the host keeps 1 GiB of guard above a module's memory */

/* nf_process() return value: drop the packet. */
#define NFCC_DROP (-1)
/* nf_process() return value: send the packet out of every port but its input port. */
#define NFCC_FLOOD (-2)

/* The most ports a host ever offers a module. */
#define NFCC_MAX_PORTS 64u

/*
 * One packet, as the host hands it to nf_process().
 * The module may read and rewrite the bytes data[0 .. len) in place. The
 * descriptor itself is read-only: in a protected module, writing to it is a
 * violation.
 */
struct nfcc_packet {
	uint8_t *data;    /* first byte of the Ethernet frame (destination MAC) */
	uint32_t len;     /* bytes in the frame; may be anything from 0 up, even below 14 */
	uint16_t port;    /* port the packet arrived on, 0 .. nfcc_port_count() - 1 */
	uint16_t _pad;    /* zero; keeps the layout explicit */
	uint64_t time_ns; /* arrival time, nanoseconds since the Unix epoch */
};

/*
 * Entry points the NF defines.
 */

/*
 * Called once, before any packet. Read settings and allocate state here.
 * Return 0 on success; anything else makes the host refuse to load the module.
 * Optional: a stateless NF may leave it out.
 */
int nf_init(void);

/*
 * Called for every packet. Return the output port (0 .. nfcc_port_count() - 1),
 * NFCC_DROP or NFCC_FLOOD. Any other value is counted as an error and the
 * packet is dropped. Required.
 */
int nf_process(const struct nfcc_packet *pkt);

/*
 * Services the host provides to modules.
 */

/*
 * Allocate size bytes from this module's heap, zero-filled, aligned to 16 bytes.
 * Returns NULL if the heap cannot hold the request (the heap size is a host
 * setting: nfcc.heap=SIZE on the command line, default 256M).
 */
void *nfcc_alloc(size_t size);

/*
 * Give back memory from nfcc_alloc(). NULL is ignored. Any other pointer that
 * nfcc_alloc() did not return is an error the host reports and counts.
 */
void nfcc_free(void *ptr);

/*
 * The setting KEY given on the command line next to this module (KEY=VALUE),
 * or def if the user gave none. Valid only during nf_init(); the returned
 * string lives as long as the module.
 */
const char *nfcc_config_str(const char *key, const char *def);

/*
 * The setting KEY as an unsigned integer, or def if the user gave none.
 * Accepts decimal or 0x hex, with an optional k/M/G suffix (x1000) or
 * Ki/Mi/Gi (x1024). A malformed value, or one outside [min, max], makes the
 * host refuse the module with a message naming the setting; the call then
 * returns def. Valid only during nf_init().
 */
uint64_t nfcc_config_u64(const char *key, uint64_t def, uint64_t min, uint64_t max);

/* Number of ports the host offers this module (1 .. NFCC_MAX_PORTS). */
uint16_t nfcc_port_count(void);

/* Print one line, prefixed with the module's name, on the host's standard error. */
void nfcc_log(const char *msg);

/*
 * Returns p if it points into this module's own memory (its heap, or its stack);
 * otherwise stops the module's work on this packet as a violation (read kind,
 * at p). Not a host service: nfcc compiles it in place, to nothing in an
 * unprotected module and to one compare in a protected one. After it, accesses
 * through the result at offsets the compiler can bound (struct fields, arrays
 * indexed with a mask, as runtime-lib/ds's NFCC_DS_IX) need no check of their
 * own. Use it on pointers that can only be yours, such as what nfcc_alloc()
 * returned and you stored in your state: a module that gets anything else there
 * is faulty, and is stopped where the pointer is taken, not where it is used.
 */
__attribute__((const)) void *nfcc_heap_check(const void *p);

#ifdef __cplusplus
}
#endif

#endif /* NFCC_H */
