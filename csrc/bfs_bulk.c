#include "bfs_bulk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs_direct.h"
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
    uint64_t start_ns;       /* arrival, for the latency histogram */
    /* What moves to or from disk: span_len bytes at file offset span_start,
     * in buf. Buffered, that is the request's range; O_DIRECT, the blocks
     * that cover it, with the request's bytes at req.offset - span_start. */
    char *buf;               /* pool buffer of span_len bytes, or NULL */
    uint64_t span_start;
    size_t span_len;
    size_t done;             /* bytes of the span transferred so far */
    bfs_span_write_t claim;  /* O_DIRECT WRITE: its span and edge reads */
    int claimed;             /* claim is in its file's queue */
} bfs_bulk_t;

static int direct(const bfs_bulk_t *b)
{
    return b->eng->disk.o_direct;
}

static size_t pad(const bfs_bulk_t *b)
{
    return (size_t)(b->req.offset - b->span_start);
}

/* Takes the buffer for the span of the request; 0 or ENOMEM. */
static int get_span_buf(bfs_bulk_t *b)
{
    uint64_t end = b->req.offset + b->req.length;

    b->span_start = direct(b) ? bfs_block_down(b->req.offset) : b->req.offset;
    b->span_len = (size_t)((direct(b) ? bfs_block_up(end) : end) - b->span_start);
    b->buf = bfs_pool_get(&b->eng->pool, b->span_len);
    return b->buf ? 0 : ENOMEM;
}

/* A short transfer goes on from where it stopped, except an O_DIRECT one
 * that stopped off a block boundary: the kernel would refuse the rest. */
static int resumable(const bfs_bulk_t *b)
{
    return !direct(b) || b->done % BFS_DIRECT_BLOCK == 0;
}

static void bulk_free(bfs_bulk_t *b)
{
    if (b->file)
        bfs_disk_unpin(&b->eng->disk, b->file);
    bfs_pool_put(&b->eng->pool, b->buf, b->span_len);
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

    if (b->claimed) {
        bfs_span_write_end(&b->claim);
        b->claimed = 0;
    }
    if (b->file) {
        bfs_disk_unpin(&eng->disk, b->file);
        b->file = NULL;
    }
    bfs_wire_init(&b->reply, BFS_OP_REPLY, b->req.req_id, status, b->req.ino, b->req.offset,
                  len);
    bfs_count_bulk(eng, b->req.opcode, status, len, bfs_clock_ns() - b->start_ns);
    b->net_op.cb = reply_sent;
    if (bfs_server_send_reply(eng, b->conn_id, &b->reply, payload, payload ? len : 0,
                              &b->net_op) < 0)
        bulk_free(b); /* the peer is gone: nobody to answer */
}

static void fail(bfs_bulk_t *b, int err)
{
    finish(b, err, NULL, 0);
}

/* Submits what is left of the span: all of it, or the rest after a short transfer. */
static void span_next(bfs_bulk_t *b, bfs_disk_cb_t done, int writing)
{
    int rc;

    b->disk_op.cb = done;
    if (writing)
        rc = bfs_disk_write(&b->eng->disk, &b->disk_op, b->file, b->buf + b->done,
                            b->span_len - b->done, b->span_start + b->done);
    else
        rc = bfs_disk_read(&b->eng->disk, &b->disk_op, b->file, b->buf + b->done,
                           b->span_len - b->done, b->span_start + b->done);
    if (rc < 0)
        fail(b, -rc);
}

/* ---- WRITE ---- */

static void write_done(bfs_disk_op_t *op, int res);

static void write_next(bfs_bulk_t *b)
{
    span_next(b, write_done, 1);
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
    if (b->done == b->span_len) {
        b->eng->stats.bulk_bytes_written += b->req.length;
        finish(b, 0, NULL, b->req.length);
    } else if (resumable(b)) {
        write_next(b);
    } else {
        fail(b, EIO);
    }
}

static void span_ready(bfs_span_write_t *claim, int err)
{
    bfs_bulk_t *b = bfs_container_of(claim, bfs_bulk_t, claim);

    if (err)
        fail(b, err);
    else
        write_next(b);
}

static void write_to_disk(bfs_bulk_t *b)
{
    int rc = bfs_disk_pin(&b->eng->disk, b->req.ino, 1, &b->file);

    if (rc < 0) {
        fail(b, -rc);
    } else if (direct(b)) {
        b->claimed = 1;
        bfs_span_write_begin(&b->claim, &b->eng->disk, b->file, b->req.offset, b->req.length,
                             b->buf, span_ready);
    } else {
        write_next(b);
    }
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
    if (get_span_buf(b) != 0) {
        fail(b, ENOMEM);
        return;
    }
    if (rndv) {
        b->net_op.cb = write_received;
        bfs_net_recv(&b->eng->net, data, b->buf + pad(b), b->req.length, &b->net_op);
        return;
    }
    memcpy(b->buf + pad(b), data, b->req.length);
    write_to_disk(b);
}

/* ---- READ ---- */

static void read_reply(bfs_bulk_t *b)
{
    memset(b->buf + b->done, 0, b->span_len - b->done); /* past local EOF */
    b->eng->stats.bulk_bytes_read += b->req.length;
    finish(b, 0, b->buf + pad(b), b->req.length);
}

static void read_done(bfs_disk_op_t *op, int res);

static void read_next(bfs_bulk_t *b)
{
    span_next(b, read_done, 0);
}

/* 0 bytes means end of file. A short O_DIRECT read off a block boundary
 * has reached it too: only the end of file cuts one there. */
static void read_done(bfs_disk_op_t *op, int res)
{
    bfs_bulk_t *b = bfs_container_of(op, bfs_bulk_t, disk_op);

    if (res < 0) {
        fail(b, -res);
        return;
    }
    b->done += (size_t)res;
    if (res > 0 && b->done < b->span_len && resumable(b))
        read_next(b);
    else
        read_reply(b);
}

static void read_start(bfs_bulk_t *b)
{
    int rc;

    if (b->req.length == 0) {
        finish(b, 0, NULL, 0);
        return;
    }
    if (get_span_buf(b) != 0) {
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
    b->start_ns = bfs_clock_ns();
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
