"""The `benchfs` command: serve, cluster up/down/status, bench."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from loguru import logger

from benchfs.registry import DEFAULT_CHUNK_SIZE


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


def cmd_serve(args: argparse.Namespace) -> int:
    from benchfs.server.daemon import Server, ServerOptions

    rank, size = _rank_from_launcher(args.rank)
    options = ServerOptions(
        data_dir=Path(args.data_dir) if rank is None or args.rank is not None
        else Path(args.data_dir) / str(rank),
        registry=Path(args.registry), rank=rank or 0, servers=args.servers or size or 1,
        host=args.host, port=args.port, chunk_size=args.chunk_size, spin_us=args.spin_us,
        o_direct=args.o_direct,
    )
    Server(options).run()
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from benchfs.cluster import LocalCluster

    cluster = LocalCluster(Path(args.dir).resolve())
    if args.action == "up":
        cluster.up(args.servers, args.chunk_size, args.transport, args.spin_us)
        print(f"export BENCHFS_REGISTRY={cluster.registry}")
    elif args.action == "down":
        cluster.down()
    else:
        entries = cluster.entries()
        if not entries:
            print(f"no servers registered in {cluster.registry}")
            return 1
        for rank, entry in sorted(entries.items()):
            print(f"server {rank}: pid {entry.pid} at {entry.host}:{entry.port} "
                  f"data {entry.data_dir}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from benchfs.bench import BenchOptions, run_bench

    return run_bench(BenchOptions(
        servers=args.servers, total_size=args.size, block_size=args.block_size,
        chunk_size=args.chunk_size, transport=args.transport, data_dir=args.data_dir,
        quick=args.quick,
    ))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchfs", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("BENCHFS_LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one server")
    serve.add_argument("--data-dir", required=True)
    serve.add_argument("--registry", required=True)
    serve.add_argument("--rank", type=int, help="default: from mpirun/srun, else 0")
    serve.add_argument("--servers", type=int, help="cluster size when creating the registry")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=0, help="0: any free port")
    serve.add_argument("--chunk-size", type=_size, default=None)
    serve.add_argument("--spin-us", type=int, default=20, help="busy-poll before sleeping")
    serve.add_argument("--o-direct", action="store_true", help="chunk files with O_DIRECT")
    serve.set_defaults(func=cmd_serve)

    cluster = commands.add_parser("cluster", help="start/stop a local cluster")
    cluster.add_argument("action", choices=["up", "down", "status"])
    cluster.add_argument("-n", "--servers", type=int, default=3)
    cluster.add_argument("--dir", default=str(_default_cluster_dir()))
    cluster.add_argument("--chunk-size", type=_size, default=DEFAULT_CHUNK_SIZE)
    cluster.add_argument("--transport", default="sm,tcp", help="UCX_TLS for the cluster")
    cluster.add_argument("--spin-us", type=int, default=20)
    cluster.set_defaults(func=cmd_cluster)

    bench = commands.add_parser("bench", help="start a local cluster and benchmark it")
    bench.add_argument("--servers", type=int, default=2)
    bench.add_argument("--size", type=_size, default=1 << 30, help="bytes per file")
    bench.add_argument("--block-size", type=_size, default=4 << 20)
    bench.add_argument("--chunk-size", type=_size, default=DEFAULT_CHUNK_SIZE)
    bench.add_argument("--transport", default="sm,tcp")
    bench.add_argument("--data-dir", default=None, help="default: a temporary directory")
    bench.add_argument("--quick", action="store_true", help="a small run (256 MiB)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
