"""A removed directory's subtree refuses new names for a while (a client trusting a
stale directory cache must not create into it), but a directory made anew at the
same path takes names at once (rm -r, mkdir, create: what every pipeline does)."""

from __future__ import annotations

import os

import pytest

from benchfs import connect
from benchfs.cluster import LocalCluster
from benchfs.settings import ClientSettings

CREATE = os.O_CREAT | os.O_WRONLY


def test_stale_cache_refused_and_recreated_directory_served(cluster: LocalCluster) -> None:
    # One client caches directories for a minute; the other sees every change at once.
    with connect(cluster.registry, ClientSettings(metadata_ttl=60)) as stale, \
            connect(cluster.registry, ClientSettings(metadata_ttl=0)) as fresh:
        fresh.makedirs("/tomb/deep")
        stale.close(stale.open("/tomb/deep/f0", CREATE))  # caches /tomb and /tomb/deep
        fresh.unlink("/tomb/deep/f0")
        fresh.rmdir("/tomb/deep")
        fresh.rmdir("/tomb")
        for name in ("/tomb/f1", "/tomb/deep/f1"):
            with pytest.raises(FileNotFoundError):
                stale.open(name, CREATE)
        assert "tomb" not in fresh.listdir("/")
        fresh.mkdir("/tomb")
        fresh.close(fresh.open("/tomb/f1", CREATE))  # the new directory takes names
        fresh.makedirs("/tomb/deep/er")
        fresh.close(fresh.open("/tomb/deep/er/f2", CREATE))
        fresh.rename("/tomb/f1", "/tomb/deep/f1")
        assert sorted(fresh.listdir("/tomb/deep")) == ["er", "f1"]
        assert fresh.listdir("/tomb/deep/er") == ["f2"]


def test_remove_tree_then_rebuild_it(cluster: LocalCluster) -> None:
    """One client, default settings: rm -r, then the same tree again at once."""
    with connect(cluster.registry) as client:
        for _ in range(2):
            client.makedirs("/rebuilt/a/b")
            client.close(client.open("/rebuilt/a/b/f", CREATE))
            client.unlink("/rebuilt/a/b/f")
            for directory in ("/rebuilt/a/b", "/rebuilt/a", "/rebuilt"):
                client.rmdir(directory)
        client.makedirs("/rebuilt/a/b")
        client.close(client.open("/rebuilt/a/b/f", CREATE))
        assert client.listdir("/rebuilt/a/b") == ["f"]
