/*
 * firewall: a stateful IPv4 firewall between an inside network (port 0) and
 * the outside (port 1).
 *
 * Outbound TCP and UDP packets (arriving on port 0) open a pinhole keyed by
 * their 5-tuple (source address, destination address, source port,
 * destination port, protocol), or refresh it, and leave on port 1. Inbound
 * TCP and UDP packets (port 1) pass to port 0 only if they are the reverse
 * of an open pinhole (their destination is the inside host and port,
 * their source the outside one); they refresh it. Everything else inbound is
 * dropped.
 *
 * A pinhole last opened or refreshed at time t is gone for a packet arriving
 * at t + expiry, and still open at t + expiry - 1. When `capacity` pinholes
 * are open (after expiring old ones), a packet that would open a new one is
 * dropped; packets of open pinholes still pass both ways.
 *
 * ICMP going out passes without state; ICMP coming in is dropped. Other IPv4
 * protocols and non-IPv4 frames are dropped in both directions, and so is
 * anything arriving on a port other than 0 and 1. Malformed frames (see
 * README.md) are dropped, and nothing is read past the end of a frame.
 */
#include <nfcc.h>
#include <nfcc_ds.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPV4_MIN_HDR_LEN 20
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_MIN_HDR_LEN 20
#define UDP_HDR_LEN 8
#define NS_PER_SEC 1000000000ull

#define PORT_INSIDE 0
#define PORT_OUTSIDE 1

/* A pinhole, as the outbound packet that opened it saw it. Padding is zero. */
struct flow_key {
	uint32_t src_ip; /* inside host, host order */
	uint32_t dst_ip; /* outside host */
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t pad[3];
};

struct firewall_stats {
	uint64_t malformed;    /* truncated or inconsistent headers */
	uint64_t non_ipv4;     /* EtherType other than IPv4 */
	uint64_t fragment;     /* TCP/UDP fragments past the first (no ports) */
	uint64_t other_proto;  /* neither TCP, UDP nor ICMP */
	uint64_t bad_port;     /* arrived on a port other than 0 and 1 */
	uint64_t icmp_out;     /* outbound ICMP, passed */
	uint64_t icmp_in;      /* inbound ICMP, dropped */
	uint64_t opened;       /* new pinholes */
	uint64_t refreshed;    /* outbound packets of open pinholes */
	uint64_t table_full;   /* outbound packets dropped: no room for a pinhole */
	uint64_t allowed_in;   /* inbound packets matching a pinhole */
	uint64_t denied_in;    /* inbound packets matching none */
	uint64_t expired;      /* pinholes aged out */
};

static struct nfcc_map *pinholes;  /* struct flow_key -> dchain index */
static struct nfcc_dchain *ages;   /* pinholes, oldest first */
static struct nfcc_vector *keys;   /* struct flow_key, by dchain index */
static struct firewall_stats stats;

int nf_init(void)
{
	uint64_t expiry = nfcc_config_u64("expiry", 60 * NS_PER_SEC, 1, UINT64_MAX);
	uint32_t capacity = (uint32_t)nfcc_config_u64("capacity", 65536, 1, NFCC_DS_MAX_CAPACITY);

	if (nfcc_port_count() < 2) {
		nfcc_log("needs two ports: 0 inside, 1 outside (see --ports)");
		return -1;
	}
	pinholes = nfcc_map_create(capacity, sizeof(struct flow_key));
	ages = nfcc_dchain_create(capacity, expiry);
	keys = nfcc_vector_create(capacity, sizeof(struct flow_key));
	if (pinholes == NULL || ages == NULL || keys == NULL) {
		nfcc_log("not enough heap for the pinhole table; lower capacity= or raise nfcc.heap=");
		return -1;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int nf_process(const struct nfcc_packet *pkt)
{
	const uint8_t *eth = pkt->data;
	uint32_t len = pkt->len;

	if (len < ETH_HDR_LEN) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if (be16(eth + 12) != ETHERTYPE_IPV4) {
		stats.non_ipv4++;
		return NFCC_DROP;
	}
	if (len < ETH_HDR_LEN + IPV4_MIN_HDR_LEN) {
		stats.malformed++;
		return NFCC_DROP;
	}

	const uint8_t *ip = eth + ETH_HDR_LEN;
	uint32_t room = len - ETH_HDR_LEN;
	uint32_t hdr_len = (uint32_t)(ip[0] & 0xf) * 4;
	uint32_t total_len = be16(ip + 2);

	/* Total length may be below room: Ethernet pads short frames. */
	if (ip[0] >> 4 != 4 || hdr_len < IPV4_MIN_HDR_LEN || hdr_len > room ||
	    total_len < hdr_len || total_len > room) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if (pkt->port != PORT_INSIDE && pkt->port != PORT_OUTSIDE) {
		stats.bad_port++;
		return NFCC_DROP;
	}

	uint8_t proto = ip[9];

	if (proto == IPPROTO_ICMP) {
		if (pkt->port == PORT_INSIDE) {
			stats.icmp_out++;
			return PORT_OUTSIDE;
		}
		stats.icmp_in++;
		return NFCC_DROP;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		stats.other_proto++;
		return NFCC_DROP;
	}
	/* Fragment offset non-zero: no L4 header in this packet. */
	if ((be16(ip + 6) & 0x1fff) != 0) {
		stats.fragment++;
		return NFCC_DROP;
	}

	uint32_t l4_min = proto == IPPROTO_TCP ? TCP_MIN_HDR_LEN : UDP_HDR_LEN;

	if (total_len - hdr_len < l4_min) {
		stats.malformed++;
		return NFCC_DROP;
	}

	const uint8_t *l4 = ip + hdr_len;
	struct flow_key key;
	uint32_t index;

	memset(&key, 0, sizeof(key));
	key.proto = proto;
	if (pkt->port == PORT_INSIDE) {
		key.src_ip = be32(ip + 12);
		key.dst_ip = be32(ip + 16);
		key.src_port = be16(l4);
		key.dst_port = be16(l4 + 2);
	} else {
		key.src_ip = be32(ip + 16);
		key.dst_ip = be32(ip + 12);
		key.src_port = be16(l4 + 2);
		key.dst_port = be16(l4);
	}

	stats.expired += nfcc_expire_map(ages, pinholes, keys, pkt->time_ns);

	if (nfcc_map_get(pinholes, &key, &index)) {
		nfcc_dchain_rejuvenate(ages, index, pkt->time_ns);
		if (pkt->port == PORT_INSIDE) {
			stats.refreshed++;
			return PORT_OUTSIDE;
		}
		stats.allowed_in++;
		return PORT_INSIDE;
	}
	if (pkt->port == PORT_OUTSIDE) {
		stats.denied_in++;
		return NFCC_DROP;
	}
	if (nfcc_dchain_allocate(ages, pkt->time_ns, &index) != NFCC_DS_OK) {
		stats.table_full++;
		return NFCC_DROP;
	}
	memcpy(nfcc_vector_get(keys, index), &key, sizeof(key));
	nfcc_map_put(pinholes, &key, index);
	stats.opened++;
	return PORT_OUTSIDE;
}
