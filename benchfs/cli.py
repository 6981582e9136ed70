"""The `benchfs` command: serve, cluster up/down/status, bench, mount/umount."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from loguru import logger

from benchfs.auth.secret import INSECURE_COST
from benchfs.bench.options import (
    DEFAULT_TRANSFER_SIZES,
    FAMILIES,
    FULL,
    QUICK,
    BenchOptions,
    size_text,
)
from benchfs.config import LOG_LEVELS, RULES, ConfigError, check, parse_flag
from benchfs.fuse.cli import add_mount_parsers
from benchfs.registry import DEFAULT_CHUNK_SIZE
from benchfs.settings import DEFAULT_DIRECT_MIN, DEFAULT_SPIN_US
from benchfs.tools.backend import record_backend
from benchfs.tools.cli import add_tool_parsers
from benchfs.tools.flush import flush

# A setting's name as typed on the command line, for ConfigError messages.
_OPTION_LABELS = {name: "--" + name.replace("_", "-") for name in RULES}
_OPTION_LABELS["log_level"] = "--log-level (or BENCHFS_LOG_LEVEL)"


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block): `benchfs serve: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _size(text: str) -> int:
    """Sizes like 4M, 1GiB, 512k, 4096."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    lowered = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (lowered[:-1], lowered[-1]) if lowered[-1:] in units else (lowered, "")
    try:
        return int(float(number) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None


def _default_cluster_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"benchfs-{os.getuid()}"


def _setup_logging(level: str) -> None:
    logger.remove()
    logger.enable("benchfs")
    logger.add(sys.stderr, level=level.upper(),
               format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} [{process}] {message}")


def _rank_from_launcher(explicit: int | None) -> tuple[int | None, int | None]:
    """Rank and size set by mpirun or srun, when the user gave none."""
    if explicit is not None:
        return explicit, None
    for rank_var, size_var in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                               ("PMI_RANK", "PMI_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        if rank_var in os.environ:
            return int(os.environ[rank_var]), int(os.environ[size_var])
    return None, None


def _metrics_on(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    try:
        return parse_flag("metrics", os.environ.get("BENCHFS_METRICS") or "1")
    except ConfigError as error:
        raise error.relabel({"metrics": "environment variable BENCHFS_METRICS"}) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from benchfs.server.daemon import Server, ServerOptions

    rank, size = _rank_from_launcher(args.rank)
    options = ServerOptions(
        data_dir=Path(args.data_dir) if rank is None or args.rank is not None
        else Path(args.data_dir) / str(rank),
        registry=Path(args.registry), rank=rank or 0,
        servers=args.servers if args.servers is not None else size or 1,
        host=args.host, port=args.port, chunk_size=args.chunk_size, spin_us=args.spin_us,
        o_direct=args.o_direct, direct_min=args.direct_min, insecure=args.insecure,
        metrics_port=args.metrics_port, metrics=_metrics_on(args.metrics),
        failure_timeout=args.failure_timeout,
    )
    Server(options).run()
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from benchfs.cluster import LocalCluster

    cluster = LocalCluster(Path(args.dir).resolve())
    if args.action == "up":
        if args.backend and not Path(args.backend).is_dir():
            print(f"benchfs cluster: --backend {args.backend}: not a directory", file=sys.stderr)
            return 2
        cluster.up(args.servers, args.chunk_size, args.transport, args.spin_us, args.o_direct,
                   args.permissions, args.direct_min, insecure=args.insecure,
                   metrics_port=args.metrics_port, metrics=args.metrics)
        if args.backend:
            record_backend(cluster.registry, Path(args.backend))
        if args.mount:
            try:
                cluster.mount(Path(args.mount).absolute())
            except RuntimeError as exc:
                cluster.down()  # all or nothing: no servers left without their mount
                print(f"benchfs cluster up: {exc}", file=sys.stderr)
                return 1
        print(f"export BENCHFS_REGISTRY={cluster.registry}")
    elif args.action == "down":
        if args.flush and flush(str(cluster.registry)) != 0:
            print("benchfs cluster: flush failed; the cluster keeps running", file=sys.stderr)
            return 1
        cluster.down()
    else:
        entries = cluster.entries()
        if not entries:
            print(f"no servers registered in {cluster.registry}")
            return 1
        from benchfs.registry import read_cluster_config
        from benchfs.view_registry import current_view

        view = current_view(cluster.registry, read_cluster_config(cluster.registry).servers)
        print(f"view {view.epoch}")
        for rank, entry in sorted(entries.items()):
            state = view.state(rank)
            print(f"server {rank}: {state.value if state else 'not a member'}, pid {entry.pid} "
                  f"at {entry.host}:{entry.port} data {entry.data_dir}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    import json
    import time

    import benchfs
    from benchfs.metrics.table import table, total

    if args.watch is not None:
        check("watch", args.watch)
    registry = args.registry or os.environ.get("BENCHFS_REGISTRY") \
        or str(_default_cluster_dir() / "registry")
    with benchfs.connect(registry) as client:
        while True:
            snapshots = client.server_stats()
            if args.json:
                print(json.dumps({"servers": snapshots, "sum": total(snapshots)}), flush=True)
            else:
                print(table(snapshots), flush=True)
            if args.watch is None:
                return 0
            try:
                time.sleep(args.watch)
            except KeyboardInterrupt:
                return 0
            print(flush=True)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchfs.bench import BenchError, OptionsError, run_bench

    preset = QUICK if args.quick else FULL
    overrides = {name: getattr(args, name) for name in ("block_size", "segments", "files",
                                                        "random_ops", "stage_files",
                                                        "stage_large_size")
                 if getattr(args, name) is not None}
    options = BenchOptions(
        servers=args.servers, clients=args.clients, chunk_size=args.chunk_size,
        transfer_sizes=args.transfer_size, workload=dataclasses.replace(preset, **overrides),
        transport=args.transport, direct_min=args.direct_min, data_dir=args.data_dir,
        phases=args.phases, quick=args.quick, registry=args.registry,
        mount=os.path.abspath(args.mount) if args.mount else None, json_path=args.json_path,
        plot_path=args.plot_path,
    )
    _, launcher_size = _rank_from_launcher(None)
    if args.interpose:
        from benchfs.bench.interpose import run_interpose_bench

        return run_interpose_bench(options)
    try:
        return run_bench(options, launcher_size)
    except OptionsError as error:
        print(f"benchfs bench: {error}", file=sys.stderr)
        return 2
    except BenchError as error:
        print(f"benchfs bench: {error}", file=sys.stderr)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    from benchfs.interpose.launch import LaunchError, launch

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        launch(command, args.prefix, args.registry)  # returns only on failure
    except LaunchError as error:
        print(f"benchfs run: {error}", file=sys.stderr)
    return 2


def _add_direct_min(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--direct-min", type=_size, default=DEFAULT_DIRECT_MIN,
                        help="servers move block-aligned transfers of at least this size with "
                             "O_DIRECT and smaller ones through the page cache; 0: all "
                             "buffered (default: %(default)s bytes)")


def _add_operating_options(parser: argparse.ArgumentParser, per_server: str) -> None:
    """The secret's and the metrics' options of `serve` and `cluster up`."""
    parser.add_argument("--insecure", action=argparse.BooleanOptionalAction, default=False,
                        help="accept a registry secret that other users can read; then "
                             f"{INSECURE_COST} (default: %(default)s)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help=f"serve Prometheus metrics on 127.0.0.1:PORT{per_server}")
    parser.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=None,
                        help="count requests for `benchfs stats` and Prometheus; "
                             "--no-metrics to measure what counting costs "
                             "(default: $BENCHFS_METRICS, else on)")


def _size_list(text: str) -> tuple[int, ...]:
    return tuple(_size(part) for part in text.split(",") if part.strip())


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _add_bench_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    bench = commands.add_parser(
        "bench", help="IOR/mdtest-style phases on benchfs against plain os and fio",
        description="Start a local cluster (unless --registry), run the IO500-shaped phases "
                    "from several client processes on benchfs and on plain os on the same "
                    "disk (and fio O_DIRECT for ior-easy), print the table, stop the cluster.")
    bench.add_argument("--servers", type=int, default=2, help="servers of the local cluster")
    bench.add_argument("--clients", type=int, default=2,
                       help="client processes (under mpirun/srun: every rank is one)")
    bench.add_argument("--chunk-size", type=_size, default=DEFAULT_CHUNK_SIZE,
                       help=f"of the started cluster (default {size_text(DEFAULT_CHUNK_SIZE)})")
    bench.add_argument("--transfer-size", type=_size_list, default=DEFAULT_TRANSFER_SIZES,
                       help="ior-easy transfer sizes, comma-separated (default 1M,4M)")
    bench.add_argument("--block-size", "--size", type=_size,
                       help="ior-easy bytes per client, also each random-4k file "
                            f"(default {size_text(FULL.block_size)}, "
                            f"quick {size_text(QUICK.block_size)})")
    bench.add_argument("--segments", type=int, help="ior-hard 47008-byte transfers per client "
                       f"(default {FULL.segments}, quick {QUICK.segments})")
    bench.add_argument("--files", type=int, help="mdtest files per client, easy and hard each "
                       f"(default {FULL.files}, quick {QUICK.files})")
    bench.add_argument("--random-ops", type=int, help="random-4k pwrites and preads per client "
                       f"(default {FULL.random_ops}, quick {QUICK.random_ops})")
    bench.add_argument("--stage-files", type=int, help="stage: small files of the tree "
                       f"(default {FULL.stage_files}, quick {QUICK.stage_files})")
    bench.add_argument("--stage-large-size", type=_size, help="stage: size of its 4 large "
                       f"files (default {size_text(FULL.stage_large_size)}, "
                       f"quick {size_text(QUICK.stage_large_size)})")
    bench.add_argument("--transport", default="sm,tcp",
                       help="UCX_TLS of the started cluster: sm,tcp or tcp")
    _add_direct_min(bench)
    bench.add_argument("--data-dir", default=None,
                       help="where the cluster's data, the os baseline and fio's files go "
                            "(default: a temporary directory)")
    bench.add_argument("--phases", type=_name_list, default=FAMILIES,
                       help=f"comma-separated subset of {','.join(FAMILIES)} (default: all), "
                            "and stage (only when named)")
    bench.add_argument("--quick", action="store_true",
                       help="the smaller sizes: under 2 minutes on 2 cores")
    bench.add_argument("--registry", default=None,
                       help="benchmark the running cluster of this registry instead")
    bench.add_argument("--interpose", action="store_true",
                       help="instead of the phases: the cost of interposition outside and "
                            "inside a prefix (--random-ops small ops and --block-size bytes "
                            "streamed per round)")
    bench.add_argument("--mount", metavar="DIR",
                       help="also run every phase with plain os on a FUSE mount of the cluster "
                            "at DIR (mounted for the run; with --registry, mounted already)")
    bench.add_argument("--json", dest="json_path", metavar="PATH",
                       help="write every figure and the configuration as JSON")
    bench.add_argument("--plot", dest="plot_path", metavar="PATH.png",
                       help="bar chart of each phase against its baselines (matplotlib)")
    bench.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="benchfs", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("BENCHFS_LOG_LEVEL", "INFO"),
                        type=str.upper, choices=LOG_LEVELS,
                        help="default: $BENCHFS_LOG_LEVEL, else INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one server")
    serve.add_argument("--data-dir", required=True)
    serve.add_argument("--registry", required=True)
    serve.add_argument("--rank", type=int, help="default: from mpirun/srun, else 0")
    serve.add_argument("--servers", type=int, help="cluster size when creating the registry")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=0, help="0: any free port")
    serve.add_argument("--chunk-size", type=_size, default=None)
    serve.add_argument("--spin-us", type=int, default=DEFAULT_SPIN_US,
                       help="busy-poll before sleeping")
    serve.add_argument("--o-direct", action=argparse.BooleanOptionalAction, default=False,
                       help="store all chunk data with O_DIRECT, bypassing the page cache "
                            "(default: %(default)s)")
    _add_direct_min(serve)
    _add_operating_options(serve, "")
    serve.add_argument("--failure-timeout", type=float, default=3.0,
                       help="seconds after which a silent peer is declared down "
                            "(default: %(default)s)")
    serve.set_defaults(func=cmd_serve)

    cluster = commands.add_parser("cluster", help="start/stop a local cluster")
    cluster.add_argument("action", choices=["up", "down", "status"])
    cluster.add_argument("-n", "--servers", type=int, default=3)
    cluster.add_argument("--dir", default=str(_default_cluster_dir()))
    cluster.add_argument("--chunk-size", type=_size, default=DEFAULT_CHUNK_SIZE)
    cluster.add_argument("--transport", default="sm,tcp", help="UCX_TLS for the cluster")
    cluster.add_argument("--spin-us", type=int, default=DEFAULT_SPIN_US)
    cluster.add_argument("--o-direct", action=argparse.BooleanOptionalAction, default=False,
                         help="servers store all chunk data with O_DIRECT (default: %(default)s)")
    _add_direct_min(cluster)
    cluster.add_argument("--permissions", action=argparse.BooleanOptionalAction, default=True,
                         help="enforce mode bits and ownership; --no-permissions for "
                              "trusted scratch (default: %(default)s)")
    cluster.add_argument("--backend", metavar="DIR",
                         help="up: read DIR through, as a cache in front of it (benchfs flush)")
    cluster.add_argument("--flush", action="store_true",
                         help="down: write back to the backend directory first")
    cluster.add_argument("--mount", metavar="DIR",
                         help="up: also mount the cluster there (down unmounts it first)")
    _add_operating_options(cluster, "+RANK (one port per server)")
    cluster.set_defaults(func=cmd_cluster)

    stats = commands.add_parser("stats", help="every server's counters, and their sum",
                                description="Ask every server of a cluster for its metrics "
                                            "(STATS) and print one table: each server and "
                                            "the sum.")
    stats.add_argument("--registry", help="default: $BENCHFS_REGISTRY, else the local "
                                          "cluster's")
    stats.add_argument("--json", action="store_true", help="the full snapshots as JSON")
    stats.add_argument("--watch", type=float, metavar="SECONDS",
                       help="print again every SECONDS until interrupted")
    stats.set_defaults(func=cmd_stats)

    _add_bench_parser(commands)

    run = commands.add_parser(
        "run", help="run a Python program with its I/O under --prefix routed into benchfs",
        description="benchfs run --prefix /bfs [--registry R] -- python ARGS: interposition "
                    "starts through Python's startup hook and is inherited by child "
                    "interpreters (docs/interpose.md).")
    run.add_argument("--prefix", action="append", required=True, metavar="PREFIX[=REGISTRY]",
                     help="paths under PREFIX are benchfs's (repeatable)")
    run.add_argument("--registry", help="the cluster of every prefix without its own "
                                        "(default: BENCHFS_REGISTRY)")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- python ARGS...")
    run.set_defaults(func=cmd_run)

    add_tool_parsers(commands, _size)
    add_mount_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # argparse checks choices only of typed values, not of the default from
        # the environment.
        check("log_level", args.log_level)
        _setup_logging(args.log_level)
        return int(args.func(args))
    except ConfigError as error:
        # A bad setting is the user's to fix: one line, before anything started.
        print(f"benchfs {args.command}: {error.relabel(_OPTION_LABELS)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
