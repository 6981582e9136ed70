"""The drop-in's differential suite (tests/differential), run a second time through
interposition: the real os module on /bfs/... against os on a temporary directory.

The cases are the drop-in's own test functions, collected again here with this
directory's ``fs`` and ``mirror`` fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from tests.differential.mirror import Mirror
from tests.differential.parity_support import OsMirror
from tests.differential.test_os_parity import *  # noqa: F403
from tests.differential.test_os_parity_attrs import *  # noqa: F403
from tests.differential.test_os_parity_io import *  # noqa: F403
from tests.differential.test_os_parity_names import *  # noqa: F403
from tests.differential.test_os_parity_path import *  # noqa: F403
from tests.differential.test_os_parity_tree import *  # noqa: F403
from tests.interpose.interposed_mirror import interposed_fs, interposed_mirror

# Cases about the benchfs module itself rather than os (they call benchfs.* on the
# oracle's paths); their interposed counterparts are in test_interpose.py.
del test_open_o_tmpfile_is_eopnotsupp  # noqa: F821
del test_direntry_class  # noqa: F821
del test_removing_the_working_directory  # noqa: F821


@pytest.fixture
def fs(bfs: benchfs.Interposition, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[OsMirror]:
    yield from interposed_fs(bfs, tmp_path, monkeypatch)


@pytest.fixture
def mirror(bfs: benchfs.Interposition, tmp_path: Path) -> Iterator[Mirror]:
    yield from interposed_mirror(bfs, tmp_path)
