/*
 * Disk side of the loop: the io_uring ring and a cache of open chunk files.
 *
 * A chunk file, data_dir/chunks/<ino as %016lx>, is a sparse file holding an
 * inode's bytes at their absolute file offsets; a hole or a missing file
 * reads as zeros. The ring also carries the POLL_ADD on the UCX event fd, so
 * one ring wait sleeps on disk and network at once (DESIGN.md D1).
 */
#ifndef BFS_DISK_H
#define BFS_DISK_H

#include <liburing.h>
#include <stdint.h>

#include "bfs_list.h"
#include "bfs_map.h"

typedef struct bfs_disk_op bfs_disk_op_t;
/* res is the CQE result: bytes transferred or a negative errno. */
typedef void (*bfs_disk_cb_t)(bfs_disk_op_t *op, int res);

/* Embedded in whatever waits for the completion; its address is user_data. */
struct bfs_disk_op {
    bfs_disk_cb_t cb;
    bfs_disk_op_t *next; /* in bfs_disk_t.done while a finished synchronous op waits */
    int res;             /* its result, for bfs_disk_reap */
};

/* Buffered writes up to this size are made with pwrite(2) in the loop instead
 * of the ring. ext4 has no non-blocking buffered writes, so io_uring hands
 * every one to a kernel worker thread: for a small write that cross-thread
 * handoff costs more than the copy into the page cache (4 KiB random pwrite
 * from one client to one server: 16 k -> 33 k IOPS). Larger writes keep the worker,
 * which copies on the other core while the loop goes on receiving. */
#define BFS_DISK_SYNC_WRITE_MAX (64u << 10)

typedef struct {
    uint64_t ino;
    int fd;
    int dfd;         /* the same file opened with O_DIRECT (hybrid mode), or -1 */
    unsigned users;  /* operations holding this file; eviction waits for 0 */
    int detached;    /* removed from the cache (unlinked); close at users == 0 */
    bfs_list_t lru;  /* most recently used first */
    bfs_list_t writes; /* O_DIRECT writes claiming spans (bfs_direct.h) */
} bfs_file_t;

typedef struct {
    struct io_uring ring;
    int ring_ok;
    char *chunk_dir;     /* NULL: no data_dir, every chunk op fails with EROFS */
    int o_direct;
    /* Hybrid mode (o_direct 0): transfers of at least direct_min bytes, block
     * aligned in memory, offset and length, go through an O_DIRECT descriptor
     * (0: none do). The kernel keeps both views of the file coherent. */
    uint32_t direct_min;
    int direct_unsupported; /* the file system refused O_DIRECT (tmpfs) */
    uint64_t direct_ops;    /* hybrid transfers that went through O_DIRECT */
    uint64_t sqes, cqes;    /* ring entries prepared and completions reaped (metrics) */
    uint64_t open_files;    /* chunk files opened (metrics) */
    bfs_map_t files;     /* ino -> bfs_file_t */
    bfs_list_t lru;
    unsigned nfiles;
    unsigned inflight;   /* submitted disk ops, not counting the poll */
    int poll_armed;      /* a POLL_ADD on the event fd is in the ring */
    bfs_disk_op_t *done, **done_tail; /* synchronous ops finished, callbacks not yet run */
    bfs_disk_op_t poll_op;
} bfs_disk_t;

int bfs_disk_init(bfs_disk_t *disk, const char *data_dir, unsigned ring_entries, int o_direct,
                  uint32_t direct_min);
/* Waits for in-flight operations (their buffers must outlive them), then
 * closes every file and the ring. */
void bfs_disk_fini(bfs_disk_t *disk);

/* Opens (create != 0: creating) the chunk file of ino and pins it until
 * bfs_disk_unpin. Returns 0, -ENOENT when it does not exist and create == 0,
 * or another negative errno. */
int bfs_disk_pin(bfs_disk_t *disk, uint64_t ino, int create, bfs_file_t **out);
void bfs_disk_unpin(bfs_disk_t *disk, bfs_file_t *file);

/* Queue one operation; its callback runs from bfs_disk_reap (also for a
 * small buffered write, which is already done when the call returns). */
int bfs_disk_write(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, const void *buf,
                   size_t len, uint64_t offset);
int bfs_disk_read(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, void *buf,
                  size_t len, uint64_t offset);
int bfs_disk_fsync(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, int datasync);

/* Makes sure one POLL_ADD(fd, POLLIN) is outstanding. */
int bfs_disk_arm_poll(bfs_disk_t *disk, int fd);
/* Runs the callbacks of all available completions; returns how many. */
unsigned bfs_disk_reap(bfs_disk_t *disk);
/* Submits queued SQEs in one batch. */
int bfs_disk_submit(bfs_disk_t *disk);
/* Submits and sleeps until a completion or timeout_ns (< 0: forever).
 * Returns 1 when woken by a completion, 0 on timeout, or a negative errno
 * (-EINTR when a signal arrived). */
int bfs_disk_wait(bfs_disk_t *disk, int64_t timeout_ns);

int bfs_disk_truncate(bfs_disk_t *disk, uint64_t ino, uint64_t size);
int bfs_disk_remove(bfs_disk_t *disk, uint64_t ino);

#endif
