"""benchfs.core.wire: the header mirror and the metadata body codec."""

from __future__ import annotations

import ctypes
import pathlib
import re
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchfs.core.wire import (
    FIRST_PYTHON_OP,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_BODY,
    OP_MAX,
    REQUEST_FIELDS,
    SETATTR_KEYS,
    VERSION,
    EntryList,
    MalformedFrame,
    Op,
    SignedInt,
    WireHeader,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)

CSRC = pathlib.Path(__file__).resolve().parents[2] / "csrc"


class CHeader(ctypes.LittleEndianStructure):
    """bfs_wire_header_t as a C compiler lays it out: the oracle for HEADER."""

    _fields_ = [
        ("magic", ctypes.c_uint32),
        ("version", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("opcode", ctypes.c_uint16),
        ("req_id", ctypes.c_uint64),
        ("status", ctypes.c_int32),
        ("epoch", ctypes.c_uint32),
        ("ino", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("length", ctypes.c_uint64),
    ]


u8, u16, u32, u64 = (st.integers(0, 2**b - 1) for b in (8, 16, 32, 64))
headers = st.builds(
    WireHeader,
    magic=st.just(MAGIC), version=st.just(VERSION), flags=u8, opcode=u16, req_id=u64,
    status=st.integers(-(2**31), 2**31 - 1), epoch=u32, ino=u64, offset=u64, length=u64,
)


# -- header ----------------------------------------------------------------------


def test_header_size_matches_c() -> None:
    assert HEADER.size == HEADER_SIZE == ctypes.sizeof(CHeader) == 48


@given(headers)
def test_header_round_trip_and_c_layout(header: WireHeader) -> None:
    data = header.pack()
    assert WireHeader.unpack(data) == header
    c = CHeader(**{field[0]: getattr(header, field[0]) for field in CHeader._fields_})
    assert bytes(c) == data


def test_header_defaults() -> None:
    header = WireHeader(opcode=Op.LOOKUP, req_id=7)
    assert header.magic == MAGIC and header.version == VERSION
    assert WireHeader.unpack(header.pack()).opcode == Op.LOOKUP


@pytest.mark.parametrize("size", [0, 1, 47, 49, 96])
def test_header_wrong_size(size: int) -> None:
    data = (WireHeader().pack() * 2)[:size]
    with pytest.raises(MalformedFrame):
        WireHeader.unpack(data)


def test_header_wrong_magic_or_version() -> None:
    with pytest.raises(MalformedFrame, match="magic"):
        WireHeader.unpack(WireHeader(magic=0x42465332).pack())
    with pytest.raises(MalformedFrame, match="version"):
        WireHeader.unpack(WireHeader(version=2).pack())


@pytest.mark.parametrize(
    "fields", [{"opcode": 2**16}, {"req_id": -1}, {"status": 2**31}, {"flags": 256}]
)
def test_header_pack_out_of_range(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        WireHeader(**fields).pack()


def test_constants_match_the_engine_header() -> None:
    headers = sorted(CSRC.glob("*.h"))
    assert headers, "csrc/ holds the engine's headers"
    text = "\n".join(h.read_text() for h in headers)
    pattern = r"#define (BFS_\w+) (0x[0-9a-fA-F]+|\d+)"
    defines = {m[1]: int(m[2], 0) for m in re.finditer(pattern, text)}
    assert defines["BFS_WIRE_MAGIC"] == MAGIC
    assert defines["BFS_WIRE_VERSION"] == VERSION
    assert defines["BFS_OP_FIRST_PYTHON"] == FIRST_PYTHON_OP
    assert defines["BFS_OP_MAX"] == OP_MAX
    for name in ("REPLY", "WRITE", "READ", "FSYNC", "HELLO", "HELLO_PROVE"):
        assert defines[f"BFS_OP_{name}"] == Op[name]


def test_opcodes() -> None:
    assert all(0 <= op <= OP_MAX for op in Op)
    assert set(REQUEST_FIELDS) == {op for op in Op if op >= FIRST_PYTHON_OP}
    assert [Op.LOOKUP, Op.HELLO] == [16, 31]


# -- requests --------------------------------------------------------------------

name_chars = st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"])
names = st.one_of(
    st.text(name_chars, min_size=1, max_size=8).filter(lambda n: n not in (".", "..")),
    st.just("\udcff"),  # a non-UTF-8 byte as os.fsdecode gives it
)
norm_paths = st.lists(names, max_size=4).map(lambda parts: "/" + "/".join(parts))
setattr_changes = st.dictionaries(
    st.sampled_from(sorted(SETATTR_KEYS)), st.integers(0, 2**32 - 1), max_size=5
) | st.fixed_dictionaries(
    {}, optional={"atime_ns": st.none() | st.integers(-(2**63), 2**63 - 1),
                  "mtime_ns": st.none() | st.integers(-(2**63), 2**63 - 1)}
)


def strategy_for(name: str, kind: Any) -> st.SearchStrategy[Any]:
    if name in ("path", "src", "dst"):
        return norm_paths
    if kind is str:
        return st.text(max_size=20)
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(0, 2**64 - 1)
    if kind is dict:
        return setattr_changes
    if kind is bytes:
        return st.binary(max_size=64)
    if kind is SignedInt:
        return st.integers(-(2**63), 2**63 - 1)
    if kind is EntryList:
        return st.lists(st.tuples(norm_paths, st.integers(0, 2**64 - 1),
                                  st.integers(0, 2**16)).map(list), max_size=4)
    raise AssertionError(kind)


requests = st.sampled_from(sorted(REQUEST_FIELDS)).flatmap(
    lambda op: st.tuples(
        st.just(op), st.tuples(*(strategy_for(n, k) for n, k in REQUEST_FIELDS[op]))
    )
)


@settings(max_examples=300)
@given(requests)
def test_request_round_trip(case: tuple[Op, tuple[Any, ...]]) -> None:
    op, args = case
    body = encode_request(op, *args)
    decoded = decode_request(int(op), body)
    assert decoded == args
    assert [type(v) for v in decoded] == [type(v) for v in args]  # bool stays bool


def test_every_op_round_trips_an_example() -> None:
    examples: dict[Op, tuple[Any, ...]] = {
        Op.LOOKUP: ("/a",),
        Op.CREATE: ("/a/b", 0o644, True, 1000, 1000, 7),
        Op.MKDIR: ("/d", 0o755, 0, 0),
        Op.UNLINK: ("/a", True, 7),
        Op.READDIR: ("/",),
        Op.GETATTR: (2**63,),
        Op.SET_SIZE: (5, 2**40, False),
        Op.DATA_TRUNCATE: (5, 0),
        Op.DATA_REMOVE: (5,),
        Op.SETATTR: (5, {"mode": 0o600, "atime_ns": -1, "mtime_ns": None}),
        Op.REMOVE_ENTRY: ("/a", 7),
        Op.ADD_ENTRY: ("/c", 7, 0o100000, True),
        Op.ADJUST: (7, -1, True, False),
        Op.FENCE: (9, "/a", "/b"),
        Op.MOVE_INSERT: (9, [["/b/x", 7, 0o100000]]),
        Op.UNFENCE: (9, True),
        Op.DATA_SEEK: (7, 4096, True),
        Op.META_SYNC: (),
        Op.INLINE_WRITE: (7, 100, b"\x00data"),
        Op.SPILL: (7,),
        Op.SYMLINK: ("../x", "/l", 1, 2),
        Op.STATFS: (),
        Op.HELLO: (b"n" * 32, "host:123"),
        Op.HELLO_PROVE: (b"p" * 32,),
        Op.STATS: (),
        Op.RENAME_TX: ("/a", "/b", 7, 0o100000, False, 4000),
        Op.LINK_TX: ("/b", 7, 0o100000, 4000),
        Op.UNLINK_TX: ("/a", False, 1, True, 4000),
        Op.RENAME_DIR_TX: ("/d", "/e", 0, 0, False, 1, 1, 4000),
        Op.RMDIR_TX: ("/d", 9, 2, False, 1, 4000),
        Op.TX_STEP: (2**62, 1, "adjust", b"\x94\x07\xff\xc2\xc2"),
        Op.TX_FORGET: (2**62,),
        Op.MKDIR_TX: ("/d", 0o755, 0, 0, 1, 4000),
        Op.MKNOD: ("/fifo", 0o10644, 0, 0, 0),
        Op.PING: (),
        Op.PROBE: (3,),
        Op.VIEW_CHANGE: (2, "down", "10.0.0.2", 4000),
    }
    assert set(examples) == set(REQUEST_FIELDS)
    for op, args in examples.items():
        assert decode_request(op, encode_request(op, *args)) == args


@pytest.mark.parametrize(
    ("op", "args", "error"),
    [
        (Op.LOOKUP, (), TypeError),
        (Op.LOOKUP, ("/a", "/b"), TypeError),
        (Op.LOOKUP, (b"/a",), TypeError),
        (Op.LOOKUP, ("a",), ValueError),
        (Op.LOOKUP, ("/a/",), ValueError),
        (Op.LOOKUP, ("/a/../b",), ValueError),
        (Op.LOOKUP, ("/a\0",), ValueError),
        (Op.LOOKUP, ("/\ud800",), ValueError),
        (Op.GETATTR, (True,), TypeError),
        (Op.GETATTR, (1.0,), TypeError),
        (Op.GETATTR, (-1,), ValueError),
        (Op.GETATTR, (2**64,), ValueError),
        (Op.SET_SIZE, (1, 2, 1), TypeError),
        (Op.CREATE, ("/a", 0o644, 0, 0, 0), TypeError),
        (Op.SETATTR, (1, [("mode", 1)]), TypeError),
        (Op.SETATTR, (1, {"size": 1}), ValueError),
        (Op.SETATTR, (1, {"mode": -1}), ValueError),
        (Op.SETATTR, (1, {"mode": None}), TypeError),
        (Op.SETATTR, (1, {"uid": True}), TypeError),
        (Op.READ, (1,), ValueError),
        (Op.HELLO, ("x", "c"), TypeError),  # the nonce is bytes: no secret in clear
    ],
)
def test_encode_rejects_misuse(op: Op, args: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        encode_request(op, *args)


def pack(value: Any) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        value, use_bin_type=True, unicode_errors="surrogateescape"
    )


@pytest.mark.parametrize(
    ("op", "body"),
    [
        (-1, pack(["/a"])),
        (15, pack(["/a"])),
        (int(Op.READ), pack([1])),
        (32, pack([])),
        (2**16, pack([])),
        (int(Op.LOOKUP), b""),
        (int(Op.LOOKUP), b"\xc1"),  # the one byte msgpack never uses
        (int(Op.LOOKUP), pack(["/a"]) + b"\x00"),  # trailing bytes
        (int(Op.LOOKUP), pack("/a")),  # not an array
        (int(Op.LOOKUP), pack([])),
        (int(Op.LOOKUP), pack(["/a", "/b"])),
        (int(Op.LOOKUP), pack([b"/a"])),
        (int(Op.LOOKUP), pack(["a"])),
        (int(Op.LOOKUP), pack(["/a/.."])),
        (int(Op.LOOKUP), pack(["//a"])),
        (int(Op.LOOKUP), pack(["/a\0b"])),
        (int(Op.LOOKUP), pack([None])),
        (int(Op.GETATTR), pack([True])),
        (int(Op.GETATTR), pack([-5])),
        (int(Op.GETATTR), pack([1.0])),
        (int(Op.SET_SIZE), pack([1, 2, 0])),
        (int(Op.SETATTR), pack([1, {"mode": "x"}])),
        (int(Op.SETATTR), pack([1, {1: 2}])),
        (int(Op.SETATTR), pack([1, [1]])),
        (int(Op.SETATTR), b"\x92\x01\x81\x91\x01\x02"),  # a map with an array key
        (int(Op.STATFS), pack(None)),
        (int(Op.LOOKUP), b"\x91" * 10_000),  # deep nesting
        (int(Op.LOOKUP), b"\xdd\xff\xff\xff\xff"),  # claims 4 G elements
        (int(Op.GETATTR), b"\x91\xd4\x01\x00"),  # an ext type
        (int(Op.GETATTR), b"\x91\xd6\xff\x00\x00\x00\x00"),  # a msgpack timestamp
        (int(Op.HELLO), pack([b"x" * MAX_BODY, "c"])),
    ],
)
def test_decode_rejects_malformed_bodies(op: int, body: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_request(op, body)


def test_non_utf8_names_survive() -> None:
    body = encode_request(Op.FENCE, 1, "/\udcff", "/a\udc80b")
    assert decode_request(Op.FENCE, body) == (1, "/\udcff", "/a\udc80b")


ops = st.integers(-2, 300)
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=10) | st.binary(max_size=10) | norm_paths,
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.binary(max_size=64))
def test_decode_request_only_raises_malformed_on_random_bytes(op: int, body: bytes) -> None:
    try:
        decode_request(op, body)
    except MalformedFrame:
        pass


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(REQUEST_FIELDS)), st.lists(msgpack_values, max_size=6))
def test_decode_request_only_raises_malformed_on_random_values(op: Op, values: list[Any]) -> None:
    body = pack(values)
    try:
        decoded = decode_request(op, body)
    except MalformedFrame:
        return
    # Whatever is accepted is something the encoder would have produced.
    assert encode_request(op, *decoded) == body


@given(requests, st.integers(0, 40), st.integers(0, 255))
def test_corrupted_valid_bodies_never_raise_other_errors(
    case: tuple[Op, tuple[Any, ...]], position: int, byte: int
) -> None:
    op, args = case
    body = bytearray(encode_request(op, *args))
    if body:
        body[position % len(body)] = byte
    try:
        decode_request(op, bytes(body))
    except MalformedFrame:
        pass


# -- replies -----------------------------------------------------------------------


@given(msgpack_values)
def test_reply_round_trip(value: Any) -> None:
    assert decode_reply(encode_reply(value)) == value


def test_reply_examples() -> None:
    value = [1, "/\udcff", b"\x00data", {3: "x"}, None, True, [["a", 16384, 7]]]
    assert decode_reply(encode_reply(value)) == value
    assert type(decode_reply(encode_reply(b"x"))) is bytes


@pytest.mark.parametrize("body", [b"", b"\xc1", b"\x92\x01", encode_reply(1) + b"\x01"])
def test_decode_reply_rejects_garbage(body: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_reply(body)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_decode_reply_only_raises_malformed(body: bytes) -> None:
    try:
        decode_reply(body)
    except MalformedFrame:
        pass
