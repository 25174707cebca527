"""Streaming text corpora.

Tokenisation (documented, used everywhere in xling): a token is a maximal run
of Unicode letters and digits (regex ``[^\\W_]+``), so punctuation, underscores
and apostrophes split tokens ("don't" -> "don", "t"; "dinner-party" ->
"dinner", "party"). With ``lowercase=True`` (the default) tokens are
lower-cased with ``str.lower``. Each line of the file is one sentence or
paragraph; windows never cross lines.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from xling._utils import PathLike, iter_lines, open_binary
from xling.exceptions import FormatError

logger = logging.getLogger(__name__)

__all__ = ["tokenize", "LineCorpus", "ParallelCorpus", "TOKEN_PATTERN", "LINE_END"]

TOKEN_PATTERN = re.compile(r"[^\W_]+")
# The same tokens plus each newline as a token of its own, so that a block of
# many lines is tokenised by one regex call and line ends stay visible.
_BLOCK_PATTERN = re.compile(r"[^\W_]+|\n")
LINE_END = "\n"


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split ``text`` into tokens (see the module docstring for the rule).

    >>> tokenize("No traveller can ride -- or drive!")
    ['no', 'traveller', 'can', 'ride', 'or', 'drive']
    """
    if lowercase:
        text = text.lower()
    return TOKEN_PATTERN.findall(text)


class LineCorpus:
    """A restartable iterable of token lists, one per non-empty line of a file.

    Parameters
    ----------
    path : str or path-like
        ``.txt``, ``.gz``, ``.xz`` or ``.bz2``; UTF-8.
    lowercase : bool
        Lower-case tokens (default True).
    max_lines : int, optional
        Stop after this many lines (for quick runs).

    Raises
    ------
    FileNotFoundError
        At construction, when ``path`` does not exist.
    FormatError
        While iterating, on undecodable bytes (naming the line).
    """

    def __init__(self, path: PathLike, *, lowercase: bool = True, max_lines: int | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"No such corpus file: {self.path}")
        self.lowercase = lowercase
        self.max_lines = max_lines

    def __iter__(self) -> Iterator[list[str]]:
        for number, line in iter_lines(self.path):
            if self.max_lines is not None and number > self.max_lines:
                break
            tokens = tokenize(line, self.lowercase)
            if tokens:
                yield tokens

    def iter_token_blocks(self, block_bytes: int = 1 << 21) -> Iterator[list[str]]:
        """Yield the tokens of about ``block_bytes`` of text at a time, each line closed by :data:`LINE_END`.

        The same tokens as iterating the corpus (empty lines give a lone
        ``LINE_END``), several times faster: one decode, one lower-casing and
        one regex call per block instead of per line, while a second thread
        reads and decompresses the next block.

        Raises
        ------
        FormatError
            On undecodable bytes, naming the line.
        """
        blocks = self._raw_blocks(block_bytes)
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(next, blocks, None)
            while True:
                item = pending.result()
                if item is None:
                    return
                pending = reader.submit(next, blocks, None)
                first, raw = item
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    line_start = raw.rfind(b"\n", 0, exc.start) + 1
                    raise FormatError(
                        f"Expected utf-8 text, got undecodable byte 0x{raw[exc.start]:02x} "
                        f"at column {exc.start - line_start + 1}",
                        str(self.path),
                        first + raw.count(b"\n", 0, exc.start),
                    ) from None
                if self.lowercase:
                    text = text.lower()
                yield _BLOCK_PATTERN.findall(text)

    def _raw_blocks(self, block_bytes: int) -> Iterator[tuple[int, bytes]]:
        """(number of the first line, bytes of whole lines each ending in a newline)."""
        first, rest = 1, b""
        with open_binary(self.path) as fh:
            while True:
                chunk = fh.read(block_bytes)
                if not chunk:
                    block, rest = rest + b"\n" if rest else b"", b""
                else:
                    buf = rest + chunk
                    cut = buf.rfind(b"\n") + 1
                    block, rest = buf[:cut], buf[cut:]
                    if not block:
                        continue
                n_lines = block.count(b"\n")
                if self.max_lines is not None and first + n_lines - 1 > self.max_lines:
                    wanted = self.max_lines - first + 1
                    end = -1
                    for _ in range(wanted):
                        end = block.index(b"\n", end + 1)
                    block, n_lines = block[: end + 1], wanted
                if block:
                    yield first, block
                first += n_lines
                if not chunk or (self.max_lines is not None and first > self.max_lines):
                    return

    def __repr__(self) -> str:
        return f"LineCorpus({str(self.path)!r}, lowercase={self.lowercase})"


class ParallelCorpus:
    """Two line-aligned files read as pairs of token lists.

    Line k of ``src_path`` translates line k of ``tgt_path``. Pairs in which
    either side has no token are skipped and counted in ``n_skipped``
    (set after a full pass).

    Raises
    ------
    FormatError
        When the files have different numbers of lines (checked at
        construction, naming both files and both counts).
    """

    def __init__(self, src_path: PathLike, tgt_path: PathLike, *, lowercase: bool = True):
        self.src_path, self.tgt_path = Path(src_path), Path(tgt_path)
        self.lowercase = lowercase
        n_src = sum(1 for _ in iter_lines(self.src_path))
        n_tgt = sum(1 for _ in iter_lines(self.tgt_path))
        if n_src != n_tgt:
            raise FormatError(
                f"Expected line-aligned parallel files with the same number of lines, got {n_src} lines here "
                f"and {n_tgt} in {self.tgt_path}",
                str(self.src_path),
            )
        self.n_lines = n_src
        self.n_skipped: int | None = None

    def __iter__(self) -> Iterator[tuple[list[str], list[str]]]:
        skipped = 0
        for (_, s), (_, t) in zip(iter_lines(self.src_path), iter_lines(self.tgt_path)):
            s_tok, t_tok = tokenize(s, self.lowercase), tokenize(t, self.lowercase)
            if not s_tok or not t_tok:
                skipped += 1
                continue
            yield s_tok, t_tok
        if skipped:
            logger.info("%s / %s: skipped %d pairs with an empty side", self.src_path, self.tgt_path, skipped)
        self.n_skipped = skipped

    def __len__(self) -> int:
        return self.n_lines
