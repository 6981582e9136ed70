/*
 * Network side of the loop: one UCX context and worker (AM + WAKEUP, single
 * thread), an optional listener, and the connections (UCX endpoints).
 *
 * A connection that fails (peer died, connect refused) is never freed inside
 * the UCX error callback: it is queued on `failed`, and the engine loop fails
 * its requests, reports it and closes its endpoint (bfs_net_next_failed).
 */
#ifndef BFS_NET_H
#define BFS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <ucp/api/ucp.h>

#include "bfs_list.h"
#include "bfs_map.h"
#include "bfs_reqtab.h"

typedef enum {
    BFS_CONN_OPEN,
    BFS_CONN_FAILED,  /* error callback fired; waiting for the loop */
    BFS_CONN_CLOSING  /* endpoint close in progress; freed when it ends */
} bfs_conn_state_t;

struct bfs_net;

typedef struct bfs_conn {
    uint64_t id;            /* handle-table id, given to Python */
    ucp_ep_h ep;
    struct bfs_net *net;
    bfs_conn_state_t state;
    ucs_status_t fail_status;
    bfs_list_t pending;     /* client requests waiting on this connection */
    bfs_list_t failed_link; /* on net->failed while FAILED */
    void *close_req;        /* the endpoint close in progress, while CLOSING */
    int authenticated;      /* the peer proved the cluster secret (require_auth) */
} bfs_conn_t;

typedef struct bfs_net {
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_listener_h listener;
    int efd;
    int err_mode_peer;
    bfs_reqtab_t conns;     /* id -> bfs_conn_t */
    bfs_map_t by_ep;        /* ucp_ep_h -> bfs_conn_t, to name a request's peer */
    bfs_list_t failed;
    unsigned closing;       /* connections in BFS_CONN_CLOSING */
    uint64_t accepted, opened, failures; /* endpoints, for metrics */
} bfs_net_t;

/* Completion of a send or rendezvous receive. Embedded in the object that
 * waits; its callback runs exactly once, possibly before the starting call
 * returns (when UCX finished the operation at once). */
typedef struct bfs_net_op bfs_net_op_t;
typedef void (*bfs_net_cb_t)(bfs_net_op_t *op, ucs_status_t status);
struct bfs_net_op {
    bfs_net_cb_t cb;
};

int bfs_net_init(bfs_net_t *net, int err_mode_peer);
/* Closes every endpoint (bounded wait) and tears UCX down. */
void bfs_net_fini(bfs_net_t *net);
int bfs_net_listen(bfs_net_t *net, const char *host, uint16_t port);
int bfs_net_listen_port(bfs_net_t *net);
int bfs_net_set_am_handler(bfs_net_t *net, unsigned am_id, ucp_am_recv_callback_t cb,
                           void *arg);

int bfs_net_connect(bfs_net_t *net, const char *host, uint16_t port, bfs_conn_t **out);
bfs_conn_t *bfs_net_conn(bfs_net_t *net, uint64_t id);
bfs_conn_t *bfs_net_conn_by_ep(bfs_net_t *net, ucp_ep_h ep);
/* Pops a connection whose endpoint failed, or NULL. */
bfs_conn_t *bfs_net_next_failed(bfs_net_t *net);
/* Starts closing the endpoint; the connection is freed when that ends. */
void bfs_net_close(bfs_net_t *net, bfs_conn_t *conn);
/* Next connection at or after *cursor (start at 0), for teardown. */
bfs_conn_t *bfs_net_next_conn(bfs_net_t *net, uint32_t *cursor);
/* A flush close needs the peer to answer; a peer that is idle (not in its own
 * loop) never does. Teardown gives closes this long, then lets go of them. */
#define BFS_NET_CLOSE_WAIT_MS 200

/* Waits (progressing, at most timeout_ms) until no close is in progress. */
void bfs_net_wait_closed(bfs_net_t *net, int timeout_ms);

/* Progresses the worker until it is idle; returns the number of events. */
unsigned bfs_net_progress(bfs_net_t *net);
/* Arms the event fd: 0 armed, 1 busy (progress again), or negative errno. */
int bfs_net_arm(bfs_net_t *net);

/* Sends one AM. hdr and body must stay valid until op->cb runs. */
void bfs_net_send(ucp_ep_h ep, unsigned am_id, const void *hdr, size_t hdr_len,
                  const void *body, size_t body_len, uint32_t flags, bfs_net_op_t *op);
/* Receives a rendezvous AM payload (desc from the AM callback) into buf. */
void bfs_net_recv(bfs_net_t *net, void *desc, void *buf, size_t len, bfs_net_op_t *op);
/* EAGER or RNDV send flag for a payload of len bytes. */
uint32_t bfs_net_proto_flag(size_t len, size_t rndv_thresh);

/* The one place that maps UCX status codes to errno values. */
int bfs_errno(ucs_status_t status);

#endif
