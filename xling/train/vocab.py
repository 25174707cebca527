"""Vocabulary building: one streaming pass, memory proportional to the vocabulary."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Iterable

import numpy as np

from xling.exceptions import NotEnoughDataError

logger = logging.getLogger(__name__)

__all__ = ["Vocabulary"]


class Vocabulary:
    """Words sorted by descending count (ties broken alphabetically).

    Attributes
    ----------
    words : list of str
    counts : ndarray of shape (n_words,), int64
    word_to_index : dict
    n_tokens : int
        Tokens in the corpus, including words dropped by min_count.
    """

    def __init__(self, words, counts, n_tokens: int):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.word_to_index = {w: i for i, w in enumerate(self.words)}
        self.n_tokens = int(n_tokens)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, sentences: Iterable[list[str]], *, min_count: int = 5, max_vocab: int | None = None) -> "Vocabulary":
        """Count tokens and keep those seen at least ``min_count`` times (top ``max_vocab``)."""
        counter: Counter = Counter()
        n_tokens = 0
        for tokens in sentences:
            counter.update(tokens)
            n_tokens += len(tokens)
        kept = sorted(((c, w) for w, c in counter.items() if c >= min_count), key=lambda cw: (-cw[0], cw[1]))
        if max_vocab is not None:
            kept = kept[:max_vocab]
        if not kept:
            raise NotEnoughDataError(
                f"Expected at least one word seen {min_count} or more times, got none "
                f"({n_tokens} tokens, {len(counter)} distinct words); lower min_count or give more text"
            )
        logger.info("vocabulary: %d words (min_count=%d) from %d tokens, %d distinct", len(kept), min_count, n_tokens, len(counter))
        return cls([w for _, w in kept], [c for c, _ in kept], n_tokens)

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Row indices of the in-vocabulary tokens, int32 (OOV tokens dropped)."""
        get = self.word_to_index.get
        ids = [i for i in (get(t) for t in tokens) if i is not None]
        return np.array(ids, dtype=np.int32)
