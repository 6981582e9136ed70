#include "bfs_bulk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs_server.h"
#include "bfs_wire.h"

typedef struct {
    bfs_disk_op_t disk_op;
    bfs_net_op_t net_op;     /* rendezvous receive, then the reply send */
    bfs_engine_t *eng;
    uint64_t conn_id;
    bfs_wire_header_t req;
    bfs_wire_header_t reply; /* alive until the reply send completes */
    bfs_file_t *file;        /* pinned chunk file, or NULL */
    char *buf;               /* pool buffer of req.length bytes, or NULL */
    size_t done;             /* bytes transferred to or from disk so far */
} bfs_bulk_t;

static void bulk_free(bfs_bulk_t *b)
{
    if (b->file)
        bfs_disk_unpin(&b->eng->disk, b->file);
    bfs_pool_put(&b->eng->pool, b->buf, b->req.length);
    free(b);
}

static void reply_sent(bfs_net_op_t *op, ucs_status_t st)
{
    (void)st; /* the client sees a failed send as a dead connection */
    bulk_free(bfs_container_of(op, bfs_bulk_t, net_op));
}

/* Ends the operation: status 0 or a positive errno, and the result's length:
 * of the payload (the READ buffer, which must outlive the send), or without
 * a payload the bytes written. */
static void finish(bfs_bulk_t *b, int status, const void *payload, size_t len)
{
    bfs_engine_t *eng = b->eng;

    if (b->file) {
        bfs_disk_unpin(&eng->disk, b->file);
        b->file = NULL;
    }
    bfs_wire_init(&b->reply, BFS_OP_REPLY, b->req.req_id, status, b->req.ino, b->req.offset,
                  len);
    b->net_op.cb = reply_sent;
    if (bfs_server_send_reply(eng, b->conn_id, &b->reply, payload, payload ? len : 0,
                              &b->net_op) < 0)
        bulk_free(b); /* the peer is gone: nobody to answer */
}

static void fail(bfs_bulk_t *b, int err)
{
    finish(b, err, NULL, 0);
}

/* ---- WRITE ---- */

static void write_done(bfs_disk_op_t *op, int res);

static void write_next(bfs_bulk_t *b)
{
    int rc;

    b->disk_op.cb = write_done;
    rc = bfs_disk_write(&b->eng->disk, &b->disk_op, b->file, b->buf + b->done,
                        b->req.length - b->done, b->req.offset + b->done);
    if (rc < 0)
        fail(b, -rc);
}

/* Short writes continue where they stopped; a zero-byte write would loop. */
static void write_done(bfs_disk_op_t *op, int res)
{
    bfs_bulk_t *b = bfs_container_of(op, bfs_bulk_t, disk_op);

    if (res <= 0) {
        fail(b, res < 0 ? -res : EIO);
        return;
    }
    b->done += (size_t)res;
    b->eng->stats.bulk_bytes_written += (uint64_t)res;
    if (b->done < b->req.length)
        write_next(b);
    else
        finish(b, 0, NULL, b->done);
}

static void write_to_disk(bfs_bulk_t *b)
{
    int rc = bfs_disk_pin(&b->eng->disk, b->req.ino, 1, &b->file);

    if (rc < 0)
        fail(b, -rc);
    else
        write_next(b);
}

static void write_received(bfs_net_op_t *op, ucs_status_t st)
{
    bfs_bulk_t *b = bfs_container_of(op, bfs_bulk_t, net_op);

    if (st != UCS_OK)
        fail(b, bfs_errno(st));
    else
        write_to_disk(b);
}

static void write_start(bfs_bulk_t *b, void *data, int rndv)
{
    if (b->req.length == 0) {
        finish(b, 0, NULL, 0);
        return;
    }
    b->buf = bfs_pool_get(&b->eng->pool, b->req.length);
    if (!b->buf) {
        fail(b, ENOMEM);
        return;
    }
    if (rndv) {
        b->net_op.cb = write_received;
        bfs_net_recv(&b->eng->net, data, b->buf, b->req.length, &b->net_op);
        return;
    }
    memcpy(b->buf, data, b->req.length);
    write_to_disk(b);
}

/* ---- READ ---- */

static void read_reply(bfs_bulk_t *b)
{
    memset(b->buf + b->done, 0, b->req.length - b->done); /* past local EOF */
    b->eng->stats.bulk_bytes_read += b->req.length;
    finish(b, 0, b->buf, b->req.length);
}

static void read_done(bfs_disk_op_t *op, int res);

static void read_next(bfs_bulk_t *b)
{
    int rc;

    b->disk_op.cb = read_done;
    rc = bfs_disk_read(&b->eng->disk, &b->disk_op, b->file, b->buf + b->done,
                       b->req.length - b->done, b->req.offset + b->done);
    if (rc < 0)
        fail(b, -rc);
}

/* A short buffered read is retried; 0 bytes means end of file. An O_DIRECT
 * read is short only at end of file, and retrying from an unaligned offset
 * would fail with EINVAL, so it ends there. */
static void read_done(bfs_disk_op_t *op, int res)
{
    bfs_bulk_t *b = bfs_container_of(op, bfs_bulk_t, disk_op);

    if (res < 0) {
        fail(b, -res);
        return;
    }
    b->done += (size_t)res;
    if (res == 0 || b->done == b->req.length || b->eng->cfg.o_direct)
        read_reply(b);
    else
        read_next(b);
}

static void read_start(bfs_bulk_t *b)
{
    int rc;

    if (b->req.length == 0) {
        finish(b, 0, NULL, 0);
        return;
    }
    b->buf = bfs_pool_get(&b->eng->pool, b->req.length);
    if (!b->buf) {
        fail(b, ENOMEM);
        return;
    }
    rc = bfs_disk_pin(&b->eng->disk, b->req.ino, 0, &b->file);
    if (rc == -ENOENT)
        read_reply(b); /* no local bytes: all zeros */
    else if (rc < 0)
        fail(b, -rc);
    else
        read_next(b);
}

/* ---- FSYNC ---- */

static void fsync_done(bfs_disk_op_t *op, int res)
{
    bfs_bulk_t *b = bfs_container_of(op, bfs_bulk_t, disk_op);

    finish(b, res < 0 ? -res : 0, NULL, 0);
}

static void fsync_start(bfs_bulk_t *b)
{
    int rc = bfs_disk_pin(&b->eng->disk, b->req.ino, 0, &b->file);

    if (rc == -ENOENT) {
        finish(b, 0, NULL, 0); /* nothing written here, nothing to flush */
        return;
    }
    if (rc == 0) {
        b->disk_op.cb = fsync_done;
        rc = bfs_disk_fsync(&b->eng->disk, &b->disk_op, b->file, b->req.offset == 1);
    }
    if (rc < 0)
        fail(b, -rc);
}

void bfs_bulk_start(bfs_engine_t *eng, bfs_conn_t *conn, const bfs_wire_header_t *h, void *data,
                    int rndv)
{
    bfs_bulk_t *b = calloc(1, sizeof(*b));

    if (!b) {
        bfs_server_reply_error(eng, conn->id, h, ENOMEM);
        return;
    }
    b->eng = eng;
    b->conn_id = conn->id;
    b->req = *h;
    switch (h->opcode) {
    case BFS_OP_WRITE:
        write_start(b, data, rndv);
        break;
    case BFS_OP_READ:
        read_start(b);
        break;
    default:
        fsync_start(b);
        break;
    }
}
