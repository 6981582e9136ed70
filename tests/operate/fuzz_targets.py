"""The wire decoders under fuzzing: each target takes arbitrary bytes and may raise
only the malformed-frame exception of its decoder.

Run one target for N executions (coverage-guided with atheris when it is
installed, else a mutation loop over valid seeds)::

    python -m tests.operate.fuzz_targets TARGET RUNS [--mutate]

The mutation loop prints one JSON line: target, engine, executions, seconds;
atheris prints libFuzzer's "Done N runs in S second(s)" on stderr.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from benchfs.auth.proofs import ClientHello, HelloRefused
from benchfs.auth.secret import Secret
from benchfs.core.wire import (
    HEADER_SIZE,
    REQUEST_FIELDS,
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

_SAMPLES: dict[Any, list[Any]] = {
    str: ["/", "/a/b", "/" + "x" * 200, "/\udcff"], int: [0, 1, 2**63, 2**64 - 1],
    bool: [True, False], bytes: [b"", b"\x00" * 32], dict: [{}, {"mode": 0o644},
                                                          {"atime_ns": None, "mtime_ns": -1}],
    SignedInt: [-1, 0, 2**62], EntryList: [[], [["/a", 1, 0o100000]]],
}


def valid_bodies(op: Op, count: int = 8, seed: int = 0) -> list[bytes]:
    """Well-formed bodies of request ``op``: the seeds the mutations start from."""
    rng = random.Random(seed)
    fields = REQUEST_FIELDS[op]
    return [encode_request(op, *[rng.choice(_SAMPLES[kind]) for _, kind in fields])
            for _ in range(count)]


@dataclass(frozen=True)
class Target:
    run: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...]
    seeds: list[bytes]


def _request(op: Op) -> Target:
    return Target(lambda data: _ignore(decode_request(int(op), data)), (MalformedFrame,),
                  valid_bodies(op))


def _ignore(_: object) -> None:
    pass


def _header(data: bytes) -> None:
    WireHeader.unpack(data[:HEADER_SIZE] if len(data) >= HEADER_SIZE else data)


def _any_opcode(data: bytes) -> None:
    decode_request(int.from_bytes(data[:2], "little"), data[2:])


_SECRET = Secret(b"k" * 32, "0" * 32)


def _hello_reply(data: bytes) -> None:
    """What a connecting client makes of a server's answer to its HELLO."""
    ClientHello(_SECRET).prove(0, data)


TARGETS: dict[str, Target] = {
    "header": Target(_header, (MalformedFrame,),
                     [WireHeader(opcode=op, req_id=1, length=9).pack() for op in (1, 2, 17)]),
    "any-opcode": Target(_any_opcode, (MalformedFrame,),
                         [int(op).to_bytes(2, "little") + body for op in (Op.LOOKUP, Op.CREATE)
                          for body in valid_bodies(op, 2)]),
    "reply": Target(lambda data: _ignore(decode_reply(data)), (MalformedFrame,),
                    [encode_reply(v) for v in (None, [1, [2, 3]], {"a": b"x"}, "s")]),
    "hello-reply": Target(_hello_reply, (HelloRefused,),
                          [encode_reply([b"n" * 32, b"p" * 32])]),
    **{f"request-{op.name}": _request(op) for op in REQUEST_FIELDS},
}

# msgpack headers that claim huge containers or strings: the "bombs" of the mutations.
BOMBS = [b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
         b"\xc6\xff\xff\xff\xff", b"\x91" * 64, b"\xc7\xff\x00", b"\xd6\xff\x00\x00\x00\x00"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random change to ``data``: bit flips, truncation, growth, a bomb, a splice."""
    buf = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and buf:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del buf[rng.randrange(len(buf) + 1):]
    elif choice == 2:
        buf += rng.randbytes(rng.randint(1, 64))
    elif choice == 3:
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = rng.choice(BOMBS)
    elif choice == 4 and buf:
        at = rng.randrange(len(buf))
        buf[at] = rng.choice((0xc0, 0xc1, 0xc2, 0xc3, 0xcc, 0xcf, 0xd3, 0xd9, 0xda, 0xdc, 0xde))
    else:
        buf = bytearray(msgpack.packb(_random_value(rng, 3), use_bin_type=rng.random() < 0.5,
                                      unicode_errors="surrogateescape"))
    return bytes(buf)


def _random_value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(9 if depth else 6)
    if pick == 0:
        return rng.randint(-(2**63), 2**64 - 1)
    if pick == 1:
        return "".join(rng.choice("/a.\0\udcff") for _ in range(rng.randint(0, 8)))
    if pick == 2:
        return rng.randbytes(rng.randint(0, 40))
    if pick == 3:
        return rng.choice([None, True, False, 1.5, float("nan")])
    if pick == 4:
        return msgpack.ExtType(rng.randint(0, 127), rng.randbytes(rng.randint(0, 8)))
    if pick == 5:
        return rng.randint(0, 64)
    if pick in (6, 7):
        return [_random_value(rng, depth - 1) for _ in range(rng.randint(0, 7))]
    return {_random_value(rng, 0): _random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def check(target: Target, data: bytes) -> None:
    """Run one input; anything but the allowed exception propagates (a finding)."""
    try:
        target.run(data)
    except target.allowed:
        pass


def mutation_loop(target: Target, runs: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    corpus = list(target.seeds)
    for _ in range(runs):
        data = mutate(rng, rng.choice(corpus))
        check(target, data)
        if len(corpus) < 256 and rng.random() < 0.01:
            corpus.append(data)  # mutations of mutations reach deeper
    return runs


def _atheris_run(name: str, runs: int) -> None:
    import atheris  # type: ignore[import-not-found]

    target = TARGETS[name]
    seeds = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"benchfs-fuzz-seeds-{os.getpid()}")
    os.makedirs(seeds, exist_ok=True)
    for index, data in enumerate(target.seeds):
        with open(os.path.join(seeds, str(index)), "wb") as out:
            out.write(data)
    atheris.instrument_all()  # coverage of the decoders, imported above
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=4096", "-print_final_stats=1",
                   seeds], lambda data: check(target, data))
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    name, runs = argv[0], int(argv[1])
    if "--mutate" not in argv:
        try:
            import atheris  # noqa: F401
        except ImportError:
            pass
        else:
            _atheris_run(name, runs)
            return 0
    start = time.monotonic()
    done = mutation_loop(TARGETS[name], runs)
    print(json.dumps({"target": name, "engine": "mutation", "executions": done,
                      "seconds": round(time.monotonic() - start, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
