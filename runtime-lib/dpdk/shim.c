/*
 * The DPDK fast path the Rust host needs, as real functions: DPDK defines these as
 * static inline in its headers, so bindgen cannot bind them. Each call handles a whole
 * burst, so the host crosses into C once per burst, not once per packet.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_version.h>

#include "shim.h"

int nfcc_dpdk_errno(void)
{
	return rte_errno;
}

int nfcc_dpdk_eal_init(int argc, char **argv)
{
	int saved, rc, err;

	/* EAL prints its usage text with printf: send fd 1 to stderr for the call. */
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved >= 0 && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		close(saved);
		saved = -1;
	}
	rc = rte_eal_init(argc, argv);
	err = rte_errno;
	fflush(stdout);
	if (saved >= 0) {
		dup2(saved, STDOUT_FILENO);
		close(saved);
	}
	rte_errno = err;
	return rc;
}

static uint64_t clock_ns(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_REALTIME, &t) != 0 || t.tv_sec < 0)
		return 0;
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * Whether m may be given to a module: one segment (a chain whose frame fits its first
 * segment is made one first; a longer frame, over the pool's 2048 data bytes, stays a
 * chain), with the module's headroom before the data (its region is this one buffer).
 */
static inline int usable(struct rte_mbuf *m)
{
	if (likely(m->nb_segs == 1 && m->data_off >= NFCC_DPDK_HEADROOM))
		return 1;
	if (m->nb_segs > 1)
		rte_pktmbuf_linearize(m);
	return m->nb_segs == 1 && rte_pktmbuf_headroom(m) >= NFCC_DPDK_HEADROOM;
}

static inline void describe(struct nfcc_dpdk_desc *d, struct rte_mbuf *m, uint16_t port, uint64_t time_ns)
{
	d->data = rte_pktmbuf_mtod(m, uint8_t *);
	d->len = rte_pktmbuf_data_len(m);
	d->port = port;
	d->pad = 0;
	d->time_ns = time_ns;
}

uint16_t nfcc_dpdk_rx(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, struct nfcc_dpdk_desc *descs,
		      uint16_t n, int ts_offset, uint64_t ts_flag, uint16_t *usable_out, uint16_t *unusable_out)
{
	uint16_t got = rte_eth_rx_burst(port, queue, mbufs, n);
	size_t k = 0;

	if (ts_offset < 0) {
		/* Every packet gets the host clock. */
		uint64_t clock = got > 0 ? clock_ns() : 0;

		for (size_t i = 0; i < got; i++) {
			struct rte_mbuf *m = mbufs[i];

			if (unlikely(!usable(m))) {
				rte_pktmbuf_free(m);
				continue;
			}
			describe(&descs[k], m, port, clock);
			mbufs[k++] = m;
		}
	} else {
		uint64_t clock = 0;
		int have_clock = 0;

		for (size_t i = 0; i < got; i++) {
			struct rte_mbuf *m = mbufs[i];
			uint64_t t;

			if (unlikely(!usable(m))) {
				rte_pktmbuf_free(m);
				continue;
			}
			if ((m->ol_flags & ts_flag) != 0) {
				uint64_t us = *RTE_MBUF_DYNFIELD(m, ts_offset, rte_mbuf_timestamp_t *);

				t = us > UINT64_MAX / 1000 ? UINT64_MAX : us * 1000;
			} else {
				if (!have_clock) {
					clock = clock_ns();
					have_clock = 1;
				}
				t = clock;
			}
			describe(&descs[k], m, port, t);
			mbufs[k++] = m;
		}
	}
	*usable_out = (uint16_t)k;
	*unusable_out = (uint16_t)(got - k);
	return got;
}

uint16_t nfcc_dpdk_tx(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, mbufs, n);
}

void nfcc_dpdk_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void nfcc_dpdk_free_bulk(struct rte_mbuf **mbufs, unsigned int n)
{
	rte_pktmbuf_free_bulk(mbufs, n);
}

struct rte_mbuf *nfcc_dpdk_frame(struct rte_mempool *pool, const uint8_t *frame, uint32_t len, uint8_t **data)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	if (m == NULL)
		return NULL;
	if (len > rte_pktmbuf_tailroom(m) || rte_pktmbuf_headroom(m) < NFCC_DPDK_HEADROOM) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	*data = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	memcpy(*data, frame, len);
	return m;
}

unsigned int nfcc_dpdk_pool_avail(const struct rte_mempool *pool)
{
	return rte_mempool_avail_count(pool);
}

uint64_t nfcc_dpdk_rx_offload_timestamp(void)
{
	return RTE_ETH_RX_OFFLOAD_TIMESTAMP;
}

int nfcc_dpdk_log_to_stderr(void)
{
	return rte_openlog_stream(stderr);
}

uint64_t nfcc_dpdk_rss_hf(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

const char *nfcc_dpdk_version(void)
{
	return rte_version();
}
