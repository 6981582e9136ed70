"""The one place where settings are checked (plan item 15).

Servers (``ServerOptions``), clients (``ClientSettings``) and the cluster record
(``ClusterConfig`` in cluster.json) check every field against ``RULES`` when they are
made, whatever made them: the command line, the environment, a JSON file or a
program. A bad value is a ``ConfigError``: one line naming the field and what is
allowed. Front ends rename the field to what the user typed (``--chunk-size``,
``BENCHFS_TIMEOUT``, cluster.json's ``chunk_size``) with ``ConfigError.relabel``,
and do so before anything starts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_CHUNK_SIZE = 64 << 20  # BFS_MAX_BULK_LEN: one chunk is one bulk transfer
MIN_CHUNK_SIZE = 4 << 10  # one O_DIRECT block (BFS_DIRECT_BLOCK)
MAX_SERVERS = 65536
MAX_SPIN_US = 1_000_000
# UCX transport names a cluster may be started with. `sm` alone is refused: a
# listener over shared memory only fails silently (DESIGN.md D2).
UCX_TRANSPORTS = frozenset({"sm", "shm", "posix", "sysv", "cma", "knem", "xpmem", "self",
                            "tcp", "rc", "rc_x", "rc_v", "rc_mlx5", "ud", "ud_x", "ud_v",
                            "ud_mlx5", "dc", "dc_x", "dc_mlx5", "ib", "all"})
_NETWORK_TRANSPORTS = frozenset({"tcp", "rc", "rc_x", "rc_v", "rc_mlx5", "ud", "ud_x", "ud_v",
                                 "ud_mlx5", "dc", "dc_x", "dc_mlx5", "ib", "all"})
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


NO_VALUE = object()  # a ConfigError about a setting as a whole (missing, unreadable)


class ConfigError(ValueError):
    """A setting outside what is allowed; ``str()`` is one line for the user."""

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        shown = "" if value is NO_VALUE else f" {_shown(value)}"
        super().__init__(f"{name}{shown}: {allowed}")

    def relabel(self, labels: Mapping[str, str]) -> ConfigError:
        """The same error under the name the user typed (field name -> label)."""
        return ConfigError(labels.get(self.name, self.name), self.value, self.allowed)


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) or value is None else str(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _transport_ok(value: object) -> bool:
    if not isinstance(value, str):
        return False
    names = value.split(",")
    return (all(name in UCX_TRANSPORTS for name in names)
            and any(name in _NETWORK_TRANSPORTS for name in names))


def _ucx_env_ok(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and k.startswith("UCX_") and isinstance(v, str)
        for k, v in value.items())


@dataclass(frozen=True)
class Rule:
    allowed: str  # what the user reads after the name and value
    check: Callable[[Any], bool]


def _int_range(low: int, high: int, text: str) -> Rule:
    return Rule(text, lambda v: _is_int(v) and low <= v <= high)


RULES: dict[str, Rule] = {
    "servers": _int_range(1, MAX_SERVERS, f"must be an integer from 1 to {MAX_SERVERS}"),
    "rank": _int_range(0, MAX_SERVERS - 1, "must be an integer of at least 0"),
    "port": _int_range(0, 65535, "must be an integer from 0 (any free port) to 65535"),
    "metrics_port": Rule("must be an integer from 1 to 65535, or unset (no metrics endpoint)",
                         lambda v: v is None or (_is_int(v) and 1 <= v <= 65535)),
    "data_dir": Rule("must be a directory path", lambda v: str(v) not in ("", ".")),
    "registry": Rule("must be a directory path", lambda v: str(v) not in ("", ".")),
    "host": Rule("must be a host name or address",
                 lambda v: isinstance(v, str) and v.strip() != "" and " " not in v),
    "chunk_size": Rule("must be a power of two from 4 KiB to 64 MiB",
                       lambda v: _is_int(v) and MIN_CHUNK_SIZE <= v <= MAX_CHUNK_SIZE
                       and v & (v - 1) == 0),
    "spin_us": _int_range(0, MAX_SPIN_US, f"must be an integer from 0 to {MAX_SPIN_US} (µs)"),
    "direct_min": _int_range(0, MAX_CHUNK_SIZE, "must be a size from 0 (all buffered) to 64 MiB"),
    "transport": Rule("must be a comma-separated list of UCX transports with a network one, "
                      "e.g. sm,tcp or tcp", _transport_ok),
    "timeout": Rule("must be a number of seconds above 0",
                    lambda v: _is_number(v) and 0 < v < float("inf")),
    "watch": Rule("must be a number of seconds above 0",
                  lambda v: _is_number(v) and 0 < v < float("inf")),
    "metadata_ttl": Rule("must be a number of seconds, 0 or more",
                         lambda v: _is_number(v) and 0 <= v < float("inf")),
    "ucx_env": Rule("must be an object of UCX_* names to strings", _ucx_env_ok),
    "permissions": Rule("must be true or false", lambda v: isinstance(v, bool)),
    "peer_errors": Rule("must be true or false", lambda v: isinstance(v, bool)),
    "o_direct": Rule("must be true or false", lambda v: isinstance(v, bool)),
    "insecure": Rule("must be true or false", lambda v: isinstance(v, bool)),
    "metrics": Rule("must be true or false", lambda v: isinstance(v, bool)),
    "cluster_id": Rule("must be a string of 32 hex digits",
                       lambda v: isinstance(v, str) and len(v) == 32
                       and all(c in "0123456789abcdef" for c in v)),
    "backend": Rule("must be an absolute directory path",
                    lambda v: isinstance(v, str) and os.path.isabs(v)),
    "log_level": Rule(f"must be one of {', '.join(LOG_LEVELS)}",
                      lambda v: isinstance(v, str) and v.upper() in LOG_LEVELS),
}


def check(name: str, value: object) -> None:
    """ConfigError unless ``value`` is allowed for the setting ``name``."""
    rule = RULES.get(name)
    if rule is not None and not rule.check(value):
        raise ConfigError(name, value, rule.allowed)


def check_all(**values: object) -> None:
    """``check`` for each keyword argument."""
    for name, value in values.items():
        check(name, value)


def check_fields(record: object) -> None:
    """Check every field of a dataclass instance that has a rule."""
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if value is None and f.default is None:
            continue  # "not set" is allowed wherever it is the default
        check(f.name, value)


def parse_flag(name: str, raw: str) -> bool:
    """A yes/no setting typed as text: 1/true/yes or 0/false/no."""
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ConfigError(name, raw, "must be 1 or 0")


def parse_number(name: str, raw: str, integer: bool = False) -> float:
    """A number typed as text (an environment variable); ConfigError when it is none."""
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        rule = RULES.get(name)
        raise ConfigError(name, raw, rule.allowed if rule else "must be a number") from None
