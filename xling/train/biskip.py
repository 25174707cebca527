"""BiSkip (Luong, Pham & Manning 2015, "Bilingual word representations with monolingual quality in mind").

Skip-gram with negative sampling on each language's monolingual text, plus
bilingual skip-gram terms on word-aligned sentence pairs: a source word
``s_i`` aligned to target position ``a(i)`` predicts the target words in the
window around ``a(i)`` (the aligned word included), and a target word ``t_j``
aligned to source position ``a'(j)`` predicts the source words around
``a'(j)``. The alignments come from :class:`xling.wordalign.WordAligner`
(EM, fast_align's Model 2 by default, symmetrised by grow-diag), or from the
monotonic rule ``a(i) = round(i·(m-1)/(n-1))`` that Luong et al. found nearly
as good (``alignment="diagonal"``).

How it sits on the joint machinery (:mod:`xling.train._joint`): each aligned
word becomes one *window pair*: its own word on one side, and on the other
side the words of the other sentence around its aligned position, ordered by
distance from it (aligned word first, then one left, one right, ...). The
window pairs go through the machinery's parallel stream as sentence pairs
(shuffled, subsampled per word, consumed alongside the monolingual text), and
:meth:`BiSkip._cross_step` makes the single word of a pair predict the first
``2r + 1`` surviving words of the other side, ``r`` drawn in ``1..window``
per pair: word2vec's dynamic window over the subsampled text. A window pair
whose centre is subsampled away sits the epoch out, as a subsampled centre
does in word2vec. A pair with a single word on both sides (a one-word
sentence, or a window subsampled down to one word) cannot say which side was
the centre and predicts both ways.

Words are aligned after out-of-vocabulary words (``min_count``) are dropped,
on the same sentences the model trains on.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from xling._progress import emit, make_event
from xling.exceptions import InputError
from xling.train._joint import Encoded, JointTrainer, sgns_step

logger = logging.getLogger(__name__)

__all__ = ["BiSkip", "ALIGNMENTS", "aligned_positions", "window_pairs"]

#: The values of ``BiSkip(alignment=...)`` (and of :class:`xling.train.AlignmentProjection`'s EM ones).
ALIGNMENTS = ("ibm2", "ibm1", "diagonal")


def _sentences(enc: Encoded) -> list[list[int]]:
    ids, offsets = enc.ids.tolist(), enc.offsets.tolist()
    return [ids[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def word_links(par_src: Encoded, par_tgt: Encoded, alignment: str, n_iter: int, callbacks=()) -> list[np.ndarray]:
    """The word alignment of each encoded sentence pair: (i, j) links, 0-based.

    ``alignment`` is ``"ibm2"`` or ``"ibm1"`` (:class:`xling.wordalign.WordAligner`,
    ``n_iter`` EM iterations a direction, grow-diag), or ``"diagonal"`` (each
    word of either side linked to ``round(k·(len_other-1)/(len-1))``).
    """
    from xling.wordalign import WordAligner, diagonal_links

    src, tgt = _sentences(par_src), _sentences(par_tgt)
    if alignment == "diagonal":
        return [np.unique(np.concatenate([diagonal_links(len(s), len(t)), diagonal_links(len(t), len(s))[:, ::-1]]),
                          axis=0) for s, t in zip(src, tgt)]
    pairs = list(zip(src, tgt))
    aligner = WordAligner(model=1 if alignment == "ibm1" else 2, n_iter=n_iter, symmetrize="grow-diag",
                          callbacks=callbacks)
    return aligner.fit(pairs).align(pairs)


def aligned_positions(links: list[np.ndarray], src_lengths: np.ndarray, tgt_lengths: np.ndarray):
    """For every token of either side, the position it is aligned to in the other sentence, or -1.

    A word with several links takes the rounded mean of their positions.

    Returns
    -------
    src_pos : ndarray of shape (Σ src_lengths,), int64
    tgt_pos : ndarray of shape (Σ tgt_lengths,), int64
    """
    out = []
    for side, lengths in ((0, src_lengths), (1, tgt_lengths)):
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        n_links = np.array([len(x) for x in links], dtype=np.int64)
        flat = np.concatenate(links).reshape(-1, 2) if len(links) else np.zeros((0, 2), np.int64)
        token = offsets[:-1].repeat(n_links) + flat[:, side]
        total = int(offsets[-1])
        count = np.bincount(token, minlength=total)
        summed = np.bincount(token, flat[:, 1 - side].astype(np.float64), minlength=total)
        pos = np.full(total, -1, dtype=np.int64)
        has = count > 0
        pos[has] = np.floor(summed[has] / count[has] + 0.5).astype(np.int64)
        out.append(pos)
    return out[0], out[1]


def _windows(centre_pos: np.ndarray, other_offsets: np.ndarray, pair_of_centre: np.ndarray, window: int):
    """Flat indices into the other side of the words around each centre's aligned position, nearest first."""
    d = np.array([0] + [s * k for k in range(1, window + 1) for s in (-1, 1)], dtype=np.int64)
    start = other_offsets[pair_of_centre]
    length = other_offsets[pair_of_centre + 1] - start
    pos = centre_pos[:, None] + d[None, :]
    valid = (pos >= 0) & (pos < length[:, None])
    return (start[:, None] + pos)[valid], valid.sum(1)


def window_pairs(par_src: Encoded, par_tgt: Encoded, links: list[np.ndarray], window: int) -> tuple[Encoded, Encoded]:
    """The window pairs of BiSkip (see the module docstring).

    Parameters
    ----------
    par_src, par_tgt : Encoded
        Sentence pairs (local ids), the same number of sentences.
    links : list of ndarray of shape (k, 2)
        The (source position, target position) links of each pair.
    window : int

    Returns
    -------
    src, tgt : Encoded
        One "sentence" per aligned word: first every aligned source word
        (``src`` side: the word; ``tgt`` side: its window), then every aligned
        target word (``src`` side: its window; ``tgt`` side: the word).

    Examples
    --------
    >>> s = Encoded(torch.tensor([1, 2, 3]), torch.tensor([0, 3]))
    >>> t = Encoded(torch.tensor([7, 8, 9]), torch.tensor([0, 3]))
    >>> src, tgt = window_pairs(s, t, [np.array([[0, 0], [2, 2]])], window=1)
    >>> [src.ids[a:b].tolist() for a, b in zip(src.offsets[:-1], src.offsets[1:])]
    [[1], [3], [1, 2], [3, 2]]
    >>> [tgt.ids[a:b].tolist() for a, b in zip(tgt.offsets[:-1], tgt.offsets[1:])]
    [[7, 8], [9, 8], [7], [9]]
    """
    s_ids, t_ids = par_src.ids.numpy(), par_tgt.ids.numpy()
    s_off, t_off = par_src.offsets.numpy(), par_tgt.offsets.numpy()
    s_pos, t_pos = aligned_positions(links, np.diff(s_off), np.diff(t_off))
    parts = []
    for centre_ids, pos, own_off, other_ids, other_off in ((s_ids, s_pos, s_off, t_ids, t_off),
                                                            (t_ids, t_pos, t_off, s_ids, s_off)):
        tokens = np.flatnonzero(pos >= 0)
        pair = np.searchsorted(own_off, tokens, side="right") - 1
        flat, lengths = _windows(pos[tokens], other_off, pair, window)
        parts.append((centre_ids[tokens], other_ids[flat], lengths))
    (sc, tw, tw_len), (tc, sw, sw_len) = parts

    def encoded(ids_a, len_a, ids_b, len_b) -> Encoded:
        lengths = np.concatenate([len_a, len_b]).astype(np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Encoded(torch.from_numpy(np.concatenate([ids_a, ids_b]).astype(np.int64)), torch.from_numpy(offsets))

    ones_s, ones_t = np.ones(len(sc), np.int64), np.ones(len(tc), np.int64)
    return encoded(sc, ones_s, sw, sw_len), encoded(tw, tw_len, tc, ones_t)


class BiSkip(JointTrainer):
    """BiSkip bilingual word embeddings (Luong, Pham & Manning 2015).

    Parameters
    ----------
    vector_size : int
        Dimension of both spaces.
    window : int
        Largest window, monolingual and around an aligned word (a random window ``1..window`` per word).
    min_count : int
        Drop words seen fewer times in their language (monolingual text plus its parallel side).
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative : int
        Noise words per prediction, drawn from the language of the predicted word.
    sample : float
        Frequent-word subsampling threshold (0 disables); applies to the aligned windows too.
    alpha, min_alpha : float
        Learning rate, decayed linearly over the run.
    cross_weight : float, optional
        Weight ``λ`` of the bilingual terms (``None``: 10): their updates use
        learning rate ``λ · lr`` (a word repeated in a batch moves by the mean
        of its gradients, which λ > 1 makes up for, as in
        :class:`xling.train.TransGram`). ``0`` gives two unrelated monolingual models.
    alignment : {"ibm2", "ibm1", "diagonal"}
        Where the links come from: EM word alignment (fast_align's Model 2 or
        IBM Model 1, both directions, grow-diag), or the monotonic rule.
    align_iter : int
        EM iterations per direction of the word alignment.
    epochs : int
        Passes over the monolingual corpora, each with one pass over the aligned words.
    batch_words, workers, device, backend, random_state, callbacks, checkpoint_dir, resume
        As in :class:`xling.train.BilBOWA` (the checkpoint is ``biskip.pt``).

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Input vectors, float32, shape (n_words, vector_size).
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    history_ : list of dict
        One step event per epoch, as in :class:`xling.train.BilBOWA`
        (``cross_loss`` is the mean loss per bilingual prediction). The word
        alignment is reported to the callbacks as progress events (phase "align").
    n_links_ : int
        Alignment links over the parallel pairs.
    n_window_pairs_ : int
        Aligned words of both sides, each with its window.
    cross_weight_ : float
    n_parallel_pairs_, n_parallel_dropped_ : int
    backend_ : str

    Examples
    --------
    >>> from xling.train import BiSkip
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 20
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 20
    >>> model = BiSkip(vector_size=8, min_count=1, epochs=1, random_state=0)
    >>> model.fit(en, es, list(zip(en, es))).tgt_embeddings_.vectors.shape
    (5, 8)
    """

    _checkpoint_name = "biskip.pt"
    _default_cross_weight = 10.0
    _deprecated_params: dict = {}

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
        cross_weight: float | None = None,
        alignment: str = "ibm2",
        align_iter: int = 5,
        epochs: int = 5,
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
        self.cross_weight = cross_weight
        self.alignment = alignment
        self.align_iter = align_iter
        self.epochs = epochs
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    def fit(self, src_corpus, tgt_corpus, supervision) -> "BiSkip":
        """Train on two monolingual corpora and a sentence-aligned corpus (aligned by words inside).

        Parameters
        ----------
        src_corpus, tgt_corpus : iterable of list of str
            Token lists, e.g. :class:`xling.LineCorpus` (restartable: read twice).
        supervision : ParallelCorpus
            Aligned sentence pairs: an :class:`xling.ParallelCorpus`, or any
            iterable of ``(source tokens, target tokens)`` pairs.

        Returns
        -------
        self
        """
        if self.alignment not in ALIGNMENTS:
            raise InputError(f"Expected alignment in {ALIGNMENTS}, got {self.alignment!r}")
        if not isinstance(self.align_iter, int) or isinstance(self.align_iter, bool) or self.align_iter < 1:
            raise InputError(f"Expected align_iter to be an integer >= 1, got {self.align_iter!r}")
        return super().fit(src_corpus, tgt_corpus, supervision)

    def _train(self, vocabs, monos, par_src, par_tgt, device, backend, module):
        # Alignment progress is reported inside the first epoch's step (none on resume: the step is not known yet).
        relay = () if self.resume else (
            lambda e: emit(self, make_event("align", 1, self.epochs, 0.0, partial=True,
                                            align_step=e["step"], align_steps=e["total"],
                                            **({"log_likelihood_per_word": e["log_likelihood_per_word"]}
                                               if "log_likelihood_per_word" in e else {"chunks_done": e.get(
                                                   "chunks_done", 0)}))),)
        links = word_links(par_src, par_tgt, self.alignment, int(self.align_iter), callbacks=relay)
        win_src, win_tgt = window_pairs(par_src, par_tgt, links, int(self.window))
        self.n_links_ = int(sum(len(x) for x in links))
        self.n_window_pairs_ = win_src.n_sentences
        logger.info("BiSkip: %d alignment links (%s), %d window pairs", self.n_links_, self.alignment,
                    self.n_window_pairs_)
        return super()._train(vocabs, monos, win_src, win_tgt, device, backend, module)

    def _cross_step(self, W, C, s_ids, s_seg, t_ids, t_seg, n_pairs, lr, generator):
        if self._weight == 0:
            return 0.0, 0
        device = s_ids.device
        s_len = torch.bincount(s_seg, minlength=n_pairs)
        t_len = torch.bincount(t_seg, minlength=n_pairs)
        s_start, t_start = torch.cumsum(s_len, 0) - s_len, torch.cumsum(t_len, 0) - t_len
        # word2vec's dynamic window: the aligned word and about r words either side of it.
        limit = 2 * torch.randint(1, int(self.window) + 1, (n_pairs,), device=device, generator=generator) + 1
        t_rank = torch.arange(t_ids.numel(), device=device) - t_start[t_seg]
        s_rank = torch.arange(s_ids.numel(), device=device) - s_start[s_seg]
        # A source word alone on its side predicts the target words of its window, and the other way round.
        pick_t = (s_len == 1)[t_seg] & (t_rank < limit[t_seg])
        pick_s = (t_len == 1)[s_seg] & (s_rank < limit[s_seg])
        neg_src, neg_tgt = self._negatives
        lr = lr * self._weight
        loss, terms = 0.0, 0
        for centres, contexts, noise in ((s_ids[s_start[t_seg[pick_t]]], t_ids[pick_t], neg_tgt),
                                         (t_ids[t_start[s_seg[pick_s]]], s_ids[pick_s], neg_src)):
            for a in range(0, centres.numel(), self._max_pairs):
                c, x = centres[a:a + self._max_pairs], contexts[a:a + self._max_pairs]
                loss += sgns_step(W, C, c, x, noise.draw((c.numel(), int(self.negative)), generator), lr)
            terms += centres.numel()
        return loss, terms
