"""Permission enforcement for an unprivileged caller, with the real os as the oracle.

Root builds the same tree on benchfs and in a local directory; a child process
drops to uid 4242 and tries every operation on both sides.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch uid")

UID = 4242
SETUP = [  # (operation, path, mode) run by root on both sides
    ("mkdir", "", 0o755),
    ("file", "secret", 0o600),
    ("file", "readable", 0o644),
    ("mkdir", "locked", 0o700),
    ("file", "locked/inside", 0o644),
    ("mkdir", "open", 0o777),
    ("mkdir", "sticky", 0o1777),
    ("file", "sticky/roots", 0o666),
    ("mkdir", "mine", 0o755),
]
OPS = [  # (function, args, kwargs) tried by uid 4242; "P:x" is a path under each root
    ("open", ["P:secret", os.O_RDONLY], {}),
    ("open", ["P:readable", os.O_RDONLY], {}),
    ("open", ["P:readable", os.O_WRONLY], {}),
    ("stat", ["P:locked/inside"], {}),
    ("listdir", ["P:locked"], {}),
    ("open", ["P:new", os.O_CREAT | os.O_WRONLY, 0o644], {}),
    ("open", ["P:open/made", os.O_CREAT | os.O_WRONLY, 0o644], {}),
    ("chmod", ["P:open/made", 0o600], {}),
    ("chown", ["P:open/made", 0, -1], {}),
    ("chown", ["P:readable", -1, -1], {}),           # not the owner: nothing asked, allowed
    ("chown", ["P:readable", -1, 0], {}),            # not the owner: EPERM, even same gid
    ("chown", ["P:open/made", -1, 4242], {}),
    ("chmod", ["P:secret", 0o777], {}),
    ("unlink", ["P:sticky/roots"], {}),
    ("open", ["P:sticky/own", os.O_CREAT | os.O_WRONLY, 0o644], {}),
    ("unlink", ["P:sticky/own"], {}),
    ("access", ["P:secret", os.R_OK], {}),
    ("access", ["P:open", os.W_OK], {}),
    ("access", ["P:readable", os.R_OK], {}),
    ("utime", ["P:secret"], {}),
    ("utime", ["P:secret", (1, 2)], {}),
    ("utime", ["P:readable"], {}),
    ("rename", ["P:open/made", "P:moved"], {}),
    ("rename", ["P:open/made", "P:open/renamed"], {}),
    ("mkdir", ["P:mine/sub"], {}),
    ("rmdir", ["P:open"], {}),
    ("truncate", ["P:readable", 0], {}),
    ("symlink", ["secret", "P:open/link"], {}),
    ("readlink", ["P:open/link"], {}),
    ("link", ["P:readable", "P:open/hard"], {}),
]


def _build(api: object, root: str) -> None:
    for kind, rel, mode in SETUP:
        path = f"{root}/{rel}" if rel else root
        if kind == "mkdir":
            api.mkdir(path)  # type: ignore[attr-defined]
        else:
            api.close(api.open(path, os.O_CREAT | os.O_WRONLY))  # type: ignore[attr-defined]
        api.chmod(path, mode)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def perm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("perm"), 3, "tcp")
    yield running
    running.down()


def test_unprivileged_caller_gets_the_same_answers_as_from_linux(
    perm_cluster: LocalCluster, tmp_path: Path,
) -> None:
    # The oracle tree must be reachable by the unprivileged uid.
    local_root = Path("/tmp") / f"benchfs-perm-{os.getpid()}"
    with benchfs.connect(perm_cluster.registry) as client:
        _build(client, "/perm")
    _build(os, str(local_root))
    try:
        child = subprocess.run(
            [sys.executable, "-m", "tests.integration.perm_child", str(perm_cluster.registry),
             str(local_root), json.dumps(OPS)],
            capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).parents[2],
        )
    finally:
        subprocess.run(["rm", "-rf", str(local_root)], check=True)
    assert child.returncode == 0, child.stderr
    rows = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(rows) == len(OPS)
    divergences = [row for row in rows if row[2]["benchfs"] != row[2]["os"]]
    assert not divergences, divergences
    # Enforcement really happened (the oracle could not have agreed otherwise,
    # but say it plainly): a private file stays private.
    by_call = {(row[0], row[1][0]): row[2]["benchfs"] for row in rows}
    assert by_call[("open", "P:secret")] == ["error", errno.EACCES]
    assert by_call[("unlink", "P:sticky/roots")] == ["error", errno.EPERM]
    assert by_call[("access", "P:secret")] == ["ok", False]


def test_a_cluster_without_permissions_lets_everyone_in(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "trusted")
    os.environ["UCX_TLS"] = "tcp"
    cluster.up(1, transport="tcp", permissions=False)
    try:
        with benchfs.connect(cluster.registry) as client:
            client.close(client.open("/private", os.O_CREAT | os.O_WRONLY, 0o600))
        script = (
            "import os, benchfs; c = benchfs.connect(os.environ['REG']); c.statvfs('/');"
            f"os.setgid({UID}); os.setuid({UID});"
            "c.close(c.open('/private', os.O_RDWR)); print('opened')"
        )
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "REG": str(cluster.registry)})
        assert child.stdout.strip() == "opened", child.stderr
    finally:
        cluster.down()
