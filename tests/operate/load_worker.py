"""One client process of the load test: mixed operations on its own files, every
byte read back checked against what it wrote.

    python -m tests.operate.load_worker REGISTRY WORKER OPS SEED

Each worker works in /load/s<SEED>: a directory name not used before, because a
server refuses new names under a just-removed directory for 10 s even once it is
made again (metadata TOMBSTONE_SECONDS).

Prints one JSON line: operations by kind, errors (each described), bytes verified.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter

import benchfs
from benchfs.client.client import Client
from benchfs.settings import ClientSettings

MAX_SIZE = 300_000  # past a 64 KiB chunk and the inline limit: several servers per file


class Worker:
    def __init__(self, client: Client, home: str, seed: int) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.home = home
        self.files: dict[str, bytearray] = {}  # name -> what it must hold
        self.next_name = 0
        self.done: Counter[str] = Counter()
        self.errors: list[str] = []
        self.verified = 0

    def _new_name(self) -> str:
        self.next_name += 1
        return f"{self.home}/f{self.next_name}"

    def _data(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def step(self) -> None:
        kinds = ["create", "write", "read", "stat", "rename", "unlink", "fsync"]
        weights = [3, 3, 4, 2, 1, 1, 1] if self.files else [1, 0, 0, 0, 0, 0, 0]
        kind = self.rng.choices(kinds, weights)[0]
        try:
            getattr(self, kind)()
            self.done[kind] += 1
        except Exception as exc:  # every failure is a finding, reported by the test
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")

    def _pick(self) -> str:
        return self.rng.choice(sorted(self.files))

    def create(self) -> None:
        name, data = self._new_name(), self._data(self.rng.randint(0, MAX_SIZE))
        fd = self.client.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            self._write_all(fd, data, 0)
        finally:
            self.client.close(fd)
        self.files[name] = bytearray(data)

    def _write_all(self, fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            n = self.client.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n

    def write(self) -> None:
        name = self._pick()
        model = self.files[name]
        offset = self.rng.randint(0, len(model) + 1000)
        data = self._data(self.rng.randint(1, 100_000))
        fd = self.client.open(name, os.O_WRONLY)
        try:
            self._write_all(fd, data, offset)
        finally:
            self.client.close(fd)
        if offset > len(model):
            model.extend(bytes(offset - len(model)))
        model[offset:offset + len(data)] = data

    def read(self) -> None:
        self.read_one(self._pick())

    def stat(self) -> None:
        name = self._pick()
        size = self.client.stat(name).st_size
        if size != len(self.files[name]):
            raise AssertionError(f"{name}: st_size {size}, expected {len(self.files[name])}")

    def rename(self) -> None:
        old, new = self._pick(), self._new_name()
        self.client.rename(old, new)
        self.files[new] = self.files.pop(old)

    def unlink(self) -> None:
        name = self._pick()
        self.client.unlink(name)
        del self.files[name]

    def fsync(self) -> None:
        fd = self.client.open(self._pick(), os.O_RDWR)
        try:
            self.client.fsync(fd)
        finally:
            self.client.close(fd)

    def finish(self) -> None:
        """Check every file left, then remove them all (the servers' memory is
        compared before and after)."""
        listed = sorted(self.client.listdir(self.home))
        expected = sorted(name.rsplit("/", 1)[1] for name in self.files)
        if listed != expected:
            self.errors.append(f"listdir: {len(listed)} names, expected {len(expected)}")
        for name in sorted(self.files):
            try:
                self.read_one(name)
                self.client.unlink(name)
            except Exception as exc:
                self.errors.append(f"final {name}: {type(exc).__name__}: {exc}")
        self.client.rmdir(self.home)

    def read_one(self, name: str) -> None:
        fd = self.client.open(name, os.O_RDONLY)
        try:
            got = self.client.pread(fd, MAX_SIZE * 4, 0)
        finally:
            self.client.close(fd)
        if got != self.files[name]:
            raise AssertionError(f"{name}: read {len(got)} bytes that differ from the "
                                 f"{len(self.files[name])} written")
        self.verified += len(got)


def main(argv: list[str]) -> int:
    registry, worker, ops, seed = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    with benchfs.connect(registry, ClientSettings(timeout=60.0)) as client:
        home = f"/load/s{seed}"
        client.makedirs(home, exist_ok=True)
        run = Worker(client, home, seed)
        for _ in range(ops):
            run.step()
        run.finish()
    print(json.dumps({"worker": worker, "ops": dict(run.done), "errors": run.errors[:20],
                      "error_count": len(run.errors), "verified": run.verified}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
