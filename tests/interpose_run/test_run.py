"""`benchfs run`: unmodified programs whose I/O under the prefix lands in benchfs.

Every program runs as a real child interpreter against a real cluster; what it wrote is
checked through the drop-in API, and nothing may appear under the prefix on the local disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchfs.interpose.launch import STARTUP_DIR
from tests.interpose_run.conftest import Interposed, check


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


def _prepended(entry: str) -> str:
    """PYTHONPATH with ``entry`` first, keeping what makes benchfs importable here."""
    return os.pathsep.join(filter(None, [entry, os.environ.get("PYTHONPATH")]))


def test_unmodified_script_writes_and_reads_benchfs(interposed: Interposed,
                                                    tmp_path: Path) -> None:
    prefix = interposed.prefix
    script = _script(tmp_path, "plain.py", f"""
        import json, os, pathlib, shutil, sys
        os.makedirs("{prefix}/run1/sub", exist_ok=True)
        with open("{prefix}/run1/plain.txt", "w") as out:
            out.write("written by " + " ".join(sys.argv[1:]))
        pathlib.Path("{prefix}/run1/sub/table.json").write_text(json.dumps({{"rows": 3}}))
        shutil.copytree("{prefix}/run1", "{prefix}/run2")
        os.chdir("{prefix}/run2")
        with open("relative.txt", "wb") as out:  # in the virtual working directory
            out.write(b"relative")
        print(os.getcwd(), sorted(os.listdir(".")), open("plain.txt").read())
        """)
    output = check(interposed.run([str(script), "an", "unmodified", "script"], tmp_path))
    assert output == (f"{prefix}/run2 ['plain.txt', 'relative.txt', 'sub'] "
                      "written by an unmodified script\n")
    assert interposed.read("/run1/plain.txt") == b"written by an unmodified script"
    assert interposed.read("/run2/sub/table.json") == b'{"rows": 3}'
    assert interposed.read("/run2/relative.txt") == b"relative"
    assert sorted(interposed.client.listdir("/run1")) == ["plain.txt", "sub"]
    assert not (tmp_path / "relative.txt").exists()


def test_module_mode_and_the_users_pythonpath(interposed: Interposed, tmp_path: Path) -> None:
    package = tmp_path / "tools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _script(package, "writer.py", f"""
        import sys
        open("{interposed.prefix}/from-module.txt", "w").write(__name__ + " " + sys.argv[1])
        """)
    env = {**os.environ, "PYTHONPATH": _prepended(str(tmp_path))}
    check(interposed.run(["-m", "tools.writer", "ok"], tmp_path / "tools", env=env))
    assert interposed.read("/from-module.txt") == b"__main__ ok"


def test_script_stored_in_benchfs(interposed: Interposed, tmp_path: Path) -> None:
    prefix = interposed.prefix
    interposed.client.makedirs("/job", exist_ok=True)
    interposed.write("/job/helper.py", b"VALUE = 'imported from benchfs'\n")
    interposed.write("/job/stored.py", textwrap.dedent(f"""
        import sys, helper
        print(sys.argv, __name__, __file__, sys.path[0], helper.VALUE, sep="|")
        open("{prefix}/stored-ran.txt", "w").write("yes")
        """).encode())
    output = check(interposed.run(["-u", "-W", "error", f"{prefix}/job/stored.py", "a", "-c"],
                                  tmp_path))
    assert output.strip().split("|") == [
        repr([f"{prefix}/job/stored.py", "a", "-c"]), "__main__", f"{prefix}/job/stored.py",
        f"{prefix}/job", "imported from benchfs"]
    assert interposed.read("/stored-ran.txt") == b"yes"


def test_directory_stored_in_benchfs(interposed: Interposed, tmp_path: Path) -> None:
    """``python DIR`` runs DIR/__main__.py, as for a local directory."""
    interposed.client.makedirs("/app", exist_ok=True)
    interposed.write("/app/__main__.py", b"import sys; print(__name__, sys.argv)")
    output = check(interposed.run([f"{interposed.prefix}/app", "x"], tmp_path))
    assert output == f"__main__ {[f'{interposed.prefix}/app', 'x']}\n"


def test_children_start_in_the_virtual_working_directory(interposed: Interposed,
                                                        tmp_path: Path) -> None:
    """A child's kernel cwd cannot be under the prefix: the hook changes into the parent's
    virtual one, so relative names (its main script's too) resolve where the parent's do."""
    prefix = interposed.prefix
    script = _script(tmp_path, "cwd.py", f"""
        import os, subprocess, sys
        os.makedirs("{prefix}/cwd/here", exist_ok=True)
        os.chdir("{prefix}/cwd/here")
        with open("child.py", "w") as out:
            out.write("import os; print(os.getcwd()); open('made', 'w').write('x')")
        subprocess.run([sys.executable, "child.py"], check=True)
        os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "child.py"])
        os.chdir({str(tmp_path)!r})
        subprocess.run([sys.executable, "-c", "import os; print(os.getcwd())"], check=True)
        """)
    output = check(interposed.run([str(script)], tmp_path))
    assert output.splitlines() == [f"{prefix}/cwd/here"] * 2 + [str(tmp_path)]
    assert interposed.read("/cwd/here/made") == b"x"


def test_virtual_working_directory_reaches_the_environment_by_any_chdir(
        interposed: Interposed, tmp_path: Path) -> None:
    """The router itself keeps BENCHFS_INTERPOSE_CWD in step, so a reference to
    os.chdir/os.fchdir taken before the startup hook ran updates it as well."""
    prefix = interposed.prefix
    script = _script(tmp_path, "captured.py", f"""
        import os, subprocess, sys
        def go(path, _chdir=os.chdir, _fchdir=os.fchdir):
            if isinstance(path, int):
                _fchdir(path)
            else:
                _chdir(path)
            return os.environ.get("BENCHFS_INTERPOSE_CWD")
        from benchfs.interpose import launch
        launch.start_from_environment(os.environ["BENCHFS_INTERPOSE"])
        os.makedirs("{prefix}/captured/deeper", exist_ok=True)
        fd = os.open("{prefix}/captured/deeper", os.O_RDONLY)
        print(go("{prefix}/captured"), go("/"), go(fd), go("/"))
        """)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ,
                               "BENCHFS_INTERPOSE": f"{prefix}={interposed.registry}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"{prefix}/captured", "None", f"{prefix}/captured/deeper",
                                   "None"]


def test_subprocess_children_inherit(interposed: Interposed, tmp_path: Path) -> None:
    prefix = interposed.prefix
    code = f'import sys; open("{prefix}/child-" + sys.argv[1], "w").write(sys.argv[1])'
    interposed.write("/child.py", code.encode())
    script = _script(tmp_path, "parent.py", f"""
        import subprocess, sys
        code = {code!r}
        subprocess.run([sys.executable, "-c", code, "one"], check=True)
        # A child whose main script is in benchfs.
        subprocess.run([sys.executable, "-B", "{prefix}/child.py", "two"], check=True)
        # The grandchild is started by a child, through a shell.
        subprocess.run(f"{{sys.executable}} -c 'import subprocess, sys; "
                       f"subprocess.run([sys.executable, \\"-c\\", sys.argv[1], \\"three\\"], "
                       f"check=True)' '{{code}}'", shell=True, check=True)
        print(open("{prefix}/child-one").read(), open("{prefix}/child-three").read())
        """)
    assert check(interposed.run([str(script)], tmp_path)) == "one three\n"
    for name in ("one", "two", "three"):
        assert interposed.read(f"/child-{name}") == name.encode()


_MULTIPROCESSING = """
    import multiprocessing, os, sys

    def write(index):
        with open(f"{prefix}/mp-{label}-{{index}}.txt", "w") as out:
            out.write(f"child {{index}}")

    if __name__ == "__main__":
        if "--parent-first" in sys.argv:
            open("{prefix}/mp-{label}-parent.txt", "w").write("parent")
        context = multiprocessing.get_context("{method}")
        children = [context.Process(target=write, args=(index,)) for index in range(3)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        with context.Pool(2) as pool:
            pool.map(write, [3, 4])
        print([child.exitcode for child in children],
              [open(f"{prefix}/mp-{label}-{{index}}.txt").read() for index in range(5)])
    """


def _multiprocessing(interposed: Interposed, tmp_path: Path, method: str, where: str,
                     *options: str) -> None:
    prefix, label = interposed.prefix, f"{method}-{where}{''.join(options)}"
    body = textwrap.dedent(_MULTIPROCESSING.format(prefix=prefix, method=method, label=label))
    if where == "local":
        script = str(_script(tmp_path, "mp.py", body))
    else:  # spawn and forkserver children run the main script again: from benchfs
        interposed.write(f"/mp-{label}.py", body.encode())
        script = f"{prefix}/mp-{label}.py"
    output = check(interposed.run([script, *options], tmp_path))
    assert output == f"[0, 0, 0] {[f'child {index}' for index in range(5)]}\n"
    for index in range(5):
        assert interposed.read(f"/mp-{label}-{index}.txt") == f"child {index}".encode()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_of_a_script_in_benchfs(interposed: Interposed,
                                                         tmp_path: Path, method: str) -> None:
    """Reading the main script from benchfs connects the parent before any child."""
    _multiprocessing(interposed, tmp_path, method, "benchfs")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children(interposed: Interposed, tmp_path: Path, method: str) -> None:
    _multiprocessing(interposed, tmp_path, method, "local")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_after_the_parent_used_benchfs(interposed: Interposed, tmp_path: Path,
                                                       method: str) -> None:
    _multiprocessing(interposed, tmp_path, method, "local", "--parent-first")


@pytest.mark.parametrize("options", [["-I"], ["-S"], ["-E"], ["-IS"], ["-bE"], ["-u", "-S"],
                                     ["-W", "error", "-I"], ["-Xdev", "-E"], ["-Ic", "pass"]])
def test_refuses_options_that_disable_the_hook(interposed: Interposed, tmp_path: Path,
                                               options: list[str]) -> None:
    marker = tmp_path / "ran"
    script = _script(tmp_path, "marker.py", f"open({str(marker)!r}, 'w').close()")
    program = [] if options[-1] == "pass" else [str(script)]
    result = interposed.run([*options, *program], tmp_path)
    assert result.returncode == 2
    assert "benchfs run:" in result.stderr and "interposition could not start" in result.stderr
    assert not marker.exists(), "the program ran although interposition could not start"


def test_options_that_keep_the_hook_are_passed_on(interposed: Interposed,
                                                  tmp_path: Path) -> None:
    script = _script(tmp_path, "flags.py", f"""
        import sys, warnings
        open("{interposed.prefix}/flags.txt", "w").write("x")
        print(sys.flags.optimize, sys.flags.dont_write_bytecode, sys.warnoptions)
        """)
    output = check(interposed.run(["-OO", "-B", "-W", "ignore::UserWarning", "-s",
                                   str(script)], tmp_path))
    assert output == "2 1 ['ignore::UserWarning']\n"


def test_startup_hook_refuses_to_run_unrouted(tmp_path: Path) -> None:
    """An interpreter that finds the gate set but cannot start interposition stops
    before the program's first line instead of writing the prefix to the local disk."""
    import subprocess

    marker = tmp_path / "ran"
    env = {**os.environ, "PYTHONPATH": STARTUP_DIR,
           "BENCHFS_INTERPOSE": "/bfs-nowhere=" + str(tmp_path / "no-such-registry") + ";x"}
    result = subprocess.run([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 70
    assert "interposition could not start" in result.stderr
    assert not marker.exists()


def test_chains_a_shadowed_sitecustomize(interposed: Interposed, tmp_path: Path) -> None:
    """The program's own sitecustomize still runs, after interposition started."""
    site = tmp_path / "site"
    site.mkdir()
    _script(site, "sitecustomize.py", f"""
        open("{interposed.prefix}/from-sitecustomize.txt", "w").write(__file__)
        """)
    env = {**os.environ, "PYTHONPATH": _prepended(str(site))}
    output = check(interposed.run(["-c", "import sitecustomize; print(sitecustomize.__file__)"],
                                  tmp_path, env=env))
    assert output == f"{site / 'sitecustomize.py'}\n"
    assert interposed.read("/from-sitecustomize.txt") == str(site / "sitecustomize.py").encode()


def test_refuses_without_a_registry_or_a_command(interposed: Interposed,
                                                 tmp_path: Path) -> None:
    import subprocess

    base = [sys.executable, "-m", "benchfs", "run"]
    env = {key: value for key, value in os.environ.items() if key != "BENCHFS_REGISTRY"}
    for arguments, message in [
        (["--prefix", "/bfs", "--", sys.executable, "-c", "pass"], "no registry"),
        (["--prefix", "/", "--registry", interposed.registry, "--", sys.executable],
         "--prefix /"),
        (["--prefix", "bfs", "--registry", interposed.registry, "--", sys.executable],
         "absolute"),
        (["--prefix", "/bfs", "--registry", str(tmp_path / "none"), "--", sys.executable],
         "not a directory"),
        (["--prefix", "/bfs", "--registry", interposed.registry, "--"], "nothing to run"),
    ]:
        result = subprocess.run([*base, *arguments], env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 2, arguments
        assert message in result.stderr, (arguments, result.stderr)
