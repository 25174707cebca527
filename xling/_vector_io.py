"""Readers and writers for word-vector files (used by :class:`xling.Embeddings`).

Each reader returns ``(words, vectors, first_line)`` with vectors float32 of
shape (n_words, dim) and ``first_line`` the line (record) number of row 0, and
raises :class:`FormatError` naming file and line.

How the text reader is fast
---------------------------
Text files are read in chunks of whole lines (:data:`CHUNK_BYTES`). Each chunk
goes to a fast path that only recognises the common layout: a word and ``dim``
finite numbers per line, separated by single spaces, optionally a trailing
space (fastText) and ``\\r\\n`` line ends. It is the compiled parser
(xling/_kernels/vector_io.cpp: ``std::from_chars`` on every field, without the GIL,
words handed back as one byte string) or, without the compiled kernels, numpy's
C text reader (``np.loadtxt`` on the chunk, skipping the word column; it fails
on missing or non-numeric fields) with a count of spaces to catch extra fields
and one gather to cut out the words. Both read every number to the nearest
double and round that to float32, as the reference parser does. Any surprise in
a chunk (a wrong field count, tabs, a leading blank, a field that is not a
finite number, undecodable bytes) sends that chunk to a plain line-by-line
parser, which is the reference: it either accepts the chunk (it is more lenient
about blanks) or raises the error with the exact line. So the fast path never
decides what is valid, it only recognises the common case.

The text writer formats with the compiled formatter (printf's ``%.{precision}g``
through an exact shortcut for float32 values, ``std::to_chars`` for the rest;
see vector_io.cpp), or with Python's ``%`` formatting without the kernels; the
bytes are the same.

Peak memory is the final matrix plus a few chunk-sized buffers: each chunk's
rows are copied into a matrix preallocated from the header, and when the row
count is unknown (GloVe, or a compressed file) the matrix grows with
``ndarray.resize``, which reallocates in place (``mremap``) for large arrays
instead of copying.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np

from xling._kernels import load_vector_io
from xling._utils import PathLike, atomic_output, open_binary
from xling.exceptions import FormatError, InputError

logger = logging.getLogger(__name__)

#: Bytes read per chunk (text chunks are cut at line ends).
CHUNK_BYTES = 8 << 20
#: Rows formatted per write call.
WRITE_ROWS = 8192

_COMPRESSED = (".gz", ".xz", ".bz2")
# Separators of the text formats are ASCII whitespace, as bytes.split() sees it
# (space, \t, \n, \r, \v, \f). Non-ASCII spaces (U+00A0 ...) never contain these
# bytes in UTF-8, so they may appear inside words.
_ASCII_WS = frozenset(" \t\n\r\x0b\x0c")


# --------------------------------------------------------------------------- format
def _base_suffix(path: PathLike) -> str:
    """Suffix without the compression extension: ``en.vec.gz`` -> ``.vec``."""
    p = Path(path)
    if p.suffix.lower() in _COMPRESSED:
        p = p.with_suffix("")
    return p.suffix.lower()


def detect_format(path: PathLike, fmt: str) -> str:
    """Resolve ``fmt="auto"``: ``*.bin`` is binary; an ``N D`` first line or a
    ``*.vec`` name is word2vec text; anything else is headerless GloVe text."""
    if fmt not in ("auto", "vec", "glove", "bin"):
        raise InputError(f"Expected format 'auto', 'vec', 'glove' or 'bin', got {fmt!r}")
    if fmt != "auto":
        return fmt
    if _base_suffix(path) == ".bin":
        return "bin"
    with open_binary(path, skip_bom=True) as fh:
        first = fh.readline()
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return "vec"
    # fastText always writes a header into .vec files, so a .vec file whose first
    # line is not a header is read as one (and its bad header reported) unless
    # that line is a whole GloVe row: a word and at least two numbers (xling's
    # own `--format glove` output keeps whatever name it was given).
    if _base_suffix(path) == ".vec" and not _is_glove_row(parts):
        return "vec"
    return "glove"


def _is_glove_row(parts: list[bytes]) -> bool:
    # a first token of digits reads as a (bad) header such as "2 2 2", not as a word
    if len(parts) < 3 or parts[0].isdigit():
        return False
    try:
        [float(p) for p in parts[1:]]
    except ValueError:
        return False
    return True


# fastText models (.bin) start with this little-endian int32 (793712314).
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")


def _parse_header(raw: bytes, path) -> tuple[int, int]:
    parts = raw.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        shown = raw[:60].decode("utf-8", "replace").rstrip("\r\n")
        if not shown.isprintable():
            shown = f"{len(raw)} bytes that are not text"
        else:
            shown = repr(shown)
        raise FormatError(
            f"Expected a header 'N_WORDS DIM' (two integers), got {shown} "
            f"(for headerless GloVe text use --format glove, format='glove' in Python)",
            str(path),
            1,
        )
    n, d = int(parts[0]), int(parts[1])
    if n < 1 or d < 1:
        raise FormatError(f"Expected a positive word count and dimension in the header, got {n} {d}", str(path), 1)
    return n, d


def _decode_word(raw: bytes, path, line: int, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"Expected {encoding} text, got undecodable byte 0x{raw[exc.start]:02x} in word {raw[:40]!r} "
            f"(is the file in another encoding? pass encoding=...)",
            str(path),
            line,
        ) from None


# --------------------------------------------------------------------------- matrix
# Set by :func:`reading_progress` for the read under way: called with (rows read, rows expected or None).
_PROGRESS: contextvars.ContextVar = contextvars.ContextVar("xling_read_progress", default=None)


@contextlib.contextmanager
def reading_progress(report):
    """Call ``report(rows_read, rows_expected)`` after each block the readers parse, inside the block."""
    token = _PROGRESS.set(report)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


class _Rows:
    """A float32 matrix filled row block by row block, grown in place when needed."""

    def __init__(self, capacity: int, dim: int, max_rows: int | None):
        self.dim = dim
        self.max_rows = max_rows
        self.n = 0
        self.data = np.empty((max(capacity, 1), dim), dtype=np.float32)

    def append(self, block: np.ndarray) -> None:
        end = self.n + block.shape[0]
        if end > self.data.shape[0]:
            new = max(end, 2 * self.data.shape[0])
            if self.max_rows is not None:
                new = min(new, self.max_rows)
            # realloc: for large arrays glibc moves pages (mremap) instead of copying.
            self.data.resize((new, self.dim), refcheck=False)
        self.data[self.n : end] = block
        self.n = end
        report = _PROGRESS.get()
        if report is not None:
            report(self.n, self.max_rows)

    def finish(self) -> np.ndarray:
        if self.n != self.data.shape[0]:
            self.data.resize((self.n, self.dim), refcheck=False)
        return self.data


def _initial_capacity(path: PathLike, want: int | None, min_row_bytes: int, row_bytes: float) -> int:
    """Rows to allocate up front: the header's count, bounded by what the file can hold.

    A header that claims 10**9 rows must not allocate terabytes before we find
    out that it lies, so for an uncompressed file the count is capped by its
    size (``min_row_bytes`` per row at least); without a header it is estimated
    from ``row_bytes``, the mean row size seen so far. Compressed files start
    smaller and grow.
    """
    if Path(path).suffix.lower() in _COMPRESSED:
        guess = 1 << 16
    else:
        size = os.path.getsize(path)
        guess = size // max(min_row_bytes, 1) + 1
        if want is None:
            guess = min(guess, int(size / row_bytes * 1.05) + 1)
    return guess if want is None else min(want, guess)


# --------------------------------------------------------------------------- text
def _parse_lines_slow(buf: bytes, first_line: int, dim: int, path, encoding: str):
    """Reference parser for a block of complete lines. Returns (words, float32 rows).

    Lines are split on ASCII whitespace; every line must hold a word and ``dim``
    finite numbers.
    """
    lines = buf.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    words: list[str] = []
    rows = np.empty((len(lines), dim), dtype=np.float32)
    # Overflow to inf is reported by _check_finite, with the line; no warning.
    with np.errstate(over="ignore"):
        _fill_rows_slow(lines, rows, words, first_line, dim, path, encoding)
    _check_finite(rows, first_line, path)
    return words, rows


def _fill_rows_slow(lines, rows, words, first_line, dim, path, encoding) -> None:
    for k, raw in enumerate(lines):
        line = first_line + k
        parts = raw.split()
        if not parts:
            raise FormatError(f"Expected 'word' and {dim} values, got an empty line", str(path), line)
        if len(parts) != dim + 1:
            raise FormatError(
                f"Expected a word and {dim} values, got {len(parts) - 1} values after {parts[0][:40].decode(encoding, 'replace')!r}",
                str(path),
                line,
            )
        word = _decode_word(parts[0], path, line, encoding)
        for j, p in enumerate(parts[1:]):
            try:
                rows[k, j] = float(p)
            except ValueError:
                raise FormatError(
                    f"Expected a number as value {j + 1} of {word!r}, got {p[:30].decode('utf-8', 'replace')!r}",
                    str(path),
                    line,
                ) from None
        words.append(word)


def _check_finite(rows: np.ndarray, first_line: int, path) -> None:
    finite = np.isfinite(rows)
    if not finite.all():
        k, j = np.argwhere(~finite)[0]
        raise FormatError(
            f"Expected finite values, got {rows[k, j]} as value {j + 1} (NaN, inf, or beyond float32's "
            f"range of +-3.4e38)",
            str(path),
            first_line + int(k),
        )


def _parse_lines_fast(buf: bytes, n_lines: int, dim: int, encoding: str, kernel):
    """Parser of the common layout for a block of ``n_lines`` complete lines ending in ``\\n``.

    Fields separated by single spaces, optionally a trailing space (fastText)
    and ``\\r\\n`` line ends. ``kernel`` is the compiled parser
    (:func:`xling._kernels.load_vector_io`) or None for numpy's. Returns (words,
    finite float32 rows of shape (n_lines, dim)), or None for anything else, so
    that the caller re-parses the block with :func:`_parse_lines_slow`.
    """
    if kernel is None:
        return _parse_lines_numpy(buf, dim, encoding)
    rows = np.empty((n_lines, dim), dtype=np.float32)
    words = kernel.parse_rows(buf, rows)
    if words is None:
        return None
    try:
        decoded = words.decode(encoding).split(" ")
    except UnicodeDecodeError:
        return None
    decoded.pop()  # the empty string after the last word's space
    return decoded, rows


def _parse_lines_numpy(buf: bytes, dim: int, encoding: str):
    """:func:`_parse_lines_fast` with numpy's C text reader, for builds without the compiled parser."""
    a = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(a == 10)  # the block ends in "\n": one end per line
    n_lines = ends.size
    # The only control bytes allowed here are "\n" and a "\r" right before it
    # (tabs and the like take the slow path).
    cr = a[ends - 1] == 13
    if np.count_nonzero(a < 32) != n_lines + np.count_nonzero(cr):
        return None
    starts = np.empty(n_lines, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if (a[starts] == 32).any():  # a line that starts with a blank
        return None
    # numpy's C text reader parses the dim value columns and skips the word
    # column; it raises on a missing, empty or non-numeric field, so every line
    # has a word and dim values, hence at least dim spaces, plus one if it ends
    # in a space (fastText). Extra fields would go unnoticed, but they would
    # make the chunk hold more spaces than that: so the total count decides.
    try:
        values = np.loadtxt(
            io.BytesIO(buf), dtype=np.float32, delimiter=" ", usecols=range(1, dim + 1), comments=None,
            quotechar=None, encoding="latin-1", ndmin=2,  # latin-1 decodes any byte; words are not converted
        )
    except ValueError:
        return None
    trailing = a[ends - 1 - cr] == 32
    if values.shape != (n_lines, dim) or np.count_nonzero(a == 32) != n_lines * dim + np.count_nonzero(trailing):
        return None
    if not np.isfinite(values).all():  # the reference parser reports it, with the line
        return None
    # Gather each word plus the space after it with one fancy index.
    spans = _first_space(a, starts) + 1
    span_ends = np.cumsum(spans)
    index = np.arange(span_ends[-1]) + np.repeat(starts - (span_ends - spans), spans)
    try:
        words = a[index].tobytes().decode(encoding).split(" ")
    except UnicodeDecodeError:
        return None
    words.pop()  # the empty string after the last separator
    return words, values


def _first_space(a: np.ndarray, starts: np.ndarray, window: int = 64) -> np.ndarray:
    """Offset of the first space after each line start (every line has one): the word lengths."""
    # Words are short: with long lines (high dim), look at a small window after
    # each start rather than scanning the chunk; its index array is then small.
    if starts.size * window * 8 <= a.size:
        idx = starts[:, None] + np.arange(window)
        np.minimum(idx, a.size - 1, out=idx)
        win = a[idx] == 32
        length = win.argmax(axis=1)
        if win[np.arange(starts.size), length].all():
            return length
    spaces = np.flatnonzero(a == 32)  # some word is longer than the window
    return spaces[np.searchsorted(spaces, starts)] - starts


def _count_lines(block: bytes) -> int:
    """Newlines in ``block`` (numpy counts them about twice as fast as ``bytes.count``)."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))


def _iter_line_blocks(fh: IO[bytes], first_line: int, max_lines: int | None, rest: list[bytes]):
    """Yield ``(block, first_line_of_block, lines_in_block)``: runs of complete lines, each ending in ``\\n``.

    Stops after ``max_lines`` lines; the bytes read beyond them are appended to
    ``rest`` so the caller can check what follows.
    """
    carry = b""
    line = first_line
    remaining = max_lines
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            if carry:
                block = carry if carry.endswith(b"\n") else carry + b"\n"
                yield block, line, _count_lines(block)
            return
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a chunk: keep reading
            carry += chunk
            continue
        # One copy of the chunk: the line carried over, then the chunk's whole lines.
        block, carry = b"".join((carry, memoryview(chunk)[:cut])), chunk[cut:]
        n = _count_lines(block)
        if remaining is not None and n >= remaining:
            pos = -1
            for _ in range(remaining):
                pos = block.index(b"\n", pos + 1)
            rest.append(block[pos + 1 :] + carry)
            yield block[: pos + 1], line, remaining
            return
        if remaining is not None:
            remaining -= n
        yield block, line, n
        line += n


def _read_text(fh: IO[bytes], path, *, dim: int | None, first_line: int, want: int | None, encoding: str):
    """Parse text lines into (words, matrix, bytes read after the last wanted line)."""
    words: list[str] = []
    rows: _Rows | None = None
    rest: list[bytes] = []
    kernel = load_vector_io()
    for block, line, n_lines in _iter_line_blocks(fh, first_line, want, rest):
        if dim is None:  # GloVe: the first line tells the dimension
            parts = block[: block.index(b"\n")].split()
            if len(parts) < 2:
                raise FormatError(
                    f"Expected 'word v1 ... vD' with D >= 1, got {len(parts)} tokens", str(path), line
                )
            dim = len(parts) - 1
        if rows is None:
            rows = _Rows(_initial_capacity(path, want, 2 * dim, len(block) / n_lines), dim, want)
        parsed = _parse_lines_fast(block, n_lines, dim, encoding, kernel)
        if parsed is None:
            parsed = _parse_lines_slow(block, line, dim, path, encoding)
        words.extend(parsed[0])
        rows.append(parsed[1])
    if rows is None:
        return words, np.zeros((0, dim or 0), dtype=np.float32), b""
    return words, rows.finish(), b"".join(rest)


def read_vec(path: PathLike, *, limit: int | None = None, encoding: str = "utf-8"):
    """Read word2vec/fastText text format with an ``N D`` header."""
    with open_binary(path, skip_bom=True) as fh:
        header = fh.readline()
        if not header.strip():
            raise FormatError("Expected a header 'N_WORDS DIM', got an empty file", str(path), 1)
        n, dim = _parse_header(header, path)
        want = n if limit is None else min(n, limit)
        words, vectors, rest = _read_text(fh, path, dim=dim, first_line=2, want=want, encoding=encoding)
        if len(words) < want:
            raise FormatError(
                f"Expected {n} vectors as the header says, got {len(words)} (truncated file?)",
                str(path),
                len(words) + 2,
            )
        # Blank lines may follow the last vector; anything else means the header undercounts.
        if (limit is None or limit > n) and (rest.strip() or fh.read(1 << 16).strip()):
            raise FormatError(
                f"Expected {n} vectors as the header says, got more (header count wrong?)", str(path), n + 2
            )
    return words, vectors, 2


def read_glove(path: PathLike, *, limit: int | None = None, encoding: str = "utf-8"):
    """Read headerless GloVe text format (the dimension comes from the first line)."""
    with open_binary(path, skip_bom=True) as fh:
        words, vectors, _ = _read_text(fh, path, dim=None, first_line=1, want=limit, encoding=encoding)
    return words, vectors, 1


def read_bin(path: PathLike, *, limit: int | None = None, encoding: str = "utf-8"):
    """Read word2vec binary format: ``N D\\n`` then ``word<space>`` + D float32 per record.

    Records are cut out of large chunks: a Python loop finds the space that
    ends each word; the ``4 * D`` bytes after it are gathered for all records
    of the chunk at once. The optional newline after each record (word2vec's C
    tool writes one) is skipped.
    """
    with open_binary(path) as fh:
        if fh.read(4) == _FASTTEXT_MAGIC:
            raise FormatError(
                "Expected word2vec binary vectors, got a fastText model (.bin with subword n-grams); "
                "use the .vec file fastText writes beside it, or `fasttext print-word-vectors MODEL.bin < words`",
                str(path),
            )
        fh.seek(0)
        header = fh.readline()
        if not header.strip():
            raise FormatError("Expected a header 'N_WORDS DIM', got an empty file", str(path), 1)
        n, dim = _parse_header(header, path)
        want = n if limit is None else min(n, limit)
        record = 4 * dim
        rows = _Rows(_initial_capacity(path, want, record + 2, record + 2), dim, want)
        words: list[str] = []
        raw_words: list[bytes] = []
        offsets: list[int] = []
        buf, pos, eof = b"", 0, False
        while len(words) + len(raw_words) < want:
            if pos < len(buf) and buf[pos] == 10:
                pos += 1
            space = buf.find(b" ", pos)
            if space < 0 or space + 1 + record > len(buf):
                if eof:
                    got = len(words) + len(raw_words)
                    raise FormatError(
                        f"Expected {n} vectors of {dim} float32 values as the header says, got {got} complete "
                        f"records and {len(buf) - pos} bytes (truncated file?)",
                        str(path),
                        got + 1,
                    )
                if offsets:
                    _flush_records(buf, raw_words, offsets, words, rows, path, encoding)
                chunk = fh.read(CHUNK_BYTES)
                eof = not chunk
                buf, pos = buf[pos:] + chunk, 0
                continue
            raw_words.append(buf[pos:space])
            offsets.append(space + 1)
            pos = space + 1 + record
        if offsets:
            _flush_records(buf, raw_words, offsets, words, rows, path, encoding)
        # A trailing newline may follow the last record; more bytes mean the header undercounts.
        if (limit is None or limit > n) and (buf[pos:].strip() or fh.read(1 << 16).strip()):
            raise FormatError(
                f"Expected {n} vectors as the header says, got more bytes after record {n} (header count wrong?)",
                str(path),
                n + 1,
            )
    return words, rows.finish(), 1


def _flush_records(buf: bytes, raw_words: list[bytes], offsets: list[int], words: list[str], rows: _Rows,
                   path, encoding: str) -> None:
    """Decode the words and gather the vectors of the records found in ``buf``; empties the lists."""
    first = len(words) + 1  # record number of raw_words[0]
    try:
        # Words hold no space (it ends them), so a space can join them.
        decoded = b" ".join(raw_words).decode(encoding).split(" ")
    except UnicodeDecodeError:
        decoded = [_decode_word(w, path, first + k, encoding) for k, w in enumerate(raw_words)]
    words.extend(decoded)
    record = 4 * rows.dim
    # A (n_bytes - record + 1, record) view of the chunk: indexing its rows copies
    # exactly the records, without an index array per byte.
    windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), record)
    block = windows[offsets].view("<f4")
    _check_finite(block, first, path)
    rows.append(block)
    raw_words.clear()
    offsets.clear()


# --------------------------------------------------------------------------- duplicates
def handle_duplicates(words: list[str], vectors: np.ndarray, path, policy: str, first_line: int):
    """Apply the duplicate-word policy. Returns (words, vectors, word_to_index)."""
    index = dict(zip(words, range(len(words))))
    if len(index) == len(words):
        return words, vectors, index
    seen: dict[str, int] = {}
    keep = []
    for i, w in enumerate(words):
        if w in seen:
            if policy == "error":
                raise FormatError(
                    f"Expected unique words, got {w!r} again (first on line {seen[w] + first_line}); "
                    f"pass duplicates='first' to keep the first vector",
                    str(path),
                    i + first_line,
                )
            continue
        seen[w] = i
        keep.append(i)
    logger.warning("%s: %d duplicate words ignored (kept the first vector of each)", path, len(words) - len(keep))
    words = [words[i] for i in keep]
    return words, vectors[keep], dict(zip(words, range(len(words))))


# --------------------------------------------------------------------------- writers
def check_writable(words: Sequence[str], vectors: np.ndarray, start: int) -> None:
    """Refuse words that would not read back (empty, ASCII whitespace) and non-finite rows.

    Other Unicode spaces (U+00A0 ...) are allowed, as the readers keep them
    inside words (fastText vocabularies contain some).
    """
    for k, w in enumerate(words):
        if not w or not _ASCII_WS.isdisjoint(w):
            raise InputError(f"Expected words without whitespace, got {w!r} at row {start + k}; it cannot be written")
    finite = np.isfinite(vectors)
    if not finite.all():
        k = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InputError(f"Expected finite values, got NaN or inf in the vector of {words[k]!r} (row {start + k})")


def write_text(fh: IO[bytes], words, vectors, *, header: bool, precision: int) -> None:
    """Write ``word v1 ... vD`` lines with ``precision`` significant digits (``%.{precision}g``).

    ``precision=9`` reads back bit-exact as float32.
    """
    n, dim = vectors.shape
    if header:
        fh.write(f"{n} {dim}\n".encode())
    kernel = load_vector_io()
    row_format = "%s" + f" %.{precision}g" * dim + "\n"
    for start in range(0, n, WRITE_ROWS):
        chunk_words = words[start : start + WRITE_ROWS]
        chunk = vectors[start : start + WRITE_ROWS]
        check_writable(chunk_words, chunk, start)
        if kernel is not None:
            # check_writable refused newlines in words, so one can separate them
            fh.write(kernel.format_rows("\n".join(chunk_words).encode("utf-8"),
                                        np.ascontiguousarray(chunk, dtype=np.float32), precision))
        else:
            text = "".join(row_format % (w, *row) for w, row in zip(chunk_words, chunk.tolist()))
            fh.write(text.encode("utf-8"))


def write_bin(fh: IO[bytes], words, vectors) -> None:
    """Write word2vec binary: ``word<space>`` + little-endian float32 values + ``\\n``."""
    n, dim = vectors.shape
    fh.write(f"{n} {dim}\n".encode())
    for start in range(0, n, WRITE_ROWS):
        chunk_words = words[start : start + WRITE_ROWS]
        chunk = np.ascontiguousarray(vectors[start : start + WRITE_ROWS], dtype="<f4")
        check_writable(chunk_words, chunk, start)
        fh.write(
            b"".join(w.encode("utf-8") + b" " + row.tobytes() + b"\n" for w, row in zip(chunk_words, chunk))
        )


def write_vectors(path: PathLike, words: Sequence[str], vectors, *, format: str = "auto", precision: int | None = None) -> None:
    """Write ``words`` and ``vectors`` to ``path`` atomically (see :meth:`xling.Embeddings.write`).

    ``vectors`` is an ndarray of shape (n, dim) or any object with ``shape``
    whose row slices are float32 ndarrays (e.g. rows mapped block by block as
    they are written, so a mapped copy of the whole matrix is never held).
    """
    if format == "auto":
        format = "bin" if _base_suffix(path) == ".bin" else "vec"
    if format not in ("vec", "glove", "bin"):
        raise InputError(f"Expected format 'auto', 'vec', 'glove' or 'bin', got {format!r}")
    if format == "bin" and precision is not None:
        raise InputError("Expected precision=None for the binary format (it stores float32 exactly)")
    if precision is not None and not 1 <= precision <= 17:
        raise InputError(f"Expected precision between 1 and 17 significant digits, got {precision}")
    with atomic_output(path, "wb") as fh:
        if format == "bin":
            write_bin(fh, words, vectors)
        else:
            write_text(fh, words, vectors, header=format == "vec", precision=precision or 9)


Reader = Callable[..., tuple]
READERS: dict[str, Reader] = {"vec": read_vec, "glove": read_glove, "bin": read_bin}
