"""The permission cases of tests/integration/test_permissions.py, as an unprivileged
user through the mount (allow_other, default_permissions), with the real os as the
oracle: the kernel's checks and the client's, acting for the caller, together."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_permissions import OPS, UID, _build

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch uid")

CHILD = f"""
import json, os, sys
from tests.integration.perm_child import run_ops
mount_root, local_root, ops = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
os.setgroups([])
os.setgid({UID})
os.setuid({UID})
run_ops({{"mount": (os, mount_root), "os": (os, local_root)}}, ops)
"""


def test_an_unprivileged_user_gets_the_same_answers_through_the_mount(
        mountpoint: Path) -> None:
    mount_root = str(mountpoint / "perm")
    local_root = tempfile.mkdtemp(prefix="benchfs-perm-oracle-")
    os.rmdir(local_root)
    _build(os, mount_root)
    _build(os, local_root)
    try:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, mount_root, local_root, json.dumps(OPS)],
            capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    finally:
        shutil.rmtree(local_root)
    assert child.returncode == 0, child.stderr
    rows = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(rows) == len(OPS)
    divergences = [row for row in rows if row[2]["mount"] != row[2]["os"]]
    assert not divergences, divergences
    by_call = {(row[0], row[1][0]): row[2]["mount"] for row in rows}
    assert by_call[("open", "P:secret")] == ["error", errno.EACCES]
    assert by_call[("unlink", "P:sticky/roots")] == ["error", errno.EPERM]
    # Files the user made through the mount are theirs, as on a local disk.
    assert os.stat(f"{mount_root}/open/renamed").st_uid == UID
