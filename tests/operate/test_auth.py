"""The cluster secret (DESIGN.md D14): created with safe modes, refused when others
can read it, proved by a mutual challenge-response on every connection; before
that, nothing is served on any opcode, and nothing reaches outside the data dir."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest

import benchfs
from benchfs.auth import HelloRefused, Secret, load_secret
from benchfs.auth.proofs import ClientHello, proof
from benchfs.auth.secret import SECRET_SIZE
from benchfs.client.client import Client
from benchfs.cluster import LocalCluster
from benchfs.config import ConfigError
from benchfs.core.wire import REQUEST_FIELDS, EntryList, Op, SignedInt, encode_reply, encode_request
from benchfs.registry import read_cluster_config
from benchfs.settings import ClientSettings
from tests.conftest import start_cluster
from tests.operate.raw_peer import RawPeer

SETTINGS = ClientSettings(timeout=10.0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("auth"), 2, "tcp", chunk_size=64 << 10)
    yield running
    running.down()


def _secret(cluster: LocalCluster) -> Secret:
    return load_secret(cluster.registry, read_cluster_config(cluster.registry).cluster_id)


def _sample(kind: Any) -> Any:
    samples = {str: "/x", int: 1, bool: False, bytes: b"", dict: {}, SignedInt: 0,
               EntryList: []}
    return samples[kind]


def _every_request() -> list[tuple[str, int, int, bytes | None]]:
    """(name, opcode, length, body) of a well-formed request of every opcode but the hello's."""
    requests: list[tuple[str, int, int, bytes | None]] = [
        ("WRITE", int(Op.WRITE), 4, b"evil"), ("READ", int(Op.READ), 4096, None),
        ("FSYNC", int(Op.FSYNC), 0, None),
        ("WRITE rendezvous", int(Op.WRITE), 1 << 20, b"e" * (1 << 20))]
    for op, fields in REQUEST_FIELDS.items():
        if op not in (Op.HELLO, Op.HELLO_PROVE):
            body = encode_request(op, *[_sample(kind) for _, kind in fields])
            requests.append((op.name, int(op), 0, body))
    return requests


def put(client: Client, path: str, data: bytes) -> None:
    fd = client.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[client.write(fd, view):]
    finally:
        client.close(fd)


def get(client: Client, path: str) -> bytes:
    fd = client.open(path, os.O_RDONLY)
    try:
        return client.pread(fd, client.fstat(fd).st_size, 0)
    finally:
        client.close(fd)


def _written_file(cluster: LocalCluster, name: str, data: bytes) -> int:
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        put(client, name, data)
        return int(client.stat(name).st_ino)


def _read_back(cluster: LocalCluster, name: str) -> bytes:
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        return get(client, name)


def _still_serving(cluster: LocalCluster) -> None:
    for entry in cluster.entries().values():
        assert psutil.pid_exists(entry.pid)
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        client.makedirs("/alive", exist_ok=True)
        assert "alive" in client.listdir("/")


def _chunk_files(cluster: LocalCluster) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in cluster.root.glob("data/*/chunks/*")}


# -- the secret file -------------------------------------------------------------------


def test_cluster_up_creates_a_private_secret(cluster: LocalCluster) -> None:
    secret_file = cluster.registry / "secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cluster.registry.stat().st_mode) == 0o700
    assert len(secret_file.read_bytes()) == SECRET_SIZE


def test_first_serve_creates_the_secret(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    proc = subprocess.Popen([sys.executable, "-m", "benchfs", "serve", "--registry", str(registry),
                             "--data-dir", str(tmp_path / "data")],
                            env={**os.environ, "UCX_TLS": "tcp"}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (registry / "server-0.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert stat.S_IMODE((registry / "secret").stat().st_mode) == 0o600
        assert stat.S_IMODE(registry.stat().st_mode) == 0o700
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_secret_others_can_read_is_refused(cluster: LocalCluster, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = cluster.registry / "secret"
    os.chmod(secret_file, 0o640)
    try:
        with pytest.raises(ConfigError, match=r"mode 0640.*--insecure.*BENCHFS_INSECURE=1"):
            benchfs.connect(cluster.registry, SETTINGS)
        proc = subprocess.run(
            [sys.executable, "-m", "benchfs", "serve", "--registry", str(cluster.registry),
             "--data-dir", str(tmp_path / "d"), "--rank", "1"],
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "can be read by other users (mode 0640)" in proc.stderr
        assert not (tmp_path / "d").exists()
        # Told what it gives up, a client may go on: through the environment too.
        monkeypatch.setenv("BENCHFS_INSECURE", "1")
        with benchfs.connect(cluster.registry, ClientSettings.from_env()) as client:
            client.listdir("/")
    finally:
        os.chmod(secret_file, 0o600)


def test_serve_insecure_starts_and_says_what_it_gives_up(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    registry.mkdir(mode=0o700)
    (registry / "secret").write_bytes(os.urandom(SECRET_SIZE))
    os.chmod(registry / "secret", 0o644)
    proc = subprocess.Popen([sys.executable, "-m", "benchfs", "serve", "--registry", str(registry),
                             "--data-dir", str(tmp_path / "data"), "--insecure"],
                            env={**os.environ, "UCX_TLS": "tcp"}, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while not (registry / "server-0.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "anyone who can read it can connect" in err


def test_a_missing_secret_is_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    bare = tmp_path / "no-secret"
    shutil.copytree(cluster.registry, bare, ignore=shutil.ignore_patterns("secret"))
    with pytest.raises(ConfigError, match="secret: is missing: start the cluster"):
        benchfs.connect(bare, SETTINGS)


def test_a_symlinked_or_short_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(os.urandom(SECRET_SIZE))
    os.chmod(tmp_path / "elsewhere", 0o600)
    (tmp_path / "reg").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "reg" / "secret")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_secret(tmp_path / "reg", "0" * 32)
    os.unlink(tmp_path / "reg" / "secret")
    (tmp_path / "reg" / "secret").write_bytes(b"short")
    os.chmod(tmp_path / "reg" / "secret", 0o600)
    with pytest.raises(ConfigError, match="exactly 32 bytes"):
        load_secret(tmp_path / "reg", "0" * 32)


# -- the proofs (sans-I/O) -------------------------------------------------------------


def test_a_server_without_the_secret_is_not_believed() -> None:
    ours, theirs = Secret(b"a" * 32, "0" * 32), Secret(b"b" * 32, "0" * 32)
    exchange = ClientHello(ours)
    nonce = os.urandom(32)
    forged = proof(theirs, b"server", exchange.nonce, nonce)
    with pytest.raises(HelloRefused, match="does not know the cluster secret"):
        exchange.prove(0, encode_reply([nonce, forged]))
    # Nor one that reflects a client's proof, nor one of another cluster.
    reflected = proof(ours, b"client", exchange.nonce, nonce)
    with pytest.raises(HelloRefused):
        exchange.prove(0, encode_reply([nonce, reflected]))
    other_cluster = proof(Secret(b"a" * 32, "1" * 32), b"server", exchange.nonce, nonce)
    with pytest.raises(HelloRefused):
        exchange.prove(0, encode_reply([nonce, other_cluster]))
    for garbage in (b"", b"\xc1", encode_reply([nonce]), encode_reply([b"n", forged])):
        with pytest.raises(HelloRefused, match="not a hello"):
            exchange.prove(0, garbage)


def test_the_secret_never_crosses_the_wire() -> None:
    secret = Secret(os.urandom(32), "0" * 32)
    exchange = ClientHello(secret)
    nonce = os.urandom(32)
    sent = [exchange.request(),
            exchange.prove(0, encode_reply([nonce, proof(secret, b"server", exchange.nonce,
                                                         nonce)]))]
    assert not any(secret.key in body for body in sent)
    assert "key" not in repr(secret) and repr(secret.key) not in repr(secret)


# -- real servers ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "opcode", "length", "body"), _every_request(),
                         ids=[r[0] for r in _every_request()])
def test_nothing_is_served_before_the_hello(cluster: LocalCluster, name: str, opcode: int,
                                            length: int, body: bytes | None) -> None:
    data = b"the real contents" * 100
    ino = _written_file(cluster, f"/victim-{name.replace(' ', '-')}", data)
    chunks = _chunk_files(cluster)
    peer = RawPeer(cluster)
    try:
        received = bytearray(b"\xaa" * max(length, 1))
        reply = peer.call(opcode, ino, 0, length, body,
                          received if opcode == Op.READ else None)
        assert reply.status == errno.EACCES
        assert not reply.payload
        assert received == b"\xaa" * len(received)  # no byte of the file came back
    finally:
        peer.close()
    assert _chunk_files(cluster) == chunks
    assert _read_back(cluster, f"/victim-{name.replace(' ', '-')}") == data


def test_wrong_secret_no_secret_and_replay_get_nothing(cluster: LocalCluster) -> None:
    secret = _secret(cluster)
    ino = _written_file(cluster, "/replayed", b"x" * 5000)
    # A good hello, recorded.
    peer = RawPeer(cluster)
    challenge, accepted, first, second = peer.hello(secret)
    assert challenge.status == 0 and accepted.status == 0
    buffer = bytearray(5000)
    assert peer.call(int(Op.READ), ino, 0, 5000, recv_into=buffer).status == 0
    peer.close()
    attempts = {
        "replayed": lambda p: (p.call(int(Op.HELLO), body=first),
                               p.call(int(Op.HELLO_PROVE), body=second))[1],
        "wrong secret": lambda p: p.prove_blindly(Secret(os.urandom(32), secret.cluster_id)),
        "other cluster": lambda p: p.prove_blindly(Secret(secret.key, "f" * 32)),
        "proof without hello": lambda p: p.call(int(Op.HELLO_PROVE), body=second),
        "short nonce": lambda p: p.call(int(Op.HELLO), body=encode_request(Op.HELLO, b"n", "x")),
        "garbage hello": lambda p: p.call(int(Op.HELLO), body=b"\xc1garbage"),
        "oversized hello": lambda p: p.call(int(Op.HELLO), body=encode_request(
            Op.HELLO, b"n" * 32, "x" * 4096)),
    }
    for name, attempt in attempts.items():
        peer = RawPeer(cluster)
        try:
            assert attempt(peer).status == errno.EACCES, name
            # The connection is closed (or still refused): no data either way.
            after = peer.call(int(Op.READ), ino, 0, 5000, recv_into=bytearray(5000))
            assert after.status in (errno.EACCES, errno.ECONNRESET, errno.ENOTCONN,
                                    errno.ETIMEDOUT), name
            assert not after.length, name
        except OSError as exc:  # the send found the connection closed already
            assert exc.errno == errno.ENOTCONN, name
        finally:
            peer.close()
    _still_serving(cluster)


def test_garbage_before_the_hello_then_a_request(cluster: LocalCluster) -> None:
    peer = RawPeer(cluster)
    try:
        for size in (0, 1, 47, 48, 49, 4096):
            peer.engine.send_raw(peer.conn, os.urandom(size), os.urandom(size))
        assert peer.call(int(Op.LOOKUP), body=encode_request(Op.LOOKUP, "/")).status == \
            errno.EACCES
    finally:
        peer.close()
    _still_serving(cluster)


def test_a_client_with_the_wrong_secret_is_refused(cluster: LocalCluster,
                                                   tmp_path: Path) -> None:
    """A copy of the registry with another secret: each side refuses the other."""
    fake = tmp_path / "fake-registry"
    shutil.copytree(cluster.registry, fake)
    (fake / "secret").write_bytes(os.urandom(SECRET_SIZE))
    with benchfs.connect(fake, SETTINGS) as client:
        with pytest.raises(PermissionError, match="does not know the cluster secret"):
            client.listdir("/")
    _still_serving(cluster)


def test_server_to_server_steps_pass_the_hello(cluster: LocalCluster) -> None:
    """Renames across servers run as transactions whose steps go server to server."""
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        client.makedirs("/tx", exist_ok=True)
        for i in range(20):
            put(client, f"/tx/f{i}", b"%d" % i)
        for i in range(20):
            client.rename(f"/tx/f{i}", f"/tx/g{i}")
        assert sorted(client.listdir("/tx")) == sorted(f"g{i}" for i in range(20))


# -- names from the network never leave the data directory -----------------------------

ADVERSARIAL = ["...", "..%2f..%2fetc", "\\..\\..", "%s%s%n", "-rf", "~root",
               " chunks", "a\nb", "\x7f", "\udcff\udcfe", "x" * 255, "chunks", "meta"]


def test_adversarial_names_stay_in_the_metadata(cluster: LocalCluster) -> None:
    outside = sorted(p.name for p in cluster.root.parent.iterdir())
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        client.makedirs("/adv", exist_ok=True)
        for name in ADVERSARIAL:
            put(client, f"/adv/{name}", name.encode("utf-8", "surrogateescape") * 500)
        for bad in ("/adv/../../../../../etc/passwd", "/../../../tmp/x"):
            client.makedirs(os.path.dirname(bad), exist_ok=True)
            put(client, bad, b"contained")
        listed = set(client.listdir("/adv"))
        assert set(ADVERSARIAL) <= listed
    chunk_name = re.compile(r"[0-9a-f]{16}")
    for path in cluster.root.rglob("*"):
        relative = path.relative_to(cluster.root).parts
        if relative[0] == "data" and len(relative) == 4 and relative[2] == "chunks":
            assert chunk_name.fullmatch(relative[3]), path
    assert sorted(p.name for p in cluster.root.parent.iterdir()) == outside
    assert not (cluster.root / "etc").exists()


def test_raw_requests_cannot_name_files(cluster: LocalCluster) -> None:
    """Past the hello: paths must be normalised, and a chunk file is named by its inode
    number alone, so the largest number still lands in the chunk directory."""
    peer = RawPeer(cluster)
    try:
        peer.hello(_secret(cluster))
        for path in ("/../../etc/evil", "/a/../../evil", "//evil", "evil", "/evil\0"):
            body = msgpack.packb([path, 0o644, False, 0, 0, 1])
            assert peer.call(int(Op.CREATE), body=body).status == errno.EPROTO, path
        top = (1 << 64) - 1
        assert peer.call(int(Op.WRITE), top, 0, 4, b"edge").status == 0
        assert peer.call(int(Op.FSYNC), top).status == 0
    finally:
        peer.close()
    written = [p for p in cluster.root.glob("data/*/chunks/ffffffffffffffff")]
    assert [p.read_bytes() for p in written] == [b"edge"]


def test_a_planted_symlink_among_the_chunks_is_not_followed(cluster: LocalCluster,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_bytes(b"do not touch")
    ino = _written_file(cluster, "/planted", b"")
    for rank in cluster.entries():
        chunk = cluster.data_dir(rank) / "chunks" / f"{ino:016x}"
        chunk.parent.mkdir(parents=True, exist_ok=True)
        chunk.unlink(missing_ok=True)
        os.symlink(target, chunk)
    with benchfs.connect(cluster.registry, SETTINGS) as client:
        fd = client.open("/planted", os.O_RDWR)
        try:
            with pytest.raises(OSError) as caught:
                client.write(fd, b"overwritten!" * 20000)  # past inline data: chunk files
            assert caught.value.errno == errno.ELOOP
            # A read past the planted link: refused, or a hole, never the target's bytes.
            try:
                client.ftruncate(fd, 200_000)
                data = client.pread(fd, 12, 0)
            except OSError as exc:
                assert exc.errno == errno.ELOOP
            else:
                assert data == bytes(12)
        finally:
            client.close(fd)
    assert target.read_bytes() == b"do not touch"
    _still_serving(cluster)


def test_registry_files_are_what_clients_read(cluster: LocalCluster) -> None:
    config = json.loads((cluster.registry / "cluster.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{32}", config["cluster_id"])
    assert "secret" not in json.dumps(config)
