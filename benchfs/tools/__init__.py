"""Shell tools over one client: cp, stage-in/stage-out and the coreutils-like file tools.

Every tool takes local paths and benchfs paths (``bfs:/PATH`` or ``benchfs:///PATH``) and
does its work through the ``os`` module for the first and a ``benchfs.Client`` for the
second: both have the same functions, so one copy routine serves every direction.
"""
