/*
 * The engine object and its one loop (DESIGN.md D1): progress UCX and
 * io_uring, spin briefly, then arm the UCX worker and sleep in one ring wait
 * that also carries a POLL_ADD on the worker's event fd.
 */
#include "bfs_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "bfs_client.h"
#include "bfs_server.h"
#include "bfs_wire.h"

#define NO_DEADLINE UINT64_MAX

void bfs_config_default(bfs_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->spin_us = 20;
    cfg->rndv_thresh = 32768;
    cfg->ring_entries = 256;
    cfg->pool_buf_size = 4u << 20;
    cfg->pool_bufs = 8;
    cfg->err_mode_peer = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- event queue ---- */

static int evq_grow(bfs_evq_t *q)
{
    size_t cap = q->cap ? q->cap * 2 : 256;
    bfs_event_t *ev = malloc(cap * sizeof(*ev));

    if (!ev)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        ev[i] = q->ev[(q->head + i) % q->cap];
    free(q->ev);
    q->ev = ev;
    q->cap = cap;
    q->head = 0;
    return 0;
}

void bfs_emit(bfs_engine_t *eng, const bfs_event_t *ev)
{
    bfs_evq_t *q = &eng->evq;

    if (q->len == q->cap && evq_grow(q) != 0) {
        if (ev->kind == BFS_EV_REPLY)
            free(ev->data);
        return;
    }
    q->ev[(q->head + q->len) % q->cap] = *ev;
    q->len++;
}

static int evq_drain(bfs_evq_t *q, bfs_event_t *out, int max)
{
    int n = 0;

    while (q->len && n < max) {
        out[n++] = q->ev[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    return n;
}

/* Takes the REPLY event of req_id out of the queue, keeping the others in order. */
static int evq_take_reply(bfs_evq_t *q, uint64_t req_id, bfs_event_t *out)
{
    for (size_t i = 0; i < q->len; i++) {
        bfs_event_t *ev = &q->ev[(q->head + i) % q->cap];

        if (ev->kind != BFS_EV_REPLY || ev->req_id != req_id)
            continue;
        *out = *ev;
        for (size_t j = i; j > 0; j--)
            q->ev[(q->head + j) % q->cap] = q->ev[(q->head + j - 1) % q->cap];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        return 1;
    }
    return 0;
}

/* REQUEST data belongs to its pending request and is freed with it. */
static void evq_fini(bfs_evq_t *q)
{
    bfs_event_t ev;

    while (evq_drain(q, &ev, 1))
        if (ev.kind == BFS_EV_REPLY)
            free(ev.data);
    free(q->ev);
    memset(q, 0, sizeof(*q));
}

void bfs_report_malformed(bfs_engine_t *eng, uint64_t conn, const bfs_wire_header_t *h, int bad)
{
    bfs_event_t ev = {
        .kind = BFS_EV_MALFORMED,
        .status = bad,
        .req_id = h->req_id,
        .conn = conn,
        .opcode = h->opcode,
        .ino = h->ino,
        .offset = h->offset,
        .length = h->length,
    };

    eng->stats.malformed++;
    bfs_emit(eng, &ev);
}

/* ---- lifecycle ---- */

/* The disk goes first: its teardown, unlike the others', needs its init. */
static int engine_init(bfs_engine_t *eng, const bfs_config_t *cfg)
{
    int rc;

    eng->cfg = *cfg;
    /* The strings are used only here: the engine keeps no pointer to them. */
    eng->cfg.listen_host = NULL;
    eng->cfg.data_dir = NULL;
    rc = bfs_disk_init(&eng->disk, cfg->data_dir, cfg->ring_entries, cfg->o_direct,
                       cfg->direct_min);
    if (!rc)
        rc = bfs_pool_init(&eng->pool, cfg->pool_buf_size, cfg->pool_bufs);
    if (!rc)
        rc = bfs_net_init(&eng->net, cfg->err_mode_peer);
    if (!rc)
        rc = bfs_net_set_am_handler(&eng->net, BFS_AM_REQUEST, bfs_server_on_request, eng);
    if (!rc)
        rc = bfs_net_set_am_handler(&eng->net, BFS_AM_REPLY, bfs_client_on_reply, eng);
    if (!rc && cfg->listen_host)
        rc = bfs_net_listen(&eng->net, cfg->listen_host, cfg->listen_port);
    return rc;
}

int bfs_engine_create(const bfs_config_t *cfg, bfs_engine_t **out)
{
    bfs_engine_t *eng = calloc(1, sizeof(*eng));
    int rc;

    if (!eng)
        return -ENOMEM;
    rc = engine_init(eng, cfg);
    if (rc < 0) {
        bfs_engine_destroy(eng);
        return rc;
    }
    *out = eng;
    return 0;
}

/* Order matters: requests are failed and endpoints closed while UCX still
 * runs callbacks; the disk drains while replies can still be attempted; only
 * then do UCX and the objects its callbacks pointed at go away. */
void bfs_engine_destroy(bfs_engine_t *eng)
{
    uint32_t cursor = 0;
    bfs_conn_t *c;

    if (!eng)
        return;
    if (eng->net.worker) {
        while ((c = bfs_net_next_conn(&eng->net, &cursor))) {
            bfs_client_fail_conn(c, ESHUTDOWN);
            bfs_net_close(&eng->net, c);
        }
        bfs_net_wait_closed(&eng->net, BFS_NET_CLOSE_WAIT_MS);
    }
    bfs_disk_fini(&eng->disk);
    bfs_net_fini(&eng->net);
    bfs_client_fini(eng);
    bfs_server_fini(eng);
    evq_fini(&eng->evq);
    bfs_pool_fini(&eng->pool);
    free(eng);
}

int bfs_listen_port(bfs_engine_t *eng)
{
    return bfs_net_listen_port(&eng->net);
}

/* ---- the loop ---- */

/* Fails the requests of connections whose endpoint died, reports them and
 * closes the endpoints, outside any UCX callback. */
static void reap_failed_conns(bfs_engine_t *eng)
{
    bfs_conn_t *c;

    while ((c = bfs_net_next_failed(&eng->net))) {
        int err = bfs_errno(c->fail_status);
        bfs_event_t ev = {.kind = BFS_EV_CONN_ERROR, .status = err, .conn = c->id};

        bfs_client_fail_conn(c, err);
        bfs_emit(eng, &ev);
        bfs_net_close(&eng->net, c);
    }
}

/* One non-blocking pass over both event sources. Disk completions send
 * replies, so UCX is progressed again after them; SQEs queued by either
 * side go to the kernel in one submit. */
static void poll_once(bfs_engine_t *eng)
{
    bfs_net_progress(&eng->net);
    if (bfs_disk_reap(&eng->disk))
        bfs_net_progress(&eng->net);
    reap_failed_conns(eng);
    bfs_disk_submit(&eng->disk);
}

/* Between two polls of a spin: hand the core to another runnable process, if
 * any. On a machine with more busy processes than cores (a client and servers
 * on two cores), a plain spin burns the slice the peer needs to answer. */
static void spin_pause(void)
{
    sched_yield();
}

/* Bounded busy-poll: cheap latency for a reply that is about to arrive. */
static void spin(bfs_engine_t *eng, uint64_t deadline)
{
    uint64_t end = now_ns() + (uint64_t)eng->cfg.spin_us * 1000u;

    if (end > deadline)
        end = deadline;
    while (!eng->evq.len && now_ns() < end) {
        poll_once(eng);
        spin_pause();
    }
}

/* Returns 1 when woken (or UCX was busy), 0 on timeout, or a negative errno. */
static int sleep_once(bfs_engine_t *eng, uint64_t deadline)
{
    int64_t timeout = -1;
    uint64_t now;
    int rc = bfs_net_arm(&eng->net);

    if (rc != 0)
        return rc;
    rc = bfs_disk_arm_poll(&eng->disk, eng->net.efd);
    if (rc < 0)
        return rc;
    if (deadline != NO_DEADLINE) {
        now = now_ns();
        timeout = deadline > now ? (int64_t)(deadline - now) : 0;
    }
    eng->stats.sleeps++;
    rc = bfs_disk_wait(&eng->disk, timeout);
    if (rc > 0)
        eng->stats.wakeups++;
    return rc;
}

int bfs_progress(bfs_engine_t *eng, int timeout_ms, bfs_event_t *events, int max_events)
{
    uint64_t deadline = timeout_ms < 0 ? NO_DEADLINE : now_ns() + (uint64_t)timeout_ms * 1000000u;
    int rc;

    if (max_events <= 0)
        return -EINVAL;
    for (;;) {
        poll_once(eng);
        if (eng->evq.len || timeout_ms == 0 || now_ns() >= deadline)
            break;
        spin(eng, deadline);
        if (eng->evq.len)
            break;
        rc = sleep_once(eng, deadline);
        if (rc == -EINTR)
            return 0; /* let Python run its signal handlers */
        if (rc < 0)
            return rc;
    }
    return evq_drain(&eng->evq, events, max_events);
}

/* The loop of bfs_progress, run until one reply instead of any event. */
int bfs_call(bfs_engine_t *eng, uint64_t conn, uint32_t opcode, uint64_t ino, uint64_t offset,
             uint64_t length, const void *body, size_t body_len, void *recv_buf,
             size_t recv_cap, int timeout_ms, bfs_call_result_t *out)
{
    uint64_t deadline = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
    uint64_t spin_end;
    bfs_event_t ev;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = bfs_send(eng, conn, opcode, ino, offset, length, body, body_len, recv_buf, recv_cap,
                  &out->req_id);
    if (rc < 0)
        return rc;
    spin_end = now_ns() + (uint64_t)eng->cfg.spin_us * 1000u;
    for (;;) {
        poll_once(eng);
        if (evq_take_reply(&eng->evq, out->req_id, &ev))
            break;
        if (now_ns() >= deadline) {
            out->events_pending = (uint32_t)eng->evq.len;
            return -ETIMEDOUT;
        }
        if (now_ns() < spin_end) {
            spin_pause();
            continue;
        }
        rc = sleep_once(eng, deadline);
        if (rc < 0) {
            /* EINTR: a signal, whose Python handler must run now; the caller
             * waits for the reply through bfs_progress afterwards. */
            out->events_pending = (uint32_t)eng->evq.len;
            return rc;
        }
    }
    out->status = ev.status;
    out->length = ev.length;
    out->data = ev.data;
    out->data_len = ev.data_len;
    out->events_pending = (uint32_t)eng->evq.len;
    return 0;
}

void bfs_event_release(bfs_engine_t *eng, void *data)
{
    (void)eng;
    free(data);
}

int bfs_chunk_truncate(bfs_engine_t *eng, uint64_t ino, uint64_t size)
{
    return bfs_disk_truncate(&eng->disk, ino, size);
}

int bfs_chunk_remove(bfs_engine_t *eng, uint64_t ino)
{
    return bfs_disk_remove(&eng->disk, ino);
}

void bfs_set_epoch(bfs_engine_t *eng, uint32_t epoch)
{
    eng->epoch = epoch;
}

uint32_t bfs_peer_epoch(bfs_engine_t *eng)
{
    return eng->peer_epoch;
}

void bfs_note_epoch(bfs_engine_t *eng, uint32_t epoch)
{
    if (epoch > eng->peer_epoch)
        eng->peer_epoch = epoch;
}

void bfs_get_stats(bfs_engine_t *eng, bfs_stats_t *out)
{
    *out = eng->stats;
    out->pool_misses = eng->pool.misses;
    out->direct_ops = eng->disk.direct_ops;
    out->ring_sqes = eng->disk.sqes;
    out->ring_cqes = eng->disk.cqes;
    out->files_opened = eng->disk.open_files;
    out->conns_accepted = eng->net.accepted;
    out->conns_opened = eng->net.opened;
    out->conns_failed = eng->net.failures;
}

void bfs_count_bulk(bfs_engine_t *eng, unsigned opcode, int status, uint64_t bytes,
                    uint64_t elapsed_ns)
{
    bfs_op_stats_t *op = &eng->stats.bulk[opcode - BFS_OP_WRITE];
    uint64_t us = elapsed_ns / 1000;
    unsigned bucket = us ? 64 - (unsigned)__builtin_clzll(us) : 0;

    op->calls++;
    op->sum_ns += elapsed_ns;
    op->hist[bucket < BFS_HIST_BUCKETS ? bucket : BFS_HIST_BUCKETS - 1]++;
    if (status)
        op->errors[status > 0 && status < BFS_ERRNO_SLOTS ? status : 0]++;
    else
        op->bytes += bytes;
}
