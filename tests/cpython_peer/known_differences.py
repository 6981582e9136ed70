"""CPython regression tests that pass on ext4 and fail in benchfs, each with its reason.

Every entry is a row of the table under "## CPython regression suites" in docs/interpose.md;
test_peer.py fails when a test outside this list regresses, and when a listed test passes
again (then drop it here and there).
Only the modules CI runs (test_peer.CI_MODULES) are listed: the others are in the docs.
"""

KNOWN_DIFFERENCES: dict[str, str] = {
    # 3.13's
    "test.test_fileio.CAutoFileTests.test_subclass_repr":
        "a subclass of io.FileIO opened on a benchfs path makes a benchfs raw file, not an "
        "instance of the subclass, so its repr names _io.FileIO",
}
