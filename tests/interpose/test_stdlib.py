"""The standard library over interposition: pathlib, glob, shutil, tempfile and the
modules that use them run the same code on /bfs/... and on a local directory, and
must give the same results (paths shown relative to each side's root)."""

from __future__ import annotations

import bz2
import csv
import filecmp
import fileinput
import glob
import gzip
import json
import linecache
import lzma
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import benchfs
from tests.interpose.conftest import PREFIX, Pair


def _tree(root: str) -> None:
    base = Path(root)
    (base / "a/b/c").mkdir(parents=True)
    (base / "a/b/f.txt").write_text("text\n" * 3)
    (base / "a/g.bin").write_bytes(bytes(range(256)) * 40)
    (base / "a/b/c/deep.txt").write_text("deep")
    (base / "top.py").write_text("x = 1\ny = 2\n")
    os.symlink("b/f.txt", base / "a/link")


def _listing(root: str) -> list[Any]:
    return sorted((os.path.relpath(d, root), sorted(ds), sorted(fs))
                  for d, ds, fs in os.walk(root))


def test_pathlib(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        base = Path(root)
        out: list[Any] = [
            sorted(str(p) for p in base.glob("**/*")),
            sorted(str(p) for p in base.rglob("*.txt")),
            sorted(str(p) for p in base.glob("a/*/")),
            sorted(str(p) for p in (base / "a").iterdir()),
            (base / "a/b/f.txt").read_text(), len((base / "a/g.bin").read_bytes()),
            (base / "a/b").is_dir(), (base / "a/g.bin").is_file(), (base / "no").exists(),
            (base / "a/link").is_symlink(), str((base / "a/link").readlink()),
            str((base / "a/b/../link").resolve()), (base / "a/g.bin").stat().st_size,
            (base / "a/b/f.txt").samefile(base / "a/b/../b/f.txt"),
            (base / "a/link").lstat().st_size,
        ]
        if sys.version_info >= (3, 12):
            out.append(sorted((str(d), sorted(ds), sorted(fs)) for d, ds, fs in base.walk()))
        (base / "t").touch()
        (base / "t").touch(exist_ok=True)
        (base / "a/g.bin").rename(base / "a/h.bin")
        (base / "a/h.bin").replace(base / "t")
        (base / "x/y/z").mkdir(parents=True)
        (base / "x/y/z").mkdir(parents=True, exist_ok=True)
        with (base / "x/new").open("w") as f:
            f.write("opened")
        (base / "x/y/z").rmdir()
        (base / "t").unlink()
        (base / "t").unlink(missing_ok=True)
        for failing in (lambda: (base / "a").rmdir(), lambda: (base / "x").mkdir(),
                        lambda: (base / "none").unlink(), lambda: (base / "a").read_text()):
            try:
                failing()
            except OSError as exc:
                out.append((type(exc).__name__, exc.errno))
        out.append(_listing(root))
        return out

    pair.both(probe)


def test_pathlib_relative_to_the_working_directory(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        saved = os.getcwd()
        os.chdir(f"{root}/a")
        try:
            return [str(Path.cwd()), str(Path("b/f.txt").absolute()),
                    sorted(str(p) for p in Path(".").glob("*")), Path("b/f.txt").read_text(),
                    str(Path("link").resolve()), os.path.abspath("b"),
                    os.path.realpath("link"), sorted(os.listdir())]
        finally:
            os.chdir(saved)

    pair.both(probe)


def test_glob(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        return [sorted(glob.glob(f"{root}/**", recursive=True)),
                sorted(glob.glob(f"{root}/a/*.bin")), sorted(glob.glob("*", root_dir=root)),
                sorted(glob.iglob(f"{root}/a/b/*")), glob.glob(f"{root}/nothing*"),
                sorted(glob.glob(os.fsencode(f"{root}/a/*")))]

    pair.both(probe)


def test_shutil_inside(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        big = f"{root}/big"
        with open(big, "wb") as f:
            f.write(os.urandom(1 << 16) * 48)  # 3 MiB: more than one chunk piece
        shutil.copyfile(big, f"{root}/big2")
        shutil.copy(f"{root}/a/b/f.txt", f"{root}/a")
        shutil.copy2(f"{root}/a/g.bin", f"{root}/g2.bin")
        shutil.copymode(f"{root}/a/g.bin", f"{root}/big2")
        shutil.copytree(f"{root}/a", f"{root}/copy", symlinks=True)
        shutil.copytree(f"{root}/a", f"{root}/copy", dirs_exist_ok=True)
        shutil.move(f"{root}/copy/b", f"{root}/moved")
        shutil.rmtree(f"{root}/copy")
        usage = shutil.disk_usage(root)
        out: list[Any] = [
            filecmp.cmp(big, f"{root}/big2", shallow=False),
            os.stat(f"{root}/g2.bin").st_mtime_ns == os.stat(f"{root}/a/g.bin").st_mtime_ns,
            usage.total >= usage.used, _listing(root),
            shutil.rmtree(f"{root}/none", ignore_errors=True),
        ]
        try:
            shutil.rmtree(f"{root}/none")
        except OSError as exc:
            out.append((type(exc).__name__, exc.errno))
        return out

    pair.both(probe)


def test_shutil_archives(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        out = []
        for kind in ("zip", "tar", "gztar", "bztar", "xztar"):
            archive = shutil.make_archive(f"{root}/arch-{kind}", kind, root_dir=f"{root}/a")
            target = f"{root}/out-{kind}"
            shutil.unpack_archive(archive, target)
            out.append((os.path.basename(archive), _listing(target),
                        Path(f"{target}/b/f.txt").read_text()))
        return out

    pair.both(probe)


def test_compression_and_serialisation_modules(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        data = b"payload " * 5000
        out: list[Any] = []
        for module in (gzip, bz2, lzma):
            name = f"{root}/data.{module.__name__}"
            with module.open(name, "wb") as f:  # type: ignore[attr-defined]
                f.write(data)
            with module.open(name, "rb") as f:  # type: ignore[attr-defined]
                out.append(f.read() == data)
        with zipfile.ZipFile(f"{root}/z.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("inner/one.txt", "one")
            z.write(f"{root}/data.gzip", "data.gz")
        with zipfile.ZipFile(f"{root}/z.zip") as z:
            out.append((sorted(z.namelist()), z.read("inner/one.txt")))
            z.extractall(f"{root}/unzipped")
        with tarfile.open(f"{root}/t.tar.gz", "w:gz") as t:
            t.add(f"{root}/unzipped", arcname="u")
        with tarfile.open(f"{root}/t.tar.gz") as t:
            out.append(sorted(t.getnames()))
            t.extractall(f"{root}/untarred")
        with open(f"{root}/table.csv", "w", newline="") as f:
            csv.writer(f).writerows([["a", "b"], [1, "x,y"]])
        with open(f"{root}/table.csv", newline="") as f:
            out.append(list(csv.reader(f)))
        with open(f"{root}/doc.json", "w") as f:
            json.dump({"k": [1, 2]}, f)
        with open(f"{root}/doc.json") as f:
            out.append(json.load(f))
        with open(f"{root}/obj.pickle", "wb") as f:
            pickle.dump({"set": {1, 2}}, f)
        with open(f"{root}/obj.pickle", "rb") as f:
            out.append(pickle.load(f))
        out.append(_listing(root))
        return out

    pair.both(probe)


def test_fileinput_filecmp_linecache(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        _tree(root)
        with fileinput.input([f"{root}/top.py", f"{root}/a/b/f.txt"]) as lines:
            read = [(fileinput.filename().replace(root, ""), line) for line in lines]
        with fileinput.input(f"{root}/top.py", inplace=True) as lines:
            for line in lines:
                print(line.upper(), end="")
        compared = filecmp.dircmp(f"{root}/a", f"{root}/a")
        linecache.checkcache()
        return [read, Path(f"{root}/top.py").read_text(), sorted(compared.same_files),
                filecmp.cmp(f"{root}/top.py", f"{root}/a/b/f.txt"),
                linecache.getline(f"{root}/top.py", 2), _listing(root)]

    pair.both(probe)


def test_tempfile_with_dir(pair: Pair) -> None:
    def probe(root: str) -> list[Any]:
        fd, name = tempfile.mkstemp(dir=root, suffix=".tmp")
        os.write(fd, b"mkstemp")
        os.close(fd)
        directory = tempfile.mkdtemp(dir=root)
        with tempfile.TemporaryFile(dir=root) as unnamed:
            unnamed.write(b"unnamed")
            unnamed.seek(0)
            first = unnamed.read()
        with tempfile.NamedTemporaryFile("w+", dir=root, delete=False) as named:
            named.write("named")
        with tempfile.SpooledTemporaryFile(max_size=10, dir=root) as spooled:
            spooled.write(b"more than ten bytes, so it rolls over to a file")
            spooled.seek(0)
            rolled = spooled.read()
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            Path(scratch, "inside").write_text("x")
            existed = os.path.isdir(scratch)
        return [first, rolled, existed, os.path.exists(scratch),
                Path(name).read_bytes(), Path(named.name).read_text(),
                os.path.isdir(directory), len(os.listdir(root))]

    pair.both(probe)


def test_tmpdir_under_the_prefix(bfs: benchfs.Interposition,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bfs.client.makedirs("/tmpdir", exist_ok=True)
    monkeypatch.setenv("TMPDIR", f"{PREFIX}/tmpdir")
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert tempfile.gettempdir() == f"{PREFIX}/tmpdir"
    fd, name = tempfile.mkstemp()
    os.close(fd)
    assert name.startswith(f"{PREFIX}/tmpdir/")
    assert os.path.basename(name) in bfs.client.listdir("/tmpdir")
    os.unlink(name)
    monkeypatch.setattr(tempfile, "tempdir", None)  # forget it: pick again without TMPDIR


def test_moves_and_copies_across_the_boundary(pair: Pair, tmp_path: Path) -> None:
    """rename between benchfs and the local disk is EXDEV, so shutil.move copies;
    copyfile's sendfile fast path works with one kernel end and one benchfs end."""
    inside, outside = pair.bfs.root, pair.local.root
    data = os.urandom(1 << 20) * 3
    Path(outside, "local.bin").write_bytes(data)
    shutil.copyfile(f"{outside}/local.bin", f"{inside}/in.bin")  # kernel -> benchfs
    shutil.copyfile(f"{inside}/in.bin", f"{outside}/back.bin")  # benchfs -> kernel
    assert Path(outside, "back.bin").read_bytes() == data
    for call in (os.rename, os.replace, os.link):
        with pytest.raises(OSError) as crossing:
            call(f"{inside}/in.bin", f"{outside}/renamed.bin")
        assert crossing.value.errno == 18  # EXDEV
        assert crossing.value.filename == f"{inside}/in.bin"
        assert crossing.value.filename2 == f"{outside}/renamed.bin"
    shutil.move(f"{inside}/in.bin", f"{outside}/moved.bin")
    assert not os.path.exists(f"{inside}/in.bin")
    assert Path(outside, "moved.bin").read_bytes() == data
    _tree(outside)
    shutil.move(f"{outside}/a", f"{inside}/tree")
    assert not os.path.exists(f"{outside}/a")
    assert _listing(f"{inside}/tree")[0] == (".", ["b"], ["g.bin", "link"])
    assert os.readlink(f"{inside}/tree/link") == "b/f.txt"
