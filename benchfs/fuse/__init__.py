"""The FUSE mount: benchfs for every program, over the one Client (docs/fuse.md)."""
