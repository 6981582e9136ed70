"""Every setting's bad values: a one-line error naming the option or key and what is
allowed, exit status 2, and nothing started (plan item 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

import benchfs
from benchfs.cli import main
from benchfs.config import ConfigError
from benchfs.registry import ClusterConfig, cluster_config_from_json
from benchfs.settings import ClientSettings


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command in this process; it must not leave a new child process behind
    (other modules' clusters may be running: only new ones count)."""
    before = _children()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = int(exit_.code or 0)
    assert _children() <= before, "a process was started"
    return status, capsys.readouterr().err


def _assert_one_line_refusal(status: int, err: str, *named: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for name in named:
        assert name in lines[0], (name, lines[0])


def _no_server_started(root: Path) -> None:
    assert not list(root.rglob("server-*.json"))


SERVE_CASES = [
    (["--spin-us", "-1"], "--spin-us"),
    (["--spin-us", "2000000"], "--spin-us"),
    (["--spin-us", "x"], "--spin-us"),
    (["--chunk-size", "3"], "--chunk-size"),
    (["--chunk-size", "1000000"], "--chunk-size"),
    (["--chunk-size", "1G"], "--chunk-size"),
    (["--chunk-size", "2k"], "--chunk-size"),
    (["--chunk-size", "four"], "--chunk-size"),
    (["--port", "70000"], "--port"),
    (["--port", "-1"], "--port"),
    (["--port", "x"], "--port"),
    (["--rank", "-1"], "--rank"),
    (["--rank", "2", "--servers", "2"], "--rank"),
    (["--servers", "0"], "--servers"),
    (["--servers", "-4"], "--servers"),
    (["--host", ""], "--host"),
    (["--direct-min", "-1"], "--direct-min"),
    (["--direct-min", "1G"], "--direct-min"),
    (["--metrics-port", "0"], "--metrics-port"),
    (["--metrics-port", "65536"], "--metrics-port"),
    (["--o-direct=yes"], "--o-direct"),
]


@pytest.mark.parametrize(("extra", "named"), SERVE_CASES,
                         ids=[" ".join(case[0]) for case in SERVE_CASES])
def test_serve_refuses_bad_options(extra: list[str], named: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--data-dir", str(tmp_path / "data"), "--registry", str(tmp_path / "reg"),
            *extra]
    status, err = _run_cli(argv, capsys)
    _assert_one_line_refusal(status, err, named)
    _no_server_started(tmp_path)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("which", ["--data-dir", "--registry"])
def test_serve_refuses_empty_paths(which: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    paths = {"--data-dir": str(tmp_path / "data"), "--registry": str(tmp_path / "reg")}
    paths[which] = ""
    status, err = _run_cli(["serve", *[x for kv in paths.items() for x in kv]], capsys)
    _assert_one_line_refusal(status, err, which)


CLUSTER_CASES = [
    (["-n", "0"], "--servers"),
    (["-n", "-3"], "--servers"),
    (["-n", "x"], "--servers"),
    (["--chunk-size", "3"], "--chunk-size"),
    (["--chunk-size", "128M"], "--chunk-size"),
    (["--transport", "sm"], "--transport"),
    (["--transport", "foo,tcp"], "--transport"),
    (["--transport", ""], "--transport"),
    (["--spin-us", "-5"], "--spin-us"),
    (["--direct-min", "2G"], "--direct-min"),
    (["--metrics-port", "-1"], "--metrics-port"),
    (["-n", "3", "--metrics-port", "65534"], "--metrics-port"),  # 65534 + 2 is past 65535
]


@pytest.mark.parametrize(("extra", "named"), CLUSTER_CASES,
                         ids=[" ".join(case[0]) for case in CLUSTER_CASES])
def test_cluster_up_refuses_bad_options(extra: list[str], named: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run_cli(["cluster", "up", "--dir", str(tmp_path / "c"), *extra], capsys)
    _assert_one_line_refusal(status, err, named)
    assert "export" not in err
    _no_server_started(tmp_path)
    assert not (tmp_path / "c").exists()


def test_cluster_up_with_no_servers_prints_no_export_line(tmp_path: Path) -> None:
    """The reported bug, through the installed command: no `export` for an empty cluster."""
    proc = subprocess.run([sys.executable, "-m", "benchfs", "cluster", "up", "-n", "0",
                           "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == "benchfs cluster: --servers 0: must be an integer from 1 to 65536"


def test_log_level_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHFS_LOG_LEVEL", "loud")
    status, err = _run_cli(["cluster", "status", "--dir", str(tmp_path)], capsys)
    _assert_one_line_refusal(status, err, "BENCHFS_LOG_LEVEL", "INFO")


def test_log_level_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run_cli(["--log-level", "loud", "cluster", "status", "--dir", str(tmp_path)],
                           capsys)
    _assert_one_line_refusal(status, err, "--log-level")


# -- cluster.json --------------------------------------------------------------------

GOOD = {"servers": 2, "chunk_size": 1 << 20, "ucx_env": {"UCX_TLS": "tcp"},
        "permissions": True, "peer_errors": False, "cluster_id": "0" * 32}

CLUSTER_JSON_CASES = [
    ("servers", 0), ("servers", "2"), ("servers", True), ("servers", 2.5),
    ("chunk_size", 3), ("chunk_size", "4M"), ("chunk_size", 1 << 30),
    ("ucx_env", {"FOO": "x"}), ("ucx_env", {"UCX_TLS": 1}), ("ucx_env", []),
    ("permissions", "yes"), ("permissions", 1), ("peer_errors", None),
    ("cluster_id", "xyz"), ("cluster_id", 7), ("backend", "relative/dir"), ("backend", 3),
    ("replicas", 2),
]


@pytest.mark.parametrize(("key", "value"), CLUSTER_JSON_CASES,
                         ids=[f"{k}={v!r}" for k, v in CLUSTER_JSON_CASES])
def test_cluster_json_bad_keys(key: str, value: object, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "cluster.json").write_text(json.dumps({**GOOD, key: value}))
    status, err = _run_cli(["serve", "--data-dir", str(tmp_path / "data"),
                            "--registry", str(registry)], capsys)
    _assert_one_line_refusal(status, err, "cluster.json", f"key '{key}'")
    _no_server_started(tmp_path)
    # A client reading the same registry is refused with the same message, before
    # it connects anywhere.
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        benchfs.connect(str(registry))


@pytest.mark.parametrize("key", ["servers", "cluster_id"])
def test_cluster_json_missing_keys(key: str) -> None:
    raw = {k: v for k, v in GOOD.items() if k != key}
    with pytest.raises(ConfigError, match=f"key '{key}' ?: is required"):
        cluster_config_from_json(raw)


@pytest.mark.parametrize("text", ["[]", "{", "3"])
def test_cluster_json_not_an_object(text: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "cluster.json").write_text(text)
    status, err = _run_cli(["serve", "--data-dir", str(tmp_path / "d"), "--registry",
                            str(registry)], capsys)
    _assert_one_line_refusal(status, err, "cluster.json")


def test_good_cluster_json_round_trips() -> None:
    assert cluster_config_from_json(GOOD) == ClusterConfig(**GOOD)  # type: ignore[arg-type]


def test_serve_chunk_size_must_match_the_registry(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "cluster.json").write_text(json.dumps(GOOD))
    status, err = _run_cli(["serve", "--data-dir", str(tmp_path / "d"), "--registry",
                            str(registry), "--chunk-size", "4M"], capsys)
    _assert_one_line_refusal(status, err, "--chunk-size", "1048576")
    _no_server_started(tmp_path)


# -- client environment --------------------------------------------------------------

ENV_CASES = [
    ("BENCHFS_TIMEOUT", "x"), ("BENCHFS_TIMEOUT", "-1"), ("BENCHFS_TIMEOUT", "0"),
    ("BENCHFS_TIMEOUT", "nan"), ("BENCHFS_TIMEOUT", "inf"),
    ("BENCHFS_MD_CACHE_TTL", "-1"), ("BENCHFS_MD_CACHE_TTL", "soon"),
    ("BENCHFS_SPIN_US", "-1"), ("BENCHFS_SPIN_US", "1.5"), ("BENCHFS_SPIN_US", "9999999"),
    ("BENCHFS_INSECURE", "maybe"),
]


@pytest.mark.parametrize(("var", "raw"), ENV_CASES, ids=[f"{v}={r}" for v, r in ENV_CASES])
def test_client_environment(var: str, raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ConfigError) as caught:
        ClientSettings.from_env()
    message = str(caught.value)
    assert f"environment variable {var} {raw!r}:" in message
    assert "\n" not in message


def test_client_environment_good_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, raw in (("BENCHFS_TIMEOUT", "2.5"), ("BENCHFS_MD_CACHE_TTL", "0"),
                     ("BENCHFS_SPIN_US", "0"), ("BENCHFS_INSECURE", "1")):
        monkeypatch.setenv(var, raw)
    assert ClientSettings.from_env() == ClientSettings(2.5, 0.0, 0, True)


def test_client_environment_reaches_import_benchfs(tmp_path: Path) -> None:
    """`import benchfs as os` with a bad variable: the first call says which one."""
    env = {**os.environ, "BENCHFS_REGISTRY": str(tmp_path), "BENCHFS_TIMEOUT": "-3"}
    proc = subprocess.run([sys.executable, "-c", "import benchfs; benchfs.listdir('/')"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "ConfigError: environment variable BENCHFS_TIMEOUT '-3': must be a number of " \
           "seconds above 0" in proc.stderr


BENCH_CASES = [
    (["--servers", "0"], "--servers"), (["--clients", "0"], "--clients"),
    (["--chunk-size", "3"], "--chunk-size"), (["--transport", "sm"], "--transport"),
    (["--direct-min", "-5"], "--direct-min"), (["--files", "0"], "--files"),
    (["--phases", "nope"], "phases"), (["--block-size", "x"], "--block-size"),
]


@pytest.mark.parametrize(("extra", "named"), BENCH_CASES,
                         ids=[" ".join(case[0]) for case in BENCH_CASES])
def test_bench_refuses_bad_options(extra: list[str], named: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run_cli(["bench", "--quick", "--data-dir", str(tmp_path / "b"), *extra],
                           capsys)
    _assert_one_line_refusal(status, err, named)
    _no_server_started(tmp_path)
