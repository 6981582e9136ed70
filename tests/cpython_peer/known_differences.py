"""CPython regression tests that pass on ext4 and fail in benchfs, each with its reason.

Every entry is a row of the table in docs/interpose.md (## CPython regression suites);
test_peer.py fails when a test outside this list regresses and when a listed test passes.
"""

KNOWN_DIFFERENCES: dict[str, str] = {}
