"""Chunk arithmetic: how a byte range of a file maps onto fixed-size chunks.

A file's data is striped in ``chunk_size`` pieces, chunk ``k`` covering
``[k * chunk_size, (k + 1) * chunk_size)``; each chunk is placed independently
(DESIGN.md D6), so every I/O is first cut at chunk boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChunkPiece:
    """The part of an I/O that falls in one chunk.

    ``file_offset`` is the absolute offset in the file; ``buf_offset`` is where the
    piece starts in the caller's buffer. The offset inside the chunk is
    ``file_offset - index * chunk_size`` (see ``chunk_offset``).
    """

    index: int
    file_offset: int
    length: int
    buf_offset: int

    def chunk_offset(self, chunk_size: int) -> int:
        """The piece's offset inside its chunk."""
        return self.file_offset - self.index * chunk_size


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")


def split_range(offset: int, length: int, chunk_size: int,
                max_piece: int | None = None) -> list[ChunkPiece]:
    """The pieces of ``[offset, offset + length)`` cut at chunk boundaries, in order;
    with ``max_piece``, also at every multiple of it (so that pieces stay aligned)."""
    _check_chunk_size(chunk_size)
    if max_piece is not None and max_piece <= 0:
        raise ValueError(f"max_piece must be positive, not {max_piece}")
    if offset < 0:
        raise ValueError(f"offset must be non-negative, not {offset}")
    if length < 0:
        raise ValueError(f"length must be non-negative, not {length}")
    pieces: list[ChunkPiece] = []
    position = offset
    end = offset + length
    while position < end:
        index = position // chunk_size
        piece_end = min(end, (index + 1) * chunk_size)
        if max_piece is not None:
            piece_end = min(piece_end, (position // max_piece + 1) * max_piece)
        pieces.append(ChunkPiece(index, position, piece_end - position, position - offset))
        position = piece_end
    return pieces


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks a file of ``size`` bytes spans (0 for an empty file)."""
    _check_chunk_size(chunk_size)
    if size < 0:
        raise ValueError(f"size must be non-negative, not {size}")
    return -(-size // chunk_size)


def chunk_index(offset: int, chunk_size: int) -> int:
    """The chunk holding byte ``offset``."""
    _check_chunk_size(chunk_size)
    if offset < 0:
        raise ValueError(f"offset must be non-negative, not {offset}")
    return offset // chunk_size
