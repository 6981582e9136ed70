#include "bfs_pool.h"

#include <errno.h>
#include <stdlib.h>

static void *aligned_alloc_or_null(size_t size)
{
    void *p = NULL;
    size_t rounded = (size + BFS_POOL_ALIGN - 1) & ~(size_t)(BFS_POOL_ALIGN - 1);

    if (posix_memalign(&p, BFS_POOL_ALIGN, rounded ? rounded : BFS_POOL_ALIGN) != 0)
        return NULL;
    return p;
}

int bfs_pool_init(bfs_pool_t *pool, size_t buf_size, uint32_t nbufs)
{
    pool->buf_size = buf_size ? buf_size : BFS_POOL_ALIGN;
    pool->nfree = 0;
    pool->cap = nbufs;
    pool->misses = 0;
    pool->free_bufs = calloc(nbufs ? nbufs : 1, sizeof(void *));
    if (!pool->free_bufs)
        return -ENOMEM;
    while (pool->nfree < nbufs) {
        void *buf = aligned_alloc_or_null(pool->buf_size);
        if (!buf) {
            bfs_pool_fini(pool);
            return -ENOMEM;
        }
        pool->free_bufs[pool->nfree++] = buf;
    }
    return 0;
}

void bfs_pool_fini(bfs_pool_t *pool)
{
    while (pool->nfree)
        free(pool->free_bufs[--pool->nfree]);
    free(pool->free_bufs);
    pool->free_bufs = NULL;
}

void *bfs_pool_get(bfs_pool_t *pool, size_t size)
{
    if (size <= pool->buf_size && pool->nfree)
        return pool->free_bufs[--pool->nfree];
    pool->misses++;
    /* Small fallbacks get a full pool-sized buffer so they can refill the
     * pool when returned. */
    return aligned_alloc_or_null(size <= pool->buf_size ? pool->buf_size : size);
}

void bfs_pool_put(bfs_pool_t *pool, void *buf, size_t size)
{
    if (!buf)
        return;
    if (size <= pool->buf_size && pool->nfree < pool->cap)
        pool->free_bufs[pool->nfree++] = buf;
    else
        free(buf);
}
