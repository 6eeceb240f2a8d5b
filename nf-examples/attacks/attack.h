/*
 * attack.h - shared by the attack modules: each behaves like a plain forwarder until the
 * packet numbered ATTACK_AT (setting `at`, default 5), then attacks once.
 */
#include <nfcc.h>

static uint64_t seen;
static uint64_t attack_at;

static inline uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Reads the setting; call from nf_init. */
static inline void attack_init(void)
{
	attack_at = nfcc_config_u64("at", 5, 1, UINT64_MAX);
}

/* True on the packet that should carry the attack. */
static inline int attack_now(void)
{
	return ++seen == attack_at;
}
