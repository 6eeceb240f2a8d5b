/*
 * bridge: a MAC learning bridge with ageing (IEEE 802.1Q-style filtering
 * database).
 *
 * Every valid frame teaches the bridge that its source address lives behind
 * its input port. A frame to a known unicast address goes out of that
 * address's port, or is filtered (dropped) if that is the port it came in
 * on; a frame to an unknown unicast address, or to a group (broadcast or
 * multicast) address, is flooded out of every other port. Frames to the
 * IEEE 802.1Q reserved addresses 01:80:c2:00:00:00 to 01:80:c2:00:00:0f
 * (spanning tree, pause, LACP, LLDP, ...) are never forwarded.
 *
 * A learned entry is forgotten `expiry` ns after the last frame from its
 * address: an entry refreshed at time t is gone for a frame arriving at
 * t + expiry (and still there at t + expiry - 1). Static entries, from the
 * `static` setting, never expire and never move to another port. When
 * `capacity` learned entries are present (after expiring old ones), new
 * source addresses are not learned; their frames are still forwarded.
 *
 * Frames shorter than an Ethernet header are malformed, and frames whose
 * source is a group address or all zeros are invalid: both are dropped
 * without learning anything.
 *
 * Counters per class of frame are kept in `stats` (the host has no way to
 * read them yet; a debugger does).
 */
#include <nfcc.h>
#include <nfcc_ds.h>
#include <string.h>

#define ETH_ADDR_LEN 6
#define ETH_HDR_LEN 14
#define NS_PER_SEC 1000000000ull

/* Map values: a learned entry's dchain index, or STATIC_ENTRY | port. */
#define STATIC_ENTRY 0x80000000u
#define STATIC_PORT_MASK 0xffffu

/* A learned entry, by its dchain index. The address comes first: nfcc_expire_map erases it. */
struct station {
	uint8_t mac[ETH_ADDR_LEN];
	uint16_t port;
};

struct bridge_stats {
	uint64_t malformed;   /* shorter than 14 bytes */
	uint64_t bad_source;  /* source address is a group address or all zeros */
	uint64_t learned;     /* new entries */
	uint64_t moved;       /* learned entries whose address showed up on another port */
	uint64_t not_learned; /* new source addresses while the table was full */
	uint64_t expired;     /* entries aged out */
	uint64_t forwarded;   /* known destination on another port */
	uint64_t filtered;    /* known destination on the input port */
	uint64_t flooded;     /* unknown or group destination */
	uint64_t link_local;  /* to 01:80:c2:00:00:0x, never forwarded */
};

static struct nfcc_map *table;       /* address -> map value above */
static struct nfcc_dchain *ages;     /* learned entries, oldest first */
static struct nfcc_vector *stations; /* struct station, by dchain index */
static struct bridge_stats stats;

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

/* Start a message about static entry `index` (from 1), whose text is [s, end). */
static void entry_msg(uint32_t index, const char *s, const char *end)
{
	uint32_t n = (uint32_t)(end - s);

	msg_len = 0;
	msg_str("static: entry ");
	msg_u32(index);
	msg_str(" \"");
	msg_bytes(s, n > 48 ? 48 : n);
	if (n > 48)
		msg_str("...");
	msg_str("\": ");
}

/* Log "static: entry INDEX "TEXT": why". */
static void entry_error(uint32_t index, const char *s, const char *end, const char *why)
{
	entry_msg(index, s, end);
	msg_str(why);
	nfcc_log(msg);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int is_zero(const uint8_t *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

/*
 * Parse one static entry, MAC@PORT in [s, end), and put it in the table.
 * Logs why and returns -1 on error.
 */
static int add_static(uint32_t index, const char *s, const char *end, uint16_t ports)
{
	uint8_t mac[ETH_ADDR_LEN];
	const char *p = s;
	uint32_t port = 0, digits = 0;

	if (s == end) {
		entry_error(index, s, end, "empty (remove the extra comma)");
		return -1;
	}
	for (int i = 0; i < ETH_ADDR_LEN; i++) {
		if (i > 0 && (p == end || *p++ != ':'))
			goto bad_mac;
		if (end - p < 2 || hex_value(p[0]) < 0 || hex_value(p[1]) < 0)
			goto bad_mac;
		mac[i] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
		p += 2;
	}
	if (p == end || *p != '@') {
		entry_error(index, s, end, "expected @PORT after the address (write MAC@PORT, e.g. 02:00:00:00:00:01@1)");
		return -1;
	}
	p++;
	while (p < end && *p >= '0' && *p <= '9' && digits < 6) {
		port = port * 10 + (uint32_t)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || p != end) {
		entry_error(index, s, end, "the port must be a decimal number that ends the entry");
		return -1;
	}
	if (port >= ports) {
		entry_msg(index, s, end);
		msg_str("port ");
		msg_u32(port);
		msg_str(" does not exist (the host offers ports 0 to ");
		msg_u32(ports - 1u);
		msg_str("; see --ports)");
		nfcc_log(msg);
		return -1;
	}
	if (mac[0] & 1) {
		entry_error(index, s, end, "a group (multicast) address: frames to it are always flooded");
		return -1;
	}
	if (is_zero(mac)) {
		entry_error(index, s, end, "the all-zeros address is not a station");
		return -1;
	}
	if (nfcc_map_put(table, mac, STATIC_ENTRY | port) != NFCC_DS_OK) {
		entry_error(index, s, end, "this address already has a static entry");
		return -1;
	}
	return 0;

bad_mac:
	entry_error(index, s, end, "not a MAC address (six two-digit hex bytes separated by ':', e.g. 02:00:00:00:00:01)");
	return -1;
}

/* Number of comma-separated entries in text: 0 if it is blank. */
static uint32_t count_entries(const char *text)
{
	uint32_t n = 1, blank = 1;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ',')
			n++;
		else if (!is_blank(*p))
			blank = 0;
	}
	return blank && n == 1 ? 0 : n;
}

int nf_init(void)
{
	uint64_t expiry = nfcc_config_u64("expiry", 300 * NS_PER_SEC, 1, UINT64_MAX);
	uint32_t capacity = (uint32_t)nfcc_config_u64("capacity", 65536, 1, NFCC_DS_MAX_CAPACITY);
	const char *text = nfcc_config_str("static", "");
	uint16_t ports = nfcc_port_count();
	uint32_t n_static = count_entries(text);

	if (n_static > NFCC_DS_MAX_CAPACITY - capacity) {
		nfcc_log("capacity= plus the static entries exceed the largest table (4194304 entries)");
		return -1;
	}
	table = nfcc_map_create(capacity + n_static, ETH_ADDR_LEN);
	ages = nfcc_dchain_create(capacity, expiry);
	stations = nfcc_vector_create(capacity, sizeof(struct station));
	if (table == NULL || ages == NULL || stations == NULL) {
		nfcc_log("not enough heap for the address table; lower capacity= or raise nfcc.heap=");
		return -1;
	}

	const char *s = text;
	const char *end = text;

	while (*end != '\0')
		end++;
	for (uint32_t i = 0; i < n_static; i++) {
		const char *e = s;

		while (e < end && *e != ',')
			e++;

		const char *next = e + (e < end); /* past the comma */

		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (add_static(i + 1, s, e, ports) != 0)
			return -1;
		s = next;
	}
	return 0;
}

/* 01:80:c2:00:00:00 to 01:80:c2:00:00:0f, which no 802.1Q bridge forwards. */
static int is_link_local(const uint8_t *mac)
{
	return mac[0] == 0x01 && mac[1] == 0x80 && mac[2] == 0xc2 && mac[3] == 0 && mac[4] == 0 &&
	       (mac[5] & 0xf0) == 0;
}

/* Record that mac was seen on port at time now. */
static void learn(const uint8_t *mac, uint16_t port, uint64_t now)
{
	uint32_t value, index;

	if (nfcc_map_get(table, mac, &value)) {
		if (value & STATIC_ENTRY)
			return; /* static entries neither age nor move */

		struct station *st = nfcc_vector_get(stations, value);

		if (st->port != port) {
			st->port = port;
			stats.moved++;
		}
		nfcc_dchain_rejuvenate(ages, value, now);
		return;
	}
	if (nfcc_dchain_allocate(ages, now, &index) != NFCC_DS_OK) {
		stats.not_learned++;
		return;
	}

	struct station *st = nfcc_vector_get(stations, index);

	memcpy(st->mac, mac, ETH_ADDR_LEN);
	st->port = port;
	nfcc_map_put(table, mac, index);
	stats.learned++;
}

int nf_process(const struct nfcc_packet *pkt)
{
	const uint8_t *dst = pkt->data;
	const uint8_t *src = pkt->data + ETH_ADDR_LEN;
	uint32_t value;
	int out;

	if (pkt->len < ETH_HDR_LEN) {
		stats.malformed++;
		return NFCC_DROP;
	}
	if ((src[0] & 1) || is_zero(src)) {
		stats.bad_source++;
		return NFCC_DROP;
	}

	stats.expired += nfcc_expire_map(ages, table, stations, pkt->time_ns);
	learn(src, pkt->port, pkt->time_ns);

	if (dst[0] & 1) {
		if (is_link_local(dst)) {
			stats.link_local++;
			return NFCC_DROP;
		}
		stats.flooded++;
		return NFCC_FLOOD;
	}
	if (!nfcc_map_get(table, dst, &value)) {
		stats.flooded++;
		return NFCC_FLOOD;
	}
	if (value & STATIC_ENTRY)
		out = (int)(value & STATIC_PORT_MASK);
	else
		out = ((const struct station *)nfcc_vector_get(stations, value))->port;
	if (out == pkt->port) {
		stats.filtered++;
		return NFCC_DROP;
	}
	stats.forwarded++;
	return out;
}
