/* The C shim over DPDK's inline fast path (shim.c); bindgen reads this with DPDK's headers. */
#ifndef NFCC_DPDK_SHIM_H
#define NFCC_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* Bytes before a packet's data that belong to the packet in the module ABI (NFCC_HEADROOM). */
#define NFCC_DPDK_HEADROOM 64

/* One received packet, as the host needs it. */
struct nfcc_dpdk_pkt {
	struct rte_mbuf *mbuf;
	uint8_t *data;     /* first byte of the frame */
	uint64_t time_ns;  /* the RX timestamp dynamic field (the driver's unit), when has_time */
	uint32_t len;      /* bytes of the frame */
	uint8_t usable;    /* one segment, with NFCC_DPDK_HEADROOM bytes of headroom */
	uint8_t has_time;
};

int nfcc_dpdk_errno(void);
/* rte_eal_init, with what EAL prints on stdout (its usage text on bad arguments) sent to
 * stderr instead: stdout is nfcc's report. rte_errno is kept. */
int nfcc_dpdk_eal_init(int argc, char **argv);
/* rte_eth_rx_burst, describing each packet into pkts. */
uint16_t nfcc_dpdk_rx(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, struct nfcc_dpdk_pkt *pkts,
		      uint16_t n, int ts_offset, uint64_t ts_flag);
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
