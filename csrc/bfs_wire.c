#include "bfs_wire.h"

#include <string.h>

void bfs_wire_init(bfs_wire_header_t *h, uint16_t opcode, uint64_t req_id, int32_t status,
                   uint64_t ino, uint64_t offset, uint64_t length)
{
    memset(h, 0, sizeof(*h));
    h->magic = BFS_WIRE_MAGIC;
    h->version = BFS_WIRE_VERSION;
    h->opcode = opcode;
    h->req_id = req_id;
    h->status = status;
    h->ino = ino;
    h->offset = offset;
    h->length = length;
}

static int check_common(const void *raw, size_t raw_len, bfs_wire_header_t *out)
{
    memset(out, 0, sizeof(*out));
    if (raw_len != sizeof(*out) || !raw)
        return BFS_BAD_HEADER_LEN;
    memcpy(out, raw, sizeof(*out));
    if (out->magic != BFS_WIRE_MAGIC)
        return BFS_BAD_MAGIC;
    if (out->version != BFS_WIRE_VERSION)
        return BFS_BAD_VERSION;
    return 0;
}

int bfs_wire_is_request_opcode(uint32_t op)
{
    return op == BFS_OP_WRITE || op == BFS_OP_READ || op == BFS_OP_FSYNC ||
           (op >= BFS_OP_FIRST_PYTHON && op <= BFS_OP_MAX);
}

/* Bulk WRITE carries exactly its payload; READ and FSYNC carry none; a
 * Python request's body is opaque but bounded. */
static int request_lengths_ok(const bfs_wire_header_t *h, size_t payload_len)
{
    switch (h->opcode) {
    case BFS_OP_WRITE:
        return h->length == payload_len && payload_len <= BFS_MAX_BULK_LEN;
    case BFS_OP_READ:
        return payload_len == 0 && h->length <= BFS_MAX_BULK_LEN;
    case BFS_OP_FSYNC:
        return payload_len == 0;
    default:
        return payload_len <= BFS_MAX_BULK_LEN;
    }
}

int bfs_wire_check_request(const void *raw, size_t raw_len, size_t payload_len,
                           bfs_wire_header_t *out)
{
    int bad = check_common(raw, raw_len, out);

    if (bad)
        return bad;
    if (!bfs_wire_is_request_opcode(out->opcode))
        return BFS_BAD_OPCODE;
    if (!request_lengths_ok(out, payload_len))
        return BFS_BAD_LENGTH;
    if (out->req_id == 0)
        return BFS_BAD_REQ_ID;
    return 0;
}

int bfs_wire_check_reply(const void *raw, size_t raw_len, size_t payload_len,
                         bfs_wire_header_t *out)
{
    int bad = check_common(raw, raw_len, out);

    if (bad)
        return bad;
    if (out->opcode != BFS_OP_REPLY)
        return BFS_BAD_OPCODE;
    /* length is the result's size: the payload's, or a count when there is
     * no payload (bytes written by a bulk WRITE). */
    if ((payload_len && out->length != payload_len) || out->length > BFS_MAX_BULK_LEN ||
        out->status < 0)
        return BFS_BAD_LENGTH;
    if (out->req_id == 0)
        return BFS_BAD_REQ_ID;
    return 0;
}
