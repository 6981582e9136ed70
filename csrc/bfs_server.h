/*
 * Server side: validates every request frame, runs the bulk opcodes in C
 * (bfs_bulk.c) and hands the others to Python as REQUEST events, answered
 * with bfs_reply (bfs_engine.h), which lives here.
 *
 * A frame whose header is readable (right size, magic and version) but whose
 * opcode or lengths are wrong is answered with EPROTO (bad opcode) or EINVAL
 * (bad lengths), so the peer does not wait for its deadline. Anything worse
 * is dropped. Both are reported as MALFORMED events.
 */
#ifndef BFS_SERVER_H
#define BFS_SERVER_H

#include "bfs_engine.h"

/* AM handler for BFS_AM_REQUEST. */
ucs_status_t bfs_server_on_request(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param);

/* Sends a reply on conn_id, stamped with our epoch. hdr and body must stay valid until op->cb runs.
 * Returns -ENOTCONN, without calling op->cb, when the peer is gone. */
int bfs_server_send_reply(bfs_engine_t *eng, uint64_t conn_id, bfs_wire_header_t *hdr,
                          const void *body, size_t body_len, bfs_net_op_t *op);
/* Best-effort error reply to request h (a copy is kept as needed). */
void bfs_server_reply_error(bfs_engine_t *eng, uint64_t conn_id, const bfs_wire_header_t *h,
                            int err);
/* Frees requests Python never answered (engine teardown). */
void bfs_server_fini(bfs_engine_t *eng);

#endif
