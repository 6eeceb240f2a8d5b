/* The C shim over DPDK's inline fast path (shim.c); bindgen reads this with DPDK's headers. */
#ifndef NFCC_DPDK_SHIM_H
#define NFCC_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* Bytes before a packet's data that belong to the packet in the module ABI (NFCC_HEADROOM). */
#define NFCC_DPDK_HEADROOM 64

/* One received packet as a module's descriptor: the layout of struct nfcc_packet (nfcc.h). */
struct nfcc_dpdk_desc {
	uint8_t *data;     /* first byte of the frame */
	uint32_t len;      /* bytes of the frame */
	uint16_t port;     /* the input port */
	uint16_t pad;      /* zero */
	uint64_t time_ns;  /* arrival time, ns since the Unix epoch */
};

int nfcc_dpdk_errno(void);
/* rte_eal_init, with what EAL prints on stdout (its usage text on bad arguments) sent to
 * stderr instead: stdout is nfcc's report. rte_errno is kept. */
int nfcc_dpdk_eal_init(int argc, char **argv);
/*
 * rte_eth_rx_burst of up to n packets, describing each packet a module may be given into
 * descs[k] and mbufs[k] (k counting only those): a packet of several segments, or with less
 * than NFCC_DPDK_HEADROOM bytes of headroom, is freed and counted in *unusable. A packet's
 * time is its RX timestamp dynamic field (microseconds) times 1000 when ts_offset >= 0 and
 * its ol_flags have ts_flag, else the host clock (CLOCK_REALTIME, read once per call).
 * Returns how many packets the driver gave (usable or not); *usable says how many are in
 * descs.
 */
uint16_t nfcc_dpdk_rx(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, struct nfcc_dpdk_desc *descs,
		      uint16_t n, int ts_offset, uint64_t ts_flag, uint16_t *usable, uint16_t *unusable);
/* rte_eth_tx_burst. */
uint16_t nfcc_dpdk_tx(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n);
void nfcc_dpdk_free(struct rte_mbuf *m);
void nfcc_dpdk_free_bulk(struct rte_mbuf **mbufs, unsigned int n);
/* A new one-segment mbuf holding a copy of frame; NULL when the pool is empty. */
struct rte_mbuf *nfcc_dpdk_frame(struct rte_mempool *pool, const uint8_t *frame, uint32_t len, uint8_t **data);
unsigned int nfcc_dpdk_pool_avail(const struct rte_mempool *pool);
/* RTE_ETH_RX_OFFLOAD_TIMESTAMP (a function-like macro bindgen cannot read). */
uint64_t nfcc_dpdk_rx_offload_timestamp(void);
/* The RSS hash types asked for with several lcores: IP, TCP, UDP. */
uint64_t nfcc_dpdk_rss_hf(void);
/* Sends DPDK's log to stderr: on Linux the EAL writes it to stdout, where nfcc's report goes. */
int nfcc_dpdk_log_to_stderr(void);
/* rte_version() of the DPDK library the host runs on ("DPDK 22.11.11"). */
const char *nfcc_dpdk_version(void);

#endif
