"""Data written through the client lands on real servers and reads back exactly."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from textwrap import dedent

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.settings import ClientSettings

MiB = 1 << 20


def test_64mib_mixed_unaligned_writes_read_back_identical(cluster: LocalCluster) -> None:
    size = 64 * MiB
    rng = random.Random(1234)
    expected = bytearray(size)
    with benchfs.connect(cluster.registry) as client:
        fd = client.open("/big.dat", os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        # Large sequential pieces of odd sizes, then small scattered overwrites,
        # so that writes straddle chunk boundaries in every way.
        offset = 0
        while offset < size:
            length = min(size - offset, rng.randint(1, 3 * MiB + 12345))
            data = rng.randbytes(length)
            assert client.pwrite(fd, data, offset) == length
            expected[offset:offset + length] = data
            offset += length
        for _ in range(200):
            start = rng.randrange(size)
            data = rng.randbytes(min(size - start, rng.randint(1, 70000)))
            client.lseek(fd, start, os.SEEK_SET)
            assert client.write(fd, data) == len(data)
            expected[start:start + len(data)] = data
        client.fsync(fd)
        assert client.fstat(fd).st_size == size
        client.close(fd)

        fd = client.open("/big.dat", os.O_RDONLY)
        assert client.read(fd, size + 100) == expected
        for _ in range(100):
            start = rng.randrange(size)
            length = rng.randint(0, 5 * MiB)
            assert client.pread(fd, length, start) == expected[start:start + length]
        client.close(fd)
        client.unlink("/big.dat")


def test_holes_read_as_zeros_and_size_follows_writes_past_the_end(cluster: LocalCluster) -> None:
    with benchfs.connect(cluster.registry) as client:
        fd = client.open("/holes.dat", os.O_CREAT | os.O_RDWR | os.O_TRUNC)
        far = 9 * MiB + 17  # beyond two chunk boundaries
        client.pwrite(fd, b"tail", far)
        assert client.fstat(fd).st_size == far + 4
        assert client.stat("/holes.dat").st_size == far + 4
        data = client.pread(fd, far + 100, 0)
        assert len(data) == far + 4
        assert data[:far] == bytes(far)
        assert data[far:] == b"tail"
        client.close(fd)
        client.unlink("/holes.dat")


def test_two_client_processes_see_each_others_data_after_close(cluster: LocalCluster) -> None:
    payload = os.urandom(5 * MiB + 3)
    writer = dedent(f"""
        import os, sys, benchfs
        client = benchfs.connect({str(cluster.registry)!r})
        fd = client.open("/shared.dat", os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
        data = sys.stdin.buffer.read()
        client.write(fd, data)
        client.close(fd)
        fd = client.open("/from-parent.dat", os.O_RDONLY)
        sys.stdout.buffer.write(client.read(fd, 1 << 30))
        client.close(fd)
    """)
    with benchfs.connect(cluster.registry) as client:
        fd = client.open("/from-parent.dat", os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
        client.write(fd, payload[::-1])
        client.close(fd)
        child = subprocess.run([sys.executable, "-c", writer], input=payload,
                               capture_output=True, timeout=120, env=os.environ.copy())
        assert child.returncode == 0, child.stderr.decode()
        assert child.stdout == payload[::-1]
        fd = client.open("/shared.dat", os.O_RDONLY)
        assert client.read(fd, 1 << 30) == payload
        client.close(fd)


def test_an_open_reader_sees_another_clients_growth_once_its_size_is_stale(
        cluster: LocalCluster) -> None:
    """A read past the size a descriptor knows asks the server again only once that
    size is older than the metadata TTL (as NFS's attribute cache): close-to-open
    holds, and a reader following a growing file sees the growth soon after."""
    ttl = 0.3
    with benchfs.connect(cluster.registry) as writer, \
            benchfs.connect(cluster.registry, ClientSettings(metadata_ttl=ttl)) as reader:
        fd = writer.open("/growing.log", os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
        writer.write(fd, b"first\n")
        writer.fsync(fd)
        rfd = reader.open("/growing.log", os.O_RDONLY)
        assert reader.read(rfd, 100) == b"first\n"
        writer.write(fd, b"second\n")
        writer.fsync(fd)
        time.sleep(ttl * 1.5)
        assert reader.read(rfd, 100) == b"second\n"
        reader.close(rfd)
        writer.close(fd)


def test_a_descriptor_sees_what_another_descriptor_of_its_client_wrote(
        cluster: LocalCluster) -> None:
    """Within one client the size is always current, however fresh the TTL."""
    with benchfs.connect(cluster.registry, ClientSettings(metadata_ttl=3600)) as client:
        wfd = client.open("/two-fds.dat", os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
        rfd = client.open("/two-fds.dat", os.O_RDONLY)
        assert client.read(rfd, 10) == b""
        for size in (10, 5000, 3 * MiB):
            client.pwrite(wfd, b"z" * size, 0)
            assert client.pread(rfd, 10 * MiB, 0) == b"z" * size
        client.close(wfd)
        client.close(rfd)
