"""CPython regression tests that pass on ext4 and fail in benchfs, each with its reason.

Every entry is a row of the table under "## CPython regression suites" in docs/interpose.md;
test_peer.py fails when a test outside this list regresses, and when a listed test passes
again (then drop it here and there).
Only the modules CI runs (test_peer.CI_MODULES) are listed: the others are in the docs.
"""

# The interposer's replacements of io.open / os.* are Python functions, which bind as
# methods when a class stores them as attributes (test_file's ``open = io.open``,
# test_tempfile's ``_unlink = os.unlink``): the instance arrives as the file name.
_BINDS_AS_METHOD = ("io.open replaced by a Python function binds as a method: "
                    "self.open(name, mode) passes the TestCase as the file")
_REPR = "repr() names benchfs.fileobj.RawFile instead of _io.FileIO"

KNOWN_DIFFERENCES: dict[str, str] = {
    **{f"test.test_file.{case}": _BINDS_AS_METHOD for case in (
        "CAutoFileTests.testAttributes", "CAutoFileTests.testErrors",
        "CAutoFileTests.testMethods", "CAutoFileTests.testReadWhenWriting",
        "CAutoFileTests.testReadinto", "CAutoFileTests.testReadinto_text",
        "CAutoFileTests.testWeakRefs", "CAutoFileTests.testWritelinesIntegers",
        "CAutoFileTests.testWritelinesIntegersUserList",
        "CAutoFileTests.testWritelinesNonString", "CAutoFileTests.testWritelinesUserList",
        "COtherFileTests.testBadModeArgument", "COtherFileTests.testIteration",
        "COtherFileTests.testModeStrings", "COtherFileTests.testSetBufferSize",
        "COtherFileTests.testTruncateOnWindows")},
    "test.test_fileio.CAutoFileTests.testRepr": _REPR,
    "test.test_fileio.CAutoFileTests.testReprNoCloseFD": _REPR,
    # 3.13's
    "test.test_fileio.CAutoFileTests.test_subclass_repr":
        "repr() names benchfs.fileobj.RawFile instead of the subclass",
    "test.test_fileio.COtherFileTests.testBooleanFd":
        "the RuntimeWarning of FileIO(True) names interposition's files.py as its place "
        "instead of the caller (stacklevel one short)",
    "test.test_fileio.CAutoFileTests.testOpenDirFD":
        "FileIO(fd of a directory) closes the caller's descriptor when it refuses it "
        "(EISDIR); CPython's leaves it open, so the test's os.close(fd) gets EBADF",
}
