/*
 * nfcc_rt.c - the module's side of the nfcc runtime, linked into every module.
 *
 * Trusted code: it is compiled as is, never through nfcc's passes. It
 *   - forwards the services of nfcc.h to the host through the table handed over in
 *     nfcc__bind(); the pointer to that table lives alone in one page, which the host
 *     write-protects after binding, so module code can never redirect it;
 *   - enters module code (nfcc__enter, nfcc__enter_burst, nfcc__enter_init) on the
 *     module's own call stack, with a sigsetjmp point so that a violation stops the call
 *     at once;
 *   - implements the slow path of the isolation checks (nfcc__check), which knows
 *     every region of the module, and the violation exit (nfcc__violation).
 */
#include "nfcc_host_api.h"

/* The host mirrors these layouts in runtime-lib/src/abi.rs; the pass uses the offsets. */
_Static_assert(sizeof(struct nfcc_packet) == 24, "struct nfcc_packet layout changed");
_Static_assert(__builtin_offsetof(struct nfcc_packet, time_ns) == 16, "struct nfcc_packet layout changed");
_Static_assert(sizeof(struct nfcc_host_api) == 64, "struct nfcc_host_api layout changed");
_Static_assert(sizeof(struct nfcc_violation) == 24, "struct nfcc_violation layout changed");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, mem_len) == NFCC_BOUNDS_MEM_LEN, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, usp) == NFCC_BOUNDS_USP, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, usp_top) == NFCC_BOUNDS_USP_TOP, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, pkt) == NFCC_BOUNDS_PKT, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, stack_top) == NFCC_BOUNDS_STACK_TOP, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, v) == NFCC_BOUNDS_V, "bounds layout");
_Static_assert(__builtin_offsetof(struct nfcc_bounds, running) == NFCC_BOUNDS_RUNNING, "bounds layout");

#define EXPORT __attribute__((visibility("default")))

/* Exported: the host refuses modules whose version differs from its own. */
EXPORT const uint32_t nfcc_abi_version = NFCC_ABI_VERSION;

#ifndef NFCC_PROTECTION
#define NFCC_PROTECTION 0
#endif
/* Exported: 0 none, 1 wonly, 2 rw (what `nfcc build --protect` compiled in). */
EXPORT const uint32_t nfcc_protection = NFCC_PROTECTION;

static union {
	const struct nfcc_host_api *api;
	char page[NFCC_RT_STATE_SIZE];
} nfcc__rt __attribute__((aligned(NFCC_RT_STATE_SIZE), section(".data.nfcc_rt")));

/* Read by the checks the pass compiles into module code; written by the host and here. */
__attribute__((visibility("hidden"), aligned(64), section(".data.nfcc_bounds")))
struct nfcc_bounds nfcc__bounds;

/* Section bounds of the module's own globals (the pass places them there). */
extern char __start_nfcc_data[] __attribute__((weak, visibility("hidden")));
extern char __stop_nfcc_data[] __attribute__((weak, visibility("hidden")));
extern char __start_nfcc_rodata[] __attribute__((weak, visibility("hidden")));
extern char __stop_nfcc_rodata[] __attribute__((weak, visibility("hidden")));

int nf_init(void) __attribute__((weak));
int nf_process(const struct nfcc_packet *pkt);

/*
 * Called by the host once, before anything else. Stores the service table and
 * returns the bounds block; *state gets the page the host must write-protect.
 * Returns NULL if the table is not one this runtime understands.
 */
EXPORT struct nfcc_bounds *nfcc__bind(const struct nfcc_host_api *api, void **state)
{
	if (api == NULL || api->abi_version != NFCC_ABI_VERSION ||
	    api->size != sizeof(struct nfcc_host_api))
		return NULL;
	nfcc__rt.api = api;
	*state = &nfcc__rt;
	return &nfcc__bounds;
}

static int in_range(uint64_t addr, uint64_t size, uint64_t lo, uint64_t len)
{
	/* [addr, addr + size) within [lo, lo + len), without overflow. */
	return addr - lo < len && size <= len - (addr - lo);
}

static int region_ok(uint64_t addr, uint64_t size, int write)
{
	const struct nfcc_bounds *b = &nfcc__bounds;
	uint64_t data = (uint64_t)__start_nfcc_data;
	uint64_t rodata = (uint64_t)__start_nfcc_rodata;

	if (in_range(addr, size, b->mem_lo, b->mem_len))
		return 1;
	if (in_range(addr, size, data, (uint64_t)__stop_nfcc_data - data))
		return 1;
	if (b->pkt.data != NULL &&
	    in_range(addr, size, (uint64_t)b->pkt.data - NFCC_HEADROOM, b->pkt.len + NFCC_HEADROOM))
		return 1;
	if (write)
		return 0;
	if (in_range(addr, size, rodata, (uint64_t)__stop_nfcc_rodata - rodata))
		return 1;
	return in_range(addr, size, (uint64_t)&b->pkt, sizeof(b->pkt));
}

/* Stops the current call: records what happened and returns to nfcc__enter*. */
EXPORT __attribute__((noreturn, cold)) void nfcc__stop(uint32_t kind, uint32_t site, uint64_t addr, uint64_t size)
{
	nfcc__bounds.v.kind = kind;
	nfcc__bounds.v.site = site;
	nfcc__bounds.v.addr = addr;
	nfcc__bounds.v.size = size;
	siglongjmp(nfcc__bounds.jmp, 1);
}

/*
 * Slow path of every isolation check: returns if the access is allowed, else stops.
 * preserve_most: it saves what it uses, so a check in a hot loop costs its caller no
 * saved registers or spills (the pass and the verifier both require this convention).
 */
__attribute__((cold, preserve_most)) void nfcc__check(uint64_t addr, uint64_t size, uint32_t site_word)
{
	uint32_t kind = site_word & ((1u << NFCC_SITE_KIND_BITS) - 1);

	if (region_ok(addr, size, kind != NFCC_V_READ))
		return;
	nfcc__stop(kind, site_word >> NFCC_SITE_KIND_BITS, addr, size);
}

/* A violation the pass decided statically or that needs no region lookup. */
/*
 * preserve_most, like nfcc__check: it never returns, but protected code goes on after the
 * call in its graph (the build points a failed check at the way on, for code generation's
 * sake), and with the C convention every value live across it would take a callee-saved
 * register in its caller.
 */
__attribute__((noreturn, cold, preserve_most)) void nfcc__violation(uint32_t site_word, uint64_t addr)
{
	nfcc__stop(site_word & ((1u << NFCC_SITE_KIND_BITS) - 1), site_word >> NFCC_SITE_KIND_BITS, addr, 0);
}

/* Called from the host's signal handler when module code faulted. */
EXPORT __attribute__((noreturn)) void nfcc__fault(uint64_t addr)
{
	nfcc__stop(NFCC_V_FAULT, UINT32_MAX, addr, 0);
}

/* Checks a NUL-terminated string the module hands to a service. */
static void check_string(const char *s)
{
	for (uint64_t i = 0;; i++) {
		if (!region_ok((uint64_t)s + i, 1, 0))
			nfcc__stop(NFCC_V_API, UINT32_MAX, (uint64_t)s + i, 1);
		if (s[i] == '\0')
			return;
	}
}

/*
 * Calls fn(arg) with the stack pointer at stack_top, then returns to the caller's
 * stack. Module code thus never runs on the host's stack: nothing of the host is
 * below it, and a runaway recursion ends in the module stack's guard page.
 */
int nfcc__call_on_stack(uint64_t stack_top, int (*fn)(const void *), const void *arg);
__asm__(".text\n"
	".p2align 4\n"
	".type nfcc__call_on_stack,@function\n"
	"nfcc__call_on_stack:\n"
	"\tpushq %rbp\n"
	"\tmovq %rsp, %rbp\n"
	"\tmovq %rdi, %rsp\n"
	"\tmovq %rdx, %rdi\n"
	"\tcallq *%rsi\n"
	"\tmovq %rbp, %rsp\n"
	"\tpopq %rbp\n"
	"\tretq\n"
	".size nfcc__call_on_stack, .-nfcc__call_on_stack\n");

static int call_process(const void *pkt)
{
	return nf_process(pkt);
}

static int call_init(const void *unused)
{
	(void)unused;
	return nf_init != NULL ? nf_init() : 0;
}

static int enter(int (*fn)(const void *), const void *arg)
{
	struct nfcc_bounds *b = &nfcc__bounds;

	if (sigsetjmp(b->jmp, 0) != 0) {
		b->running = 0;
		return NFCC__VIOLATED;
	}
	b->usp = b->usp_top;
	b->running = 1;
	int r = nfcc__call_on_stack(b->stack_top, fn, arg);
	b->running = 0;
	return r;
}

/* Runs nf_process on the packet the host put in nfcc__bounds.pkt. */
EXPORT int nfcc__enter(void)
{
	return enter(call_process, &nfcc__bounds.pkt);
}

/*
 * One nfcc__enter_burst: the host's arrays, and how far the loop got. It lives on the
 * host's stack, which no module region covers; `next` is read again after a violation
 * (siglongjmp), hence volatile.
 */
struct burst {
	const struct nfcc_packet *pkts;
	int *verdicts;
	uint32_t n;
	volatile uint32_t next;
};

/*
 * nf_process on every packet of the burst in turn, on the module's stack. Before each call
 * the packet's region and descriptor are exactly that packet's (nfcc__bounds.pkt, which the
 * checks and nf_process read), its headroom is zeroed, and the unsafe stack starts empty:
 * what nfcc__enter does per call.
 */
static int call_burst(const void *arg)
{
	struct burst *bu = (struct burst *)arg;
	struct nfcc_bounds *b = &nfcc__bounds;

	for (uint32_t i = 0; i < bu->n; i++) {
		const struct nfcc_packet *p = &bu->pkts[i];

		bu->next = i;
		__builtin_memset(p->data - NFCC_HEADROOM, 0, NFCC_HEADROOM);
		b->pkt = *p;
		b->usp = b->usp_top;
		bu->verdicts[i] = nf_process(&b->pkt);
	}
	return 0;
}

/*
 * Runs nf_process on pkts[0 .. n) in order, writing each result into verdicts[i], with one
 * sigsetjmp point and one stack switch for the whole burst. Returns how many verdicts it
 * wrote: n, or k + 1 when a violation stopped the call on packet k (verdicts[k] is then
 * NFCC__VIOLATED, nfcc__bounds.v says what happened, and packets after k were not run).
 * Each data[-NFCC_HEADROOM .. len) is a buffer of its own, the host's arrays are outside
 * every module region.
 */
EXPORT uint32_t nfcc__enter_burst(const struct nfcc_packet *pkts, int *verdicts, uint32_t n)
{
	struct nfcc_bounds *b = &nfcc__bounds;
	struct burst bu = { pkts, verdicts, n, 0 };

	if (n == 0)
		return 0;
	if (sigsetjmp(b->jmp, 0) != 0) {
		b->running = 0;
		verdicts[bu.next] = NFCC__VIOLATED;
		return bu.next + 1;
	}
	b->running = 1;
	nfcc__call_on_stack(b->stack_top, call_burst, &bu);
	b->running = 0;
	return n;
}

/* Runs nf_init (if the module has one). */
EXPORT int nfcc__enter_init(void)
{
	return enter(call_init, NULL);
}

void *nfcc_alloc(size_t size)
{
	return nfcc__rt.api->alloc(nfcc__rt.api->ctx, size);
}

void nfcc_free(void *ptr)
{
	if (ptr != NULL && nfcc__rt.api->free(nfcc__rt.api->ctx, ptr) != 0)
		nfcc__stop(NFCC_V_FREE, UINT32_MAX, (uint64_t)ptr, 0);
}

const char *nfcc_config_str(const char *key, const char *def)
{
	check_string(key);
	if (def != NULL)
		check_string(def);
	return nfcc__rt.api->config_str(nfcc__rt.api->ctx, key, def);
}

uint64_t nfcc_config_u64(const char *key, uint64_t def, uint64_t min, uint64_t max)
{
	check_string(key);
	return nfcc__rt.api->config_u64(nfcc__rt.api->ctx, key, def, min, max);
}

uint16_t nfcc_port_count(void)
{
	return nfcc__rt.api->port_count(nfcc__rt.api->ctx);
}

void nfcc_log(const char *msg)
{
	check_string(msg);
	nfcc__rt.api->log(nfcc__rt.api->ctx, msg);
}

/*
 * The memory functions modules call (directly, or through the calls LLVM emits for copies
 * of unknown length). nfcc provides them so that a module runs no code nfcc has not
 * analysed: glibc picks its versions per CPU at load time, which no contract could cost.
 * The isolation pass has checked both ranges before any call reaches here. Plain loops:
 * the copies modules make are keys and headers, a few bytes to a few dozen.
 * `no_builtin` keeps clang from turning these loops back into calls to themselves.
 */
__attribute__((no_builtin)) void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	/* PCV bytes: bytes copied, set or compared by the memory functions */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
	return dst;
}

__attribute__((no_builtin)) void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n) {
		/* PCV bytes: bytes copied, set or compared by the memory functions */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		/* PCV bytes: bytes copied, set or compared by the memory functions */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
		for (size_t i = n; i > 0; i--)
			d[i - 1] = s[i - 1];
	}
	return dst;
}

__attribute__((no_builtin)) void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	/* PCV bytes: bytes copied, set or compared by the memory functions */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
	for (size_t i = 0; i < n; i++)
		d[i] = (unsigned char)c;
	return dst;
}

__attribute__((no_builtin)) int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a;
	const unsigned char *y = b;

	/* PCV bytes: bytes copied, set or compared by the memory functions */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

__attribute__((no_builtin)) int bcmp(const void *a, const void *b, size_t n)
{
	return memcmp(a, b, n);
}

/* The data-structure library's key hash: runtime code, its key's range checked at the call. */
#include "nfcc_hash.c"
