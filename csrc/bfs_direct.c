#include "bfs_direct.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs_pool.h"

_Static_assert(BFS_POOL_ALIGN % BFS_DIRECT_BLOCK == 0,
               "pool buffers must be aligned for O_DIRECT");

enum { HEAD = 0, TAIL = 1 };

static int head_partial(const bfs_span_write_t *w)
{
    return w->data_start != w->start;
}

static int tail_partial(const bfs_span_write_t *w)
{
    return w->data_end != w->end;
}

/* A write inside one block that is partial at both ends reads that block
 * once, as HEAD, and patches both sides from it. */
static int tail_in_head(const bfs_span_write_t *w)
{
    return head_partial(w) && w->end - w->start == BFS_DIRECT_BLOCK;
}

static char *edge_block(const bfs_span_write_t *w, int which)
{
    return w->edges + (size_t)which * BFS_DIRECT_BLOCK;
}

/* Copies the bytes of the partial edge blocks that the payload does not
 * cover from the blocks as read, so the span can be written whole. */
static void patch_edges(bfs_span_write_t *w)
{
    if (head_partial(w))
        memcpy(w->buf, edge_block(w, HEAD), w->data_start - w->start);
    if (tail_partial(w)) {
        const char *block = edge_block(w, tail_in_head(w) ? HEAD : TAIL);
        uint64_t from = w->data_end - bfs_block_down(w->data_end);

        memcpy(w->buf + (w->data_end - w->start), block + from, w->end - w->data_end);
    }
}

/* Drops one of the references counted in pending; the last one goes on. */
static void settle(bfs_span_write_t *w)
{
    if (--w->pending)
        return;
    if (!w->err)
        patch_edges(w);
    w->ready(w, w->err);
}

static void edge_settled(bfs_span_write_t *w, int which, int res)
{
    if (res < 0) {
        if (!w->err)
            w->err = -res;
    } else { /* short only past the end of file, which reads as zeros */
        memset(edge_block(w, which) + res, 0, BFS_DIRECT_BLOCK - (size_t)res);
    }
    settle(w);
}

static void head_read(bfs_disk_op_t *op, int res)
{
    edge_settled(bfs_container_of(op, bfs_span_write_t, edge_op[HEAD]), HEAD, res);
}

static void tail_read(bfs_disk_op_t *op, int res)
{
    edge_settled(bfs_container_of(op, bfs_span_write_t, edge_op[TAIL]), TAIL, res);
}

/* Counted before it is queued, so a read that fails to queue settles like
 * one that failed in the kernel. */
static void read_edge(bfs_span_write_t *w, int which, uint64_t offset)
{
    int rc;

    w->pending++;
    w->edge_op[which].cb = which == HEAD ? head_read : tail_read;
    rc = bfs_disk_read(w->disk, &w->edge_op[which], w->file, edge_block(w, which),
                       BFS_DIRECT_BLOCK, offset);
    if (rc < 0)
        edge_settled(w, which, rc);
}

/* The span is ours: read what the payload does not cover, or go at once. */
static void hold(bfs_span_write_t *w)
{
    w->holding = 1;
    if (!head_partial(w) && !tail_partial(w)) {
        w->ready(w, 0);
        return;
    }
    if (posix_memalign((void **)&w->edges, BFS_DIRECT_BLOCK, 2 * BFS_DIRECT_BLOCK) != 0) {
        w->edges = NULL;
        w->ready(w, ENOMEM);
        return;
    }
    /* A reference of our own until both reads are queued: a read that
     * settles at once must not find pending at 0 while the other is unsent. */
    w->pending = 1;
    if (head_partial(w))
        read_edge(w, HEAD, w->start);
    if (tail_partial(w) && !tail_in_head(w))
        read_edge(w, TAIL, w->end - BFS_DIRECT_BLOCK);
    settle(w);
}

static int overlaps(const bfs_span_write_t *a, const bfs_span_write_t *b)
{
    return a->start < b->end && b->start < a->end;
}

/* Whether an earlier write of the file still claims part of w's span. */
static int blocked(const bfs_span_write_t *w)
{
    for (const bfs_list_t *n = w->file->writes.next; n != &w->link; n = n->next)
        if (overlaps(bfs_container_of(n, bfs_span_write_t, link), w))
            return 1;
    return 0;
}

static bfs_span_write_t *next_unblocked(const bfs_list_t *writes)
{
    for (bfs_list_t *n = writes->next; n != writes; n = n->next) {
        bfs_span_write_t *w = bfs_container_of(n, bfs_span_write_t, link);
        if (!w->holding && !blocked(w))
            return w;
    }
    return NULL;
}

void bfs_span_write_begin(bfs_span_write_t *w, bfs_disk_t *disk, bfs_file_t *file,
                          uint64_t offset, uint64_t len, char *buf, bfs_span_cb_t ready)
{
    memset(w, 0, sizeof(*w));
    w->disk = disk;
    w->file = file;
    w->data_start = offset;
    w->data_end = offset + len;
    w->start = bfs_block_down(offset);
    w->end = bfs_block_up(offset + len);
    w->buf = buf;
    w->ready = ready;
    bfs_list_push_back(&file->writes, &w->link);
    if (!blocked(w))
        hold(w);
}

/* A started write may end, and so release, inside hold(): the scan starts
 * over after each one. The caller's pin keeps the list head alive. */
void bfs_span_write_end(bfs_span_write_t *w)
{
    const bfs_list_t *writes = &w->file->writes;
    bfs_span_write_t *next;

    bfs_list_remove(&w->link);
    free(w->edges);
    w->edges = NULL;
    while ((next = next_unblocked(writes)))
        hold(next);
}
