#include "bfs_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs_bulk.h"
#include "bfs_wire.h"

/* A request handed to Python; its handle is the event's req_id. */
typedef struct {
    bfs_net_op_t recv_op;  /* rendezvous body receive */
    bfs_engine_t *eng;
    uint64_t handle;
    uint64_t conn_id;
    bfs_wire_header_t hdr;
    void *body;
    size_t len;
} bfs_preq_t;

/* A reply in flight: header and a copy of the body, freed on completion. */
typedef struct {
    bfs_net_op_t op;
    bfs_wire_header_t hdr;
    char body[];
} bfs_reply_msg_t;

static void reply_sent(bfs_net_op_t *op, ucs_status_t st)
{
    (void)st; /* nothing to retry: a dead peer no longer waits */
    free(op); /* op is the first member */
}

int bfs_server_send_reply(bfs_engine_t *eng, uint64_t conn_id, bfs_wire_header_t *hdr,
                          const void *body, size_t body_len, bfs_net_op_t *op)
{
    bfs_conn_t *c = bfs_net_conn(&eng->net, conn_id);
    uint32_t flags = UCP_AM_SEND_FLAG_REPLY | bfs_net_proto_flag(body_len, eng->cfg.rndv_thresh);

    if (!c || c->state != BFS_CONN_OPEN)
        return -ENOTCONN;
    eng->stats.replies_out++;
    eng->stats.am_sent++;
    hdr->epoch = eng->epoch;
    bfs_net_send(c->ep, BFS_AM_REPLY, hdr, sizeof(*hdr), body, body_len, flags, op);
    return 0;
}

/* Sends status + a copy of body; dropped when the peer is gone. */
static int send_copy(bfs_engine_t *eng, uint64_t conn_id, const bfs_wire_header_t *req,
                     int32_t status, const void *body, size_t body_len)
{
    bfs_reply_msg_t *m = malloc(sizeof(*m) + body_len);

    if (!m)
        return -ENOMEM;
    m->op.cb = reply_sent;
    bfs_wire_init(&m->hdr, BFS_OP_REPLY, req->req_id, status, req->ino, req->offset, body_len);
    if (body_len)
        memcpy(m->body, body, body_len);
    if (bfs_server_send_reply(eng, conn_id, &m->hdr, m->body, body_len, &m->op) < 0)
        free(m);
    return 0;
}

void bfs_server_reply_error(bfs_engine_t *eng, uint64_t conn_id, const bfs_wire_header_t *h,
                            int err)
{
    send_copy(eng, conn_id, h, err, NULL, 0);
}

static void preq_free(bfs_engine_t *eng, bfs_preq_t *p)
{
    bfs_reqtab_remove(&eng->preqs, p->handle);
    free(p->body);
    free(p);
}

static void emit_request(bfs_preq_t *p)
{
    bfs_event_t ev = {
        .kind = BFS_EV_REQUEST,
        .req_id = p->handle,
        .conn = p->conn_id,
        .opcode = p->hdr.opcode,
        .ino = p->hdr.ino,
        .offset = p->hdr.offset,
        .length = p->hdr.length,
        .data = p->body,
        .data_len = p->len,
    };

    bfs_emit(p->eng, &ev);
}

static void preq_received(bfs_net_op_t *op, ucs_status_t st)
{
    bfs_preq_t *p = bfs_container_of(op, bfs_preq_t, recv_op);

    if (st == UCS_OK)
        emit_request(p);
    else
        preq_free(p->eng, p); /* the sender is gone mid-transfer */
}

static bfs_preq_t *preq_new(bfs_engine_t *eng, size_t length)
{
    bfs_preq_t *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->body = length ? malloc(length) : NULL;
    if (length && !p->body) {
        free(p);
        return NULL;
    }
    p->handle = bfs_reqtab_add(&eng->preqs, p);
    if (!p->handle) {
        free(p->body);
        free(p);
        return NULL;
    }
    return p;
}

static void python_request(bfs_engine_t *eng, bfs_conn_t *conn, const bfs_wire_header_t *h,
                           void *data, size_t length, int rndv)
{
    bfs_preq_t *p = preq_new(eng, length);

    if (!p) {
        bfs_server_reply_error(eng, conn->id, h, ENOMEM);
        return;
    }
    p->recv_op.cb = preq_received;
    p->eng = eng;
    p->conn_id = conn->id;
    p->hdr = *h;
    p->len = length;
    if (rndv) {
        bfs_net_recv(&eng->net, data, p->body, length, &p->recv_op);
        return;
    }
    if (length)
        memcpy(p->body, data, length);
    emit_request(p);
}

/* Reports a bad frame; answers it when the header could be trusted. */
static void reject(bfs_engine_t *eng, bfs_conn_t *conn, const bfs_wire_header_t *h, int bad)
{
    bfs_report_malformed(eng, conn ? conn->id : 0, h, bad);
    if (!conn)
        return;
    if (bad == BFS_BAD_OPCODE)
        bfs_server_reply_error(eng, conn->id, h, EPROTO);
    else if (bad == BFS_BAD_LENGTH)
        bfs_server_reply_error(eng, conn->id, h, EINVAL);
}

/* Before its hello succeeded, a connection may send only the hello opcodes,
 * with small bodies: anything else is refused unread (a rendezvous payload is
 * never received, no chunk file is touched) and answered EACCES. */
static int refused_before_hello(bfs_engine_t *eng, const bfs_conn_t *conn,
                                const bfs_wire_header_t *h, size_t length)
{
    if (!eng->cfg.require_auth || conn->authenticated)
        return 0;
    return !((h->opcode == BFS_OP_HELLO || h->opcode == BFS_OP_HELLO_PROVE) &&
             length <= BFS_PREAUTH_MAX_BODY);
}

int bfs_conn_authenticate(bfs_engine_t *eng, uint64_t conn_id)
{
    bfs_conn_t *c = bfs_net_conn(&eng->net, conn_id);

    if (!c || c->state != BFS_CONN_OPEN)
        return -ENOTCONN;
    c->authenticated = 1;
    return 0;
}

/* Returning UCS_OK for a rendezvous frame we did not start receiving makes
 * UCX drop it and complete the sender's send; a started receive keeps the
 * descriptor alive on its own (ucp_am_recv_callback_t docs). */
ucs_status_t bfs_server_on_request(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param)
{
    bfs_engine_t *eng = arg;
    int rndv = !!(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV);
    bfs_conn_t *conn = NULL;
    bfs_wire_header_t h;
    int bad = bfs_wire_check_request(header, header_length, length, &h);

    eng->stats.am_received++;
    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP)
        conn = bfs_net_conn_by_ep(&eng->net, param->reply_ep);
    if (!bad && !conn)
        bad = BFS_BAD_REQ_ID; /* no way to answer it */
    if (bad) {
        reject(eng, conn, &h, bad);
        return UCS_OK;
    }
    if (refused_before_hello(eng, conn, &h, length)) {
        eng->stats.unauthenticated++;
        bfs_server_reply_error(eng, conn->id, &h, EACCES);
        return UCS_OK;
    }
    eng->stats.requests_in++;
    bfs_note_epoch(eng, h.epoch);
    if (h.epoch && eng->epoch && h.epoch < eng->epoch &&
        h.opcode != BFS_OP_HELLO && h.opcode != BFS_OP_HELLO_PROVE) {
        /* Routed by an older view: not run, the client reloads and resends.
         * A hello routes nothing, and a client must finish it to hear any view. */
        bfs_server_reply_error(eng, conn->id, &h, ESTALE);
        return UCS_OK;
    }
    if (h.opcode < BFS_OP_FIRST_PYTHON)
        bfs_bulk_start(eng, conn, &h, data, rndv);
    else
        python_request(eng, conn, &h, data, length, rndv);
    return UCS_OK;
}

int bfs_reply(bfs_engine_t *eng, uint64_t handle, int32_t status, const void *body,
              size_t body_len)
{
    bfs_preq_t *p = bfs_reqtab_get(&eng->preqs, handle);
    int rc;

    if (!p || status < 0)
        return -EINVAL;
    if (body_len > BFS_MAX_BULK_LEN)
        return -EMSGSIZE;
    rc = send_copy(eng, p->conn_id, &p->hdr, status, body, body_len);
    if (rc == 0)
        preq_free(eng, p);
    return rc;
}

void bfs_server_fini(bfs_engine_t *eng)
{
    uint32_t cursor = 0;
    bfs_preq_t *p;

    while ((p = bfs_reqtab_next(&eng->preqs, &cursor)))
        preq_free(eng, p);
    bfs_reqtab_fini(&eng->preqs);
}
