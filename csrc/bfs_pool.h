/*
 * Aligned buffer pool for bulk I/O. Buffers are 4096-aligned so chunk files
 * may be opened with O_DIRECT (DESIGN.md D8). The pool never blocks: when it
 * is empty, or a request is larger than one buffer, it falls back to a fresh
 * aligned allocation and counts a miss.
 */
#ifndef BFS_POOL_H
#define BFS_POOL_H

#include <stddef.h>
#include <stdint.h>

#define BFS_POOL_ALIGN 4096

typedef struct {
    size_t buf_size;  /* size of every pooled buffer */
    void **free_bufs; /* stack of idle buffers */
    uint32_t nfree;
    uint32_t cap;     /* at most this many idle buffers are kept */
    uint64_t misses;  /* allocations the pool could not serve */
} bfs_pool_t;

int bfs_pool_init(bfs_pool_t *pool, size_t buf_size, uint32_t nbufs);
void bfs_pool_fini(bfs_pool_t *pool);
/* Returns a buffer of at least size bytes, or NULL when out of memory.
 * Give it back with bfs_pool_put and the same size. */
void *bfs_pool_get(bfs_pool_t *pool, size_t size);
void bfs_pool_put(bfs_pool_t *pool, void *buf, size_t size);

#endif
