#include "bfs_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds one bfs_net_progress call so disk completions are not starved. */
#define BFS_NET_PROGRESS_MAX 256

int bfs_errno(ucs_status_t status)
{
    if (status >= UCS_ERR_LAST_ENDPOINT_FAILURE && status <= UCS_ERR_FIRST_ENDPOINT_FAILURE)
        return ETIMEDOUT;
    if (status >= UCS_ERR_LAST_LINK_FAILURE && status <= UCS_ERR_FIRST_LINK_FAILURE)
        return ENETDOWN;
    switch (status) {
    case UCS_OK:
    case UCS_INPROGRESS:
        return 0;
    case UCS_ERR_NO_RESOURCE:
    case UCS_ERR_NO_PROGRESS:
        return EAGAIN;
    case UCS_ERR_NO_MEMORY:
        return ENOMEM;
    case UCS_ERR_INVALID_PARAM:
        return EINVAL;
    case UCS_ERR_UNREACHABLE:
        return EHOSTUNREACH;
    case UCS_ERR_INVALID_ADDR:
        return EADDRNOTAVAIL;
    case UCS_ERR_NOT_IMPLEMENTED:
    case UCS_ERR_UNSUPPORTED:
        return ENOTSUP;
    case UCS_ERR_MESSAGE_TRUNCATED:
        return EMSGSIZE;
    case UCS_ERR_BUFFER_TOO_SMALL:
        return ENOBUFS;
    case UCS_ERR_NO_ELEM:
        return ENOENT;
    case UCS_ERR_NO_DEVICE:
        return ENODEV;
    case UCS_ERR_BUSY:
        return EBUSY;
    case UCS_ERR_CANCELED:
        return ECANCELED;
    case UCS_ERR_ALREADY_EXISTS:
        return EEXIST;
    case UCS_ERR_OUT_OF_RANGE:
        return ERANGE;
    case UCS_ERR_TIMED_OUT:
        return ETIMEDOUT;
    case UCS_ERR_EXCEEDS_LIMIT:
        return E2BIG;
    case UCS_ERR_REJECTED:
        return ECONNREFUSED;
    case UCS_ERR_NOT_CONNECTED:
        return ENOTCONN;
    case UCS_ERR_CONNECTION_RESET:
        return ECONNRESET;
    default:
        return EIO;
    }
}

/* UCX starts helper threads (its "async" thread) that inherit the signal
 * mask of the thread creating them. With every signal blocked there, a
 * signal reaches an application thread instead: the ring wait ends with
 * EINTR and Python runs its handler at once (SIGTERM to a server). */
static void block_signals(sigset_t *saved)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, saved);
}

static void restore_signals(const sigset_t *saved)
{
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static int create_worker(bfs_net_t *net)
{
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES,
        .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP,
    };
    ucp_worker_params_t wparams = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE,
    };
    ucp_config_t *config;
    ucs_status_t st;

    /* Reads UCX_* from the environment now (UCX_TLS, UCX_NET_DEVICES). */
    st = ucp_config_read(NULL, NULL, &config);
    if (st != UCS_OK)
        return -bfs_errno(st);
    st = ucp_init(&params, config, &net->ctx);
    ucp_config_release(config);
    if (st != UCS_OK)
        return -bfs_errno(st);
    st = ucp_worker_create(net->ctx, &wparams, &net->worker);
    if (st != UCS_OK)
        return -bfs_errno(st);
    st = ucp_worker_get_efd(net->worker, &net->efd);
    return st == UCS_OK ? 0 : -bfs_errno(st);
}

int bfs_net_init(bfs_net_t *net, int err_mode_peer)
{
    sigset_t saved;
    int rc;

    memset(net, 0, sizeof(*net));
    net->efd = -1;
    net->err_mode_peer = err_mode_peer;
    bfs_reqtab_init(&net->conns);
    bfs_map_init(&net->by_ep);
    bfs_list_init(&net->failed);
    block_signals(&saved);
    rc = create_worker(net);
    restore_signals(&saved);
    return rc;
}

int bfs_net_set_am_handler(bfs_net_t *net, unsigned am_id, ucp_am_recv_callback_t cb, void *arg)
{
    ucp_am_handler_param_t p = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = am_id,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = cb,
        .arg = arg,
    };
    ucs_status_t st = ucp_worker_set_am_recv_handler(net->worker, &p);
    return st == UCS_OK ? 0 : -bfs_errno(st);
}

/* ---- connections ---- */

static bfs_conn_t *conn_new(bfs_net_t *net)
{
    bfs_conn_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->id = bfs_reqtab_add(&net->conns, c);
    if (!c->id) {
        free(c);
        return NULL;
    }
    c->net = net;
    c->state = BFS_CONN_OPEN;
    bfs_list_init(&c->pending);
    bfs_list_init(&c->failed_link);
    return c;
}

static void conn_free(bfs_conn_t *c)
{
    bfs_reqtab_remove(&c->net->conns, c->id);
    free(c);
}

/* Called by UCX from progress: only records the failure (DESIGN.md D4:
 * the loop fails the requests and closes the endpoint outside UCX). */
static void on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    bfs_conn_t *c = arg;

    (void)ep;
    if (c->state != BFS_CONN_OPEN)
        return;
    c->state = BFS_CONN_FAILED;
    c->fail_status = status;
    c->net->failures++;
    bfs_list_push_back(&c->net->failed, &c->failed_link);
}

static void set_err_mode(bfs_net_t *net, bfs_conn_t *c, ucp_ep_params_t *p)
{
    p->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    p->err_mode = net->err_mode_peer ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
    p->err_handler.cb = on_ep_error;
    p->err_handler.arg = c;
}

static int conn_create_ep(bfs_net_t *net, bfs_conn_t *c, ucp_ep_params_t *p)
{
    ucs_status_t st;

    set_err_mode(net, c, p);
    st = ucp_ep_create(net->worker, p, &c->ep);
    if (st != UCS_OK)
        return -bfs_errno(st);
    if (bfs_map_put(&net->by_ep, (uint64_t)(uintptr_t)c->ep, c) != 0) {
        c->state = BFS_CONN_FAILED; /* caller closes it */
        return -ENOMEM;
    }
    return 0;
}

static void on_conn_request(ucp_conn_request_h req, void *arg)
{
    bfs_net_t *net = arg;
    bfs_conn_t *c = conn_new(net);
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST,
        .conn_request = req,
    };

    if (!c) {
        ucp_listener_reject(net->listener, req);
        return;
    }
    if (conn_create_ep(net, c, &p) != 0) {
        if (c->ep)
            bfs_net_close(net, c);
        else
            conn_free(c);
        return;
    }
    net->accepted++;
}

static int resolve(const char *host, uint16_t port, int passive, struct sockaddr_storage *ss,
                   socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    char service[8];
    int rc;

    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_SYSTEM)
        return -errno;
    if (rc != 0)
        return passive ? -EADDRNOTAVAIL : -EHOSTUNREACH;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int bfs_net_listen(bfs_net_t *net, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ucp_listener_params_t p = {
        .field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER,
        .conn_handler = {.cb = on_conn_request, .arg = net},
    };
    ucs_status_t st;
    int rc = resolve(host, port, 1, &ss, &len);

    if (rc < 0)
        return rc;
    p.sockaddr.addr = (const struct sockaddr *)&ss;
    p.sockaddr.addrlen = len;
    st = ucp_listener_create(net->worker, &p, &net->listener);
    if (st == UCS_ERR_BUSY)
        return -EADDRINUSE; /* what UCX says for a port in use */
    return st == UCS_OK ? 0 : -bfs_errno(st);
}

int bfs_net_listen_port(bfs_net_t *net)
{
    ucp_listener_attr_t attr = {.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR};
    ucs_status_t st;

    if (!net->listener)
        return -ENOTSOCK;
    st = ucp_listener_query(net->listener, &attr);
    if (st != UCS_OK)
        return -bfs_errno(st);
    if (attr.sockaddr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&attr.sockaddr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&attr.sockaddr)->sin_port);
}

int bfs_net_connect(bfs_net_t *net, const char *host, uint16_t port, bfs_conn_t **out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR,
        .flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER,
    };
    bfs_conn_t *c;
    int rc = resolve(host, port, 0, &ss, &len);

    if (rc < 0)
        return rc;
    c = conn_new(net);
    if (!c)
        return -ENOMEM;
    p.sockaddr.addr = (const struct sockaddr *)&ss;
    p.sockaddr.addrlen = len;
    rc = conn_create_ep(net, c, &p);
    if (rc < 0) {
        if (c->ep)
            bfs_net_close(net, c);
        else
            conn_free(c);
        return rc;
    }
    net->opened++;
    *out = c;
    return 0;
}

bfs_conn_t *bfs_net_conn(bfs_net_t *net, uint64_t id)
{
    return bfs_reqtab_get(&net->conns, id);
}

bfs_conn_t *bfs_net_conn_by_ep(bfs_net_t *net, ucp_ep_h ep)
{
    return ep ? bfs_map_get(&net->by_ep, (uint64_t)(uintptr_t)ep) : NULL;
}

bfs_conn_t *bfs_net_next_failed(bfs_net_t *net)
{
    bfs_conn_t *c;

    if (bfs_list_empty(&net->failed))
        return NULL;
    c = bfs_container_of(net->failed.next, bfs_conn_t, failed_link);
    bfs_list_remove(&c->failed_link);
    return c;
}

bfs_conn_t *bfs_net_next_conn(bfs_net_t *net, uint32_t *cursor)
{
    return bfs_reqtab_next(&net->conns, cursor);
}

static void close_done(void *request, ucs_status_t status, void *user_data)
{
    bfs_conn_t *c = user_data;

    (void)status; /* the endpoint is released either way */
    ucp_request_free(request);
    c->close_req = NULL;
    c->net->closing--;
    conn_free(c);
}

/* Force close needs peer error handling on both sides (UCX docs); without
 * it the close flushes, which needs a live peer to finish. A failed
 * endpoint has no peer left to confuse and nothing left to flush. */
void bfs_net_close(bfs_net_t *net, bfs_conn_t *c)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .cb.send = close_done,
        .user_data = c,
        .flags = (net->err_mode_peer || c->state == BFS_CONN_FAILED) ? UCP_EP_CLOSE_FLAG_FORCE
                                                                     : 0,
    };
    ucs_status_ptr_t sp;

    if (c->state == BFS_CONN_CLOSING)
        return;
    bfs_list_remove(&c->failed_link);
    bfs_map_remove(&net->by_ep, (uint64_t)(uintptr_t)c->ep);
    c->state = BFS_CONN_CLOSING;
    sp = ucp_ep_close_nbx(c->ep, &p);
    if (UCS_PTR_IS_PTR(sp)) {
        c->close_req = sp;
        net->closing++;
    } else {
        conn_free(c);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bfs_net_wait_closed(bfs_net_t *net, int timeout_ms)
{
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
    const struct timespec pause = {.tv_nsec = 100000};

    while (net->closing && now_ns() < deadline) {
        if (!ucp_worker_progress(net->worker))
            nanosleep(&pause, NULL); /* teardown only: a short nap, no spin */
    }
}

void bfs_net_fini(bfs_net_t *net)
{
    uint32_t cursor = 0;
    unsigned closed = 0;
    bfs_conn_t *c;

    if (net->listener) {
        ucp_listener_destroy(net->listener);
        net->listener = NULL;
    }
    while ((c = bfs_net_next_conn(net, &cursor))) {
        if (c->state != BFS_CONN_CLOSING) {
            bfs_net_close(net, c);
            closed++;
        }
    }
    if (net->worker) {
        if (closed)
            bfs_net_wait_closed(net, BFS_NET_CLOSE_WAIT_MS);
        /* Closes still in flight are released: UCX then completes them
         * internally without calling back, and the worker may go. */
        cursor = 0;
        while ((c = bfs_net_next_conn(net, &cursor))) {
            if (c->close_req) {
                ucp_request_free(c->close_req);
                c->close_req = NULL;
            }
        }
        ucp_worker_destroy(net->worker);
        net->worker = NULL;
    }
    if (net->ctx) {
        ucp_cleanup(net->ctx);
        net->ctx = NULL;
    }
    /* Closes that never finished: UCX is gone, so free what is left. */
    cursor = 0;
    while ((c = bfs_net_next_conn(net, &cursor)))
        conn_free(c);
    bfs_reqtab_fini(&net->conns);
    bfs_map_fini(&net->by_ep);
}

/* ---- progress and data movement ---- */

unsigned bfs_net_progress(bfs_net_t *net)
{
    unsigned total = 0, n;

    do {
        n = ucp_worker_progress(net->worker);
        total += n;
    } while (n && total < BFS_NET_PROGRESS_MAX);
    return total;
}

int bfs_net_arm(bfs_net_t *net)
{
    ucs_status_t st = ucp_worker_arm(net->worker);

    if (st == UCS_ERR_BUSY)
        return 1;
    return st == UCS_OK ? 0 : -bfs_errno(st);
}

static void send_done(void *request, ucs_status_t status, void *user_data)
{
    bfs_net_op_t *op = user_data;

    ucp_request_free(request);
    op->cb(op, status);
}

void bfs_net_send(ucp_ep_h ep, unsigned am_id, const void *hdr, size_t hdr_len,
                  const void *body, size_t body_len, uint32_t flags, bfs_net_op_t *op)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .cb.send = send_done,
        .user_data = op,
        .flags = flags,
    };
    ucs_status_ptr_t sp = ucp_am_send_nbx(ep, am_id, hdr, hdr_len, body, body_len, &p);

    if (!UCS_PTR_IS_PTR(sp))
        op->cb(op, UCS_PTR_STATUS(sp));
}

static void recv_done(void *request, ucs_status_t status, size_t length, void *user_data)
{
    bfs_net_op_t *op = user_data;

    (void)length; /* the AM callback already told the full length */
    ucp_request_free(request);
    op->cb(op, status);
}

void bfs_net_recv(bfs_net_t *net, void *desc, void *buf, size_t len, bfs_net_op_t *op)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.recv_am = recv_done,
        .user_data = op,
    };
    ucs_status_ptr_t sp = ucp_am_recv_data_nbx(net->worker, desc, buf, len, &p);

    if (!UCS_PTR_IS_PTR(sp))
        op->cb(op, UCS_PTR_STATUS(sp));
}

uint32_t bfs_net_proto_flag(size_t len, size_t rndv_thresh)
{
    return len <= rndv_thresh ? UCP_AM_SEND_FLAG_EAGER : UCP_AM_SEND_FLAG_RNDV;
}
