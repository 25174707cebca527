"""The embeddings container and its file formats.

:class:`Embeddings` holds a vocabulary (``words``) and a float32 matrix of shape
(n_words, dim) whose row ``i`` is the vector of ``words[i]``.

Formats
-------
``vec``   word2vec/fastText text: a header ``N D`` then ``word v1 ... vD`` per line.
``glove`` the same without a header.
``bin``   word2vec binary: header ``N D\\n`` then ``word<space>`` + D little-endian float32.
Any of them may be compressed (``.gz``, ``.xz``, ``.bz2``); the format is
guessed from the name (``.bin`` → binary) and from the first line.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np

from xling._utils import PathLike
from xling.exceptions import FormatError, InputError

logger = logging.getLogger(__name__)

__all__ = ["Embeddings"]


def _read_events(callbacks):
    """A reader progress hook sending ``phase="read"`` events to ``callbacks`` (None without callbacks)."""
    if not callbacks:
        return None
    from xling._progress import make_event

    def report(rows: int, expected: int | None) -> None:
        fraction = rows / expected if expected else 0.0
        event = make_event("read", 1, 1, fraction, partial=True, rows=rows)
        for callback in callbacks:
            callback(event)

    return report


class Embeddings:
    """Words with one float32 vector each.

    Parameters
    ----------
    words : sequence of str, length n_words
        Unique words, in row order.
    vectors : array-like of shape (n_words, dim)
        Stored as C-contiguous float32.

    Attributes
    ----------
    words : list of str
    vectors : ndarray of shape (n_words, dim), float32
    word_to_index : dict str -> int

    Examples
    --------
    >>> import numpy as np
    >>> emb = Embeddings(["cat", "dog"], np.eye(2))
    >>> emb["dog"]
    array([0., 1.], dtype=float32)
    >>> emb.get_index("cat"), len(emb), emb.dim
    (0, 2, 2)
    """

    def __init__(self, words: Sequence[str], vectors):
        words = list(words)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise InputError(f"Expected vectors of shape (n_words, dim), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise InputError(
                f"Expected one vector per word, got {len(words)} words and {vectors.shape[0]} vectors"
            )
        word_to_index = dict(zip(words, range(len(words))))
        if len(word_to_index) != len(words):
            seen: dict[str, int] = {}
            for i, w in enumerate(words):
                if w in seen:
                    raise InputError(f"Expected unique words, got {w!r} at rows {seen[w]} and {i}")
                seen[w] = i
        self.words = words
        self.vectors = vectors
        self.word_to_index = word_to_index

    @classmethod
    def _trusted(cls, words: list[str], vectors: np.ndarray, word_to_index: dict[str, int]) -> "Embeddings":
        """Build without re-validating (for readers that already checked everything)."""
        new = object.__new__(cls)
        new.words, new.vectors, new.word_to_index = words, vectors, word_to_index
        return new

    # -- container protocol -------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.word_to_index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.get_index(word)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{len(self)} words, dim={self.dim}>"

    @property
    def dim(self) -> int:
        """Vector dimensionality."""
        return int(self.vectors.shape[1])

    def get_index(self, word: str, default: int | None = None) -> int:
        """Row of ``word``; ``default`` if given and the word is absent, else ``KeyError``."""
        index = self.word_to_index.get(word)
        if index is not None:
            return index
        if default is not None:
            return default
        raise KeyError(f"Word {word!r} not in vocabulary ({len(self)} words)")

    def with_vectors(self, vectors) -> "Embeddings":
        """Same words, new matrix of shape (n_words, any_dim) (e.g. after mapping)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(self):
            raise InputError(f"Expected a matrix with {len(self)} rows, got shape {vectors.shape}")
        return type(self)._trusted(self.words, vectors, self.word_to_index)

    def normalized(self, steps="unit,center,unit") -> "Embeddings":
        """A copy with the normalisation ``steps`` applied in order (this one is unchanged).

        Parameters
        ----------
        steps : str or sequence of str
            From ``unit``, ``center``, ``unit_dim``, ``center_emb``, ``none``; e.g.
            ``"unit,center,unit"`` (Artetxe et al. 2016). See :mod:`xling.preprocessing`.

        Returns
        -------
        Embeddings
            Same words, matrix of shape (n_words, dim).

        Examples
        --------
        >>> emb = Embeddings(["a", "b"], [[3.0, 4.0], [0.0, 2.0]])
        >>> emb.normalized("unit").vectors
        array([[0.6, 0.8],
               [0. , 1. ]], dtype=float32)
        """
        from xling.preprocessing import Normalizer

        return self.with_vectors(Normalizer(steps).fit_transform(self.vectors))

    def subset(self, words_or_n: Iterable[str] | int) -> "Embeddings":
        """The first ``n`` words, or the given words (in that order)."""
        if isinstance(words_or_n, (int, np.integer)):
            n = int(words_or_n)
            return Embeddings(self.words[:n], self.vectors[:n])
        words = list(words_or_n)
        rows = [self.get_index(w) for w in words]
        return Embeddings(words, self.vectors[rows])

    # -- IO -----------------------------------------------------------------
    @classmethod
    def read(
        cls,
        path: PathLike,
        *,
        format: str = "auto",
        limit: int | None = None,
        encoding: str = "utf-8",
        duplicates: str = "error",
        callbacks=(),
    ) -> "Embeddings":
        """Read vectors from ``path``.

        Parameters
        ----------
        path : str or path-like
            ``.vec``/``.txt``/``.bin``, optionally ``.gz``/``.xz``/``.bz2`` compressed.
            Text must be in an ASCII-compatible encoding (UTF-8, Latin-1, ...).
        format : {"auto", "vec", "glove", "bin"}
            "auto" picks "bin" for ``*.bin[.gz|.xz]``, else "vec" if the first line
            is an ``N D`` header and "glove" otherwise.
        limit : int, optional
            Read only the first ``limit`` words (MUSE and RCSLS keep 200,000).
        encoding : str
            Of the words.
        duplicates : {"error", "first"}
            A word seen twice is an error, or keeps its first vector (logged).
        callbacks : sequence of callables
            Called with progress events (schema of :mod:`xling._progress`,
            ``phase="read"``, ``progress`` = rows read / rows in the header)
            while a large file is parsed, so a caller can draw a progress bar.

        Returns
        -------
        Embeddings
            Matrix of shape (n_words, dim), float32.

        Raises
        ------
        FormatError
            Naming the file and line (record, for binary files): a bad or lying
            header, a row with the wrong number of values, a value that is not a
            finite number, a duplicate word, undecodable bytes, an empty or a
            truncated file.

        Notes
        -----
        Text is parsed a chunk of lines at a time with vectorised numpy calls
        into a matrix preallocated from the header; see ``scripts/bench_load.py``
        and BENCHMARKS.md for its speed and peak memory.
        """
        from xling import _vector_io

        if limit is not None and limit < 1:
            raise InputError(f"Expected limit >= 1 or None, got {limit}")
        if duplicates not in ("error", "first"):
            raise InputError(f"Expected duplicates='error' or 'first', got {duplicates!r}")
        fmt = _vector_io.detect_format(path, format)
        with _vector_io.reading_progress(_read_events(callbacks)):
            words, vectors, first_line = _vector_io.READERS[fmt](path, limit=limit, encoding=encoding)
        if len(words) == 0:
            raise FormatError("Expected at least one vector, got an empty file", str(path))
        words, vectors, word_to_index = _vector_io.handle_duplicates(words, vectors, path, duplicates, first_line)
        logger.info("read %d vectors of dim %d from %s", len(words), vectors.shape[1], path)
        return cls._trusted(words, vectors, word_to_index)

    def write(self, path: PathLike, *, format: str = "auto", precision: int | None = None) -> None:
        """Write to ``path`` atomically (temporary file renamed into place).

        Parameters
        ----------
        path : str or path-like
            Compressed when it ends in ``.gz``, ``.xz`` or ``.bz2``.
        format : {"auto", "vec", "glove", "bin"}
            "auto" writes binary for ``*.bin[.gz|.xz]`` and word2vec text otherwise.
        precision : int, optional
            Significant digits of text values (``%.{precision}g``); the default 9
            reads back bit-exact as float32, 4 to 6 make smaller files. Text only.

        Raises
        ------
        ValueError
            A word that is empty or holds whitespace, or a NaN/inf value (the file
            could not be read back); no file is left behind.
        """
        from xling import _vector_io

        _vector_io.write_vectors(path, self.words, self.vectors, format=format, precision=precision)
        logger.info("wrote %d vectors to %s", len(self), path)
