#include "bfs_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs_wire.h"

typedef struct bfs_creq {
    bfs_wire_header_t hdr;  /* AM header: UCX 1.13 has no COPY_HEADER, so it
                               lives here until the send completes */
    bfs_net_op_t send_op;
    bfs_net_op_t recv_op;
    bfs_engine_t *eng;
    uint64_t conn_id;
    bfs_list_t link;        /* in conn->pending until answered or failed */
    unsigned ops;           /* UCX operations in flight (send, payload receive) */
    int answered;           /* reply header arrived, or the request failed */
    int32_t status;
    void *recv_buf;
    size_t recv_cap;
    void *data;             /* engine-owned payload, handed over in the event */
    size_t len;             /* payload bytes delivered */
} bfs_creq_t;

static void creq_complete_if_done(bfs_creq_t *r)
{
    bfs_engine_t *eng = r->eng;
    bfs_event_t ev;

    if (r->ops || !r->answered)
        return;
    ev = (bfs_event_t){
        .kind = BFS_EV_REPLY,
        .status = r->status,
        .req_id = r->hdr.req_id,
        .conn = r->conn_id,
        .opcode = r->hdr.opcode,
        .ino = r->hdr.ino,
        .offset = r->hdr.offset,
        .length = r->len,
        .data = r->data,
        .data_len = r->data ? r->len : 0,
    };
    bfs_list_remove(&r->link);
    bfs_reqtab_remove(&eng->creqs, r->hdr.req_id);
    free(r);
    bfs_emit(eng, &ev);
}

/* A failure wins over nothing, but not over a reply that already arrived. */
static void creq_fail(bfs_creq_t *r, int err)
{
    if (r->answered)
        return;
    r->answered = 1;
    r->status = err;
}

static void creq_drop_payload(bfs_creq_t *r, int err)
{
    free(r->data);
    r->data = NULL;
    r->len = 0;
    r->status = err;
}

static void creq_received(bfs_net_op_t *op, ucs_status_t st);

static void creq_sent(bfs_net_op_t *op, ucs_status_t st)
{
    bfs_creq_t *r = bfs_container_of(op, bfs_creq_t, send_op);

    r->ops--;
    if (st != UCS_OK)
        creq_fail(r, bfs_errno(st));
    creq_complete_if_done(r);
}

static uint32_t send_flags(bfs_engine_t *eng, size_t body_len)
{
    /* REPLY lets the receiver name the sender's connection. */
    return UCP_AM_SEND_FLAG_REPLY | bfs_net_proto_flag(body_len, eng->cfg.rndv_thresh);
}

int bfs_send(bfs_engine_t *eng, uint64_t conn_id, uint32_t opcode, uint64_t ino,
             uint64_t offset, uint64_t length, const void *body, size_t body_len,
             void *recv_buf, size_t recv_cap, uint64_t *req_id_out)
{
    bfs_conn_t *conn = bfs_net_conn(&eng->net, conn_id);
    bfs_creq_t *r;
    uint64_t id;

    if (!conn || conn->state != BFS_CONN_OPEN)
        return -ENOTCONN;
    if (!bfs_wire_is_request_opcode(opcode) || (opcode == BFS_OP_WRITE && length != body_len))
        return -EINVAL;
    if (body_len > BFS_MAX_BULK_LEN)
        return -EMSGSIZE;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    id = bfs_reqtab_add(&eng->creqs, r);
    if (!id) {
        free(r);
        return -ENOMEM;
    }
    bfs_wire_init(&r->hdr, (uint16_t)opcode, id, 0, ino, offset, length);
    r->hdr.epoch = eng->epoch;
    r->send_op.cb = creq_sent;
    r->recv_op.cb = creq_received;
    r->eng = eng;
    r->conn_id = conn_id;
    r->recv_buf = recv_buf;
    r->recv_cap = recv_buf ? recv_cap : 0;
    r->ops = 1;
    bfs_list_push_back(&conn->pending, &r->link);
    *req_id_out = id;
    eng->stats.am_sent++;
    /* May complete (and free r) before returning. */
    bfs_net_send(conn->ep, BFS_AM_REQUEST, &r->hdr, sizeof(r->hdr), body, body_len,
                 send_flags(eng, body_len), &r->send_op);
    return 0;
}

/* ---- raw frames (tests of malformed input) ---- */

typedef struct {
    bfs_net_op_t op;
    char bytes[]; /* header, then body */
} bfs_raw_t;

static void raw_sent(bfs_net_op_t *op, ucs_status_t st)
{
    (void)st;
    free(op); /* op is the first member */
}

int bfs_send_raw(bfs_engine_t *eng, uint64_t conn_id, const void *header, size_t header_len,
                 const void *body, size_t body_len)
{
    bfs_conn_t *conn = bfs_net_conn(&eng->net, conn_id);
    bfs_raw_t *raw;

    if (!conn || conn->state != BFS_CONN_OPEN)
        return -ENOTCONN;
    raw = malloc(sizeof(*raw) + header_len + body_len);
    if (!raw)
        return -ENOMEM;
    raw->op.cb = raw_sent;
    eng->stats.am_sent++;
    if (header_len)
        memcpy(raw->bytes, header, header_len);
    if (body_len)
        memcpy(raw->bytes + header_len, body, body_len);
    bfs_net_send(conn->ep, BFS_AM_REQUEST, raw->bytes, header_len, raw->bytes + header_len,
                 body_len, send_flags(eng, body_len), &raw->op);
    return 0;
}

/* ---- replies ---- */

static void copy_eager(bfs_creq_t *r, const void *data, size_t length)
{
    if (r->recv_buf) {
        r->len = length < r->recv_cap ? length : r->recv_cap;
        memcpy(r->recv_buf, data, r->len);
        return;
    }
    r->data = malloc(length);
    if (!r->data) {
        creq_drop_payload(r, ENOMEM);
        return;
    }
    memcpy(r->data, data, length);
    r->len = length;
}

/* A payload larger than recv_buf (a peer bug) lands in a bounce buffer and
 * is truncated here, because a rendezvous receive cannot be shortened. */
static void creq_received(bfs_net_op_t *op, ucs_status_t st)
{
    bfs_creq_t *r = bfs_container_of(op, bfs_creq_t, recv_op);

    r->ops--;
    if (st != UCS_OK) {
        creq_drop_payload(r, bfs_errno(st));
    } else if (r->recv_buf && r->data) {
        memcpy(r->recv_buf, r->data, r->recv_cap);
        free(r->data);
        r->data = NULL;
        r->len = r->recv_cap;
    }
    creq_complete_if_done(r);
}

static void receive_rndv(bfs_creq_t *r, void *desc, size_t length)
{
    void *dst = r->recv_buf;

    if (!r->recv_buf || length > r->recv_cap) {
        dst = r->data = malloc(length);
        if (!dst) {
            creq_drop_payload(r, ENOMEM); /* UCX drops desc: we return UCS_OK */
            creq_complete_if_done(r);
            return;
        }
    }
    r->len = length;
    r->ops++;
    /* creq_received completes r, possibly before this returns. */
    bfs_net_recv(&r->eng->net, desc, dst, length, &r->recv_op);
}

static uint64_t sender_conn(bfs_engine_t *eng, const ucp_am_recv_param_t *param)
{
    bfs_conn_t *c = NULL;

    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP)
        c = bfs_net_conn_by_ep(&eng->net, param->reply_ep);
    return c ? c->id : 0;
}

/* Returning UCS_OK also for rendezvous frames is deliberate: when no
 * receive was started UCX drops the descriptor and completes the sender's
 * send (ucp_am_recv_callback_t docs), which is what an unwanted reply needs. */
ucs_status_t bfs_client_on_reply(void *arg, const void *header, size_t header_length,
                                 void *data, size_t length, const ucp_am_recv_param_t *param)
{
    bfs_engine_t *eng = arg;
    uint64_t conn = sender_conn(eng, param);
    bfs_wire_header_t h;
    bfs_creq_t *r;
    int bad = bfs_wire_check_reply(header, header_length, length, &h);

    eng->stats.am_received++;
    if (bad) {
        bfs_report_malformed(eng, conn, &h, bad);
        return UCS_OK;
    }
    bfs_note_epoch(eng, h.epoch);
    r = bfs_reqtab_get(&eng->creqs, h.req_id);
    if (!r || r->answered)
        return UCS_OK; /* late reply to a failed request */
    if (r->conn_id != conn) {
        /* A reply from a peer we did not ask. */
        bfs_report_malformed(eng, conn, &h, BFS_BAD_REQ_ID);
        return UCS_OK;
    }
    r->answered = 1;
    r->status = h.status;
    if (!length) {
        r->len = h.length; /* a count without payload, e.g. bytes written */
        creq_complete_if_done(r);
    } else if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        receive_rndv(r, data, length);
    } else {
        copy_eager(r, data, length);
        creq_complete_if_done(r);
    }
    return UCS_OK;
}

void bfs_client_fail_conn(bfs_conn_t *conn, int err)
{
    while (!bfs_list_empty(&conn->pending)) {
        bfs_creq_t *r = bfs_container_of(conn->pending.next, bfs_creq_t, link);

        /* Detached now; UCX operations still in flight finish it later. */
        bfs_list_remove(&r->link);
        creq_fail(r, err);
        creq_complete_if_done(r);
    }
}

void bfs_client_fini(bfs_engine_t *eng)
{
    uint32_t cursor = 0;
    bfs_creq_t *r;

    while ((r = bfs_reqtab_next(&eng->creqs, &cursor))) {
        free(r->data);
        free(r);
    }
    bfs_reqtab_fini(&eng->creqs);
}

int bfs_disconnect(bfs_engine_t *eng, uint64_t conn_id)
{
    bfs_conn_t *conn = bfs_net_conn(&eng->net, conn_id);

    if (!conn)
        return -ENOTCONN;
    bfs_client_fail_conn(conn, ENOTCONN);
    bfs_net_close(&eng->net, conn);
    return 0;
}

int bfs_connect(bfs_engine_t *eng, const char *host, uint16_t port, uint64_t *conn_out)
{
    bfs_conn_t *conn;
    int rc = bfs_net_connect(&eng->net, host, port, &conn);

    if (rc == 0)
        *conn_out = conn->id;
    return rc;
}
