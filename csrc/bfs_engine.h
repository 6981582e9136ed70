/*
 * benchfs engine: one event loop per process that owns an io_uring ring, a
 * UCX context/worker and the worker's event fd (DESIGN.md D1).
 *
 * The engine has no policy. It moves bytes and reports completions:
 *   - clients send requests and get one REPLY event per request;
 *   - servers get REQUEST events for opcodes Python handles (metadata) and
 *     answer them with bfs_reply(); the bulk opcodes (WRITE, READ, FSYNC) are
 *     served entirely in C: network -> io_uring -> reply.
 * Python sees batches of bfs_event_t from bfs_progress(), never a callback.
 *
 * Every function returning int returns 0 or a negative errno.
 * Only the declarations between the CDEF markers are read by build_ffi.py.
 */
#ifndef BFS_ENGINE_H
#define BFS_ENGINE_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

/* CDEF-BEGIN */
#define BFS_WIRE_MAGIC 0x42465331 /* "BFS1" */
#define BFS_WIRE_VERSION 1

/* Opcodes below BFS_OP_FIRST_PYTHON are served by the engine itself. */
#define BFS_OP_REPLY 0
#define BFS_OP_WRITE 1 /* payload -> chunk file of ino at offset    */
#define BFS_OP_READ 2  /* chunk file of ino [offset, +length) -> reply */
#define BFS_OP_FSYNC 3 /* fsync (offset=1: fdatasync) chunk file of ino */
#define BFS_OP_FIRST_PYTHON 16
#define BFS_OP_MAX 255
/* With require_auth, the only opcodes served on a connection until Python
 * called bfs_conn_authenticate (benchfs.auth: the mutual challenge-response),
 * and the largest body they may carry. */
#define BFS_OP_HELLO 31
#define BFS_OP_HELLO_PROVE 64
#define BFS_PREAUTH_MAX_BODY 512

/* Fixed wire header, sent as the UCX AM header. Little-endian host order. */
typedef struct {
    uint32_t magic;   /* BFS_WIRE_MAGIC */
    uint8_t version;  /* BFS_WIRE_VERSION */
    uint8_t flags;    /* reserved, 0 */
    uint16_t opcode;  /* BFS_OP_* or a Python opcode; BFS_OP_REPLY on replies */
    uint64_t req_id;  /* chosen by the requester, echoed in the reply */
    int32_t status;   /* replies: 0 or a positive errno */
    uint32_t epoch;   /* the sender's view epoch (0: none); see bfs_set_epoch */
    uint64_t ino;     /* bulk ops: inode number */
    uint64_t offset;  /* bulk ops: byte offset in the file */
    uint64_t length;  /* bulk ops: byte count; replies: bytes of result */
} bfs_wire_header_t;

enum {
    BFS_EV_REPLY = 1,      /* client: reply to one of our requests arrived */
    BFS_EV_REQUEST = 2,    /* server: a request for Python; answer with bfs_reply */
    BFS_EV_CONN_ERROR = 3, /* a connection failed; conn says which */
    BFS_EV_MALFORMED = 4   /* a frame was dropped; status says why (BFS_BAD_*) */
};

enum {
    BFS_BAD_HEADER_LEN = 1,
    BFS_BAD_MAGIC = 2,
    BFS_BAD_VERSION = 3,
    BFS_BAD_OPCODE = 4,
    BFS_BAD_LENGTH = 5,
    BFS_BAD_REQ_ID = 6
};

typedef struct {
    uint32_t kind;    /* BFS_EV_* */
    int32_t status;   /* REPLY: errno from server or local errno; MALFORMED: BFS_BAD_* */
    uint64_t req_id;  /* REPLY: the request id; REQUEST: handle for bfs_reply */
    uint64_t conn;    /* connection id (client side) or peer id (server side) */
    uint32_t opcode;
    uint32_t reserved;
    uint64_t ino;
    uint64_t offset;
    uint64_t length;  /* REPLY: bytes of reply payload (written to recv_buf if given);
                         without payload, a count (WRITE: bytes written) */
    void *data;       /* payload owned by the engine, or NULL; see bfs_event_release */
    uint64_t data_len;
} bfs_event_t;

typedef struct {
    const char *listen_host;  /* NULL: do not listen (a pure client) */
    uint16_t listen_port;     /* 0: ephemeral; see bfs_listen_port */
    const char *data_dir;     /* chunk files live in data_dir/chunks; NULL for clients */
    uint32_t spin_us;         /* bounded busy-poll before sleeping; 0 = sleep at once */
    uint32_t rndv_thresh;     /* payloads larger than this go rendezvous */
    uint32_t ring_entries;    /* io_uring SQ size */
    uint64_t pool_buf_size;   /* size of each aligned pool buffer */
    uint32_t pool_bufs;       /* buffers preallocated */
    int err_mode_peer;        /* 1: UCP_ERR_HANDLING_MODE_PEER (detects dead peers; no shm) */
    int o_direct;             /* chunk files with O_DIRECT, any alignment (bfs_direct.h) */
    uint32_t direct_min;      /* o_direct 0: aligned transfers this large use O_DIRECT
                                 (0: none; see bfs_disk.h) */
    int require_auth;         /* 1: serve nothing but the hello opcodes on a connection
                                 until bfs_conn_authenticate; refused frames get EACCES */
} bfs_config_t;

typedef struct bfs_engine bfs_engine_t;

void bfs_config_default(bfs_config_t *cfg);
int bfs_engine_create(const bfs_config_t *cfg, bfs_engine_t **out);
void bfs_engine_destroy(bfs_engine_t *eng);
int bfs_listen_port(bfs_engine_t *eng);

/* Client side. */
int bfs_connect(bfs_engine_t *eng, const char *host, uint16_t port, uint64_t *conn_out);
int bfs_disconnect(bfs_engine_t *eng, uint64_t conn);
/* Sends one request. body (may be NULL) must stay valid until the REPLY event
 * for req_id; the engine emits that event only after the send completed.
 * The reply payload goes into recv_buf when given (at most recv_cap bytes,
 * received in place for rendezvous), otherwise into engine memory that the
 * event's data points to. */
int bfs_send(bfs_engine_t *eng, uint64_t conn, uint32_t opcode, uint64_t ino,
             uint64_t offset, uint64_t length, const void *body, size_t body_len,
             void *recv_buf, size_t recv_cap, uint64_t *req_id_out);
/* Sends a raw AM frame with arbitrary header bytes (tests of malformed input). */
int bfs_send_raw(bfs_engine_t *eng, uint64_t conn, const void *header, size_t header_len,
                 const void *body, size_t body_len);

/* Server side: answer a REQUEST event exactly once. The body is copied. The
 * request's data is released by this call. */
int bfs_reply(bfs_engine_t *eng, uint64_t handle, int32_t status, const void *body,
              size_t body_len);

/* Drive the loop: progress UCX and io_uring, spin up to spin_us, then sleep in
 * one io_uring wait (with POLL_ADD on the UCX event fd) until an event or
 * timeout_ms (-1: no timeout). Returns the number of events written (>= 0),
 * or a negative errno. A signal ends the wait early (returns 0). */
int bfs_progress(bfs_engine_t *eng, int timeout_ms, bfs_event_t *events, int max_events);

/* One request sent and its reply awaited in a single call: what a synchronous
 * client does for every small operation, without an event per reply.
 * Arguments as bfs_send. Returns 0 with *out filled in when the reply came
 * (its data, if any, freed with bfs_event_release), -ETIMEDOUT after
 * timeout_ms or -EINTR on a signal, with the request still pending (its
 * REPLY event comes later through bfs_progress), or a negative errno when it
 * could not be sent. out->req_id is set whenever the request was sent.
 * Other events that arrive meanwhile stay queued for bfs_progress;
 * out->events_pending says how many there are. */
typedef struct {
    uint64_t req_id;
    int32_t status;
    uint32_t events_pending;
    uint64_t length;
    void *data;
    uint64_t data_len;
} bfs_call_result_t;
int bfs_call(bfs_engine_t *eng, uint64_t conn, uint32_t opcode, uint64_t ino, uint64_t offset,
             uint64_t length, const void *body, size_t body_len, void *recv_buf,
             size_t recv_cap, int timeout_ms, bfs_call_result_t *out);

/* The view epoch (DESIGN.md D11) stamped on every request and reply this engine
 * sends. A server engine with a nonzero epoch answers a request stamped with an
 * older nonzero one ESTALE without running it, bulk ops included, so a client
 * routing by an old partition table learns to reload it. 0 (the default): no
 * view, nothing checked. */
void bfs_set_epoch(bfs_engine_t *eng, uint32_t epoch);
/* The highest epoch seen on any frame received: a server that falls behind the
 * cluster's view learns it from its peers' messages. */
uint32_t bfs_peer_epoch(bfs_engine_t *eng);

/* Frees the data of a REPLY event that had no recv_buf. */
void bfs_event_release(bfs_engine_t *eng, void *data);

/* Marks a connection whose peer proved the cluster secret: from now on every
 * opcode is served on it (require_auth). */
int bfs_conn_authenticate(bfs_engine_t *eng, uint64_t conn);

/* Chunk files, for the Python handlers of truncate and remove. */
int bfs_chunk_truncate(bfs_engine_t *eng, uint64_t ino, uint64_t size);
int bfs_chunk_remove(bfs_engine_t *eng, uint64_t ino);

/* Latency histogram buckets of the bulk ops: bucket i counts operations
 * under 2^i µs (1 µs .. 2^24 µs = 16.8 s); the last one, those longer. */
#define BFS_HIST_BUCKETS 26
/* Errors are counted by errno below this; larger ones in slot 0. */
#define BFS_ERRNO_SLOTS 134

/* One bulk opcode served in C: calls, errors by errno, payload bytes, time
 * from the request's arrival to its reply's send. */
typedef struct {
    uint64_t calls, bytes, sum_ns;
    uint64_t errors[BFS_ERRNO_SLOTS];
    uint64_t hist[BFS_HIST_BUCKETS];
} bfs_op_stats_t;

/* Counters, for stats, metrics and tests, plain integers the loop bumps and
 * bfs_get_stats copies out in one call. bulk_bytes_*: payload bytes of served
 * WRITEs and READs (O_DIRECT moves whole blocks, counted as requested);
 * direct_ops: transfers the hybrid mode sent through O_DIRECT. */
typedef struct {
    uint64_t requests_in, replies_out, bulk_bytes_written, bulk_bytes_read;
    uint64_t malformed, sleeps, wakeups, pool_misses, direct_ops;
    uint64_t unauthenticated; /* frames refused before the hello succeeded */
    uint64_t ring_sqes, ring_cqes, files_opened; /* io_uring entries, chunk file opens */
    uint64_t conns_accepted, conns_opened, conns_failed; /* UCX endpoints */
    uint64_t am_sent, am_received; /* UCX active messages */
    bfs_op_stats_t bulk[3]; /* WRITE, READ, FSYNC (opcode - 1) */
} bfs_stats_t;
void bfs_get_stats(bfs_engine_t *eng, bfs_stats_t *out);
/* CDEF-END */

/* ---- Internal to csrc/: the engine object shared by the modules. ----
 *
 *   bfs_engine.c  create/destroy, the loop (bfs_progress), event queue
 *   bfs_net.c     UCX context, worker, listener, connections, send/receive
 *   bfs_disk.c    io_uring ring, chunk file cache, POLL_ADD on the UCX fd
 *   bfs_client.c  bfs_connect/send/send_raw/disconnect, reply handler
 *   bfs_server.c  request handler and validation, bfs_reply
 *   bfs_bulk.c    WRITE/READ/FSYNC served in C
 *   bfs_direct.c  O_DIRECT block spans: per-file write claims, edge read-modify-write
 *   bfs_wire.c    header building and checks
 *   bfs_pool.c, bfs_reqtab.c, bfs_map.c, bfs_list.h  data structures
 */

#include "bfs_disk.h"
#include "bfs_net.h"
#include "bfs_pool.h"
#include "bfs_reqtab.h"

/* Events produced inside UCX and io_uring callbacks wait here until
 * bfs_progress hands them out; a ring that grows by doubling. */
typedef struct {
    bfs_event_t *ev;
    size_t head, len, cap;
} bfs_evq_t;

struct bfs_engine {
    bfs_config_t cfg;   /* string fields NULL: used only by bfs_engine_create */
    bfs_net_t net;
    bfs_disk_t disk;
    bfs_pool_t pool;
    bfs_reqtab_t creqs; /* our requests by req_id (bfs_client.c) */
    bfs_reqtab_t preqs; /* requests handed to Python, by handle (bfs_server.c) */
    bfs_evq_t evq;
    bfs_stats_t stats;
    uint32_t epoch;      /* ours, stamped on what we send */
    uint32_t peer_epoch; /* the highest received */
};

static inline uint64_t bfs_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counts one served bulk op (BFS_OP_WRITE/READ/FSYNC) that took elapsed_ns. */
void bfs_count_bulk(bfs_engine_t *eng, unsigned opcode, int status, uint64_t bytes,
                    uint64_t elapsed_ns);

/* Queues an event for Python. Under memory exhaustion the event is dropped
 * (its data freed): the requester's deadline covers a lost reply. */
void bfs_emit(bfs_engine_t *eng, const bfs_event_t *ev);
/* Remembers the epoch of a received frame (for bfs_peer_epoch). */
void bfs_note_epoch(bfs_engine_t *eng, uint32_t epoch);
/* Counts and reports a dropped frame; h may be all zeros. */
void bfs_report_malformed(bfs_engine_t *eng, uint64_t conn, const bfs_wire_header_t *h, int bad);

#endif
