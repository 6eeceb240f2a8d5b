/*
 * vector.c - capacity fixed-size records in one zeroed block.
 */
#include "nfcc_ds.h"

struct nfcc_vector {
	uint32_t capacity;
	uint32_t record_size;
	uint32_t stride;    /* record_size rounded up to a multiple of 8 */
	uint32_t pad;
	/* then, in the same allocation, capacity * stride bytes of records */
};

/*
 * Record i: a masked index times a masked stride from the handle itself (under 2^29
 * bytes), so once the handle is heap-checked a protected module proves every access to a
 * record at a constant offset without a check of its own.
 */
#define RECORD_MAX 120u /* largest record size: its stride fits the mask below */
#define STRIDE(s) ((uint32_t)(s) & 127u)

struct nfcc_vector *nfcc_vector_create(uint32_t capacity, uint32_t record_size)
{
	if (capacity == 0 || capacity > NFCC_DS_MAX_CAPACITY || record_size == 0 || record_size > RECORD_MAX)
		return NULL;

	uint32_t stride = (record_size + 7) & ~7u;
	struct nfcc_vector *v = nfcc_alloc(sizeof(*v) + (size_t)capacity * stride);

	if (v == NULL)
		return NULL;
	v->capacity = capacity;
	v->record_size = record_size;
	v->stride = stride;
	return v;
}

void *nfcc_vector_get(const struct nfcc_vector *vector, uint32_t index)
{
	vector = NFCC_DS_HEAP(vector);
	if (index >= vector->capacity)
		return NULL;
	return (uint8_t *)(vector + 1) + (size_t)NFCC_DS_ENTRY(index) * STRIDE(vector->stride);
}

uint32_t nfcc_vector_record_size(const struct nfcc_vector *vector)
{
	vector = NFCC_DS_HEAP(vector);
	return vector->record_size;
}

uint32_t nfcc_vector_capacity(const struct nfcc_vector *vector)
{
	vector = NFCC_DS_HEAP(vector);
	return vector->capacity;
}
