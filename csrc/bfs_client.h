/*
 * Client side: requests we send and the replies that answer them.
 * bfs_send, bfs_send_raw and bfs_disconnect (bfs_engine.h) live here.
 *
 * A request's REPLY event is emitted once both its send completed and its
 * reply payload fully arrived (or it failed), so the caller may free the
 * body and receive buffers exactly when it sees the event.
 */
#ifndef BFS_CLIENT_H
#define BFS_CLIENT_H

#include "bfs_engine.h"

/* AM handler for BFS_AM_REPLY. */
ucs_status_t bfs_client_on_reply(void *arg, const void *header, size_t header_length,
                                 void *data, size_t length, const ucp_am_recv_param_t *param);
/* Fails every request waiting on conn with err (a positive errno). */
void bfs_client_fail_conn(bfs_conn_t *conn, int err);
/* Frees requests left after UCX is gone (engine teardown). */
void bfs_client_fini(bfs_engine_t *eng);

#endif
