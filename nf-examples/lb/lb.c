/*
 * lb: a Maglev-style load balancer.
 *
 * Backends announce themselves on port 1 with heartbeats: IPv4 UDP datagrams
 * to UDP port `heartbeat_port`, whose IPv4 source address is the backend's
 * address. A heartbeat adds the backend (to the Maglev table of the
 * data-structure library) or refreshes it; it is consumed (dropped). A
 * backend last heard at time t is gone for a packet arriving at
 * t + backend_expiry and still there at t + backend_expiry - 1.
 *
 * Client TCP and UDP packets arriving on port 0 are balanced: a flow (its
 * 5-tuple) keeps the backend it was given while that backend lives and the
 * flow is not idle for flow_expiry ns (same boundary rule); a new flow, or one
 * whose backend is gone, gets the backend of nfcc_maglev_lookup(hash of its
 * 5-tuple). A flow's backend is its address: if that address is live at the
 * packet's arrival (even after expiring and announcing itself again), the flow
 * stays. The destination address is rewritten to the backend's, the IPv4
 * header checksum and the TCP/UDP checksum are patched incrementally, and the
 * packet leaves on port 1. With no live backend, client packets are dropped.
 * When the flow table is full, a new flow's packets are still balanced by the
 * Maglev table, without a flow entry.
 *
 * See README.md for the classes of packets dropped.
 */
#include <nfcc.h>
#include <nfcc_ds.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPV4_MIN_HDR_LEN 20
#define IPV4_CSUM 10
#define IPV4_DST 16
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_MIN_HDR_LEN 20
#define TCP_CSUM 16
#define UDP_HDR_LEN 8
#define UDP_CSUM 6
#define NS_PER_SEC 1000000000ull
#define FLOW_HASH_SEED 0x666c6f77u

#define PORT_CLIENTS 0
#define PORT_BACKENDS 1

struct flow_key {
	uint32_t src_ip; /* host order */
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t pad[3];
};

/* A flow, by its dchain index. The key comes first: nfcc_expire_map erases it. */
struct flow {
	struct flow_key key;
	uint32_t backend_ip; /* address of the flow's backend */
};

struct lb_stats {
	uint64_t malformed;    /* truncated or inconsistent headers */
	uint64_t non_ipv4;     /* EtherType other than IPv4 */
	uint64_t fragment;     /* fragments past the first */
	uint64_t other_proto;  /* client packets neither TCP nor UDP */
	uint64_t bad_port;     /* arrived on a port other than 0 and 1 */
	uint64_t not_heartbeat;/* valid IPv4 on port 1 that is not a heartbeat */
	uint64_t heartbeats;   /* heartbeats processed */
	uint64_t backends_added;
	uint64_t backends_refused; /* heartbeat of a new backend while max_backends live */
	uint64_t backends_expired;
	uint64_t no_backend;   /* client packets dropped: no live backend */
	uint64_t new_flows;
	uint64_t moved_flows;  /* flows whose backend had died, reassigned */
	uint64_t flows_full;   /* new flows balanced without a flow entry */
	uint64_t flows_expired;
	uint64_t balanced;     /* client packets sent to a backend */
};

static struct nfcc_maglev *maglev;
static struct nfcc_map *backend_map;   /* backend address (uint32_t) -> backend index */
static struct nfcc_dchain *backend_ages;
static struct nfcc_vector *backend_ips; /* uint32_t address, by backend index */
static struct nfcc_map *flow_map;      /* struct flow_key -> flow index */
static struct nfcc_dchain *flow_ages;
static struct nfcc_vector *flows;       /* struct flow, by flow index */
static uint16_t heartbeat_port;
static struct lb_stats stats;

int nf_init(void)
{
	uint32_t max_backends = (uint32_t)nfcc_config_u64("max_backends", 64, 1, 4096);
	uint64_t backend_expiry = nfcc_config_u64("backend_expiry", 3 * NS_PER_SEC, 1, UINT64_MAX);
	uint32_t flow_capacity = (uint32_t)nfcc_config_u64("flow_capacity", 65536, 1, NFCC_DS_MAX_CAPACITY);
	uint64_t flow_expiry = nfcc_config_u64("flow_expiry", 60 * NS_PER_SEC, 1, UINT64_MAX);

	heartbeat_port = (uint16_t)nfcc_config_u64("heartbeat_port", 7777, 1, 65535);
	if (nfcc_port_count() < 2) {
		nfcc_log("needs two ports: 0 clients, 1 backends (see --ports)");
		return -1;
	}
	maglev = nfcc_maglev_create(max_backends, 0);
	backend_map = nfcc_map_create(max_backends, sizeof(uint32_t));
	backend_ages = nfcc_dchain_create(max_backends, backend_expiry);
	backend_ips = nfcc_vector_create(max_backends, sizeof(uint32_t));
	flow_map = nfcc_map_create(flow_capacity, sizeof(struct flow_key));
	flow_ages = nfcc_dchain_create(flow_capacity, flow_expiry);
	flows = nfcc_vector_create(flow_capacity, sizeof(struct flow));
	if (maglev == NULL || backend_map == NULL || backend_ages == NULL || backend_ips == NULL ||
	    flow_map == NULL || flow_ages == NULL || flows == NULL) {
		nfcc_log("not enough heap; lower flow_capacity= or raise nfcc.heap=");
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

/* Remove every backend not heard from within backend_expiry of now. */
static void expire_backends(uint64_t now)
{
	while (nfcc_dchain_expire_ready(backend_ages, now)) {
		uint32_t index = nfcc_dchain_pop_oldest(backend_ages);
		uint32_t *ip = nfcc_vector_get(backend_ips, index);

		nfcc_map_erase(backend_map, ip, NULL);
		nfcc_maglev_remove(maglev, index);
		stats.backends_expired++;
	}
}

static void heartbeat(uint32_t ip, uint64_t now)
{
	uint32_t index;

	stats.heartbeats++;
	if (nfcc_map_get(backend_map, &ip, &index)) {
		nfcc_dchain_rejuvenate(backend_ages, index, now);
		return;
	}
	if (nfcc_dchain_allocate(backend_ages, now, &index) != NFCC_DS_OK) {
		stats.backends_refused++;
		return;
	}
	*(uint32_t *)nfcc_vector_get(backend_ips, index) = ip;
	nfcc_map_put(backend_map, &ip, index);
	nfcc_maglev_add(maglev, index);
	stats.backends_added++;
}

/*
 * The checksum csum after the address old_ip it covers becomes new_ip
 * (RFC 1624, eqn. 3, HC' = ~(~HC + ~m + m'), over the address's two words).
 * A correct checksum stays correct, a wrong one exactly as wrong.
 */
static uint32_t csum_patch(uint32_t csum, uint32_t old_ip, uint32_t new_ip)
{
	uint32_t sum = (~csum & 0xffff) + (~old_ip >> 16 & 0xffff) + (~old_ip & 0xffff) +
		       (new_ip >> 16) + (new_ip & 0xffff);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int nf_process(const struct nfcc_packet *pkt)
{
	uint8_t *eth = pkt->data;
	uint32_t len = pkt->len;

	expire_backends(pkt->time_ns);
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

	uint8_t *ip = eth + ETH_HDR_LEN;
	uint32_t room = len - ETH_HDR_LEN;
	uint32_t hdr_len = (uint32_t)(ip[0] & 0xf) * 4;
	uint32_t total_len = be16(ip + 2);

	if (ip[0] >> 4 != 4 || hdr_len < IPV4_MIN_HDR_LEN || hdr_len > room ||
	    total_len < hdr_len || total_len > room) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if (pkt->port != PORT_CLIENTS && pkt->port != PORT_BACKENDS) {
		stats.bad_port++;
		return NFCC_DROP;
	}

	uint8_t proto = ip[9];

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		if (pkt->port == PORT_BACKENDS)
			stats.not_heartbeat++;
		else
			stats.other_proto++;
		return NFCC_DROP;
	}
	if ((be16(ip + 6) & 0x1fff) != 0) {
		stats.fragment++;
		return NFCC_DROP;
	}

	uint32_t l4_min = proto == IPPROTO_TCP ? TCP_MIN_HDR_LEN : UDP_HDR_LEN;

	if (total_len - hdr_len < l4_min) {
		stats.malformed++;
		return NFCC_DROP;
	}

	uint8_t *l4 = ip + hdr_len;

	if (pkt->port == PORT_BACKENDS) {
		if (proto == IPPROTO_UDP && be16(l4 + 2) == heartbeat_port)
			heartbeat(be32(ip + 12), pkt->time_ns);
		else
			stats.not_heartbeat++;
		return NFCC_DROP;
	}

	struct flow_key key;
	uint32_t index, backend;
	struct flow *flow = NULL;

	memset(&key, 0, sizeof(key));
	key.src_ip = be32(ip + 12);
	key.dst_ip = be32(ip + IPV4_DST);
	key.src_port = be16(l4);
	key.dst_port = be16(l4 + 2);
	key.proto = proto;

	stats.flows_expired += nfcc_expire_map(flow_ages, flow_map, flows, pkt->time_ns);
	if (nfcc_maglev_count(maglev) == 0) {
		stats.no_backend++;
		return NFCC_DROP;
	}
	if (nfcc_map_get(flow_map, &key, &index)) {
		flow = nfcc_vector_get(flows, index);
		nfcc_dchain_rejuvenate(flow_ages, index, pkt->time_ns);
		if (!nfcc_map_get(backend_map, &flow->backend_ip, &backend)) {
			backend = nfcc_maglev_lookup(maglev, nfcc_hash(&key, sizeof(key), FLOW_HASH_SEED));
			flow->backend_ip = *(uint32_t *)nfcc_vector_get(backend_ips, backend);
			stats.moved_flows++;
		}
	} else {
		backend = nfcc_maglev_lookup(maglev, nfcc_hash(&key, sizeof(key), FLOW_HASH_SEED));
		if (nfcc_dchain_allocate(flow_ages, pkt->time_ns, &index) == NFCC_DS_OK) {
			flow = nfcc_vector_get(flows, index);
			flow->key = key;
			flow->backend_ip = *(uint32_t *)nfcc_vector_get(backend_ips, backend);
			nfcc_map_put(flow_map, &key, index);
			stats.new_flows++;
		} else {
			stats.flows_full++;
		}
	}

	uint32_t new_ip = *(uint32_t *)nfcc_vector_get(backend_ips, backend);
	uint32_t old_ip = key.dst_ip;

	put16(ip + IPV4_CSUM, csum_patch(be16(ip + IPV4_CSUM), old_ip, new_ip));
	ip[IPV4_DST] = (uint8_t)(new_ip >> 24);
	ip[IPV4_DST + 1] = (uint8_t)(new_ip >> 16);
	ip[IPV4_DST + 2] = (uint8_t)(new_ip >> 8);
	ip[IPV4_DST + 3] = (uint8_t)new_ip;
	if (proto == IPPROTO_TCP) {
		put16(l4 + TCP_CSUM, csum_patch(be16(l4 + TCP_CSUM), old_ip, new_ip));
	} else {
		uint32_t c = be16(l4 + UDP_CSUM);

		/* 0 means "no checksum" and stays so; a computed 0 is sent as 0xffff. */
		if (c != 0) {
			c = csum_patch(c, old_ip, new_ip);
			put16(l4 + UDP_CSUM, c == 0 ? 0xffff : c);
		}
	}
	stats.balanced++;
	return PORT_BACKENDS;
}
