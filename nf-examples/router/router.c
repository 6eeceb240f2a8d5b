/*
 * router: an IPv4 longest-prefix-match router.
 *
 * Routes come from the `routes` setting, a comma-separated list of
 * PREFIX/LEN:PORT entries (see README.md), and live in the library's DIR-24-8
 * table (nfcc_lpm_*). For every IPv4 packet with a sound header, the router
 * looks up the destination address; the longest prefix containing it gives
 * the output port. It decrements the TTL and patches the header checksum
 * incrementally (RFC 1624, eqn. 3) instead of recomputing it.
 *
 * Packets are dropped when they are not IPv4, when their IPv4 header is
 * malformed, when their TTL is 0 or 1 (no ICMP time exceeded is sent), or
 * when no route matches. The Ethernet header is left as it is.
 *
 * Counters per class of packet are kept in `stats` (the host has no way to
 * read them yet; a debugger does).
 */
#include <nfcc.h>
#include <nfcc_ds.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPV4_MIN_HDR_LEN 20
#define IPV4_TTL 8
#define IPV4_CSUM 10
#define IPV4_DST 16

/* RFC 1918 networks behind port 1, everything else upstream on port 0. */
#define DEFAULT_ROUTES "10.0.0.0/8:1,172.16.0.0/12:1,192.168.0.0/16:1,0.0.0.0/0:0"

struct route {
	uint32_t prefix; /* host byte order, host bits zero */
	uint32_t len;    /* 0 .. 32 */
	uint32_t port;
};

struct router_stats {
	uint64_t malformed;   /* shorter than 14 bytes, or IPv4 with a broken header */
	uint64_t non_ipv4;    /* another EtherType (ARP, IPv6, VLAN-tagged, ...) */
	uint64_t ttl_expired; /* TTL 0 or 1 */
	uint64_t no_route;
	uint64_t routed;
};

static struct nfcc_lpm *lpm;
static struct router_stats stats;

/*
 * Error messages. nfcc_log takes a finished string and modules have no
 * printf, so messages are assembled here.
 */
static char msg[256];
static uint32_t msg_len;

static void msg_bytes(const char *s, uint32_t n)
{
	for (uint32_t i = 0; i < n && s[i] != '\0' && msg_len < sizeof(msg) - 1; i++)
		msg[msg_len++] = s[i];
	msg[msg_len] = '\0';
}

static void msg_str(const char *s)
{
	msg_bytes(s, sizeof(msg));
}

static void msg_u32(uint32_t v)
{
	char digits[10];
	uint32_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0 && msg_len < sizeof(msg) - 1)
		msg[msg_len++] = digits[--n];
	msg[msg_len] = '\0';
}

/* Start a message about entry number `index` (from 1), whose text is [s, end). */
static void msg_entry(uint32_t index, const char *s, const char *end)
{
	uint32_t n = (uint32_t)(end - s);

	msg_len = 0;
	msg_str("routes: entry ");
	msg_u32(index);
	msg_str(" \"");
	msg_bytes(s, n > 48 ? 48 : n);
	if (n > 48)
		msg_str("...");
	msg_str("\": ");
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A decimal number of at most max_digits digits at *p (before end), without
 * a superfluous leading zero. Advances *p. Returns 0 on success, -1 if there
 * is no number, -2 on a leading zero, -3 if there are too many digits.
 */
static int parse_decimal(const char **p, const char *end, uint32_t max_digits, uint32_t *value)
{
	const char *s = *p;
	uint32_t v = 0, n = 0;

	while (s < end && is_digit(*s)) {
		if (n == max_digits)
			return -3;
		v = v * 10 + (uint32_t)(*s - '0');
		s++;
		n++;
	}
	if (n == 0)
		return -1;
	if (n > 1 && **p == '0')
		return -2;
	*p = s;
	*value = v;
	return 0;
}

/*
 * Parse one entry, [s, end) with surrounding blanks removed, into *r. On
 * error, logs why and returns -1.
 */
static int parse_route(uint32_t index, const char *s, const char *end, uint16_t ports, struct route *r)
{
	const char *p = s;
	uint32_t addr = 0, v;
	int err;

	if (s == end) {
		msg_entry(index, s, end);
		msg_str("empty (remove the extra comma)");
		nfcc_log(msg);
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (p == end || *p != '.')
				goto bad_address;
			p++;
		}
		err = parse_decimal(&p, end, 3, &v);
		if (err == -2) {
			msg_entry(index, s, end);
			msg_str("an address byte has a leading zero (ambiguous: octal or decimal?)");
			nfcc_log(msg);
			return -1;
		}
		if (err != 0 || v > 255)
			goto bad_address;
		addr = addr << 8 | v;
	}
	if (p == end || *p != '/') {
		msg_entry(index, s, end);
		msg_str("expected /LEN after the address (write PREFIX/LEN:PORT, e.g. 10.0.0.0/8:1)");
		nfcc_log(msg);
		return -1;
	}
	p++;
	err = parse_decimal(&p, end, 3, &v);
	if (err == -3 || (err == 0 && v > 32)) {
		msg_entry(index, s, end);
		msg_str("prefix length is over 32");
		nfcc_log(msg);
		return -1;
	}
	if (err != 0) {
		msg_entry(index, s, end);
		msg_str("the prefix length must be a number from 0 to 32");
		nfcc_log(msg);
		return -1;
	}
	r->len = v;
	r->prefix = addr;
	if (v < 32 && (addr & (0xffffffffu >> v)) != 0) {
		msg_entry(index, s, end);
		msg_str("the address has bits set beyond the prefix length (host bits must be zero)");
		nfcc_log(msg);
		return -1;
	}
	if (p == end || *p != ':') {
		msg_entry(index, s, end);
		msg_str("expected :PORT after the prefix length (write PREFIX/LEN:PORT, e.g. 10.0.0.0/8:1)");
		nfcc_log(msg);
		return -1;
	}
	p++;
	err = parse_decimal(&p, end, 5, &v);
	if (err == -1 || err == -2 || (err == 0 && p != end)) {
		msg_entry(index, s, end);
		msg_str("the port must be a decimal number (no leading zero) that ends the entry");
		nfcc_log(msg);
		return -1;
	}
	if (err == -3 || v >= ports) {
		msg_entry(index, s, end);
		if (err == 0) {
			msg_str("port ");
			msg_u32(v);
			msg_str(" does not exist");
		} else {
			msg_str("port number too large");
		}
		msg_str(" (the host offers ports 0 to ");
		msg_u32(ports - 1u);
		msg_str("; see --ports)");
		nfcc_log(msg);
		return -1;
	}
	r->port = v;
	return 0;

bad_address:
	msg_entry(index, s, end);
	msg_str("not a dotted-quad IPv4 address (four numbers 0 to 255, e.g. 10.1.0.0)");
	nfcc_log(msg);
	return -1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parse the whole `routes` setting into an array of *count routes allocated
 * from the module heap. Returns NULL (having logged why) on any error.
 */
static struct route *parse_routes(const char *text, uint16_t ports, uint32_t *count)
{
	const char *end = text;
	uint32_t n = 1;

	while (*end != '\0') {
		if (*end == ',')
			n++;
		end++;
	}

	struct route *routes = nfcc_alloc((size_t)n * sizeof(*routes));
	struct nfcc_map *seen = nfcc_map_create(n, 8);

	if (routes == NULL || seen == NULL) {
		nfcc_log("routes: not enough heap for this many routes (raise nfcc.heap=)");
		return NULL;
	}

	const char *s = text;

	while (s < end && is_blank(*s))
		s++;
	if (s == end) {
		nfcc_log("routes: empty; give at least one PREFIX/LEN:PORT entry");
		return NULL;
	}
	s = text;
	for (uint32_t i = 0; i < n; i++) {
		const char *e = s;

		while (e < end && *e != ',')
			e++;

		const char *next = e + (e < end); /* past the comma */

		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (parse_route(i + 1, s, e, ports, &routes[i]) != 0)
			return NULL;

		uint32_t key[2] = { routes[i].prefix, routes[i].len };
		uint32_t first;

		if (nfcc_map_get(seen, key, &first)) {
			msg_entry(i + 1, s, e);
			msg_str("the same prefix is already routed by entry ");
			msg_u32(first + 1);
			nfcc_log(msg);
			return NULL;
		}
		nfcc_map_put(seen, key, i);
		s = next;
	}
	nfcc_free(seen);
	*count = n;
	return routes;
}

int nf_init(void)
{
	const char *text = nfcc_config_str("routes", DEFAULT_ROUTES);
	uint16_t ports = nfcc_port_count();
	uint32_t n = 0, chunks = 0;

	struct route *routes = parse_routes(text, ports, &n);

	if (routes == NULL)
		return -1;
	/* Each prefix longer than /24 needs at most one second-stage chunk. */
	for (uint32_t i = 0; i < n; i++)
		if (routes[i].len > 24)
			chunks++;
	lpm = nfcc_lpm_create(chunks);
	if (lpm == NULL) {
		nfcc_log("routes: not enough heap for the DIR-24-8 table (64 MiB + 1 KiB per route over /24; raise nfcc.heap=)");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (nfcc_lpm_add(lpm, routes[i].prefix, routes[i].len, routes[i].port) != NFCC_DS_OK) {
			nfcc_log("routes: the LPM table refused a route (internal error)");
			return -1;
		}
	}
	nfcc_free(routes);
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	uint8_t *eth = pkt->data;
	uint32_t len = pkt->len;

	if (len < ETH_HDR_LEN) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if ((uint16_t)(eth[12] << 8 | eth[13]) != ETHERTYPE_IPV4) {
		stats.non_ipv4++;
		return NFCC_DROP;
	}
	if (len < ETH_HDR_LEN + IPV4_MIN_HDR_LEN) {
		stats.malformed++;
		return NFCC_DROP;
	}

	uint8_t *ip = eth + ETH_HDR_LEN;
	uint32_t room = len - ETH_HDR_LEN;         /* bytes after the Ethernet header */
	uint32_t hdr_len = (uint32_t)(ip[0] & 0xf) * 4;
	uint32_t total_len = (uint32_t)ip[2] << 8 | ip[3];

	/* Total length may be below room: Ethernet pads short frames. */
	if (ip[0] >> 4 != 4 || hdr_len < IPV4_MIN_HDR_LEN || hdr_len > room ||
	    total_len < hdr_len || total_len > room) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if (ip[IPV4_TTL] <= 1) {
		stats.ttl_expired++;
		return NFCC_DROP;
	}

	uint32_t dst = (uint32_t)ip[IPV4_DST] << 24 | (uint32_t)ip[IPV4_DST + 1] << 16 |
		       (uint32_t)ip[IPV4_DST + 2] << 8 | ip[IPV4_DST + 3];
	uint32_t port = nfcc_lpm_lookup(lpm, dst);

	if (port == NFCC_LPM_NO_ROUTE) {
		stats.no_route++;
		return NFCC_DROP;
	}

	/*
	 * RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), m being the 16-bit word
	 * holding TTL and protocol. It never yields the 0x0000 a full
	 * recomputation cannot give, and a wrong checksum stays exactly as wrong.
	 */
	uint32_t old_word = (uint32_t)ip[IPV4_TTL] << 8 | ip[IPV4_TTL + 1];
	uint32_t new_word = old_word - 0x100;
	uint32_t old_csum = (uint32_t)ip[IPV4_CSUM] << 8 | ip[IPV4_CSUM + 1];
	uint32_t sum = (~old_csum & 0xffff) + (~old_word & 0xffff) + new_word;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);

	uint32_t csum = ~sum & 0xffff;

	ip[IPV4_TTL] = (uint8_t)(new_word >> 8);
	ip[IPV4_CSUM] = (uint8_t)(csum >> 8);
	ip[IPV4_CSUM + 1] = (uint8_t)csum;
	stats.routed++;
	return (int)port;
}
