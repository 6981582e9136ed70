"""Mounting and unmounting: checks, detaching, the request loop, signals.

``mount`` checks what it can before anything starts (the FUSE device, the
helper, the mount point, the cluster) so that a mount that cannot work fails
with the reason, and, unless asked to stay in the foreground, detaches only once
the kernel has the mount: the detached child reports "mounted" or its error
through a pipe, and the command's exit status says which.

The loop ends when the file system is unmounted (``benchfs umount``,
``fusermount3 -u``, ``umount``) or on SIGTERM, SIGINT or SIGHUP, which unmount it
first. Every client call has a deadline (BENCHFS_TIMEOUT), so a mount whose
cluster died answers its requests with the calls' errors (ENOTCONN, ETIMEDOUT)
rather than hanging, and unmounts as usual.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

FUSE_DEVICE = "/dev/fuse"
FUSERMOUNT = "fusermount3"
_MOUNTED = "mounted"


class MountError(Exception):
    """Why a mount cannot be made (or unmade); the command prints it and fails."""


@dataclass(frozen=True)
class MountOptions:
    mountpoint: Path
    registry: Path
    allow_other: bool = False
    extra: tuple[str, ...] = ()  # -o options passed to FUSE as they are
    # The kernel's read-ahead on the mount, in KiB. Its default (128) makes every
    # buffered read a 128 KiB request; FUSE takes up to 1 MiB per request, and
    # larger read-ahead keeps several in flight (64 MiB sequential read, 1 server:
    # 102 -> 222 MiB/s with 4096).
    read_ahead_kb: int = 4096
    # µs the mount's engine busy-polls for a reply before it sleeps. 0: at once. A
    # mount puts a third process (the program, the mount, the server) on the cores;
    # spinning there takes them from the other two (1 server on 2 vCPUs, 1 000 empty
    # creates then stats through the mount: 240/s and 770/s with the client's usual
    # 100 µs, 300-1 500/s and 1 700-5 000/s with 0).
    spin_us: int = 0

    def fuse_options(self) -> set[str]:
        # default_permissions: the kernel checks modes and owners for every caller
        # (pjdfstest switches users; D16). The client checks again as the caller.
        options = {"default_permissions", f"fsname=benchfs:{self.registry}", "subtype=benchfs"}
        if self.allow_other:
            options.add("allow_other")
        options.update(self.extra)
        return options


def _unescape_mountinfo(field_text: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field_text = field_text.replace(escaped, plain)
    return field_text


def _mounts() -> dict[str, str]:
    """Mount point -> its device ("major:minor") in this mount namespace."""
    with open("/proc/self/mountinfo") as mountinfo:
        fields = [line.split() for line in mountinfo]
    return {_unescape_mountinfo(field[4]): field[2] for field in fields}


def mounted_points() -> set[str]:
    """Every mount point of this mount namespace (a dead FUSE mount included,
    which os.path.ismount cannot see: stat on it fails with ENOTCONN)."""
    return set(_mounts())


def check_can_mount(options: MountOptions) -> None:
    """Raise MountError with the reason when the mount cannot be made."""
    if not os.path.exists(FUSE_DEVICE):
        raise MountError(f"{FUSE_DEVICE} is missing: load the fuse module (modprobe fuse)")
    if not os.access(FUSE_DEVICE, os.R_OK | os.W_OK):
        raise MountError(f"{FUSE_DEVICE} is not readable and writable by this user")
    if shutil.which(FUSERMOUNT) is None:
        raise MountError(f"{FUSERMOUNT} is not installed (Debian: apt-get install fuse3)")
    point = options.mountpoint
    if not point.exists():
        raise MountError(f"mount point {point} does not exist")
    if not point.is_dir():
        raise MountError(f"mount point {point} is not a directory")
    if str(point) in mounted_points():
        raise MountError(f"mount point {point} is busy: something is mounted there")
    from benchfs.registry import read_cluster_config

    try:
        read_cluster_config(options.registry)
    except (OSError, ValueError) as exc:
        raise MountError(f"no benchfs cluster at registry {options.registry}: {exc}") from None


def run_mount(options: MountOptions, ready: int | None = None) -> None:
    """Connect, mount, serve until unmounted or signalled, then unmount.

    ``ready``: a pipe's write end that hears "mounted" once the kernel has the
    mount, or the reason it could not be made."""
    import pyfuse3
    import trio

    from benchfs.client.client import Client
    from benchfs.fuse.operations import BenchfsOperations
    from benchfs.settings import ClientSettings

    try:
        client = Client(options.registry, dataclasses.replace(ClientSettings.from_env(),
                                                              spin_us=options.spin_us))
        try:
            client.lstat("/")  # the cluster answers: fail now rather than at the first ls
            operations = BenchfsOperations(client, client.settings.metadata_ttl)
            pyfuse3.init(operations, str(options.mountpoint), options.fuse_options())
        except BaseException:
            client.close_client()
            raise
    except (OSError, RuntimeError) as exc:
        raise MountError(f"cannot mount {options.mountpoint}: {exc}") from None
    if ready is not None:
        os.write(ready, _MOUNTED.encode())
        os.close(ready)
    try:
        trio.run(_serve, options)
    finally:
        # Unmounted from outside, the loop ended with the mount gone already.
        pyfuse3.close(unmount=str(options.mountpoint) in mounted_points())
        client.close_client()


def _set_read_ahead(options: MountOptions) -> None:
    """The mount's backing device info (named by its device number in sysfs) holds
    the read-ahead; only root may set it, so others keep the kernel's default. The
    kernel lowers it to what FUSE's INIT negotiated (128 KiB) when INIT is answered,
    so it is set after that: the stat waits for the loop to have served INIT, and
    runs in a thread while the loop serves it."""
    try:
        os.stat(options.mountpoint)
        device = _mounts()[str(options.mountpoint)]
        Path(f"/sys/class/bdi/{device}/read_ahead_kb").write_text(str(options.read_ahead_kb))
    except OSError as exc:
        from loguru import logger

        logger.warning("benchfs mount: read-ahead left at the kernel's default ({})", exc)


async def _serve(options: MountOptions) -> None:
    import pyfuse3
    import trio

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_terminate_on_signal)
        nursery.start_soon(trio.to_thread.run_sync, _set_read_ahead, options)
        # One request at a time: every handler runs to its end without yielding
        # (the client's calls block in the engine), so more tasks would only idle.
        await pyfuse3.main(min_tasks=1, max_tasks=1)
        nursery.cancel_scope.cancel()


async def _terminate_on_signal() -> None:
    import pyfuse3
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for _ in signals:
            pyfuse3.terminate()
            return


def mount(options: MountOptions, foreground: bool) -> None:
    """Mount; in the background unless ``foreground``. Returns once the mount is
    live (background) or has ended (foreground); MountError says why not."""
    check_can_mount(options)
    if foreground:
        run_mount(options)
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: detach, mount, serve
        os.close(read_end)
        os.setsid()
        os.chdir("/")  # hold no directory busy
        _quiet_stdio()
        code = 0
        try:
            run_mount(options, ready=write_end)
        except MountError as exc:
            os.write(write_end, str(exc).encode())
            code = 1
        except BaseException as exc:
            os.write(write_end, f"cannot mount {options.mountpoint}: {exc!r}".encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    message = _read_all(read_end)
    if message != _MOUNTED:
        os.waitpid(pid, 0)
        raise MountError(message or f"the mount process {pid} ended without mounting")


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _quiet_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def unmount(mountpoint: Path, lazy: bool = False) -> None:
    """Unmount a benchfs mount (its process then ends); MountError says why not."""
    point = str(mountpoint.absolute())
    if point not in mounted_points():
        raise MountError(f"{point} is not mounted")
    command = [FUSERMOUNT, "-u", *(["-z"] if lazy else []), point]
    if shutil.which(FUSERMOUNT) is None:
        command = ["umount", *(["-l"] if lazy else []), point]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise MountError(done.stderr.strip() or f"{command[0]} failed ({done.returncode})")
