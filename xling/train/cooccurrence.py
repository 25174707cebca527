"""Windowed word-word co-occurrence counts, accumulated in sparse chunks.

The count matrix ``C`` has one row and one column per vocabulary word;
``C[i, j]`` sums, over every occurrence of word ``i``, the weights of the
occurrences of word ``j`` at distance ``1 <= d <= window`` on either side.
Counting is symmetric (each pair at distance ``d`` adds its weight to both
``C[i, j]`` and ``C[j, i]``), so ``C`` is symmetric and its row sums are the
marginals used by :mod:`xling.train.spectral` and :mod:`xling.train.ppmi`.

Conventions
-----------
* Out-of-vocabulary tokens are removed from a sentence *before* windowing (as
  word2vec does), so a window spans ``window`` in-vocabulary words.
* Windows never cross lines: each item of the corpus is one sentence or
  paragraph.
* ``weighting`` sets the weight of a pair at distance ``d``:

  ``"uniform"``   1 (every pair in the window counts once);
  ``"harmonic"``  1/d (GloVe's choice: close words count more);
  ``"linear"``    (window - d + 1) / window, the *expected* weight of a pair
                  under word2vec's dynamic window, whose effective size is
                  drawn uniformly from 1..window, so these counts are the
                  statistics skip-gram actually sees.

Memory is proportional to the number of distinct co-occurring pairs, not to
the corpus: sentences are encoded to id arrays, a chunk of about
``chunk_tokens`` tokens is turned into pair arrays with numpy, reduced to a CSR
matrix (duplicates summed), and added to the running total.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from xling._progress import emit, make_event
from xling.exceptions import InputError
from xling.train._base import BaseTrainer, check_corpus
from xling.train.vocab import Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["cooccurrence_matrix", "CooccurrenceTrainer", "WEIGHTINGS"]

WEIGHTINGS = ("uniform", "harmonic", "linear")


def _distance_weights(window: int, weighting: str) -> np.ndarray:
    """Weight of a pair at distance d = 1..window, shape (window,)."""
    d = np.arange(1, window + 1, dtype=np.float64)
    if weighting == "uniform":
        return np.ones_like(d)
    if weighting == "harmonic":
        return 1.0 / d
    if weighting == "linear":
        return (window - d + 1) / window
    raise InputError(f"Expected weighting in {WEIGHTINGS}, got {weighting!r}")


def _chunk_matrix(ids: np.ndarray, sentence: np.ndarray, weights: np.ndarray, n_words: int) -> sp.csr_matrix:
    """Counts of ordered pairs (left, right) in one chunk of concatenated sentences.

    Parameters
    ----------
    ids : ndarray of shape (n_tokens,), int32
        Word ids of the concatenated in-vocabulary tokens.
    sentence : ndarray of shape (n_tokens,), int32
        Sentence number of each token (pairs must share it).
    weights : ndarray of shape (window,)
    n_words : int

    Returns
    -------
    csr_matrix of shape (n_words, n_words), float64, duplicates summed
    """
    rows, cols, vals = [], [], []
    for d, w in enumerate(weights, start=1):
        if d >= len(ids):
            break
        same = sentence[:-d] == sentence[d:]
        # Ordered pairs (left word, right word) only; the caller adds the transpose.
        rows.append(ids[:-d][same])
        cols.append(ids[d:][same])
        vals.append(np.full(len(rows[-1]), w))
    if not rows:
        return sp.csr_matrix((n_words, n_words), dtype=np.float64)
    coo = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_words, n_words)
    )
    # tocsr sums duplicates; this is the per-chunk reduction.
    return coo.tocsr()


def cooccurrence_matrix(
    sentences: Iterable[list[str]],
    vocabulary: Vocabulary,
    *,
    window: int = 5,
    weighting: str = "uniform",
    chunk_tokens: int = 2_000_000,
) -> sp.csr_matrix:
    """Count symmetric windowed co-occurrences (see the module docstring).

    Parameters
    ----------
    sentences : iterable of list of str
        Token lists, e.g. an :class:`xling.LineCorpus`; one pass is made.
    vocabulary : Vocabulary
        Rows and columns follow ``vocabulary.words``; other tokens are dropped.
    window : int
        Largest distance counted, on each side (>= 1).
    weighting : {"uniform", "harmonic", "linear"}
        Weight of a pair at distance d: 1, 1/d, or (window - d + 1)/window.
    chunk_tokens : int
        Tokens encoded before a chunk is reduced; bounds the temporary pair
        arrays (about ``window * chunk_tokens`` entries of 16 bytes).

    Returns
    -------
    C : scipy.sparse.csr_matrix of shape (n_words, n_words), float64
        Symmetric, with sorted indices and no explicit zeros.

    Examples
    --------
    >>> from xling.train import Vocabulary
    >>> sents = [["a", "b", "a"], ["b", "c"]]
    >>> vocab = Vocabulary.build(sents, min_count=1)
    >>> C = cooccurrence_matrix(sents, vocab, window=1)
    >>> vocab.words, C.toarray().tolist()
    (['a', 'b', 'c'], [[0.0, 2.0, 0.0], [2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    """
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise InputError(f"Expected window to be an integer >= 1, got {window!r}")
    if chunk_tokens < 1:
        raise InputError(f"Expected chunk_tokens >= 1, got {chunk_tokens}")
    weights = _distance_weights(int(window), weighting)
    n_words = len(vocabulary)
    start = time.perf_counter()
    total = sp.csr_matrix((n_words, n_words), dtype=np.float64)
    buffer: list[np.ndarray] = []
    n_buffered = n_tokens = n_sentences = n_chunks = 0

    def flush() -> None:
        nonlocal total, n_buffered, n_chunks
        if not buffer:
            return
        ids = np.concatenate(buffer)
        sentence = np.repeat(np.arange(len(buffer), dtype=np.int32), [len(b) for b in buffer])
        total = total + _chunk_matrix(ids, sentence, weights, n_words)
        buffer.clear()
        n_buffered = 0
        n_chunks += 1

    for tokens in sentences:
        ids = vocabulary.encode(tokens)
        n_sentences += 1
        if len(ids) < 2:
            continue
        buffer.append(ids)
        n_buffered += len(ids)
        n_tokens += len(ids)
        if n_buffered >= chunk_tokens:
            flush()
            logger.debug("co-occurrence: %d chunks, %d tokens, %d distinct pairs", n_chunks, n_tokens, total.nnz)
    flush()
    # C = A + Aᵀ over ordered pairs: exactly symmetric (a + b == b + a in floating point)
    # and half the pair arrays of counting both directions.
    total = (total + total.T).tocsr()
    total.sum_duplicates()
    total.eliminate_zeros()
    logger.info(
        "co-occurrence: %d x %d matrix, %d distinct pairs (%.3f%% dense), window %d (%s), "
        "%d in-vocabulary tokens in %d sentences, %.1f s",
        n_words, n_words, total.nnz, 100.0 * total.nnz / max(n_words * n_words, 1), window, weighting,
        n_tokens, n_sentences, time.perf_counter() - start,
    )
    return total


class CooccurrenceTrainer(BaseTrainer):
    """Shared first phases of the count-based trainers: vocabulary, then counts.

    Subclasses name their phases in ``_phases`` (the two shared ones first)
    and implement ``_fit_counts(vocabulary, C)``, returning the vectors
    (n_words, vector_size) and reporting their own phases with :meth:`_phase`.
    Each phase is one step event (:mod:`xling._progress`), appended to
    ``history_`` and sent to the callbacks: ``phase`` (its name), ``step``
    (its number), ``total`` (the number of phases), ``progress`` (fixed
    shares: vocabulary 0.15, counts 0.4, the rest for the matrix and its
    decomposition), ``seconds`` and sizes (``words_per_sec`` for the
    counting pass). There is no iterative loss.
    """

    _phases: tuple[str, ...] = ("vocabulary", "cooccurrence")

    def _check_common(self) -> None:
        if not isinstance(self.vector_size, (int, np.integer)) or self.vector_size < 1:
            raise InputError(f"Expected vector_size to be an integer >= 1, got {self.vector_size!r}")
        if not isinstance(self.window, (int, np.integer)) or self.window < 1:
            raise InputError(f"Expected window to be an integer >= 1, got {self.window!r}")
        if not isinstance(self.min_count, (int, np.integer)) or self.min_count < 1:
            raise InputError(f"Expected min_count to be an integer >= 1, got {self.min_count!r}")
        if self.max_vocab_size is not None and self.max_vocab_size < 1:
            raise InputError(f"Expected max_vocab_size >= 1 or None, got {self.max_vocab_size!r}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"Expected weighting in {WEIGHTINGS}, got {self.weighting!r}")

    def _phase(self, name: str, start: float, progress: float, **sizes) -> None:
        seconds = time.perf_counter() - start
        emit(self, make_event(name, self._phases.index(name) + 1, len(self._phases), progress, seconds=seconds,
                              **sizes))

    def fit(self, corpus) -> "CooccurrenceTrainer":
        """Build the vocabulary, count co-occurrences and decompose.

        Parameters
        ----------
        corpus : iterable of list of str
            Restartable (two passes), e.g. :class:`xling.LineCorpus`.

        Returns
        -------
        self
        """
        from xling.embeddings import Embeddings

        self._check_common()
        self._check_params()
        check_corpus(corpus)
        self.history_ = []
        start = time.perf_counter()
        vocabulary = Vocabulary.build(corpus, min_count=self.min_count, max_vocab=self.max_vocab_size)
        self._phase("vocabulary", start, 0.15, n_words=len(vocabulary), n_tokens=vocabulary.n_tokens)
        start = time.perf_counter()
        C = cooccurrence_matrix(corpus, vocabulary, window=self.window, weighting=self.weighting)
        seconds = time.perf_counter() - start
        self._phase("cooccurrence", start, 0.4, nnz=int(C.nnz), words_per_sec=vocabulary.n_tokens / max(seconds, 1e-9))
        vectors = self._fit_counts(vocabulary, C)
        self.vocabulary_ = vocabulary
        self.embeddings_ = Embeddings(vocabulary.words, vectors)
        return self

    def _check_params(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _fit_counts(self, vocabulary: Vocabulary, C: sp.csr_matrix) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError
