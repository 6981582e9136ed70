"""``registry/secret``: 32 random bytes, mode 0600, in a registry directory of mode 0700.

A secret that other users can read proves nothing about whoever shows it, so
servers and clients refuse one unless told ``insecure``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from benchfs.config import NO_VALUE, ConfigError
from benchfs.registry import atomic_create

SECRET_FILE = "secret"
SECRET_SIZE = 32
INSECURE_COST = ("anyone who can read it can connect as a client or a server and read, "
                 "change or delete every file")


@dataclass(frozen=True)
class Secret:
    key: bytes
    cluster_id: str  # from cluster.json: proofs made for one cluster fail at another

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"Secret(cluster_id={self.cluster_id!r})"


def secret_path(registry: Path) -> Path:
    return registry / SECRET_FILE


def create_secret(registry: Path) -> bool:
    """Create the registry (mode 0700) and its secret unless it has one: whether we did.

    Servers started together race here; exactly one secret wins (atomic_create).
    """
    registry.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = secret_path(registry)
    if path.exists():
        return False
    created = atomic_create(path, os.urandom(SECRET_SIZE), 0o600)
    if created:
        os.chmod(registry, 0o700)  # the directory may have been made by mkdir -p
    return created


def load_secret(registry: Path, cluster_id: str, insecure: bool = False) -> Secret:
    """The registry's secret; ConfigError when it is missing, malformed or readable by others."""
    path = secret_path(registry)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ConfigError(str(path), NO_VALUE, "is missing: start the cluster with `benchfs "
                          "cluster up` or `benchfs serve`, which create it") from None
    except OSError as exc:
        raise ConfigError(str(path), NO_VALUE, f"cannot be read: {exc.strerror}") from None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        key = os.read(fd, SECRET_SIZE + 1)
    finally:
        os.close(fd)
    if mode & 0o077:
        if not insecure:
            raise ConfigError(str(path), NO_VALUE,
                              f"can be read by other users (mode {mode:04o}): chmod 600 it, "
                              f"or accept with --insecure or BENCHFS_INSECURE=1 that "
                              f"{INSECURE_COST}")
        logger.warning("{} has mode {:04o} and --insecure is set: {}", path, mode,
                       INSECURE_COST)
    if len(key) != SECRET_SIZE:
        raise ConfigError(str(path), NO_VALUE,
                          f"must hold exactly {SECRET_SIZE} bytes, not {len(key)}")
    return Secret(key, cluster_id)
