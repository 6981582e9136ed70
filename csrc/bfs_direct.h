/*
 * O_DIRECT chunk I/O (DESIGN.md D8). O_DIRECT moves whole blocks between
 * aligned memory and aligned file offsets and fails anything else with
 * EINVAL, so the bulk paths work on the block span that covers a request:
 *   READ:  the span is read into an aligned buffer; the reply carries the
 *          requested bytes from inside it;
 *   WRITE: the payload is received into an aligned span buffer at its place
 *          in the span; a partial first or last block is read from the file
 *          and its other bytes are patched in around the payload (a
 *          read-modify-write); then the whole span is written at once.
 *
 * Two writes that patch the same block would both read its old contents, and
 * the later one would write the earlier one's bytes back to old: a lost
 * update. So every O_DIRECT write of a file claims its span from before its
 * edge reads until its write completed, and a write whose span overlaps an
 * earlier claim waits for it (first come, first served). The loop is
 * single-threaded; the waiting is between in-flight io_uring operations.
 */
#ifndef BFS_DIRECT_H
#define BFS_DIRECT_H

#include <stdint.h>

#include "bfs_disk.h"

/* The alignment used for offsets, lengths and memory. 4096 is a multiple of
 * the logical block size of every common disk, so it needs no probing. */
#define BFS_DIRECT_BLOCK 4096u

static inline uint64_t bfs_block_down(uint64_t x)
{
    return x & ~(uint64_t)(BFS_DIRECT_BLOCK - 1);
}

static inline uint64_t bfs_block_up(uint64_t x)
{
    return bfs_block_down(x + BFS_DIRECT_BLOCK - 1);
}

typedef struct bfs_span_write bfs_span_write_t;
/* err is 0 when buf holds the span's new contents, else a positive errno. */
typedef void (*bfs_span_cb_t)(bfs_span_write_t *w, int err);

/* One O_DIRECT write's claim on a span of its file, and its edge reads. */
struct bfs_span_write {
    bfs_list_t link;          /* in file->writes, in arrival order */
    bfs_disk_t *disk;
    bfs_file_t *file;
    uint64_t start, end;      /* the claimed span: block-aligned file offsets */
    uint64_t data_start, data_end; /* the payload's file offsets */
    char *buf;                /* end - start bytes, the payload at data_start - start */
    char *edges;              /* scratch for the first and last block, or NULL */
    bfs_disk_op_t edge_op[2]; /* reads of the first and the last block */
    unsigned pending;         /* edge reads in flight */
    int err;                  /* errno of a failed edge read */
    int holding;              /* no earlier overlapping claim remains */
    bfs_span_cb_t ready;
};

/* Claims the span of [offset, offset + len) in file (pinned by the caller
 * until bfs_span_write_end), waiting behind earlier overlapping claims; then
 * completes the partial edge blocks of buf and calls ready, possibly before
 * returning. buf holds the span with the payload already in place. */
void bfs_span_write_begin(bfs_span_write_t *w, bfs_disk_t *disk, bfs_file_t *file,
                          uint64_t offset, uint64_t len, char *buf, bfs_span_cb_t ready);
/* Releases the claim once the span's write finished (or failed), starting
 * the writes that waited for it. Call before unpinning the file. */
void bfs_span_write_end(bfs_span_write_t *w);

#endif
