"""fsspec's ``benchfs://`` protocol: pandas, pyarrow, zarr, dask and UPath on a cluster.

    import fsspec
    fs = fsspec.filesystem("benchfs", registry="/scratch/job42/registry")
    fs.ls("/results", detail=True)
    pd.read_parquet("benchfs:///results/run1.parquet")   # registry from BENCHFS_REGISTRY

Installed with ``pip install benchfs[fsspec]``, which registers the protocol with
fsspec and universal_pathlib (entry points); docs/fsspec.md has the details.
"""

from benchfs.fsspec.connections import disconnect_all
from benchfs.fsspec.filesystem import BenchFileSystem

__all__ = ["BenchFileSystem", "disconnect_all"]
