/*
 * dchain.c - index allocator with ageing (the "double chain").
 *
 * Cell capacity is the head of a circular doubly linked list of allocated
 * indices, oldest first; it stays ordered by time because allocate and
 * rejuvenate never store a time below the latest one they stored. Freed
 * indices form a stack linked through next (index + 1, 0 at the bottom),
 * used before the never-allocated ones.
 */
#include "nfcc_ds.h"

struct dchain_cell {
	uint32_t prev;
	uint32_t next;
	uint64_t time;      /* when allocated or last rejuvenated */
	uint32_t allocated; /* 1 if in the allocated list */
};

struct nfcc_dchain {
	uint32_t capacity;
	uint32_t fresh;     /* indices fresh .. capacity-1 have never been allocated */
	uint32_t free_head; /* top of the stack of freed indices, + 1 */
	uint64_t expiry_ns;
	uint64_t latest;    /* the latest time stored */
	/* then, in the same allocation, capacity + 1 cells: the indices, then the list head */
};

/*
 * Cell i of d (i = capacity: the list head). A masked index from the handle itself, so
 * once the handle is heap-checked a protected module needs no check for any cell.
 */
static struct dchain_cell *cell(const struct nfcc_dchain *d, uint32_t i)
{
	return &((struct dchain_cell *)(d + 1))[NFCC_DS_IX(i)];
}

struct nfcc_dchain *nfcc_dchain_create(uint32_t capacity, uint64_t expiry_ns)
{
	if (capacity == 0 || capacity > NFCC_DS_MAX_CAPACITY || expiry_ns == 0)
		return NULL;

	size_t cells = ((size_t)capacity + 1) * sizeof(struct dchain_cell);
	struct nfcc_dchain *d = nfcc_alloc(sizeof(*d) + cells);

	if (d == NULL)
		return NULL;
	d->capacity = capacity;
	d->expiry_ns = expiry_ns;
	cell(d, capacity)->prev = capacity;
	cell(d, capacity)->next = capacity;
	return d;
}

/* now, or the latest time stored if that is later; remembers it. */
static uint64_t clamp_time(struct nfcc_dchain *d, uint64_t now)
{
	if (now < d->latest)
		return d->latest;
	d->latest = now;
	return now;
}

static void unlink_cell(struct nfcc_dchain *d, uint32_t i)
{
	struct dchain_cell *c = cell(d, i);

	cell(d, c->prev)->next = c->next;
	cell(d, c->next)->prev = c->prev;
}

/* Append index i, with time now, as the youngest allocated index. */
static void append_cell(struct nfcc_dchain *d, uint32_t i, uint64_t now)
{
	struct dchain_cell *head = cell(d, d->capacity);
	struct dchain_cell *c = cell(d, i);

	c->prev = head->prev;
	c->next = d->capacity;
	cell(d, head->prev)->next = i;
	head->prev = i;
	c->time = now;
	c->allocated = 1;
}

int nfcc_dchain_allocate(struct nfcc_dchain *dchain, uint64_t now, uint32_t *index)
{
	dchain = NFCC_DS_HEAP(dchain);
	uint32_t i;

	if (dchain->free_head != 0) {
		i = dchain->free_head - 1;
		dchain->free_head = cell(dchain, i)->next;
	} else if (dchain->fresh < dchain->capacity) {
		i = dchain->fresh++;
	} else {
		return NFCC_DS_FULL;
	}
	append_cell(dchain, i, clamp_time(dchain, now));
	*index = i;
	return NFCC_DS_OK;
}

int nfcc_dchain_rejuvenate(struct nfcc_dchain *dchain, uint32_t index, uint64_t now)
{
	dchain = NFCC_DS_HEAP(dchain);
	if (!nfcc_dchain_is_allocated(dchain, index))
		return NFCC_DS_INVALID;
	unlink_cell(dchain, index);
	append_cell(dchain, index, clamp_time(dchain, now));
	return NFCC_DS_OK;
}

int nfcc_dchain_free(struct nfcc_dchain *dchain, uint32_t index)
{
	dchain = NFCC_DS_HEAP(dchain);
	if (!nfcc_dchain_is_allocated(dchain, index))
		return NFCC_DS_INVALID;
	unlink_cell(dchain, index);
	cell(dchain, index)->allocated = 0;
	cell(dchain, index)->next = dchain->free_head;
	dchain->free_head = index + 1;
	return NFCC_DS_OK;
}

int nfcc_dchain_is_allocated(const struct nfcc_dchain *dchain, uint32_t index)
{
	dchain = NFCC_DS_HEAP(dchain);
	return index < dchain->capacity && cell(dchain, index)->allocated;
}

/* The oldest allocated index, or capacity if none is (the list head's next). */
static uint32_t oldest_index(const struct nfcc_dchain *d)
{
	return cell(d, d->capacity)->next;
}

int nfcc_dchain_expire_ready(const struct nfcc_dchain *dchain, uint64_t now)
{
	dchain = NFCC_DS_HEAP(dchain);
	uint32_t oldest = oldest_index(dchain);

	/* now - time, not time + expiry_ns, which could wrap */
	return oldest != dchain->capacity && now >= cell(dchain, oldest)->time &&
	       now - cell(dchain, oldest)->time >= dchain->expiry_ns;
}

uint32_t nfcc_dchain_pop_oldest(struct nfcc_dchain *dchain)
{
	dchain = NFCC_DS_HEAP(dchain);
	uint32_t oldest = oldest_index(dchain);

	if (oldest != dchain->capacity)
		nfcc_dchain_free(dchain, oldest);
	return oldest;
}

int nfcc_dchain_expire_one(struct nfcc_dchain *dchain, uint64_t now, uint32_t *index)
{
	if (!nfcc_dchain_expire_ready(dchain, now))
		return 0;
	*index = nfcc_dchain_pop_oldest(dchain);
	return 1;
}

uint32_t nfcc_dchain_capacity(const struct nfcc_dchain *dchain)
{
	dchain = NFCC_DS_HEAP(dchain);
	return dchain->capacity;
}
