"""Vocabulary building and corpus encoding.

:meth:`Vocabulary.build` counts in one streaming pass with memory proportional
to the vocabulary. :func:`encode_corpus` makes the vocabulary and the int32 id
array that the trainers iterate over, in one pass over the text.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from xling.corpus import LINE_END, LineCorpus
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError

logger = logging.getLogger(__name__)

__all__ = ["Vocabulary", "EncodedCorpus", "encode_corpus", "alias_table"]


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

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """Probability of keeping each occurrence of each word under subsampling.

        The word2vec.c rule: with frequency threshold ``t = sample * N``
        (``N`` = in-vocabulary tokens), a word seen ``c`` times is kept with
        probability ``min(1, (sqrt(c / t) + 1) * t / c)``. ``sample=0``
        disables subsampling.

        Returns
        -------
        ndarray of shape (n_words,), float32
        """
        if sample < 0:
            raise InputError(f"Expected sample >= 0, got {sample}")
        counts = self.counts.astype(np.float64)
        if sample == 0:
            return np.ones(len(counts), dtype=np.float32)
        threshold = sample * counts.sum()
        keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
        return np.minimum(keep, 1.0).astype(np.float32)

    def negative_distribution(self, power: float = 0.75) -> np.ndarray:
        """The noise distribution of negative sampling, ``counts**power`` normalised.

        Returns
        -------
        ndarray of shape (n_words,), float64, summing to 1
        """
        weights = self.counts.astype(np.float64) ** power
        return weights / weights.sum()

    def subset(self, n_words: int) -> "Vocabulary":
        """The ``n_words`` most frequent words (same ``n_tokens``)."""
        return Vocabulary(self.words[:n_words], self.counts[:n_words], self.n_tokens)


def alias_table(probs) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a discrete distribution (Vose's construction).

    Drawing ``i`` uniformly and keeping it with probability ``prob[i]``, else
    taking ``alias[i]``, samples from ``probs`` exactly, in O(1) per draw.

    Parameters
    ----------
    probs : array-like of shape (n,)
        Non-negative weights (normalised here).

    Returns
    -------
    prob : ndarray of shape (n,), float32
    alias : ndarray of shape (n,), int32
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0 or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise InputError("Expected a non-empty 1-D array of finite non-negative weights with a positive sum")
    n = len(p)
    scaled = p * (n / p.sum())
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        # The large entry gives away what fills the small one's column.
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # Leftovers are 1 up to rounding.
    return prob.astype(np.float32), alias.astype(np.int32)


@dataclass
class EncodedCorpus:
    """A corpus as row indices of a vocabulary.

    Attributes
    ----------
    ids : ndarray of shape (n_tokens,), int32
        In-vocabulary tokens in corpus order (out-of-vocabulary tokens dropped).
    offsets : ndarray of shape (n_sentences + 1,), int64
        Sentence ``k`` is ``ids[offsets[k]:offsets[k + 1]]``; windows never cross it.
        Sentences left empty are dropped.
    """

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    def __len__(self) -> int:
        return len(self.ids)


def _token_blocks(corpus) -> Iterator[tuple[list, object]]:
    """Flat token lists with a line-end marker after each sentence, and that marker."""
    if isinstance(corpus, LineCorpus):
        for block in corpus.iter_token_blocks():
            yield block, LINE_END
        return
    if isinstance(corpus, (str, bytes)):
        raise InputTypeError("Expected an iterable of token lists (e.g. xling.LineCorpus), got a string")
    block: list = []
    for number, tokens in enumerate(corpus, start=1):
        if isinstance(tokens, str):
            raise InputTypeError(f"Expected sentence {number} to be a list of tokens, got a string")
        block.extend(tokens)
        block.append(None)  # None cannot be a token, so it marks the end unambiguously
        if len(block) >= 1 << 16:
            yield block, None
            block = []
    if block:
        yield block, None


def encode_corpus(
    corpus: Iterable[list[str]],
    *,
    min_count: int = 5,
    max_vocab_size: int | None = None,
    vocabulary: Vocabulary | None = None,
) -> tuple[Vocabulary, EncodedCorpus]:
    """Count the vocabulary and encode the corpus, in one pass over the text.

    Every distinct token gets a provisional id on first sight (memory for the
    counts is proportional to the number of distinct tokens); the provisional
    id array is then remapped to the final vocabulary order.

    Parameters
    ----------
    corpus : iterable of list of str
        A :class:`xling.LineCorpus` (fast path: block tokenisation) or any
        restartable iterable of token lists.
    min_count : int
        Keep words seen at least this many times.
    max_vocab_size : int, optional
        Then keep only this many most frequent words.
    vocabulary : Vocabulary, optional
        Encode against this fixed vocabulary instead of building one (used to
        resume training); ``min_count`` and ``max_vocab_size`` are then unused.

    Returns
    -------
    vocabulary : Vocabulary
        The built one, or the given words with this corpus's counts and size.
    encoded : EncodedCorpus
    """
    if min_count < 1:
        raise InputError(f"Expected min_count >= 1, got {min_count}")
    if max_vocab_size is not None and max_vocab_size < 1:
        raise InputError(f"Expected max_vocab_size >= 1 or None, got {max_vocab_size}")
    provisional: defaultdict = defaultdict()
    # A missing key gets the current size as its id (a C-level call, no Python per token).
    provisional.default_factory = provisional.__len__
    chunks: list[np.ndarray] = []
    marker = None
    for block, marker in _token_blocks(corpus):
        if not provisional:
            provisional[marker]  # id 0 is the sentence end
        chunks.append(np.fromiter(map(provisional.__getitem__, block), dtype=np.int32, count=len(block)))
    if not chunks:
        raise NotEnoughDataError("Expected a corpus with at least one line, got an empty corpus")
    prov = np.concatenate(chunks)
    del chunks
    counts = np.bincount(prov, minlength=len(provisional)).astype(np.int64)
    words = list(provisional.keys())  # insertion order = provisional id
    is_end = prov == 0
    n_tokens = int(len(prov) - is_end.sum())
    remap = np.full(len(words), -1, dtype=np.int64)
    if vocabulary is None:
        order = [i for i in range(1, len(words)) if counts[i] >= min_count]
        order.sort(key=lambda i: (-counts[i], words[i]))
        if max_vocab_size is not None:
            order = order[:max_vocab_size]
        if not order:
            raise NotEnoughDataError(
                f"Expected at least one word seen {min_count} or more times, got none "
                f"({n_tokens} tokens, {len(words) - 1} distinct words); lower min_count or give more text"
            )
        vocabulary = Vocabulary([str(words[i]) for i in order], counts[order], n_tokens)
        remap[order] = np.arange(len(order))
    else:
        for i in range(1, len(words)):
            remap[i] = vocabulary.word_to_index.get(words[i], -1)
        # The given words with this corpus's counts, so callers can check the corpus is the same.
        found = remap >= 0
        new_counts = np.zeros(len(vocabulary), dtype=np.int64)
        new_counts[remap[found]] = counts[found]
        vocabulary = Vocabulary(vocabulary.words, new_counts, n_tokens)
    logger.info(
        "vocabulary: %d words (min_count=%d) from %d tokens, %d distinct",
        len(vocabulary), min_count, n_tokens, len(words) - 1,
    )
    mapped = remap[prov]
    keep = mapped >= 0
    ends = np.flatnonzero(is_end)
    kept_before = np.cumsum(keep)
    offsets = np.unique(np.concatenate([[0], kept_before[ends]]))  # drops empty sentences
    ids = mapped[keep].astype(np.int32)
    return vocabulary, EncodedCorpus(ids, offsets.astype(np.int64))
