"""Malformed frames for a live server: mutations of valid frames (bit flips,
truncations, lengths past the body, wrong magic, version or opcode, oversized
bodies, msgpack bombs), each checked to be malformed before it is sent, so that
the server must refuse every one and may change nothing."""

from __future__ import annotations

import random

from benchfs._native.engine import MAX_BULK_LEN
from benchfs.core.wire import (
    FIRST_PYTHON_OP,
    HEADER_SIZE,
    MAGIC,
    MAX_BODY,
    OP_MAX,
    REQUEST_FIELDS,
    VERSION,
    MalformedFrame,
    Op,
    WireHeader,
    decode_request,
    encode_request,
)
from tests.operate.fuzz_targets import BOMBS, mutate, valid_bodies

Frame = tuple[bytes, bytes]  # header bytes, body


def valid_frames() -> list[Frame]:
    frames: list[Frame] = [
        (WireHeader(opcode=int(Op.READ), req_id=7, ino=3, length=4096).pack(), b""),
        (WireHeader(opcode=int(Op.WRITE), req_id=7, ino=3, length=5).pack(), b"hello"),
        (WireHeader(opcode=int(Op.FSYNC), req_id=7, ino=3).pack(), b""),
        (WireHeader(opcode=int(Op.HELLO), req_id=7).pack(),
         encode_request(Op.HELLO, b"n" * 32, "fuzz")),
    ]
    for op in (Op.LOOKUP, Op.CREATE, Op.GETATTR, Op.SETATTR, Op.READDIR, Op.TX_STEP,
               Op.MOVE_INSERT, Op.INLINE_WRITE):
        for body in valid_bodies(op, 2):
            frames.append((WireHeader(opcode=int(op), req_id=9).pack(), body))
    return frames


def is_malformed(header: bytes, body: bytes) -> bool:
    """Whether the server must refuse the frame (mirrors bfs_wire_check_request
    and the Python decoders)."""
    if len(header) != HEADER_SIZE:
        return True
    try:
        h = WireHeader.unpack(header)
    except MalformedFrame:
        return True
    op = h.opcode
    if not (op in (Op.WRITE, Op.READ, Op.FSYNC) or FIRST_PYTHON_OP <= op <= OP_MAX):
        return True
    if h.req_id == 0:
        return True
    if op == Op.WRITE:
        return h.length != len(body) or len(body) > MAX_BULK_LEN
    if op == Op.READ:
        return bool(body) or h.length > MAX_BULK_LEN
    if op == Op.FSYNC:
        return bool(body)
    if op not in REQUEST_FIELDS:
        return True  # unknown: answered EOPNOTSUPP
    try:
        decode_request(op, body)
    except MalformedFrame:
        return True
    return False


def _mutate_header(rng: random.Random, header: bytes, body: bytes) -> tuple[bytes, bytes]:
    h = WireHeader.unpack(header)
    choice = rng.randrange(8)
    if choice == 0:
        return header[:rng.randrange(HEADER_SIZE)], body
    if choice == 1:
        return header + rng.randbytes(rng.randint(1, 16)), body
    if choice == 2:
        h.magic = rng.choice([0, MAGIC ^ 1, rng.getrandbits(32)])
    elif choice == 3:
        h.version = rng.choice([0, VERSION + 1, 255])
    elif choice == 4:
        h.opcode = rng.choice([4, 5, 15, rng.randrange(4, FIRST_PYTHON_OP), 48, 200, OP_MAX,
                               OP_MAX + 1, 0xFFFF])
    elif choice == 5:
        h.length = len(body) + rng.choice([1, 4096, MAX_BULK_LEN, 2**63])  # past the body
    elif choice == 6:
        h.req_id = 0
    else:
        flipped = bytearray(header)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(HEADER_SIZE)] ^= 1 << rng.randrange(8)
        return bytes(flipped), body
    return h.pack(), body


def malformed_frame(rng: random.Random, seeds: list[Frame], avoid_ops: frozenset[int]) -> Frame:
    """A random malformed frame; never one whose opcode is in ``avoid_ops`` with a
    readable header (the hello's, which close the connection when wrong)."""
    while True:
        header, body = rng.choice(seeds)
        pick = rng.randrange(10)
        if pick < 4:
            header, body = _mutate_header(rng, header, body)
        elif pick < 8:
            body = mutate(rng, body)
        elif pick == 8:
            body = rng.choice(BOMBS) + rng.randbytes(rng.randint(0, 32))
        else:
            # A string claiming more than the body holds.
            body = b"\x91\xc6" + (MAX_BODY + 1).to_bytes(4, "big") + rng.randbytes(64)
            if rng.random() < 0.1:
                body = rng.randbytes(MAX_BODY + rng.randint(1, 1024))  # oversized
        if not is_malformed(header, body):
            continue
        if len(header) == HEADER_SIZE:
            try:
                if WireHeader.unpack(header).opcode in avoid_ops:
                    continue
            except MalformedFrame:
                pass
        return header, body
