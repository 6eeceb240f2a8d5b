/*
 * nat: a NAT in the style of VigNAT (RFC 3022 NAPT, "traditional NAT"),
 * between an internal network on port 0 and the external one on port 1.
 *
 * A TCP or UDP packet arriving on port 0 belongs to the flow (internal
 * address, internal port, remote address, remote port, protocol). The first
 * packet of a flow takes a free index i of a dchain (0 .. capacity-1); the
 * flow's external port is port_base + i. The packet leaves on port 1 with its
 * source address replaced by external_ip and its source port by the flow's
 * external port. A packet arriving on port 1 whose (source address, source
 * port, destination address, destination port, protocol) is the reply
 * direction of a live flow, i.e. (remote address, remote port, external_ip,
 * external port, protocol), leaves on port 0 with its destination rewritten
 * to the internal address and port. Every other packet arriving on port 1 is
 * dropped. The IPv4 header checksum and the TCP/UDP checksum are patched
 * incrementally (RFC 1624, eqn. 3).
 *
 * Flows live in a double-keyed map (key A: the internal flow id, key B: the
 * external flow id, both by dchain index), as in Vigor. A flow last seen (in
 * either direction) at time t is gone for a packet arriving at t + expiry,
 * and live at t + expiry - 1. When capacity flows are live (after expiring
 * old ones), the first packet of a new internal flow is dropped.
 *
 * ICMP, other IPv4 protocols, IPv4 fragments, non-IPv4 frames, frames on
 * ports other than 0 and 1 and malformed frames are dropped (see README.md),
 * and nothing is read past the end of a frame.
 */
#include <nfcc.h>
#include <nfcc_ds.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPV4_MIN_HDR_LEN 20
#define IPV4_CSUM 10
#define IPV4_SRC 12
#define IPV4_DST 16
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFFSET 0x1fff
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_MIN_HDR_LEN 20
#define TCP_CSUM 16
#define UDP_HDR_LEN 8
#define UDP_CSUM 6
#define NS_PER_SEC 1000000000ull

#define PORT_INTERNAL 0
#define PORT_EXTERNAL 1

/* A flow as the internal host sees it (dmap key A). Host order; padding is zero. */
struct int_key {
	uint32_t int_ip;   /* internal host */
	uint32_t rem_ip;   /* remote host */
	uint16_t int_port;
	uint16_t rem_port;
	uint8_t proto;
	uint8_t pad[3];
};

/* The same flow as the remote host sees it (dmap key B). */
struct ext_key {
	uint32_t rem_ip;
	uint32_t ext_ip;   /* external_ip */
	uint16_t rem_port;
	uint16_t ext_port; /* port_base + dchain index */
	uint8_t proto;
	uint8_t pad[3];
};

struct nat_stats {
	/* class "invalid" */
	uint64_t malformed;    /* truncated or inconsistent headers */
	uint64_t non_ipv4;     /* EtherType other than IPv4 */
	uint64_t not_tcp_udp;  /* ICMP and every other IPv4 protocol */
	uint64_t fragment;     /* IPv4 fragments (more-fragments set or offset non-zero) */
	uint64_t bad_port;     /* arrived on a port other than 0 and 1 */
	/* valid TCP/UDP */
	uint64_t int_new;      /* internal packets that opened a flow */
	uint64_t int_full;     /* internal packets of new flows dropped: table full */
	uint64_t int_known;    /* internal packets of live flows */
	uint64_t ext_known;    /* external packets of live flows */
	uint64_t ext_unknown;  /* external packets matching no flow, dropped */
	uint64_t expired;      /* flows aged out */
	uint64_t internal_err; /* dmap refused a flow it should take (never expected) */
};

static struct nfcc_dmap *flows;    /* int_key / ext_key -> dchain index */
static struct nfcc_dchain *ages;   /* flows, oldest first; index = external port - port_base */
static uint32_t external_ip;       /* host order */
static uint16_t port_base;
static struct nat_stats stats;

/*
 * Parse a dotted quad "a.b.c.d" (each part 0-255, decimal, 1-3 digits, nothing
 * else) into *ip: 0 on success, -1 otherwise.
 */
static int parse_ipv4(const char *s, uint32_t *ip)
{
	uint32_t v = 0;

	for (int part = 0; part < 4; part++) {
		uint32_t x = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (++digits > 3)
				return -1;
			x = x * 10 + (uint32_t)(*s - '0');
			s++;
		}
		if (digits == 0 || x > 255)
			return -1;
		v = v << 8 | x;
		if (part < 3) {
			if (*s != '.')
				return -1;
			s++;
		}
	}
	if (*s != '\0')
		return -1;
	*ip = v;
	return 0;
}

int nf_init(void)
{
	const char *ext = nfcc_config_str("external_ip", "192.0.2.1");
	uint64_t base = nfcc_config_u64("port_base", 1024, 1, 65535);
	uint64_t capacity = nfcc_config_u64("capacity", 64512, 1, 65535);
	uint64_t expiry = nfcc_config_u64("expiry", 60 * NS_PER_SEC, 1, UINT64_MAX);

	if (parse_ipv4(ext, &external_ip) != 0) {
		nfcc_log("external_ip: not an IPv4 address in dotted-quad form (like 192.0.2.1)");
		return -1;
	}
	if (base + capacity > 65536) {
		nfcc_log("port_base + capacity exceeds 65536: the external ports port_base .. "
			 "port_base + capacity - 1 must be valid TCP/UDP ports; lower capacity= or port_base=");
		return -1;
	}
	if (nfcc_port_count() < 2) {
		nfcc_log("needs two ports: 0 internal, 1 external (see --ports)");
		return -1;
	}
	port_base = (uint16_t)base;
	flows = nfcc_dmap_create((uint32_t)capacity, sizeof(struct int_key), sizeof(struct ext_key));
	ages = nfcc_dchain_create((uint32_t)capacity, expiry);
	if (flows == NULL || ages == NULL) {
		nfcc_log("not enough heap for the flow table; lower capacity= or raise nfcc.heap=");
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

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * What replacing the 32-bit value old by new adds to a one's complement sum:
 * ~m + m' over its two 16-bit words (RFC 1624, eqn. 3). At most 4 * 0xffff.
 */
static uint32_t delta32(uint32_t old, uint32_t new)
{
	return (~old >> 16 & 0xffff) + (~old & 0xffff) + (new >> 16) + (new & 0xffff);
}

/* The same for a 16-bit word. At most 2 * 0xffff. */
static uint32_t delta16(uint32_t old, uint32_t new)
{
	return (~old & 0xffff) + (new & 0xffff);
}

/*
 * The checksum csum after the words it covers changed by delta (a sum of
 * delta32/delta16 terms, below 7 * 0xffff): HC' = ~(~HC + delta). A correct
 * checksum stays correct (equal to a full recomputation), a wrong one exactly
 * as wrong.
 */
static uint32_t csum_patch(uint32_t csum, uint32_t delta)
{
	uint32_t sum = (~csum & 0xffff) + delta;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/*
 * Rewrite the address at ip + addr_off (IPV4_SRC or IPV4_DST) to new_ip and the
 * L4 port at l4 + port_off (0 source, 2 destination) to new_port, patching the
 * IPv4 header checksum and the TCP/UDP checksum.
 */
static inline __attribute__((always_inline)) void rewrite(uint8_t *ip, uint8_t *l4, uint8_t proto, uint32_t addr_off, uint32_t port_off,
		    uint32_t new_ip, uint16_t new_port)
{
	uint32_t old_ip = be32(ip + addr_off);
	uint32_t old_port = be16(l4 + port_off);

	uint32_t d_ip = delta32(old_ip, new_ip);
	uint32_t d_l4 = d_ip + delta16(old_port, new_port); /* the pseudo-header holds the address */

	put16(ip + IPV4_CSUM, csum_patch(be16(ip + IPV4_CSUM), d_ip));
	put32(ip + addr_off, new_ip);
	put16(l4 + port_off, new_port);
	if (proto == IPPROTO_TCP) {
		put16(l4 + TCP_CSUM, csum_patch(be16(l4 + TCP_CSUM), d_l4));
	} else {
		uint32_t c = be16(l4 + UDP_CSUM);

		/* 0 means "no checksum" and stays so; a computed 0 is sent as 0xffff. */
		if (c != 0) {
			c = csum_patch(c, d_l4);
			put16(l4 + UDP_CSUM, c == 0 ? 0xffff : c);
		}
	}
}

int nf_process(const struct nfcc_packet *pkt)
{
	uint8_t *eth = pkt->data;
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

	uint8_t *ip = eth + ETH_HDR_LEN;
	uint32_t room = len - ETH_HDR_LEN;
	uint32_t hdr_len = (uint32_t)(ip[0] & 0xf) * 4;
	uint32_t total_len = be16(ip + 2);

	/* Total length may be below room: Ethernet pads short frames. */
	if (ip[0] >> 4 != 4 || hdr_len < IPV4_MIN_HDR_LEN || hdr_len > room ||
	    total_len < hdr_len || total_len > room) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if (pkt->port != PORT_INTERNAL && pkt->port != PORT_EXTERNAL) {
		stats.bad_port++;
		return NFCC_DROP;
	}

	uint8_t proto = ip[9];

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		stats.not_tcp_udp++;
		return NFCC_DROP;
	}
	/* Only a whole datagram can be translated: later fragments carry no ports. */
	if ((be16(ip + 6) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET)) != 0) {
		stats.fragment++;
		return NFCC_DROP;
	}

	uint32_t l4_min = proto == IPPROTO_TCP ? TCP_MIN_HDR_LEN : UDP_HDR_LEN;

	if (total_len - hdr_len < l4_min) {
		stats.malformed++;
		return NFCC_DROP;
	}

	uint8_t *l4 = ip + hdr_len;
	uint64_t now = pkt->time_ns;
	uint32_t index;

	stats.expired += nfcc_expire_dmap(ages, flows, now);

	if (pkt->port == PORT_EXTERNAL) {
		struct ext_key ek;

		memset(&ek, 0, sizeof(ek));
		ek.rem_ip = be32(ip + IPV4_SRC);
		ek.ext_ip = be32(ip + IPV4_DST);
		ek.rem_port = be16(l4);
		ek.ext_port = be16(l4 + 2);
		ek.proto = proto;
		if (!nfcc_dmap_get_b(flows, &ek, &index)) {
			stats.ext_unknown++;
			return NFCC_DROP;
		}
		nfcc_dchain_rejuvenate(ages, index, now);

		const struct int_key *ik = nfcc_dmap_key_a(flows, index);

		rewrite(ip, l4, proto, IPV4_DST, 2, ik->int_ip, ik->int_port);
		stats.ext_known++;
		return PORT_INTERNAL;
	}

	struct int_key ik;

	memset(&ik, 0, sizeof(ik));
	ik.int_ip = be32(ip + IPV4_SRC);
	ik.rem_ip = be32(ip + IPV4_DST);
	ik.int_port = be16(l4);
	ik.rem_port = be16(l4 + 2);
	ik.proto = proto;
	if (nfcc_dmap_get_a(flows, &ik, &index)) {
		nfcc_dchain_rejuvenate(ages, index, now);
		stats.int_known++;
	} else {
		if (nfcc_dchain_allocate(ages, now, &index) != NFCC_DS_OK) {
			stats.int_full++;
			return NFCC_DROP;
		}

		struct ext_key ek;

		memset(&ek, 0, sizeof(ek));
		ek.rem_ip = ik.rem_ip;
		ek.ext_ip = external_ip;
		ek.rem_port = ik.rem_port;
		ek.ext_port = (uint16_t)(port_base + index);
		ek.proto = proto;
		if (nfcc_dmap_put(flows, &ik, &ek, index) != NFCC_DS_OK) {
			/* Cannot happen: ik is absent and ext_port is unique to index. */
			nfcc_dchain_free(ages, index);
			stats.internal_err++;
			return NFCC_DROP;
		}
		stats.int_new++;
	}
	rewrite(ip, l4, proto, IPV4_SRC, 0, external_ip, (uint16_t)(port_base + index));
	return PORT_EXTERNAL;
}
