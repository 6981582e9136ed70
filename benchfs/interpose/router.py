"""Which file system a call goes to, decided from its normalised absolute path (D10).

A prefix table of mounts (longest prefix first, on a ``/`` boundary) and the working
directory. The state is one immutable snapshot replaced whole under a lock, so a call
reads it once and never sees half an update: no locks on the call path, no stack
inspection, no "busy" flag.

``route(path)`` answers:
- ``None``: the real os, with the argument unchanged (every path outside the prefixes);
- ``(None, path)``: the real os, with this absolute path instead (a relative path under
  the virtual working directory that climbs out of its prefix);
- ``(mount, path)``: benchfs, with the path as the mount's client names it.
"""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass, field
from typing import Any

from benchfs.client.client import Client
from benchfs.settings import ClientSettings

# The real functions the router itself needs (interposition replaces os's).
_real_getcwd = os.getcwd


@dataclass(eq=False)
class Mount:
    """A prefix and the cluster behind it, connected on first use. A forked child
    keeps the parent's client, with its descriptors and offsets (benchfs/client/
    forking.py gives each side an engine of its own)."""

    prefix: str
    registry: str | os.PathLike[str]
    settings: ClientSettings | None = None
    prefix_bytes: bytes = field(init=False)
    _client: Client | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.prefix_bytes = os.fsencode(self.prefix)

    @property
    def client(self) -> Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = Client(self.registry, self.settings)
                state = _state
                if state.cwd_mount is self and state.cwd_inside is not None:
                    self._client.cwd = state.cwd_inside
            return self._client

    def connected(self) -> Client | None:
        """The client, if this process has connected one."""
        return self._client

    def owns_fd(self, fd: int) -> bool:
        client = self._client
        return client is not None and client.owns_fd(fd)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close_client()
            self._client = None

    def renew_lock(self) -> None:
        """In a forked child: another thread of the parent may have held the lock."""
        self._lock = threading.Lock()

    def outside(self, inside: str) -> str:
        """The interposed path of the client's path ``inside``."""
        return self.prefix if inside == "/" else self.prefix + inside


@dataclass(frozen=True)
class State:
    mounts: tuple[Mount, ...] = ()  # longest prefix first
    prefixes: tuple[str, ...] = ()  # their str forms, for one startswith test
    prefixes_bytes: tuple[bytes, ...] = ()
    cwd_mount: Mount | None = None  # the virtual working directory's mount, if any
    cwd_inside: str | None = None  # and the path there, as its client names it
    real_cwd: str = "/"  # the process's working directory, as last seen
    # Whether a relative path without '..' may still land under a prefix (the working
    # directory is virtual, or an ancestor of a prefix): the fast path needs to know.
    relative_routed: bool = False


_state = State()
_lock = threading.Lock()
# The fast path's view of _state: a str path that starts with none of these and has no
# '..' in it cannot be under a prefix, so it goes to the real os untouched. They are
# the first component of every prefix, '//' and '/./' (which normalising could turn
# into one), and '' (every path) while a relative path may land under a prefix.
triggers: tuple[str, ...] = ()


# The environment variable that names the virtual working directory for child
# interpreters (benchfs run's BENCHFS_INTERPOSE_CWD: their kernel cwd cannot be
# there), kept by _publish, the one place the state changes; None: no launcher.
_cwd_variable: str | None = None


def export_cwd_as(variable: str) -> None:
    """Keep ``variable`` in os.environ equal to the virtual working directory, or
    absent outside every prefix, from now on (however chdir/fchdir was reached)."""
    global _cwd_variable
    with _lock:
        _cwd_variable = variable
        _export_cwd(_state)


def _export_cwd(state: State) -> None:
    if _cwd_variable is None:
        return
    where = _virtual_cwd(state)
    if where is None:
        os.environ.pop(_cwd_variable, None)
    else:
        os.environ[_cwd_variable] = where


def _triggers(state: State) -> tuple[str, ...]:
    if not state.mounts:
        return ()
    if state.relative_routed:
        return ("",)
    firsts = {"/" + mount.prefix.split("/")[1] for mount in state.mounts}
    return (*sorted(firsts), "//", "/./")


def _renew_locks_after_fork() -> None:
    """The child has only the forking thread: a lock another thread held stays held."""
    global _lock
    _lock = threading.Lock()
    for mount in _state.mounts:
        mount.renew_lock()


os.register_at_fork(after_in_child=_renew_locks_after_fork)


def state() -> State:
    return _state


def _relative_routed(mounts: tuple[Mount, ...], cwd_mount: Mount | None,
                     real_cwd: str) -> bool:
    if cwd_mount is not None:
        return True
    base = real_cwd.rstrip("/") + "/"
    return any(m.prefix.startswith(base) for m in mounts)


def _publish(mounts: tuple[Mount, ...], cwd_mount: Mount | None, cwd_inside: str | None,
             real_cwd: str) -> None:
    global _state, triggers
    mounts = tuple(sorted(mounts, key=lambda m: len(m.prefix), reverse=True))
    _state = State(mounts, tuple(m.prefix for m in mounts),
                   tuple(m.prefix_bytes for m in mounts), cwd_mount, cwd_inside, real_cwd,
                   _relative_routed(mounts, cwd_mount, real_cwd))
    triggers = _triggers(_state)
    _export_cwd(_state)


def normalise_prefix(prefix: Any) -> str:
    text = os.fsdecode(os.fspath(prefix))
    if not text.startswith("/"):
        raise ValueError(f"interposition prefix must be absolute: {text!r}")
    text = posixpath.normpath(text)
    if text.startswith("//"):
        text = "/" + text.lstrip("/")
    if text == "/":
        raise ValueError("interposition prefix cannot be '/'")
    return text


def add_mount(mount: Mount) -> None:
    with _lock:
        if any(m.prefix == mount.prefix for m in _state.mounts):
            raise ValueError(f"{mount.prefix!r} is interposed already")
        real_cwd = _real_getcwd() if not _state.mounts else _state.real_cwd
        _publish((*_state.mounts, mount), _state.cwd_mount, _state.cwd_inside, real_cwd)


def remove_mount(mount: Mount) -> bool:
    """Drop a mount; True when it was the last. A virtual cwd inside it falls back to
    the process's real working directory."""
    with _lock:
        mounts = tuple(m for m in _state.mounts if m is not mount)
        in_cwd = _state.cwd_mount is mount
        _publish(mounts, None if in_cwd else _state.cwd_mount,
                 None if in_cwd else _state.cwd_inside, _state.real_cwd)
        return not mounts


def set_virtual_cwd(mount: Mount, inside: str) -> None:
    with _lock:
        _publish(_state.mounts, mount, inside, _state.real_cwd)


def set_real_cwd() -> None:
    """The process changed its real working directory (and left any virtual one)."""
    with _lock:
        _publish(_state.mounts, None, None, _real_getcwd())


def virtual_cwd() -> str | None:
    return _virtual_cwd(_state)


def _virtual_cwd(state: State) -> str | None:
    if state.cwd_mount is None or state.cwd_inside is None:
        return None
    return state.cwd_mount.outside(state.cwd_inside)


def owner_of_fd(fd: int) -> Mount | None:
    for mount in _state.mounts:
        if mount.owns_fd(fd):
            return mount
    return None


def _match(text: str, s: State) -> tuple[Mount, str] | None:
    """The mount of a normalised absolute str path and the rest of it."""
    if not text.startswith(s.prefixes):
        return None
    for mount in s.mounts:
        prefix = mount.prefix
        if text.startswith(prefix) and (len(text) == len(prefix) or text[len(prefix)] == "/"):
            return mount, text[len(prefix):] or "/"
    return None


def _normalise(text: str) -> str:
    normal = posixpath.normpath(text)
    if normal.startswith("//"):  # POSIX leaves a leading '//' alone; Linux does not
        normal = "/" + normal.lstrip("/")
    if text.endswith("/") and not normal.endswith("/"):
        normal += "/"  # a trailing slash still says "a directory"
    return normal


def _stays_inside(rest: str) -> bool:
    """Whether a path's '..' components never climb above its root."""
    depth = 0
    for part in rest.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part and part != ".":
            depth += 1
    return True


def route_text(text: str) -> tuple[Mount | None, str] | None:
    """route() for a str path (see the module's docstring)."""
    s = _state
    if not s.mounts:
        return None
    if text.startswith("/"):
        if "//" not in text and "/." not in text:
            return _match(text, s)
        normal = _normalise(text)
        hit = _match(normal, s)
        raw = _match(text, s)
        if hit is None:
            # "/bfs/../etc": lexically outside; the kernel would stop at a "/bfs" it
            # does not have.
            return None if raw is None else (None, normal)
        mount, rest = hit
        # The raw path, when it names the same place: the client resolves '.', '..'
        # and symlinks as Linux does (ENOTDIR for "file/.", EBUSY for renaming "d/..").
        if raw is not None and raw[0] is mount and _stays_inside(raw[1]):
            return raw
        return hit
    if not text or (not s.relative_routed and ".." not in text):
        return None
    if s.cwd_mount is not None and s.cwd_inside is not None:
        if ".." not in text:
            return s.cwd_mount, text  # the client's own cwd is the virtual one
        base = s.cwd_mount.outside(s.cwd_inside)
    else:
        base = s.real_cwd
    absolute = _normalise(f"{base}/{text}")
    hit = _match(absolute, s)
    if hit is not None:
        return hit
    return (None, absolute) if s.cwd_mount is not None else None


def route(path: Any) -> tuple[Mount | None, Any] | None:
    """Where a path argument goes (see the module's docstring); ints (descriptors)
    and anything that is not a path are the caller's to dispatch."""
    if type(path) is str:
        return route_text(path)
    if not _state.mounts:
        return None
    if isinstance(path, bytes):
        try:
            text = os.fsdecode(path)
        except UnicodeDecodeError:
            return None
        hit = route_text(text)
        return None if hit is None else (hit[0], os.fsencode(hit[1]))
    if isinstance(path, str):  # a str subclass
        return route_text(str(path))
    if hasattr(type(path), "__fspath__"):
        try:
            value = os.fspath(path)
        except TypeError:
            return None  # os raises its own error for a bad __fspath__
        hit = route(value)
        if hit is not None and hit[1] is value:
            return hit[0], path  # unchanged: keep the caller's object for the client
        return hit
    return None
