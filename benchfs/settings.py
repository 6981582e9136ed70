"""Client knobs, read from the environment so that launchers can set them.

| variable                | meaning                                               | default |
|-------------------------|-------------------------------------------------------|---------|
| BENCHFS_REGISTRY        | registry directory of the cluster to use              | (none)  |
| BENCHFS_TIMEOUT         | seconds before a call to a silent server fails        | 5       |
| BENCHFS_MD_CACHE_TTL    | seconds a looked-up directory is trusted (0: never)   | 1       |
| BENCHFS_SPIN_US         | µs the engine busy-polls before sleeping              | 100     |
| BENCHFS_INSECURE        | 1: accept a registry secret others can read           | 0       |
| BENCHFS_METRICS         | 0: count nothing (servers too, for `serve`'s default)  | 1       |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from benchfs.config import ConfigError, check, check_fields, parse_flag, parse_number

# Environment variable -> the ClientSettings field it sets.
ENV_FIELDS = {"BENCHFS_TIMEOUT": "timeout", "BENCHFS_MD_CACHE_TTL": "metadata_ttl",
              "BENCHFS_SPIN_US": "spin_us", "BENCHFS_INSECURE": "insecure",
              "BENCHFS_METRICS": "metrics"}
_FLAGS = frozenset({"insecure", "metrics"})


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
    # Accept a registry secret that other users can read (it then proves nothing).
    insecure: bool = False
    # Count requests (Client.metrics); 0 to measure what counting costs.
    metrics: bool = True

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def from_env(cls) -> ClientSettings:
        """The settings from BENCHFS_* variables; ConfigError naming the variable."""
        values: dict[str, Any] = {}
        for var, name in ENV_FIELDS.items():
            raw = os.environ.get(var, "")
            if raw == "":
                continue
            try:
                if name in _FLAGS:
                    values[name] = parse_flag(name, raw)
                else:
                    values[name] = parse_number(name, raw, integer=name == "spin_us")
                check(name, values[name])
            except ConfigError as error:
                # Named and shown as the user typed it.
                raise ConfigError(f"environment variable {var}", raw, error.allowed) from None
        return cls(**values)


def registry_from_env() -> str:
    registry = os.environ.get("BENCHFS_REGISTRY")
    if not registry:
        raise RuntimeError(
            "BENCHFS_REGISTRY is not set: start a cluster with "
            "`eval $(benchfs cluster up)` or call benchfs.connect(registry=...)"
        )
    return registry
