/*
 * vector.c - capacity fixed-size records in one zeroed block.
 */
#include "nfcc_ds.h"

struct nfcc_vector {
	uint32_t capacity;
	uint32_t record_size;
	uint64_t stride;    /* record_size rounded up to a multiple of 8 */
	uint8_t *records;   /* capacity * stride bytes, 16-byte aligned */
};

struct nfcc_vector *nfcc_vector_create(uint32_t capacity, uint32_t record_size)
{
	if (capacity == 0 || capacity > (1u << 30) || record_size == 0 || record_size > (1u << 30))
		return NULL;

	uint64_t stride = ((uint64_t)record_size + 7) & ~(uint64_t)7;
	size_t header = (sizeof(struct nfcc_vector) + 15) & ~(size_t)15;
	struct nfcc_vector *v = nfcc_alloc(header + capacity * stride);

	if (v == NULL)
		return NULL;
	v->capacity = capacity;
	v->record_size = record_size;
	v->stride = stride;
	v->records = (uint8_t *)v + header;
	return v;
}

void *nfcc_vector_get(const struct nfcc_vector *vector, uint32_t index)
{
	if (index >= vector->capacity)
		return NULL;
	return vector->records + index * vector->stride;
}

uint32_t nfcc_vector_record_size(const struct nfcc_vector *vector)
{
	return vector->record_size;
}

uint32_t nfcc_vector_capacity(const struct nfcc_vector *vector)
{
	return vector->capacity;
}
