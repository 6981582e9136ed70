/*
 * Handle table: maps 64-bit ids to live objects in O(1) without scanning.
 * An id is (generation << 32 | slot + 1): a slot is reused after its object
 * is removed, but with a new generation, so a stale id (a late reply to a
 * finished request, a handle replied twice, a closed connection) finds
 * nothing instead of someone else's object. Id 0 is never issued.
 * Used for client request ids, server request handles and connection ids.
 */
#ifndef BFS_REQTAB_H
#define BFS_REQTAB_H

#include <stdint.h>

typedef struct {
    void *obj;          /* NULL when free */
    uint32_t gen;
    uint32_t next_free; /* index + 1 of the next free slot, 0 = none */
} bfs_slot_t;

typedef struct {
    bfs_slot_t *slots;
    uint32_t cap;
    uint32_t free_head; /* index + 1, 0 = none */
    uint32_t used;
} bfs_reqtab_t;

void bfs_reqtab_init(bfs_reqtab_t *tab);
void bfs_reqtab_fini(bfs_reqtab_t *tab);
/* Stores obj (non-NULL) and returns its id, or 0 when out of memory. */
uint64_t bfs_reqtab_add(bfs_reqtab_t *tab, void *obj);
void *bfs_reqtab_get(const bfs_reqtab_t *tab, uint64_t id);
/* Removes and returns the object, or NULL if the id is not live. */
void *bfs_reqtab_remove(bfs_reqtab_t *tab, uint64_t id);
/* Iteration for teardown: returns the next live object at or after
 * *cursor (start at 0), or NULL at the end. Removing the returned object
 * while iterating is allowed. */
void *bfs_reqtab_next(const bfs_reqtab_t *tab, uint32_t *cursor);

#endif
