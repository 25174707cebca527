"""Readers and writers for word-vector files (used by :class:`xling.Embeddings`).

Each reader returns ``(words, vectors)`` with vectors float32 of shape
(n_words, dim) and raises :class:`FormatError` naming file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from xling._utils import PathLike, open_binary
from xling.exceptions import FormatError

logger = logging.getLogger(__name__)


def detect_format(path: PathLike, fmt: str) -> str:
    """Resolve ``fmt="auto"`` from the file name and first line."""
    if fmt not in ("auto", "vec", "glove", "bin"):
        raise ValueError(f"Expected format 'auto', 'vec', 'glove' or 'bin', got {fmt!r}")
    if fmt != "auto":
        return fmt
    if ".bin" in Path(path).suffixes:
        return "bin"
    with open_binary(path) as fh:
        first = fh.readline()
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return "vec"
    return "glove"


def _decode(raw: bytes, path, line: int, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"Expected {encoding} text, got undecodable byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}",
            str(path),
            line,
        ) from None


def _parse_header(raw: bytes, path) -> tuple[int, int]:
    parts = raw.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise FormatError(f"Expected a header 'N_WORDS DIM', got {raw[:60]!r}", str(path), 1)
    n, d = int(parts[0]), int(parts[1])
    if d < 1:
        raise FormatError(f"Expected a positive dimension in the header, got {d}", str(path), 1)
    return n, d


def _parse_text_rows(lines, first_line_no: int, dim: int | None, path, encoding: str):
    """Parse ``word v1 .. vD`` lines. Returns (words, float32 matrix)."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    for offset, raw in enumerate(lines):
        line_no = first_line_no + offset
        text = _decode(raw, path, line_no, encoding).rstrip("\r\n")
        # Split on the single space after the word: words may in principle hold
        # non-breaking spaces, but never an ASCII space.
        parts = text.rstrip(" ").split(" ")
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise FormatError(f"Expected 'word v1 ... vD', got {text[:60]!r}", str(path), line_no)
        if len(parts) != dim + 1:
            raise FormatError(
                f"Expected a word and {dim} values, got {len(parts) - 1} values", str(path), line_no
            )
        try:
            vec = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            bad = next(p for p in parts[1:] if not _is_float(p))
            raise FormatError(f"Expected a number, got {bad[:30]!r}", str(path), line_no) from None
        if not np.isfinite(vec).all():
            raise FormatError("Expected finite values, got NaN or inf", str(path), line_no)
        words.append(parts[0])
        rows.append(vec)
    matrix = np.vstack(rows) if rows else np.zeros((0, dim or 0), dtype=np.float32)
    return words, matrix


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_vec(path: PathLike, *, limit=None, encoding="utf-8"):
    """Read word2vec text format with an ``N D`` header."""
    with open_binary(path) as fh:
        header = fh.readline()
        if not header:
            raise FormatError("Expected a header 'N_WORDS DIM', got an empty file", str(path), 1)
        n, dim = _parse_header(header, path)
        want = n if limit is None else min(n, limit)
        lines = []
        for raw in fh:
            if len(lines) == want:
                break
            if raw.strip():
                lines.append(raw)
            else:
                raise FormatError("Expected a vector line, got an empty line", str(path), len(lines) + 2)
    if len(lines) < want:
        raise FormatError(
            f"Expected {n} vectors as the header says, got {len(lines)} (truncated file?)", str(path), len(lines) + 2
        )
    return _parse_text_rows(lines, 2, dim, path, encoding)


def read_glove(path: PathLike, *, limit=None, encoding="utf-8"):
    """Read headerless GloVe text format."""
    lines = []
    with open_binary(path) as fh:
        for raw in fh:
            if limit is not None and len(lines) == limit:
                break
            if not raw.strip():
                raise FormatError("Expected a vector line, got an empty line", str(path), len(lines) + 1)
            lines.append(raw)
    return _parse_text_rows(lines, 1, None, path, encoding)


def read_bin(path: PathLike, *, limit=None, encoding="utf-8"):
    """Read word2vec binary format."""
    with open_binary(path) as fh:
        header = fh.readline()
        if not header:
            raise FormatError("Expected a header 'N_WORDS DIM', got an empty file", str(path), 1)
        n, dim = _parse_header(header, path)
        want = n if limit is None else min(n, limit)
        words: list[str] = []
        matrix = np.empty((want, dim), dtype=np.float32)
        record_bytes = 4 * dim
        for i in range(want):
            word = bytearray()
            while True:
                ch = fh.read(1)
                if not ch:
                    raise FormatError(
                        f"Expected {n} vectors as the header says, got {i} (truncated file?)", str(path), i + 2
                    )
                if ch == b" ":
                    break
                if ch != b"\n" or word:  # records may be separated by a newline
                    word += ch
            payload = fh.read(record_bytes)
            if len(payload) != record_bytes:
                raise FormatError(
                    f"Expected {dim} float32 values for {bytes(word)[:30]!r}, got {len(payload) // 4} (truncated file?)",
                    str(path),
                    i + 2,
                )
            matrix[i] = np.frombuffer(payload, dtype="<f4")
            if not np.isfinite(matrix[i]).all():
                raise FormatError("Expected finite values, got NaN or inf", str(path), i + 2)
            words.append(_decode(bytes(word), path, i + 2, encoding))
    return words, matrix


def handle_duplicates(words, vectors, path, policy: str):
    """Apply the duplicate-word policy; returns (words, vectors)."""
    seen: dict[str, int] = {}
    keep = []
    for i, w in enumerate(words):
        if w in seen:
            # Line numbers: row i sits on line i + 2 with a header; report the row.
            if policy == "error":
                raise FormatError(
                    f"Expected unique words, got {w!r} again (first at vector {seen[w] + 1}, again at vector {i + 1})",
                    str(path),
                )
            continue
        seen[w] = i
        keep.append(i)
    if len(keep) != len(words):
        logger.warning("%s: %d duplicate words ignored (kept the first vector of each)", path, len(words) - len(keep))
        return [words[i] for i in keep], vectors[keep]
    return words, vectors


def write_text(fh, words, vectors, header: bool = True):
    if header:
        fh.write(f"{len(words)} {vectors.shape[1]}\n".encode())
    for w, v in zip(words, vectors):
        fh.write((w + " " + " ".join(f"{x:.6g}" for x in v.tolist()) + "\n").encode("utf-8"))


def write_bin(fh, words, vectors):
    fh.write(f"{len(words)} {vectors.shape[1]}\n".encode())
    for w, v in zip(words, vectors):
        fh.write(w.encode("utf-8") + b" " + np.ascontiguousarray(v, dtype="<f4").tobytes() + b"\n")


READERS = {"vec": read_vec, "glove": read_glove, "bin": read_bin}
WRITERS = {
    "vec": lambda fh, w, v: write_text(fh, w, v, header=True),
    "glove": lambda fh, w, v: write_text(fh, w, v, header=False),
    "bin": write_bin,
}
