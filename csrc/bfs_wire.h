/*
 * Wire header construction and validation. Every frame from the network is
 * checked here before anything else looks at it: a peer may be buggy or
 * hostile, and a bad frame must cost a counter and an event, never a crash.
 */
#ifndef BFS_WIRE_H
#define BFS_WIRE_H

#include "bfs_engine.h"

/* CDEF-BEGIN */
/* Largest bulk READ/WRITE, and largest request or reply body, in bytes. */
#define BFS_MAX_BULK_LEN 67108864
/* CDEF-END */

/* UCX active message ids: every engine registers both. */
#define BFS_AM_REQUEST 1
#define BFS_AM_REPLY 2

void bfs_wire_init(bfs_wire_header_t *h, uint16_t opcode, uint64_t req_id, int32_t status,
                   uint64_t ino, uint64_t offset, uint64_t length);

/* A bulk opcode the engine serves, or one in the Python range. */
int bfs_wire_is_request_opcode(uint32_t op);

/* Copies a received header out (it may be unaligned) and validates it.
 * Returns 0 or BFS_BAD_*. On BFS_BAD_HEADER_LEN *out is left zeroed. */
int bfs_wire_check_request(const void *raw, size_t raw_len, size_t payload_len,
                           bfs_wire_header_t *out);
int bfs_wire_check_reply(const void *raw, size_t raw_len, size_t payload_len,
                         bfs_wire_header_t *out);

#endif
