"""Alignment-based projection (Guo, Che, Yarowsky, Wang & Liu 2015).

"Cross-lingual dependency parsing based on distributed representations",
Section 3.2: train source-language vectors on monolingual text, align the
parallel corpus by words, and give each target word the average of the
vectors of the source words it is aligned to, weighted by how often::

    v(t) = Σ_s c(s, t) · v(s) / Σ_s c(s, t)

(``c(s, t)``: alignment links between ``s`` and ``t`` over the corpus). Target
words that are never aligned take the average vector of the projected target
words within edit distance 1 of them, as the paper does for its
out-of-vocabulary words (``unaligned="edit-distance"``), or are left out
(``"drop"``). The target space is thus the source space itself: no mapping
is learned, and the target monolingual text serves only to say which target
words exist (its vocabulary).

The edit-distance-1 neighbours (one substitution, insertion or deletion) are
found through deletion keys: two words are neighbours exactly when deleting
the same position from both gives the same string (substitution) or deleting
one position from the longer gives the shorter.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse

from xling._progress import EVENT_KEYS, emit, make_event
from xling._utils import check_random_state
from xling.embeddings import Embeddings
from xling.exceptions import InputError, NotEnoughDataError
from xling.train._base import BaseJointTrainer, check_corpus
from xling.train._joint import parallel_pairs
from xling.train._word2vec import check_word2vec_params
from xling.train.sgns import SkipGram
from xling.train.vocab import Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["AlignmentProjection", "edit_distance_one", "relay_events"]

UNALIGNED = ("edit-distance", "drop")


def relay_events(outer, phase: str, first_step: int, total: int, start: float, span: float):
    """A callback passing an inner estimator's events on as ``outer``'s, renumbered.

    The inner run's steps become ``outer``'s steps ``first_step, first_step + 1, ...``
    (of ``total``) in ``phase``, and its progress ``p`` becomes ``start + span · p``;
    the metrics pass unchanged. Step events land in ``outer.history_``.
    """

    def relay(event: dict) -> None:
        metrics = {k: v for k, v in event.items() if k not in EVENT_KEYS}
        emit(outer, make_event(phase, first_step + event["step"] - 1, total, start + span * event["progress"],
                               partial=event["event"] == "progress", **metrics))

    return relay


def _deletions(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


def edit_distance_one(queries: Iterable[str], words: Sequence[str]) -> dict[str, list[int]]:
    """For each query, the indices of ``words`` at Levenshtein distance exactly 1.

    Parameters
    ----------
    queries : iterable of str
    words : sequence of str

    Returns
    -------
    dict
        ``{query: [index into words, ...]}`` for the queries that have at least one neighbour.

    Examples
    --------
    >>> edit_distance_one(["cat", "dog"], ["cats", "bat", "at", "cat", "cot", "dig"])
    {'cat': [0, 1, 2, 4], 'dog': [5]}
    """
    by_position: dict = defaultdict(list)  # (i, word minus letter i) -> words: substitutions (and the word itself)
    by_word: dict = defaultdict(list)  # word -> words: the word is a deletion of the query
    by_deletion: dict = defaultdict(list)  # word minus one letter -> words: the query is a deletion of the word
    for k, w in enumerate(words):
        by_word[w].append(k)
        for i, d in enumerate(_deletions(w)):
            by_position[i, d].append(k)
            by_deletion[d].append(k)
    out = {}
    for q in queries:
        found = set(by_deletion.get(q, ()))
        for i, d in enumerate(_deletions(q)):
            found.update(by_position.get((i, d), ()))
            found.update(by_word.get(d, ()))
        found.difference_update(by_word.get(q, ()))  # distance 0
        if found:
            out[q] = sorted(found)
    return out


class AlignmentProjection(BaseJointTrainer):
    """Target vectors projected through word alignments onto source vectors (Guo et al. 2015).

    Parameters
    ----------
    vector_size : int
        Dimension of the source skip-gram vectors (and so of both spaces).
    window : int
        Largest skip-gram window of the source model.
    min_count : int
        Drop words seen fewer times in their language (monolingual text plus its parallel side).
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative, sample, alpha, min_alpha, epochs, batch_words, workers, device, backend, checkpoint_dir, resume
        Of the source :class:`xling.train.SkipGram` (see there).
    alignment : {"ibm2", "ibm1"}
        The EM word alignment of :class:`xling.wordalign.WordAligner`: fast_align's Model 2 or IBM Model 1.
    align_iter : int
        EM iterations per direction of the word alignment.
    symmetrize : {"grow-diag", "intersection", "union"}
        How the alignments of the two directions are combined.
    unaligned : {"edit-distance", "drop"}
        Target words never aligned: the mean of their projected neighbours at
        edit distance 1 (the paper's rule), or left out.
    random_state : int, numpy Generator or None
        Seeds the source skip-gram model (the alignment is deterministic).
    callbacks : sequence of callable
        Receive the events of :mod:`xling._progress` (phases "source", "align", "project").

    Attributes
    ----------
    src_embeddings_ : Embeddings
        The source skip-gram vectors.
    tgt_embeddings_ : Embeddings
        Projected target words, in target frequency order.
    source_model_ : SkipGram
    aligner_ : WordAligner
    n_projected_, n_edit_distance_, n_unprojected_ : int
        Target words projected through alignments, filled by edit distance,
        and left out (no link and no projected neighbour, or ``"drop"``).
    history_ : list of dict
        Step events: the source model's epochs (phase "source"), the EM
        iterations (phase "align"), then one "project" step with the counts above.

    Examples
    --------
    >>> from xling.train import AlignmentProjection
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 20
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 20
    >>> model = AlignmentProjection(vector_size=8, min_count=1, epochs=1, random_state=0)
    >>> sorted(model.fit(en, es, list(zip(en, es))).tgt_embeddings_.words)
    ['corre', 'duerme', 'el', 'gato', 'perro']
    """

    supervision_kind = "parallel"
    _fitted_attribute = "tgt_embeddings_"

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        negative: int = 5,
        sample: float = 1e-3,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        epochs: int = 5,
        alignment: str = "ibm2",
        align_iter: int = 5,
        symmetrize: str = "grow-diag",
        unaligned: str = "edit-distance",
        batch_words: int = 10000,
        workers: int = 2,
        device=None,
        backend: str = "auto",
        random_state=None,
        callbacks: Sequence = (),
        checkpoint_dir=None,
        resume: bool = False,
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.negative = negative
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.alignment = alignment
        self.align_iter = align_iter
        self.symmetrize = symmetrize
        self.unaligned = unaligned
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    def fit(self, src_corpus, tgt_corpus, supervision) -> "AlignmentProjection":
        """Train the source vectors, align the parallel text and project the target words.

        Parameters
        ----------
        src_corpus, tgt_corpus : iterable of list of str
            Monolingual text (restartable). The source text (plus the source
            side of the parallel pairs) trains the vectors; the target text
            (plus the target side) only defines the target vocabulary.
        supervision : ParallelCorpus
            Aligned sentence pairs: an :class:`xling.ParallelCorpus`, or any
            iterable of ``(source tokens, target tokens)`` pairs.

        Returns
        -------
        self
        """
        from xling.wordalign import SYMMETRIZATIONS, WordAligner

        check_word2vec_params(self)
        if self.alignment not in ("ibm2", "ibm1"):
            raise InputError(f"Expected alignment in ('ibm2', 'ibm1'), got {self.alignment!r}")
        if not isinstance(self.align_iter, int) or isinstance(self.align_iter, bool) or self.align_iter < 1:
            raise InputError(f"Expected align_iter to be an integer >= 1, got {self.align_iter!r}")
        if self.symmetrize not in SYMMETRIZATIONS[1:]:
            raise InputError(f"Expected symmetrize in {SYMMETRIZATIONS[1:]}, got {self.symmetrize!r}")
        if self.unaligned not in UNALIGNED:
            raise InputError(f"Expected unaligned in {UNALIGNED}, got {self.unaligned!r}")
        check_corpus(src_corpus, "src_corpus")
        check_corpus(tgt_corpus, "tgt_corpus")
        pairs = parallel_pairs(supervision)
        if not pairs:
            raise NotEnoughDataError("Expected at least one parallel sentence pair, got none")
        seed = int(check_random_state(self.random_state).integers(0, 2**63 - 1))
        n_align = 2 * int(self.align_iter)
        total = int(self.epochs) + n_align + 1
        self.history_ = []

        # 1. Source vectors on the source text (the monolingual corpus and the parallel side).
        source = SkipGram(vector_size=self.vector_size, window=self.window, min_count=self.min_count,
                          max_vocab_size=self.max_vocab_size, negative=self.negative, sample=self.sample,
                          alpha=self.alpha, min_alpha=self.min_alpha, epochs=self.epochs,
                          batch_words=self.batch_words, workers=self.workers, device=self.device,
                          backend=self.backend, random_state=seed, checkpoint_dir=self.checkpoint_dir,
                          resume=self.resume,
                          callbacks=[relay_events(self, "source", 1, total, 0.0, self.epochs / total)])
        source.fit(_Chain([src_corpus, [p[0] for p in pairs]]))
        src_emb = source.embeddings_

        # 2. Word alignment of the parallel text.
        aligner = WordAligner(model=1 if self.alignment == "ibm1" else 2, n_iter=self.align_iter,
                              symmetrize=self.symmetrize,
                              callbacks=[relay_events(self, "align", self.epochs + 1, total, self.epochs / total,
                                                      n_align / total)])
        links = aligner.fit(pairs).align(pairs)

        # 3. Projection: alignment-count-weighted means of the source vectors.
        t0 = time.perf_counter()
        tgt_vocab = Vocabulary.build(_Chain([tgt_corpus, [p[1] for p in pairs]]), min_count=self.min_count,
                                     max_vocab=self.max_vocab_size)
        counts = _link_counts(pairs, links, src_emb.word_to_index, tgt_vocab.word_to_index,
                              len(tgt_vocab), len(src_emb))
        totals = np.asarray(counts.sum(1)).ravel()
        aligned = np.flatnonzero(totals > 0)
        if not len(aligned):
            raise NotEnoughDataError("Expected alignment links between in-vocabulary words, got none; lower "
                                     "min_count or give more parallel text")
        weights = scipy.sparse.diags(1.0 / totals[aligned]) @ counts[aligned]
        vectors = np.asarray(weights @ src_emb.vectors.astype(np.float64), dtype=np.float32)
        words = [tgt_vocab.words[i] for i in aligned]
        rows = dict(zip(aligned.tolist(), range(len(aligned))))
        n_edit = 0
        if self.unaligned == "edit-distance":
            missing = [tgt_vocab.words[i] for i in np.flatnonzero(totals == 0)]
            neighbours = edit_distance_one(missing, words)
            extra = [(w, vectors[idx].mean(0)) for w, idx in neighbours.items()]
            n_edit = len(extra)
            if extra:
                words += [w for w, _ in extra]
                vectors = np.concatenate([vectors, np.stack([v for _, v in extra])]).astype(np.float32)
        # Frequency order of the target vocabulary, as every trainer's embeddings.
        order = np.argsort([tgt_vocab.word_to_index[w] for w in words], kind="stable")
        self.src_embeddings_ = src_emb
        self.tgt_embeddings_ = Embeddings([words[i] for i in order], vectors[order])
        self.source_model_, self.aligner_ = source, aligner
        self.n_projected_, self.n_edit_distance_ = len(rows), n_edit
        self.n_unprojected_ = len(tgt_vocab) - len(rows) - n_edit
        seconds = time.perf_counter() - t0
        logger.info("projection: %d target words through %d links, %d by edit distance, %d left out (%.1fs)",
                    self.n_projected_, int(counts.sum()), n_edit, self.n_unprojected_, seconds)
        emit(self, make_event("project", total, total, 1.0, projected=self.n_projected_,
                              edit_distance=n_edit, unprojected=self.n_unprojected_, links=int(counts.sum()),
                              seconds=seconds))
        return self


class _Chain:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        return itertools.chain.from_iterable(self.parts)


def _link_counts(pairs, links, src_index: dict, tgt_index: dict, n_tgt: int, n_src: int) -> scipy.sparse.csr_matrix:
    """``c(t, s)``: links between in-vocabulary target word ``t`` and source word ``s``, shape (n_tgt, n_src)."""
    s_ids, t_ids = [], []
    for (src, tgt), lk in zip(pairs, links):
        if not len(lk):
            continue
        s_row = np.array([src_index.get(w, -1) for w in src], dtype=np.int64)
        t_row = np.array([tgt_index.get(w, -1) for w in tgt], dtype=np.int64)
        s_ids.append(s_row[lk[:, 0]])
        t_ids.append(t_row[lk[:, 1]])
    s = np.concatenate(s_ids) if s_ids else np.zeros(0, np.int64)
    t = np.concatenate(t_ids) if t_ids else np.zeros(0, np.int64)
    keep = (s >= 0) & (t >= 0)
    return scipy.sparse.csr_matrix((np.ones(int(keep.sum())), (t[keep], s[keep])), shape=(n_tgt, n_src))
