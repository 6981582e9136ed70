"""Routing: prefixes on a '/' boundary (longest first, several clusters at once),
bytes and normalised paths, the virtual working directory, references captured before
interposition started, start/stop, 32 threads inside and outside at once, and fork."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.interpose import router
from tests.conftest import start_cluster
from tests.interpose.conftest import PREFIX, Pair


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("second"), 1, "sm,tcp")
    yield running
    running.down()


@pytest.fixture
def nested(bfs: benchfs.Interposition,
           second_cluster: LocalCluster) -> Iterator[benchfs.Interposition]:
    """A second cluster at PREFIX/inner: the longer prefix wins below it."""
    with benchfs.interpose(f"{PREFIX}/inner", second_cluster.registry) as inner:
        yield inner


def test_longest_prefix_on_a_slash_boundary(bfs: benchfs.Interposition,
                                            nested: benchfs.Interposition) -> None:
    for name in ("/inner", "/innerx"):
        bfs.client.makedirs(name, exist_ok=True)
    with open(f"{PREFIX}/inner/x", "w") as f:
        f.write("second cluster")
    with open(f"{PREFIX}/innerx/y", "w") as f:
        f.write("first cluster")
    assert nested.client.listdir("/") == ["x"]
    assert "y" in bfs.client.listdir("/innerx") and "x" not in bfs.client.listdir("/inner")
    assert os.listdir(f"{PREFIX}/inner") == ["x"]
    assert os.stat(f"{PREFIX}/inner").st_dev != os.stat(PREFIX).st_dev
    with pytest.raises(OSError) as crossing:
        os.rename(f"{PREFIX}/inner/x", f"{PREFIX}/innerx/x")
    assert crossing.value.errno == 18


def test_paths_that_look_alike(bfs: benchfs.Interposition, tmp_path: Path) -> None:
    """A prefix under a real directory: its siblings and what '..' leaves for are real."""
    real_root = tmp_path / "root"
    (real_root / "bfsx").mkdir(parents=True)
    (real_root / "bfsx" / "real.txt").write_text("on the local disk")
    (real_root / "hostfile").write_text("also local")
    with benchfs.interpose(real_root / "bfs", bfs.client.registry) as here:
        here.client.makedirs("/d", exist_ok=True)
        with open(f"{real_root}/bfs/d/f", "w") as f:
            f.write("benchfs")
        assert open(f"{real_root}/bfsx/real.txt").read() == "on the local disk"
        assert open(f"{real_root}/bfs/../hostfile").read() == "also local"
        assert open(f"{real_root}/bfsx/../bfs/d/f").read() == "benchfs"
        assert open(f"{real_root}//bfs/./d//f").read() == "benchfs"
        assert os.listdir(os.fsencode(f"{real_root}/bfs/d")) == [b"f"]
        assert open(os.fsencode(f"{real_root}/bfs/d/f"), "rb").read() == b"benchfs"
        assert os.stat(Path(real_root, "bfs")).st_ino == here.client.stat("/").st_ino
        with pytest.raises(NotADirectoryError) as slash:
            os.stat(f"{real_root}/bfs/d/f/")
        assert slash.value.filename == f"{real_root}/bfs/d/f/"
        with pytest.raises(FileNotFoundError) as missing:
            os.stat(f"{real_root}/bfs/d/none")
        assert missing.value.filename == f"{real_root}/bfs/d/none"
        os.symlink(f"{real_root}/bfs/d/f", f"{real_root}/bfs/d/absolute")
        assert os.readlink(f"{real_root}/bfs/d/absolute") == f"{real_root}/bfs/d/f"
        assert here.client.readlink("/d/absolute") == "/d/f"  # benchfs can follow it
        assert open(f"{real_root}/bfs/d/absolute").read() == "benchfs"
    assert not (real_root / "bfs").exists()  # nothing reached the local disk


def test_the_virtual_working_directory(bfs: benchfs.Interposition, pair: Pair,
                                       tmp_path: Path) -> None:
    inside = pair.bfs.root
    os.mkdir(f"{inside}/sub")
    saved = os.getcwd()
    try:
        os.chdir(f"{inside}/sub")
        assert os.getcwd() == f"{inside}/sub" and os.getcwdb() == os.fsencode(f"{inside}/sub")
        with open("here.txt", "w") as f:
            f.write("relative")
        assert os.listdir() == ["here.txt"] and os.listdir(".") == ["here.txt"]
        assert Path("here.txt").read_text() == "relative"
        assert os.path.abspath("x") == f"{inside}/sub/x" and str(Path.cwd()) == f"{inside}/sub"
        assert bfs.client.listdir(f"{inside[len(PREFIX):]}/sub") == ["here.txt"]
        os.chdir("..")
        assert os.getcwd() == inside and sorted(os.listdir()) == ["sub"]
        (tmp_path / "local.txt").write_text("local")
        climb = "../" * inside.count("/") + str(tmp_path / "local.txt").lstrip("/")
        assert open(climb).read() == "local"  # '..' out of the prefix: the real disk
        with pytest.raises(FileNotFoundError) as missing:
            os.chdir("nowhere")
        assert missing.value.filename == "nowhere" and os.getcwd() == inside
        fd = os.open(f"{inside}/sub", os.O_RDONLY)
        os.chdir(tmp_path)
        assert os.getcwd() == str(tmp_path) and open("local.txt").read() == "local"
        os.fchdir(fd)
        assert os.getcwd() == f"{inside}/sub"
        os.close(fd)
        real_fd = os.open(tmp_path, os.O_RDONLY)
        os.fchdir(real_fd)
        os.close(real_fd)
        assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(saved)
    assert os.getcwd() == saved


_CAPTURING = textwrap.dedent("""
    import os
    import io
    from os import stat, listdir
    from builtins import open as builtin_open

    def reader(path, _open=open, *, _stat=os.stat):
        return _open(path).read(), _stat(path).st_size

    class Holder:
        stat = os.stat
        listing = staticmethod(os.listdir)
        opener = io.open

    class Settings:
        def __init__(self):
            self.calls = {"open": io.open}

    settings = Settings()
""")


def test_captured_references(bfs: benchfs.Interposition, pair: Pair, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """References taken before interposition started are routed, and given back."""
    (tmp_path / "capturing_mod.py").write_text(_CAPTURING)
    (tmp_path / "late_mod.py").write_text("from posix import stat\nfrom io import open\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bfs.stop()
    try:
        module = importlib.import_module("capturing_mod")
        real_stat = module.stat
        assert real_stat is os.stat
    finally:
        bfs.start()
    path = f"{pair.bfs.root}/captured"
    with open(path, "w") as f:
        f.write("seen")
    assert module.stat(path).st_size == 4 and module.listdir(pair.bfs.root) == ["captured"]
    assert module.builtin_open(path).read() == "seen"
    assert module.reader(path) == ("seen", 4)
    holder = module.Holder()
    assert holder.stat(path).st_size == 4 and holder.listing(pair.bfs.root) == ["captured"]
    assert holder.opener(path).read() == "seen"
    assert module.settings.calls["open"](path).read() == "seen"
    late = importlib.import_module("late_mod")  # imported while interposition runs
    assert late.stat(path).st_size == 4 and late.open(path).read() == "seen"
    bfs.stop()
    try:
        assert module.stat is real_stat and module.Holder.stat is real_stat
        assert module.reader.__kwdefaults__["_stat"] is real_stat
    finally:
        bfs.start()
        sys.modules.pop("capturing_mod", None)
        sys.modules.pop("late_mod", None)


def test_start_and_stop(bfs_cluster: LocalCluster, bfs: benchfs.Interposition) -> None:
    real = bfs.client  # the module's interposition stays; a second prefix comes and goes
    extra = benchfs.interpose("/elsewhere", bfs_cluster.registry)
    assert not extra.active
    extra.start()
    try:
        assert os.path.isdir("/elsewhere") and extra.client is not real
        with pytest.raises(RuntimeError):
            extra.start()
        with pytest.raises(ValueError):
            benchfs.interpose(PREFIX, bfs_cluster.registry).start()
    finally:
        extra.stop()
    extra.stop()  # twice is harmless
    assert not os.path.exists("/elsewhere")
    for bad in ("relative", "/"):
        with pytest.raises(ValueError):
            benchfs.interpose(bad, bfs_cluster.registry)


def test_stopping_the_last_prefix_restores_os(bfs_cluster: LocalCluster,
                                              bfs: benchfs.Interposition) -> None:
    wrapped = os.stat
    bfs.stop()
    try:
        assert os.stat is not wrapped and type(os.stat).__name__ == "builtin_function_or_method"
        assert open is not wrapped and os.stat in os.supports_dir_fd
        assert wrapped not in os.supports_dir_fd
        assert router.state().mounts == ()
    finally:
        bfs.start()
    assert os.stat in os.supports_dir_fd and os.stat in os.supports_follow_symlinks
    assert os.scandir in os.supports_fd and os.open in os.supports_dir_fd


def test_32_threads_inside_and_outside(pair: Pair) -> None:
    """Mixed I/O on both sides at once: every byte lands where its path says."""
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def work(index: int) -> None:
        try:
            start.wait()
            root = pair.bfs.root if index % 2 else pair.local.root
            mine = f"{root}/t{index}"
            os.mkdir(mine)
            for step in range(20):
                payload = f"{index}:{step}:".encode() * (1 + step * 50)
                with open(f"{mine}/f{step}", "wb") as f:
                    f.write(payload)
                with open(f"{mine}/f{step}", "rb") as f:
                    assert f.read() == payload
                assert os.stat(f"{mine}/f{step}").st_size == len(payload)
                if step % 3 == 0:
                    os.rename(f"{mine}/f{step}", f"{mine}/r{step}")
                    os.unlink(f"{mine}/r{step}")
            assert len(os.listdir(mine)) == 13
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(os.listdir(pair.bfs.root)) == sorted(f"t{i}" for i in range(1, 32, 2))
    assert sorted(os.listdir(pair.local.root)) == sorted(f"t{i}" for i in range(0, 32, 2))


_FORKING = textwrap.dedent("""
    import os, sys
    import benchfs
    mount, registry = sys.argv[1], sys.argv[2]
    prefix = mount + "/forking"
    with benchfs.interpose(mount, registry):
        pid = os.fork()  # before this process connected
        if pid == 0:
            with open(prefix + "/from-child", "w") as f:
                f.write("child")
            os.chdir(prefix)
            os._exit(0 if os.listdir() == ["from-child"] else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        held = os.open(prefix + "/from-parent", os.O_RDWR | os.O_CREAT)
        os.write(held, b"parent:")
        api_fd = benchfs.open("/forking/from-api", os.O_RDWR | os.O_CREAT)
        benchfs.write(api_fd, b"api:")
        pid = os.fork()  # after: the parent's descriptors and offsets carry over
        if pid == 0:
            try:
                os.write(held, b"child")
                benchfs.write(api_fd, b"child")
                os.lseek(held, 0, os.SEEK_SET)
                ok = (os.read(held, 100) == b"parent:child"
                      and benchfs.pread(api_fd, 100, 0) == b"api:child")
            except OSError as exc:
                print(exc, file=sys.stderr)
                os._exit(4)
            os.close(held)
            benchfs.close(api_fd)
            os._exit(0 if ok else 5)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        # The parent's offset is its own, as after fork with two opens of the file.
        assert os.lseek(held, 0, os.SEEK_CUR) == len(b"parent:")
        os.close(held)
        benchfs.close(api_fd)
        print(sorted(os.listdir(prefix)), open(prefix + "/from-child").read(),
              open(prefix + "/from-parent").read())
""")


def test_forked_children(bfs: benchfs.Interposition, tmp_path: Path) -> None:
    """A forked child keeps its parent's clients: one forked before the parent
    connected connects on its own; one forked after uses the parent's descriptors
    (interposed and benchfs.open's), at the offsets they had."""
    bfs.client.makedirs("/forking", exist_ok=True)
    for name in bfs.client.listdir("/forking"):
        bfs.client.unlink(f"/forking/{name}")
    script = tmp_path / "forking.py"
    script.write_text(_FORKING)
    done = subprocess.run([sys.executable, str(script), "/forkbfs", str(bfs.registry)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "BENCHFS_TIMEOUT": "20",
                               "BENCHFS_REGISTRY": str(bfs.registry)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == (
        "['from-api', 'from-child', 'from-parent'] child parent:child")


def test_code_under_the_prefix_runs_and_imports(pair: Pair,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """io.open_code and importlib's posix calls are routed: runpy runs a script kept
    in benchfs, and a package in a benchfs directory on sys.path imports."""
    import runpy

    root = pair.bfs.root
    os.makedirs(f"{root}/code/bfs_pkg")
    Path(f"{root}/code/script.py").write_text("import os\nresult = os.listdir(os.path.dirname("
                                              "__file__))\n")
    Path(f"{root}/code/bfs_pkg/__init__.py").write_text("")
    Path(f"{root}/code/bfs_pkg/mod.py").write_text("VALUE = 42\n")
    assert sorted(runpy.run_path(f"{root}/code/script.py")["result"]) == ["bfs_pkg",
                                                                         "script.py"]
    monkeypatch.syspath_prepend(f"{root}/code")
    try:
        module = importlib.import_module("bfs_pkg.mod")
        assert module.VALUE == 42 and module.__file__ == f"{root}/code/bfs_pkg/mod.py"
    finally:
        for name in ("bfs_pkg.mod", "bfs_pkg"):
            sys.modules.pop(name, None)
        importlib.invalidate_caches()


def test_the_whole_file_system_surface_is_wrapped(bfs: benchfs.Interposition) -> None:
    """Every os function that takes a path, a dir_fd, follow_symlinks or a descriptor
    (os's own supports_* sets, and the descriptor calls) is the router's while
    interposition runs, in os and in posix; composites stay os's Python."""
    import posix

    names = {f.__name__ for f in os.supports_fd | os.supports_dir_fd
             | os.supports_follow_symlinks if hasattr(f, "__wrapped__")}
    names |= {"read", "write", "pread", "pwrite", "readv", "writev", "lseek", "fstat",
              "fsync", "fdatasync", "ftruncate", "close", "dup", "dup2", "lockf",
              "closerange", "getcwd", "getcwdb", "fchdir", "sendfile", "copy_file_range",
              "rename", "replace", "lstat", "remove", "symlink", "fstatvfs"}
    real = {f.__name__ for f in os.supports_fd | os.supports_dir_fd
            | os.supports_follow_symlinks} - {"execve"}
    assert real <= names
    for name in names:
        assert hasattr(getattr(os, name), "__wrapped__"), name
        assert getattr(posix, name) is getattr(os, name), name
    for name in ("walk", "fwalk", "makedirs", "removedirs", "renames", "fdopen"):
        assert not hasattr(getattr(os, name), "__wrapped__"), name
