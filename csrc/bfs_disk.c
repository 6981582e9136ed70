#define _GNU_SOURCE /* O_DIRECT */
#include "bfs_disk.h"
#include "bfs_direct.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open chunk files kept beyond this are closed least recently used first. */
#define BFS_DISK_MAX_OPEN 256

static void poll_done(bfs_disk_op_t *op, int res)
{
    (void)res; /* readiness only; the engine progresses UCX either way */
    bfs_container_of(op, bfs_disk_t, poll_op)->poll_armed = 0;
}

int bfs_disk_init(bfs_disk_t *disk, const char *data_dir, unsigned ring_entries, int o_direct,
                  uint32_t direct_min)
{
    int rc;

    memset(disk, 0, sizeof(*disk));
    bfs_map_init(&disk->files);
    bfs_list_init(&disk->lru);
    disk->o_direct = o_direct;
    disk->direct_min = direct_min;
    disk->poll_op.cb = poll_done;
    disk->done_tail = &disk->done;
    if (data_dir) {
        size_t n = strlen(data_dir) + sizeof("/chunks");
        disk->chunk_dir = malloc(n);
        if (!disk->chunk_dir)
            return -ENOMEM;
        snprintf(disk->chunk_dir, n, "%s/chunks", data_dir);
    }
    rc = io_uring_queue_init(ring_entries ? ring_entries : 256, &disk->ring, 0);
    if (rc < 0)
        return rc;
    disk->ring_ok = 1;
    return 0;
}

static void close_file(bfs_disk_t *disk, bfs_file_t *f)
{
    if (!f->detached) {
        bfs_map_remove(&disk->files, f->ino);
        bfs_list_remove(&f->lru);
        disk->nfiles--;
    }
    close(f->fd);
    if (f->dfd >= 0)
        close(f->dfd);
    free(f);
}

/* Runs completions until no operation is in flight: the kernel may still be
 * writing into buffers that the caller is about to free. */
static void drain(bfs_disk_t *disk)
{
    struct io_uring_cqe *cqe;
    int rc;

    bfs_disk_reap(disk);
    while (disk->inflight) {
        io_uring_submit(&disk->ring);
        rc = io_uring_wait_cqe(&disk->ring, &cqe);
        if (rc < 0 && rc != -EINTR)
            break;
        bfs_disk_reap(disk);
    }
}

void bfs_disk_fini(bfs_disk_t *disk)
{
    if (disk->ring_ok) {
        drain(disk);
        io_uring_queue_exit(&disk->ring);
        disk->ring_ok = 0;
    }
    while (!bfs_list_empty(&disk->lru))
        close_file(disk, bfs_container_of(disk->lru.next, bfs_file_t, lru));
    bfs_map_fini(&disk->files);
    free(disk->chunk_dir);
    disk->chunk_dir = NULL;
}

static void chunk_path(const bfs_disk_t *disk, uint64_t ino, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%016" PRIx64, disk->chunk_dir, ino);
}

/* mkdir -p of the chunk directory, created on first write. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int open_chunk(const bfs_disk_t *disk, uint64_t ino, int create, int direct)
{
    char path[PATH_MAX];
    /* O_NOFOLLOW: a symlink planted among the chunk files must not take a
     * network write or read outside the data directory (ELOOP instead). */
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (direct ? O_DIRECT : 0) |
                (create ? O_CREAT : 0);
    int fd, rc;

    chunk_path(disk, ino, path, sizeof(path));
    fd = open(path, flags, 0644);
    if (fd < 0 && errno == ENOENT && create) {
        rc = make_dirs(disk->chunk_dir);
        if (rc < 0)
            return rc;
        fd = open(path, flags, 0644);
    }
    if (fd < 0)
        return -errno;
    ((bfs_disk_t *)disk)->open_files++; /* a counter, not the cache's state */
    return fd;
}

/* Closes the least recently used idle file once the cache is full. */
static void evict_one(bfs_disk_t *disk)
{
    for (bfs_list_t *n = disk->lru.prev; n != &disk->lru; n = n->prev) {
        bfs_file_t *f = bfs_container_of(n, bfs_file_t, lru);
        if (f->users == 0) {
            close_file(disk, f);
            return;
        }
    }
}

static int cache_file(bfs_disk_t *disk, uint64_t ino, int fd, bfs_file_t **out)
{
    bfs_file_t *f = calloc(1, sizeof(*f));

    if (!f || bfs_map_put(&disk->files, ino, f) != 0) {
        free(f);
        close(fd);
        return -ENOMEM;
    }
    f->ino = ino;
    f->fd = fd;
    f->dfd = -1;
    bfs_list_init(&f->writes);
    bfs_list_push_front(&disk->lru, &f->lru);
    disk->nfiles++;
    *out = f;
    return 0;
}

int bfs_disk_pin(bfs_disk_t *disk, uint64_t ino, int create, bfs_file_t **out)
{
    bfs_file_t *f;
    int fd, rc;

    if (!disk->chunk_dir)
        return -EROFS;
    f = bfs_map_get(&disk->files, ino);
    if (!f) {
        fd = open_chunk(disk, ino, create, disk->o_direct);
        if (fd < 0)
            return fd;
        if (disk->nfiles >= BFS_DISK_MAX_OPEN)
            evict_one(disk);
        rc = cache_file(disk, ino, fd, &f);
        if (rc < 0)
            return rc;
    }
    bfs_list_remove(&f->lru);
    bfs_list_push_front(&disk->lru, &f->lru);
    f->users++;
    *out = f;
    return 0;
}

void bfs_disk_unpin(bfs_disk_t *disk, bfs_file_t *file)
{
    if (--file->users == 0 && file->detached)
        close_file(disk, file);
}

/* A full submission queue is flushed to the kernel to make room. */
static struct io_uring_sqe *get_sqe(bfs_disk_t *disk)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&disk->ring);

    if (!sqe) {
        io_uring_submit(&disk->ring);
        sqe = io_uring_get_sqe(&disk->ring);
    }
    if (sqe)
        disk->sqes++;
    return sqe;
}

static int queued(bfs_disk_t *disk, struct io_uring_sqe *sqe, bfs_disk_op_t *op)
{
    io_uring_sqe_set_data(sqe, op);
    disk->inflight++;
    return 0;
}

/* The descriptor a transfer goes through: in hybrid mode the O_DIRECT one
 * for a large aligned transfer (opened on first use), else the file's own. */
/* See transfer(): the size from which one io_uring_enter per operation is cheap. */
#define BFS_DISK_SUBMIT_NOW (128u << 10)

static int transfer_fd(bfs_disk_t *disk, bfs_file_t *file, const void *buf, size_t len,
                       uint64_t offset)
{
    if (disk->o_direct || !disk->direct_min || disk->direct_unsupported ||
        len < disk->direct_min || (offset | len | (uintptr_t)buf) % BFS_DIRECT_BLOCK)
        return file->fd;
    if (file->dfd < 0) {
        file->dfd = open_chunk(disk, file->ino, 0, 1);
        if (file->dfd == -EINVAL)
            disk->direct_unsupported = 1;
        if (file->dfd < 0) {
            file->dfd = -1;
            return file->fd;
        }
    }
    disk->direct_ops++;
    return file->dfd;
}

static int transfer(bfs_disk_t *disk, bfs_disk_op_t *op, int opcode, int fd, const void *buf,
                    size_t len, uint64_t offset)
{
    struct io_uring_sqe *sqe = get_sqe(disk);

    if (!sqe)
        return -EBUSY;
    io_uring_prep_rw(opcode, sqe, fd, buf, (unsigned)len, offset);
    queued(disk, sqe, op);
    /* A large transfer goes to the kernel at once rather than with the loop's
     * batch: the disk starts on it while UCX is still receiving the next
     * piece of the same request into memory. */
    if (len >= BFS_DISK_SUBMIT_NOW)
        io_uring_submit(&disk->ring);
    return 0;
}

static void finished_now(bfs_disk_t *disk, bfs_disk_op_t *op, int res)
{
    op->res = res;
    op->next = NULL;
    *disk->done_tail = op;
    disk->done_tail = &op->next;
}

int bfs_disk_write(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, const void *buf,
                   size_t len, uint64_t offset)
{
    int fd = transfer_fd(disk, file, buf, len, offset);

    if (!disk->o_direct && fd == file->fd && len <= BFS_DISK_SYNC_WRITE_MAX) {
        ssize_t n = pwrite(fd, buf, len, (off_t)offset);

        finished_now(disk, op, n < 0 ? -errno : (int)n);
        return 0;
    }
    return transfer(disk, op, IORING_OP_WRITE, fd, buf, len, offset);
}

int bfs_disk_read(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, void *buf,
                  size_t len, uint64_t offset)
{
    return transfer(disk, op, IORING_OP_READ, transfer_fd(disk, file, buf, len, offset), buf,
                    len, offset);
}

int bfs_disk_fsync(bfs_disk_t *disk, bfs_disk_op_t *op, bfs_file_t *file, int datasync)
{
    struct io_uring_sqe *sqe = get_sqe(disk);

    if (!sqe)
        return -EBUSY;
    io_uring_prep_fsync(sqe, file->fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    return queued(disk, sqe, op);
}

int bfs_disk_arm_poll(bfs_disk_t *disk, int fd)
{
    struct io_uring_sqe *sqe;

    if (disk->poll_armed)
        return 0;
    sqe = get_sqe(disk);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    io_uring_sqe_set_data(sqe, &disk->poll_op);
    disk->poll_armed = 1;
    return 0;
}

/* Callbacks may start more operations, finished at once or not: both lists
 * are read until empty. */
unsigned bfs_disk_reap(bfs_disk_t *disk)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;

    for (;;) {
        bfs_disk_op_t *now = disk->done;

        if (now) {
            disk->done = now->next;
            if (!disk->done)
                disk->done_tail = &disk->done;
            now->cb(now, now->res);
            n++;
            continue;
        }
        if (io_uring_peek_cqe(&disk->ring, &cqe) != 0)
            break;
        bfs_disk_op_t *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&disk->ring, cqe);
        disk->cqes++;
        if (op != &disk->poll_op)
            disk->inflight--;
        op->cb(op, res);
        n++;
    }
    return n;
}

int bfs_disk_submit(bfs_disk_t *disk)
{
    int rc = io_uring_submit(&disk->ring);
    return rc < 0 ? rc : 0;
}

/* Submits first, then waits without submitting: an io_uring_enter that
 * submits reports its SQE count even when a signal cut its wait short, which
 * would hide the EINTR (and a timeout) from the loop. */
int bfs_disk_wait(bfs_disk_t *disk, int64_t timeout_ns)
{
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts, *tsp = NULL;
    int rc = bfs_disk_submit(disk);

    if (rc < 0)
        return rc;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    rc = io_uring_wait_cqe_timeout(&disk->ring, &cqe, tsp);
    if (rc == -ETIME)
        return 0;
    return rc < 0 ? rc : 1;
}

int bfs_disk_truncate(bfs_disk_t *disk, uint64_t ino, uint64_t size)
{
    char path[PATH_MAX];
    bfs_file_t *f;
    int fd, rc;

    if (!disk->chunk_dir)
        return -EROFS;
    f = bfs_map_get(&disk->files, ino);
    if (f)
        return ftruncate(f->fd, (off_t)size) == 0 ? 0 : -errno;
    chunk_path(disk, ino, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* no local bytes: nothing to cut */
    rc = ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int bfs_disk_remove(bfs_disk_t *disk, uint64_t ino)
{
    char path[PATH_MAX];
    bfs_file_t *f;

    if (!disk->chunk_dir)
        return -EROFS;
    f = bfs_map_remove(&disk->files, ino);
    if (f) {
        /* In-flight operations keep the fd; it is closed when they finish. */
        bfs_list_remove(&f->lru);
        disk->nfiles--;
        f->detached = 1;
        if (f->users == 0)
            close_file(disk, f);
    }
    chunk_path(disk, ino, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}
