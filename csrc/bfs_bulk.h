/*
 * Bulk opcodes served entirely in C, with no Python involvement:
 *   WRITE: payload (eager copy or rendezvous receive) -> pool buffer ->
 *          io_uring write to the chunk file -> reply (length = bytes written);
 *   READ:  pool buffer <- io_uring read, zero-filled past the local end of
 *          file (holes and missing files read as zeros) -> reply payload;
 *   FSYNC: io_uring fsync (offset == 1: fdatasync) if the chunk file exists.
 * With O_DIRECT, WRITE and READ move the whole blocks that cover the request
 * (bfs_direct.h), so any offset and length work.
 * Disk errors, ENOSPC included, become the reply's status.
 */
#ifndef BFS_BULK_H
#define BFS_BULK_H

#include "bfs_engine.h"

/* Starts serving validated request h from conn. data is the eager payload
 * (h->length bytes for WRITE), or the rendezvous descriptor when rndv != 0. */
void bfs_bulk_start(bfs_engine_t *eng, bfs_conn_t *conn, const bfs_wire_header_t *h, void *data,
                    int rndv);

#endif
