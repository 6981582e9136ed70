"""BenchFileSystem's own methods against fsspec's LocalFileSystem on a temp
directory as the oracle: the same calls give the same results and exceptions."""

from __future__ import annotations

import datetime
import errno
import os
import posixpath
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from benchfs.fsspec import BenchFileSystem

Outcome = Any


def outcome(call: Callable[[], Any], root: str) -> Outcome:
    """A call's result with ``root`` cut from every path, or its exception's type
    and errno."""
    try:
        result = call()
    except Exception as exc:  # the oracle's exceptions are part of the behaviour
        return ("raises", type(exc).__name__, getattr(exc, "errno", None))
    return _relative(result, root)


def same(mine: Outcome, theirs: Outcome) -> bool:
    """Equal outcomes; an oracle exception without errno (fsspec raises some bare)
    matches ours of the same type with any."""
    if isinstance(theirs, tuple) and theirs[:1] == ("raises",) and theirs[2] is None:
        return isinstance(mine, tuple) and mine[:2] == theirs[:2]
    return bool(mine == theirs)


def _relative(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace(root, "<root>")
    if isinstance(value, dict):
        return {_relative(k, root): _relative(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_relative(v, root) for v in value)
    return value


def _shape(info: dict[str, Any]) -> dict[str, Any]:
    """The fields both file systems fill the same way (a directory's size differs)."""
    return {"name": info["name"], "type": info["type"],
            "size": info["size"] if info["type"] == "file" else None}


def scenario(fs: Any, root: str) -> list[Outcome]:
    def at(*parts: str) -> str:
        return posixpath.join(root, *parts)

    steps: list[Callable[[], Any]] = [
        lambda: fs.pipe_file(at("deep", "er", "a.bin"), b"0123456789"),  # parents made
        lambda: fs.cat_file(at("deep", "er", "a.bin")),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), 2, 5),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), -3),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), 1, -1),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), 8, 100),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), -100, 2),
        lambda: fs.cat_file(at("deep", "er", "a.bin"), 20),
        lambda: fs.cat_file(at("missing")),
        lambda: fs.cat_file(at("deep")),
        lambda: [r if isinstance(r, bytes) else type(r).__name__ for r in fs.cat_ranges(
            [at("deep", "er", "a.bin"), at("deep", "er", "a.bin"), at("nope")],
            [0, -4, 0], [3, None, 1])],
        lambda: fs.pipe_file(at("deep", "er", "a.bin"), b"x", mode="create"),
        lambda: fs.pipe_file(at("deep", "b.txt"), b"bee", mode="create"),
        lambda: _shape(fs.info(at("deep", "er", "a.bin"))),
        lambda: _shape(fs.info(at("deep"))),
        lambda: fs.info(at("missing")),
        lambda: fs.info(at("deep", "b.txt", "under-a-file")),
        lambda: sorted(fs.ls(at("deep"), detail=False)),
        lambda: sorted((_shape(i) for i in fs.ls(at("deep"), detail=True)),
                       key=lambda i: i["name"]),
        lambda: fs.ls(at("deep", "b.txt"), detail=False),
        lambda: fs.ls(at("missing"), detail=False),
        lambda: fs.find(root),
        lambda: fs.find(root, withdirs=True),
        lambda: fs.find(root, maxdepth=1, withdirs=True),
        lambda: fs.find(at("deep", "b.txt")),
        lambda: {k: _shape(v) for k, v in fs.find(root, detail=True).items()},
        lambda: [(top, sorted(dirs), sorted(files)) for top, dirs, files in fs.walk(root)],
        lambda: [(top, sorted(dirs)) for top, dirs, _ in fs.walk(root, topdown=False)],
        lambda: [top for top, _, _ in fs.walk(root, maxdepth=2)],
        lambda: fs.glob(at("**", "*.bin")),
        lambda: fs.glob(at("deep", "*")),
        lambda: fs.glob(at("deep", "*/")),
        lambda: fs.glob(at("*", "b.t?t")),
        lambda: fs.du(root),
        lambda: fs.du(root, total=False),
        lambda: [fs.exists(at(p)) for p in ("deep", "deep/b.txt", "nope", "deep/b.txt/x")],
        lambda: [fs.isdir(at(p)) for p in ("deep", "deep/b.txt", "nope")],
        lambda: [fs.isfile(at(p)) for p in ("deep", "deep/b.txt", "nope")],
        lambda: fs.mkdir(at("deep")),
        lambda: fs.mkdir(at("m1", "m2"), create_parents=False),
        lambda: fs.mkdir(at("m1", "m2")),
        lambda: fs.makedirs(at("m1", "m2")),
        lambda: fs.makedirs(at("m1", "m2"), exist_ok=True),
        lambda: fs.makedirs(at("deep", "b.txt", "x"), exist_ok=True),
        lambda: fs.rmdir(at("deep")),
        lambda: fs.rmdir(at("m1", "m2")),
        lambda: fs.rmdir(at("m1", "m2")),
        lambda: fs.rm(at("deep")),
        lambda: fs.rm(at("nope")),
        lambda: fs.rm_file(at("deep")),
        lambda: fs.touch(at("t", "new")),
        lambda: fs.cat_file(at("t", "new")),
        lambda: fs.pipe_file(at("t", "new"), b"data"),
        lambda: fs.touch(at("t", "new"), truncate=False),
        lambda: fs.cat_file(at("t", "new")),
        lambda: fs.touch(at("t", "new")),
        lambda: fs.cat_file(at("t", "new")),
        lambda: fs.cp_file(at("deep", "er", "a.bin"), at("copies", "c.bin")),
        lambda: fs.cat_file(at("copies", "c.bin")),
        lambda: fs.cp_file(at("deep", "er"), at("copies", "dir")),
        lambda: fs.isdir(at("copies", "dir")),
        lambda: fs.cp_file(at("nope"), at("copies", "x")),
        lambda: fs.mv(at("copies", "c.bin"), at("moved", "c2.bin")),
        lambda: fs.mv(at("moved", "c2.bin"), at("deep")),
        lambda: sorted(fs.ls(at("deep"), detail=False)),
        lambda: fs.mv(at("deep", "er"), at("renamed")),
        lambda: fs.find(at("renamed")),
        lambda: fs.mv(at("nope"), at("nope2")),
        lambda: fs.rm([at("deep", "b.txt"), at("t", "new")]),
        lambda: fs.rm(at("renamed"), recursive=True),
        lambda: fs.find(root, withdirs=True),
    ]
    return [outcome(step, root) for step in steps]


def test_methods_match_local_file_system(bench_fs: BenchFileSystem, bench_dir: str,
                                         tmp_path: Path) -> None:
    local = scenario(LocalFileSystem(auto_mkdir=True), str(tmp_path))
    ours = scenario(bench_fs, bench_dir)
    for index, (theirs, mine) in enumerate(zip(local, ours, strict=True)):
        assert same(mine, theirs), f"step {index}: {mine} != {theirs}"


def test_open_modes_match_builtin_open(bench_fs: BenchFileSystem, bench_dir: str,
                                       tmp_path: Path) -> None:
    """Every mode builtins.open knows, through fs.open, against builtins.open itself
    (LocalFileSystem's file objects call themselves readable in "wb")."""
    def run(fs: Any, root: str) -> list[Outcome]:
        path = posixpath.join(root, "sub", "f")
        if fs is not bench_fs:
            os.makedirs(posixpath.dirname(path))
        results = []
        for mode, data in (("wb", b"abc"), ("ab", b"def"), ("r+b", b"X"), ("xb", b"no"),
                           ("w", "text\n"), ("a", "more\n"), ("rb", None), ("r", None),
                           ("w+b", b"hello"), ("a+b", b"!"), ("rt", None)):
            def step(mode: str = mode, data: Any = data) -> Any:
                with fs.open(path, mode) as f:
                    if data is not None:
                        f.write(data)
                    f.seek(0)
                    return (f.readable(), f.writable(), f.seekable(),
                            f.read() if f.readable() else None)
            results.append(outcome(step, root))
        results.append(outcome(lambda: fs.open(posixpath.join(root, "none"), "rb"), root))
        results.append(outcome(lambda: fs.open(root, "rb").read(), root))
        return results

    class Builtin:
        open = staticmethod(open)

    local = run(Builtin(), str(tmp_path))
    for index, (mine, theirs) in enumerate(zip(run(bench_fs, bench_dir), local, strict=True)):
        assert same(mine, theirs), f"step {index}: {mine} != {theirs}"


def test_open_gives_the_real_io_classes(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    import io

    path = f"{bench_dir}/f"
    with bench_fs.open(path, "wb") as f:
        assert isinstance(f, io.BufferedWriter)
        f.write(b"x" * 100_000)
    with bench_fs.open(path, "rb") as f:
        assert isinstance(f, io.BufferedReader)
        f.seek(-10, os.SEEK_END)
        assert f.read() == b"x" * 10
    with bench_fs.open(path, "r+b") as f:
        assert isinstance(f, io.BufferedRandom)
    with bench_fs.open(path, "r") as f:
        assert isinstance(f, io.TextIOWrapper)


def test_info_fields_and_times(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    path = f"{bench_dir}/f"
    before = datetime.datetime.now(datetime.timezone.utc)
    bench_fs.pipe_file(path, b"12345")
    info = bench_fs.info(path)
    st = bench_fs.client.stat(path)
    assert info == {"name": path, "size": 5, "type": "file", "created": st.st_ctime,
                    "islink": False, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                    "mtime": st.st_mtime, "ino": st.st_ino, "nlink": 1}
    modified = bench_fs.modified(path)
    assert modified.tzinfo == datetime.timezone.utc
    assert modified.timestamp() == pytest.approx(st.st_mtime, abs=1e-6)  # µs resolution
    assert bench_fs.created(path).timestamp() == pytest.approx(st.st_ctime, abs=1e-6)
    assert before - datetime.timedelta(seconds=5) < modified
    bench_fs.symlink(path, f"{bench_dir}/link")
    link = bench_fs.info(f"{bench_dir}/link")
    assert (link["type"], link["size"], link["islink"], link["destination"]) == (
        "file", 5, True, path)


def test_ukey_and_checksum_follow_changes(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    path = f"{bench_dir}/f"
    bench_fs.pipe_file(path, b"one")
    key, checksum = bench_fs.ukey(path), bench_fs.checksum(path)
    assert bench_fs.ukey(path) == key
    bench_fs.pipe_file(path, b"two!")
    assert bench_fs.ukey(path) != key
    assert bench_fs.checksum(path) != checksum


def test_mv_is_a_rename(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    """The same inode under the new name: no data was copied."""
    bench_fs.pipe_file(f"{bench_dir}/a/f", b"x" * (5 << 20))
    ino = bench_fs.info(f"{bench_dir}/a/f")["ino"]
    bench_fs.mv(f"{bench_dir}/a", f"{bench_dir}/b/c")
    assert bench_fs.info(f"{bench_dir}/b/c/f")["ino"] == ino
    assert not bench_fs.exists(f"{bench_dir}/a")


def test_large_copy_and_cat(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    """Several chunks and copy pieces, with a ragged end."""
    data = os.urandom(bench_fs.client.chunk_size * 5 + 12345)
    bench_fs.pipe_file(f"{bench_dir}/big", data)
    bench_fs.cp_file(f"{bench_dir}/big", f"{bench_dir}/copy")
    assert bench_fs.cat_file(f"{bench_dir}/copy") == data
    assert bench_fs.cat_file(f"{bench_dir}/copy", -100_000, -5) == data[-100_000:-5]
    with bench_fs.open(f"{bench_dir}/copy", "rb") as f:
        assert f.read() == data


def test_protocol_urls_and_registration(bench_cluster: Any, bench_dir: str) -> None:
    import fsspec

    assert fsspec.get_filesystem_class("benchfs") is BenchFileSystem
    registry = str(bench_cluster.registry)
    with fsspec.open(f"benchfs://{bench_dir}/u.txt", "wt", registry=registry) as f:
        f.write("via a url")
    fs, path = fsspec.core.url_to_fs(f"benchfs://{bench_dir}/u.txt", registry=registry)
    assert isinstance(fs, BenchFileSystem)
    assert (path, fs.cat_file(path)) == (f"{bench_dir}/u.txt", b"via a url")
    assert fs.unstrip_protocol(path) == f"benchfs://{bench_dir}/u.txt"
    assert BenchFileSystem._strip_protocol("benchfs:///a/b/") == "/a/b"
    assert BenchFileSystem._strip_protocol("benchfs:///") == "/"


def test_threads_share_one_file_system(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    """zarr calls one instance from a thread pool: every thread's writes and reads
    of its own files come back intact."""
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(30):
                path = f"{bench_dir}/w{worker}/f{index}"
                data = bytes([worker]) * (index * 997 + 1)
                bench_fs.pipe_file(path, data)
                assert bench_fs.cat_file(path) == data
                assert bench_fs.info(path)["size"] == len(data)
            assert len(bench_fs.ls(f"{bench_dir}/w{worker}", detail=True)) == 30
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(bench_fs.find(bench_dir)) == 6 * 30


def test_listing_a_large_directory(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    """One listing round and one round of lookups, whatever the size."""
    client = bench_fs.client
    for index in range(300):
        client.close(client.open(f"{bench_dir}/f{index:04d}", os.O_CREAT | os.O_WRONLY))
    detailed = bench_fs.ls(bench_dir, detail=True)
    assert sorted(i["name"] for i in detailed) == [f"{bench_dir}/f{i:04d}" for i in range(300)]
    assert {i["type"] for i in detailed} == {"file"}
    assert stat.S_ISREG(detailed[0]["mode"])


def test_mkdir_mode(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    bench_fs.mkdir(f"{bench_dir}/d", create_parents=False, mode=0o700)
    assert stat.S_IMODE(bench_fs.info(f"{bench_dir}/d")["mode"]) == 0o700 & ~_umask()
    with pytest.raises(FileExistsError):
        bench_fs.mkdir(f"{bench_dir}/d")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_no_registry_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    monkeypatch.delenv("BENCHFS_REGISTRY", raising=False)
    with pytest.raises(RuntimeError, match="BENCHFS_REGISTRY"):
        BenchFileSystem(skip_instance_cache=True)
    fs = BenchFileSystem(registry=str(tmp_path / "no-cluster"))  # cheap: connects on use
    with pytest.raises(OSError) as caught:
        fs.exists("/x")
    assert caught.value.errno == errno.ENOTCONN
    assert not isinstance(caught.value, FileNotFoundError)


def test_walk_pruning_matches_local(bench_fs: BenchFileSystem, bench_dir: str,
                                    tmp_path: Path) -> None:
    def run(fs: Any, root: str) -> list[Outcome]:
        for name in ("keep/a/f", "keep/b/f", "skip/c/f", "f"):
            fs.pipe_file(posixpath.join(root, name), b"x")
        seen = []
        for detail in (False, True):
            for top, dirs, _ in fs.walk(root, detail=detail):
                seen.append(top.replace(root, "<root>"))
                for name in [d for d in dirs if d in ("skip", "b")]:
                    if detail:
                        del dirs[name]
                    else:
                        dirs.remove(name)
        return sorted(seen)

    assert run(bench_fs, bench_dir) == run(LocalFileSystem(auto_mkdir=True), str(tmp_path))


def test_mv_lists_and_rm_maxdepth(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    for name in ("a", "b", "into/x"):
        bench_fs.pipe_file(f"{bench_dir}/{name}", name.encode())
    bench_fs.mv([f"{bench_dir}/a", f"{bench_dir}/b"], f"{bench_dir}/into")
    assert bench_fs.find(f"{bench_dir}/into") == [f"{bench_dir}/into/{n}" for n in "abx"]
    bench_fs.mv([f"{bench_dir}/into/a"], [f"{bench_dir}/back/a2"])
    assert bench_fs.cat_file(f"{bench_dir}/back/a2") == b"a"
    with pytest.raises(ValueError):
        bench_fs.mv([f"{bench_dir}/into/b"], [f"{bench_dir}/1", f"{bench_dir}/2"])
    bench_fs.pipe_file(f"{bench_dir}/tree/sub/deeper/f", b"x")
    with pytest.raises(OSError) as caught:  # only two levels asked for: the rest stays
        bench_fs.rm(f"{bench_dir}/tree", recursive=True, maxdepth=2)
    assert caught.value.errno == errno.ENOTEMPTY
    assert bench_fs.exists(f"{bench_dir}/tree/sub/deeper/f")
    bench_fs.rm(f"{bench_dir}/tree", recursive=True, maxdepth=4)
    assert not bench_fs.exists(f"{bench_dir}/tree")
