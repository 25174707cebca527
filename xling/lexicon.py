"""Bilingual lexicons (seed and test dictionaries).

A :class:`Lexicon` maps each source word to the set of its translations, in
file order. Files hold one pair per line, ``src<TAB>tgt`` (MUSE, xling-eval)
or ``src tgt`` (VecMap); extra tab-separated columns (provenance) are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from xling._utils import PathLike, atomic_output, iter_lines
from xling.exceptions import FormatError, InputError, NotEnoughDataError

logger = logging.getLogger(__name__)

__all__ = ["Lexicon", "Coverage"]

# Characters that would split a pair or a line of a dictionary file.
_LINE_BREAKS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


@dataclass(frozen=True)
class Coverage:
    """How much of a lexicon two vocabularies cover.

    Attributes
    ----------
    n_entries, n_entries_used : int
        Pairs in the lexicon, and pairs with both words in vocabulary.
    n_src_words, n_src_words_used : int
        Distinct source words, and those with at least one usable pair.
    n_src_oov, n_tgt_oov : int
        Pairs whose source (resp. target) word is out of vocabulary.
    """

    n_entries: int
    n_entries_used: int
    n_src_words: int
    n_src_words_used: int
    n_src_oov: int
    n_tgt_oov: int

    @property
    def fraction(self) -> float:
        """Share of distinct source words with at least one usable pair."""
        return self.n_src_words_used / self.n_src_words if self.n_src_words else 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "fraction": self.fraction}


class Lexicon:
    """Source word -> translations.

    Parameters
    ----------
    pairs : iterable of (str, str)
        Duplicated pairs are kept once; order of first appearance is preserved.

    Examples
    --------
    >>> lex = Lexicon([("dog", "perro"), ("dog", "can"), ("cat", "gato")])
    >>> len(lex), lex.n_pairs, lex["dog"]
    (2, 3, ['perro', 'can'])
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        self._translations: dict[str, list[str]] = {}
        for src, tgt in pairs:
            targets = self._translations.setdefault(src, [])
            if tgt not in targets:
                targets.append(tgt)

    def __len__(self) -> int:
        """Number of distinct source words."""
        return len(self._translations)

    def __contains__(self, src: str) -> bool:
        return src in self._translations

    def __getitem__(self, src: str) -> list[str]:
        return list(self._translations[src])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Iterate over ``(src, tgt)`` pairs."""
        for src, targets in self._translations.items():
            for tgt in targets:
                yield src, tgt

    def __repr__(self) -> str:
        return f"Lexicon<{len(self)} source words, {self.n_pairs} pairs>"

    @property
    def n_pairs(self) -> int:
        return sum(len(t) for t in self._translations.values())

    @property
    def sources(self) -> list[str]:
        return list(self._translations)

    def lower(self) -> "Lexicon":
        """A copy with every word lower-cased (for vectors trained on lower-cased text)."""
        return Lexicon((s.lower(), t.lower()) for s, t in self)

    def inverse(self) -> "Lexicon":
        """The target -> source lexicon."""
        return Lexicon((t, s) for s, t in self)

    @classmethod
    def read(cls, path: PathLike, *, encoding: str = "utf-8") -> "Lexicon":
        """Read a dictionary file: ``src<TAB>tgt[<TAB>...]`` or ``src tgt`` per line.

        Blank lines and lines starting with ``#`` are skipped.

        Raises
        ------
        FormatError
            A line that is not a pair (naming file and line), undecodable bytes,
            or a file with no pairs at all.
        """
        pairs = []
        for number, line in iter_lines(path, encoding):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            parts = [p.strip() for p in parts]
            if len(parts) < 2 or not parts[0] or not parts[1] or (len(parts) > 2 and "\t" not in line):
                raise FormatError(
                    f"Expected a pair 'source<TAB>target' or 'source target', got {line[:80]!r}",
                    str(path),
                    number,
                )
            pairs.append((parts[0], parts[1]))
        if not pairs:
            raise FormatError("Expected at least one 'source<TAB>target' pair, got none", str(path))
        lexicon = cls(pairs)
        logger.info("read %s from %s", lexicon, path)
        return lexicon

    def write(self, path: PathLike) -> None:
        """Write ``src<TAB>tgt`` lines atomically (UTF-8; compressed by extension).

        Raises
        ------
        ValueError
            A word that would not read back: empty, holding a tab or a line
            break, with blanks at either end, or a source word starting with
            ``#`` (read as a comment). Any existing file at ``path`` is kept.
        """
        with atomic_output(path, "w") as fh:
            for number, (src, tgt) in enumerate(self, start=1):
                for side, word in (("source", src), ("target", tgt)):
                    if not word or word != word.strip() or _LINE_BREAKS.intersection(word):
                        raise InputError(
                            f"Expected {side} words without tabs, line breaks or blanks at the ends, got "
                            f"{word!r} in pair {number} ({src!r}, {tgt!r}); it cannot be written"
                        )
                if src.startswith("#"):
                    raise InputError(f"Expected source words not starting with '#' (a comment), got {src!r}")
                fh.write(f"{src}\t{tgt}\n")

    def coverage(self, src_vocab, tgt_vocab) -> Coverage:
        """Coverage of this lexicon by two vocabularies (anything supporting ``in``)."""
        return self._match(src_vocab, tgt_vocab)[1]

    def to_pairs(self, src, tgt, *, min_pairs: int = 1, name: str = "lexicon") -> tuple[np.ndarray, Coverage]:
        """Row-index pairs of the entries whose two words both have vectors.

        Parameters
        ----------
        src, tgt : Embeddings
            Anything with ``word_to_index``.
        min_pairs : int
            Raise :class:`NotEnoughDataError` when fewer pairs remain.

        Returns
        -------
        pairs : ndarray of shape (n_pairs, 2), int64
            ``pairs[k] = (row in src, row in tgt)``.
        coverage : Coverage
        """
        pairs, cov = self._match(src.word_to_index, tgt.word_to_index)
        logger.info(
            "%s: %d of %d pairs usable (%d source-side OOV, %d target-side OOV); %d of %d source words",
            name, cov.n_entries_used, cov.n_entries, cov.n_src_oov, cov.n_tgt_oov,
            cov.n_src_words_used, cov.n_src_words,
        )
        if len(pairs) < min_pairs:
            raise NotEnoughDataError(
                f"Expected at least {min_pairs} {name} pairs with both words in the vocabularies, got "
                f"{len(pairs)} of {cov.n_entries} ({cov.n_src_oov} pairs have an out-of-vocabulary source word, "
                f"{cov.n_tgt_oov} an out-of-vocabulary target word). Do the vocabularies and the lexicon "
                f"share case and language direction?"
            )
        return pairs, cov

    def _match(self, src_index, tgt_index) -> tuple[np.ndarray, Coverage]:
        rows = []
        n_src_oov = n_tgt_oov = 0
        used_sources = set()
        for s, t in self:
            # Plain containers (sets) only answer membership: row 0 stands in,
            # and only the counts are used (see coverage()).
            i = src_index.get(s) if hasattr(src_index, "get") else (0 if s in src_index else None)
            j = tgt_index.get(t) if hasattr(tgt_index, "get") else (0 if t in tgt_index else None)
            if i is None:
                n_src_oov += 1
            if j is None:
                n_tgt_oov += 1
            if i is not None and j is not None:
                rows.append((i, j))
                used_sources.add(s)
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
        cov = Coverage(self.n_pairs, len(rows), len(self), len(used_sources), n_src_oov, n_tgt_oov)
        return pairs, cov
