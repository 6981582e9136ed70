"""Client knobs, read from the environment so that launchers can set them.

| variable                | meaning                                               | default |
|-------------------------|-------------------------------------------------------|---------|
| BENCHFS_REGISTRY        | registry directory of the cluster to use              | (none)  |
| BENCHFS_TIMEOUT         | seconds before a call to a silent server fails        | 5       |
| BENCHFS_MD_CACHE_TTL    | seconds a looked-up directory is trusted (0: never)   | 1       |
| BENCHFS_SPIN_US         | µs the engine busy-polls before sleeping              | 100     |
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must not be negative")
    return value


# Long enough to catch a metadata reply (a Python handler takes tens of µs) without
# sleeping, short enough that an idle process sleeps: measured best on 2 vCPUs
# (create 2.2k -> 3.1k/s, stat 6.7k -> 9.2k/s against 20 µs).
DEFAULT_SPIN_US = 100

# Servers move block-aligned transfers of at least this size with O_DIRECT and
# smaller ones through the page cache. On this machine class a buffered write
# runs at about a fifth of the disk's O_DIRECT speed (page-cache allocation in the
# VM), while small random I/O needs the cache: see docs/benchmarks.md.
DEFAULT_DIRECT_MIN = 256 << 10


@dataclass(frozen=True)
class ClientSettings:
    timeout: float = 5.0
    metadata_ttl: float = 1.0
    spin_us: int = DEFAULT_SPIN_US

    @classmethod
    def from_env(cls) -> ClientSettings:
        return cls(
            timeout=_env_float("BENCHFS_TIMEOUT", cls.timeout),
            metadata_ttl=_env_float("BENCHFS_MD_CACHE_TTL", cls.metadata_ttl),
            spin_us=int(_env_float("BENCHFS_SPIN_US", cls.spin_us)),
        )


def registry_from_env() -> str:
    registry = os.environ.get("BENCHFS_REGISTRY")
    if not registry:
        raise RuntimeError(
            "BENCHFS_REGISTRY is not set: start a cluster with "
            "`eval $(benchfs cluster up)` or call benchfs.connect(registry=...)"
        )
    return registry
