"""The differential suite with the mount as the world under test: plain os calls on
the mount path against the real os on a temp directory (tests/differential runs the
same cases against the drop-in API, so the three worlds meet in the oracle).

The known differences are the kernel's FUSE layer's or pyfuse3's, not benchfs's;
each is marked strict xfail in conftest.py with its reason (docs/fuse.md lists
them), so a fix shows up as an unexpected pass.
"""

from tests.differential.test_os_parity import *  # noqa: F403
from tests.differential.test_os_parity_attrs import *  # noqa: F403
from tests.differential.test_os_parity_io import *  # noqa: F403
from tests.differential.test_os_parity_names import *  # noqa: F403
from tests.differential.test_os_parity_path import *  # noqa: F403
from tests.differential.test_os_parity_tree import *  # noqa: F403
