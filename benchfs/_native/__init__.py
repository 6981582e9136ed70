"""Typed wrappers over the C engine built from csrc/ (see engine.py)."""
