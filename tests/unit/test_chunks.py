"""benchfs.core.chunks: cutting byte ranges at chunk boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchfs.core.chunks import ChunkPiece, chunk_count, chunk_index, split_range


def test_examples() -> None:
    assert split_range(0, 0, 4) == []
    assert split_range(5, 0, 4) == []
    assert split_range(0, 4, 4) == [ChunkPiece(0, 0, 4, 0)]
    assert split_range(3, 6, 4) == [
        ChunkPiece(0, 3, 1, 0),
        ChunkPiece(1, 4, 4, 1),
        ChunkPiece(2, 8, 1, 5),
    ]
    assert split_range(8, 2, 4) == [ChunkPiece(2, 8, 2, 0)]
    assert split_range(9, 1, 4)[0].chunk_offset(4) == 1
    assert chunk_count(0, 4) == 0
    assert chunk_count(1, 4) == 1
    assert chunk_count(4, 4) == 1
    assert chunk_count(5, 4) == 2
    assert chunk_index(0, 4) == 0
    assert chunk_index(3, 4) == 0
    assert chunk_index(4, 4) == 1


def test_pieces_are_immutable() -> None:
    piece = ChunkPiece(0, 0, 1, 0)
    with pytest.raises(AttributeError):
        piece.length = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "call",
    [
        lambda: split_range(-1, 1, 4),
        lambda: split_range(0, -1, 4),
        lambda: split_range(0, 1, 0),
        lambda: split_range(0, 1, -4),
        lambda: split_range(0, 1, 4, 0),
        lambda: chunk_count(-1, 4),
        lambda: chunk_count(1, 0),
        lambda: chunk_index(-1, 4),
        lambda: chunk_index(1, 0),
    ],
)
def test_invalid_arguments(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


# Lengths are bounded to a few dozen chunks so a chunk size of 1 cannot mean 10**6 pieces.
ranges = st.integers(1, 10**6).flatmap(
    lambda cs: st.tuples(st.integers(0, 10**12), st.integers(0, 40 * cs), st.just(cs))
)


@given(ranges)
def test_pieces_cover_the_range_exactly(case: tuple[int, int, int]) -> None:
    offset, length, chunk_size = case
    pieces = split_range(offset, length, chunk_size)
    assert sum(p.length for p in pieces) == length
    position, buf = offset, 0
    for piece in pieces:
        assert piece.length > 0
        assert piece.file_offset == position  # contiguous, in order
        assert piece.buf_offset == buf == piece.file_offset - offset
        assert piece.index == chunk_index(piece.file_offset, chunk_size)
        # No piece crosses a chunk boundary.
        assert (piece.file_offset + piece.length - 1) // chunk_size == piece.index
        assert 0 <= piece.chunk_offset(chunk_size) < chunk_size
        position += piece.length
        buf += piece.length
    assert position == offset + length
    # Only the first and last pieces may be partial chunks.
    for piece in pieces[1:-1]:
        assert piece.length == chunk_size and piece.chunk_offset(chunk_size) == 0


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 700), st.integers(1, 300))
def test_max_piece_cuts_at_its_multiples_too(offset: int, length: int, chunk_size: int,
                                             max_piece: int) -> None:
    pieces = split_range(offset, length, chunk_size, max_piece)
    assert b"".join(b"x" * p.length for p in pieces) == b"x" * length
    assert [p.file_offset for p in pieces] == [offset + p.buf_offset for p in pieces]
    cuts = {p.file_offset for p in pieces[1:]}
    boundaries = {b for b in range(offset + 1, offset + length)
                  if b % chunk_size == 0 or b % max_piece == 0}
    assert cuts == boundaries  # cut exactly at chunk and max_piece boundaries
    for piece in pieces:
        assert piece.length <= max_piece
        assert piece.index == chunk_index(piece.file_offset, chunk_size)


@given(st.integers(1, 5000).flatmap(lambda cs: st.tuples(st.integers(0, 40 * cs), st.just(cs))))
def test_chunk_count_matches_split(case: tuple[int, int]) -> None:
    size, chunk_size = case
    pieces = split_range(0, size, chunk_size)
    assert chunk_count(size, chunk_size) == len(pieces)
    assert [p.index for p in pieces] == list(range(len(pieces)))


@given(st.integers(0, 4000), st.integers(0, 4000), st.integers(1, 64))
def test_reassembly_reproduces_the_buffer(offset: int, length: int, chunk_size: int) -> None:
    data = bytes(i % 251 for i in range(offset + length))
    chunks: dict[int, bytearray] = {}
    for piece in split_range(offset, length, chunk_size):
        chunk = chunks.setdefault(piece.index, bytearray(chunk_size))
        start = piece.chunk_offset(chunk_size)
        chunk[start : start + piece.length] = data[offset + piece.buf_offset :][: piece.length]
    out = bytearray(length)
    for piece in split_range(offset, length, chunk_size):
        start = piece.chunk_offset(chunk_size)
        out[piece.buf_offset : piece.buf_offset + piece.length] = (
            chunks[piece.index][start : start + piece.length]
        )
    assert bytes(out) == data[offset:]
