"""How `benchfs run` splits a Python command line, checked against the interpreter itself:
the program and its arguments (``sys.argv``) and the options that disable the startup hook
(``sys.flags``) must be what the real interpreter makes of the same command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchfs.interpose.launch import (
    GATE,
    STARTUP_DIR,
    LaunchError,
    environment,
    parse_python_command,
    parse_routes,
)

REPORT = ("import json, sys; print(json.dumps([sys.argv, sys.flags.isolated, "
          "sys.flags.no_site, sys.flags.ignore_environment]))")

COMMANDS = [
    ["SCRIPT"], ["SCRIPT", "-I", "--x", "-c"], ["-u", "SCRIPT", "a"], ["-bb", "SCRIPT"],
    ["-W", "error", "SCRIPT"], ["-Werror", "-X", "dev", "SCRIPT", "-S"], ["-Xdev", "SCRIPT"],
    ["--check-hash-based-pycs", "never", "SCRIPT"], ["-I", "SCRIPT"], ["-IS", "SCRIPT"],
    ["-sE", "SCRIPT"], ["-S", "-u", "SCRIPT"], ["-bWignore", "SCRIPT"], ["-OO", "-B", "SCRIPT"],
    ["--", "SCRIPT", "--"], ["-c", "CODE", "x", "-I"], ["-uc", "CODE", "y"],
    ["-Ic", "CODE"], ["-E", "-c", "CODE"],
]


@pytest.mark.parametrize("arguments", COMMANDS, ids=" ".join)
def test_split_as_the_interpreter_does(tmp_path: Path, arguments: list[str]) -> None:
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    argv = [sys.executable, *[str(script) if word == "SCRIPT" else REPORT if word == "CODE"
                              else word for word in arguments]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True,
                            cwd=tmp_path)
    real_argv, isolated, no_site, ignore_environment = json.loads(result.stdout)
    parsed = parse_python_command(argv)
    if "CODE" in arguments:
        assert real_argv[0] == "-c" and parsed.script is None
        # The program is the option cluster ending in c, the code, then its arguments.
        assert parsed.program[0].endswith("c") and parsed.program[1] == REPORT
        assert real_argv[1:] == parsed.program[2:]
    else:
        assert parsed.script == str(script)
        assert real_argv == parsed.program
    assert ("I" in parsed.disabling) == bool(isolated)
    assert ("S" in parsed.disabling) == bool(no_site)
    # -I implies -E: the interpreter reports both.
    assert ("E" in parsed.disabling or "I" in parsed.disabling) == bool(ignore_environment)


def test_environment_prepends_the_hook_and_keeps_inherited_routes() -> None:
    base = {"PYTHONPATH": f"/user/lib{os.pathsep}{STARTUP_DIR}", GATE: "/a=/ra;/b=/rb"}
    env = environment([("/b", "/new-rb"), ("/c", "/rc")], base)
    assert env["PYTHONPATH"] == f"{STARTUP_DIR}{os.pathsep}/user/lib"
    assert parse_routes(env[GATE]) == [("/a", "/ra"), ("/b", "/new-rb"), ("/c", "/rc")]
    with pytest.raises(LaunchError, match="cannot contain"):
        environment([("/x;y", "/r")], {})
    with pytest.raises(LaunchError, match="PREFIX=REGISTRY"):
        parse_routes("/nothing-after")
