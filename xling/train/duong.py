"""Dictionary-driven bilingual CBOW (Duong, Kanayama, Ma, Bird & Cohn 2016).

"Learning crosslingual word embeddings without bilingual corpora": CBOW with
negative sampling over the two monolingual corpora, one model, one
vocabulary holding the words of both languages. For every centre word that
has dictionary translations, the context also predicts one of them, chosen
on the fly as the one that best fits the context (the E-step of a hard EM:
``w̄ = argmax_{t ∈ dict(w)} u_t · h``, with ``h`` the mean input vector of
the context and ``u`` the output vectors); the SGD step that follows is the
M-step. The context thus predicts the centre word and its chosen translation::

    log σ(u_w · h) + log σ(u_w̄ · h) + Σ_k log σ(-u_{n_k} · h)

(negatives for each of the two predictions). Words of the two languages that
are predicted from the same contexts share output vectors' neighbourhoods,
and since a translation is picked by context, a polysemous word is tied to
the translation of the sense in use; rare words in the dictionary are tied to
their translations each time they occur (in a pseudo-bilingual corpus, a
rare word is replaced only as often as it occurs and half of those times).
The final vectors combine the input and output vectors (``combine="sum"``:
``v + u``, the paper's combination, which BLI favours; their regulariser
tying ``v`` to ``u`` during training is not implemented).

Implementation: pure PyTorch, batched (there is no compiled path): windows,
subsampling and the learning-rate schedule come from the word2vec torch
runner of :mod:`xling.train._word2vec`; an update holds ``batch_centres``
centre words, whose gradients are summed as in that runner (averaging a
repeated row's gradients instead, as the joint trainers do, stalled learning:
on a 120-word synthetic corpus held-out P@1 fell from 0.8 to 0.1; 8,192
centres an update diverged on real text). On the CPU it runs one thread by
default: its scattered ``index_add_`` updates were 14x faster on one thread
than on two on a busy 2-core machine (about 40-50k words/s, some 30x slower
than the compiled CBOW kernel).
The two corpora are interleaved sentence by sentence in proportion to their
sizes, so both languages see the whole learning-rate schedule.
"""

from __future__ import annotations

import logging
import math
import time
from types import SimpleNamespace
from typing import Iterable, Sequence

import numpy as np
import torch

from xling._progress import emit, make_event
from xling._utils import check_random_state, resolve_device, torch_generator
from xling.embeddings import Embeddings
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError
from xling.lexicon import Lexicon
from xling.train._base import BaseJointTrainer, check_corpus
from xling.train._word2vec import _TorchRunner, check_word2vec_params
from xling.train.vocab import EncodedCorpus, Vocabulary, alias_table, encode_corpus

logger = logging.getLogger(__name__)

__all__ = ["DictionaryCBOW", "COMBINATIONS", "interleave", "translation_candidates"]

#: The values of ``DictionaryCBOW(combine=...)``.
COMBINATIONS = ("sum", "input", "output")


def interleave(a: EncodedCorpus, b: EncodedCorpus, shift: int) -> EncodedCorpus:
    """The sentences of ``a`` and of ``b`` (ids + ``shift``) merged in proportion to their counts.

    Sentence ``k`` of a corpus of ``n`` sentences goes at position ``(k + 0.5) / n``,
    ties to ``a``.

    Examples
    --------
    >>> a = EncodedCorpus(np.array([0, 1, 2], np.int32), np.array([0, 1, 2, 3]))
    >>> b = EncodedCorpus(np.array([0, 0], np.int32), np.array([0, 2]))
    >>> interleave(a, b, 10).ids.tolist()
    [0, 1, 10, 10, 2]
    """
    la, lb = np.diff(a.offsets), np.diff(b.offsets)
    na, nb = len(la), len(lb)
    position = np.concatenate([(np.arange(na) + 0.5) / max(na, 1), (np.arange(nb) + 0.5) / max(nb, 1)])
    order = np.argsort(position, kind="stable")
    lengths = np.concatenate([la, lb])[order]
    starts = np.concatenate([a.offsets[:-1], b.offsets[:-1] + len(a.ids)])[order]
    ids = np.concatenate([a.ids.astype(np.int64), b.ids.astype(np.int64) + shift])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    index = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
    return EncodedCorpus(ids[index].astype(np.int32), offsets)


def translation_candidates(lexicon: Lexicon, src_vocab: Vocabulary, tgt_vocab: Vocabulary):
    """The in-vocabulary translations of every word of both vocabularies, as CSR arrays over mixed ids.

    Source word ``i`` is row ``i``, target word ``j`` row ``len(src_vocab) + j``.

    Returns
    -------
    offsets : ndarray of shape (n_src + n_tgt + 1,), int64
    candidates : ndarray of shape (n_entries,), int64
        Row ``r``'s translations are ``candidates[offsets[r]:offsets[r + 1]]`` (lexicon order).
    """
    shift = len(src_vocab)
    rows: list[list[int]] = [[] for _ in range(shift + len(tgt_vocab))]
    for s, t in lexicon:
        i, j = src_vocab.word_to_index.get(s), tgt_vocab.word_to_index.get(t)
        if i is not None and j is not None:
            rows[i].append(shift + j)
            rows[shift + j].append(i)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [c for r in rows for c in r]
    return offsets, np.array(flat, dtype=np.int64)


class _DictionaryRunner(_TorchRunner):
    """The word2vec torch runner with CBOW updates that also predict the chosen translation."""

    def __init__(self, trainer, encoded, syn0, syn1, keep, alias_prob, alias_idx, device, offsets, candidates):
        super().__init__(trainer, None, encoded, syn0, syn1, keep, alias_prob, alias_idx, device)
        self.cand_offsets = torch.from_numpy(offsets).to(device)
        self.candidates = torch.from_numpy(candidates).to(device)
        self.n_rows = syn0.shape[0]
        self.n_centres = self.n_translated = 0

    def _translate(self, hidden: torch.Tensor, targets: torch.Tensor):
        """E-step: for each centre with translations, the one whose output vector best fits its context."""
        n_cand = self.cand_offsets[targets + 1] - self.cand_offsets[targets]
        rows = torch.nonzero(n_cand > 0).flatten()
        if rows.numel() == 0:
            return rows, rows
        reps = n_cand[rows]
        owner = torch.repeat_interleave(torch.arange(rows.numel(), device=self.device), reps)
        first_of = torch.cumsum(reps, 0) - reps
        within = torch.arange(owner.numel(), device=self.device) - first_of[owner]
        cand = self.candidates[self.cand_offsets[targets[rows]][owner] + within]
        score = (self.syn1[cand] * hidden[rows][owner]).sum(1)
        best = torch.full((rows.numel(),), -math.inf, device=self.device, dtype=score.dtype)
        best = best.scatter_reduce(0, owner, score, "amax")
        # The first candidate reaching the best score (lexicon order breaks ties, e.g. at the start when u = 0).
        index = torch.where(score >= best[owner], torch.arange(owner.numel(), device=self.device), owner.numel())
        pick = torch.full((rows.numel(),), owner.numel(), device=self.device, dtype=index.dtype)
        pick = pick.scatter_reduce(0, owner, index, "amin")
        if bool((pick == owner.numel()).any()):  # a NaN score: the updates diverged
            raise FloatingPointError("Scores of translation candidates became NaN; lower alpha or batch_centres")
        return rows, cand[pick]

    def _predict(self, inputs: torch.Tensor, targets: torch.Tensor, alpha: float, gen):
        """Negative-sampling updates of the output rows, in place; returns the gradients of the inputs and the loss."""
        k = int(self.t.negative)
        negs = self._negatives((len(targets), k), gen)
        out_idx = torch.cat([targets[:, None], negs], dim=1)
        out = self.syn1[out_idx]
        f = torch.bmm(out, inputs[:, :, None]).squeeze(2)
        valid = torch.ones_like(f)
        valid[:, 1:] = (negs != targets[:, None]).to(f.dtype)
        labels = torch.zeros_like(f)
        labels[:, 0] = 1
        loss = (torch.nn.functional.softplus(torch.where(labels > 0, -f, f)) * valid).sum()
        g = (labels - torch.sigmoid(f)) * valid * alpha
        grad_in = torch.bmm(g[:, None, :], out).squeeze(1)
        flat = out_idx.reshape(-1)
        grad_out = (g[:, :, None] * inputs[:, None, :]).reshape(-1, inputs.shape[1])
        self.syn1.index_add_(0, flat, grad_out)
        return grad_in, loss

    def _cbow_step(self, centre, context, tok, alpha, gen, loss_sum) -> int:
        order = torch.argsort(centre, stable=True)
        centre, context = centre[order], context[order]
        n_pos, terms = len(tok), 0
        per_update = int(self.t.batch_centres)
        for s in range(0, n_pos, per_update):
            e = min(s + per_update, n_pos)
            lo, hi = torch.searchsorted(centre, torch.tensor([s, e], device=self.device)).tolist()
            if hi == lo:
                continue
            c_pos, x_words = centre[lo:hi] - s, tok[context[lo:hi]]
            count = torch.bincount(c_pos, minlength=e - s).to(self.syn0.dtype)
            has = count > 0
            hidden = torch.zeros(e - s, self.syn0.shape[1], device=self.device, dtype=self.syn0.dtype)
            hidden.index_add_(0, c_pos, self.syn0[x_words])
            hidden = hidden[has] / count[has, None]
            targets = tok[s:e][has]
            rows, chosen = self._translate(hidden, targets)
            grad, loss = self._predict(torch.cat([hidden, hidden[rows]]), torch.cat([targets, chosen]), alpha, gen)
            n = targets.numel()
            grad_h = grad[:n].index_add(0, rows, grad[n:])
            # Every context word gets the full gradient of the mean (word2vec.c).
            slot = torch.cumsum(has.to(torch.int64), 0) - 1
            self.syn0.index_add_(0, x_words, grad_h[slot[c_pos]])
            loss_sum += loss
            terms += n
            self.n_centres += n
            self.n_translated += rows.numel()
        return terms


class DictionaryCBOW(BaseJointTrainer):
    """Bilingual CBOW whose centre words also predict their best-fitting translation (Duong et al. 2016).

    Parameters
    ----------
    vector_size : int
        Dimension of the shared space.
    window : int
        Largest CBOW window (a random window ``1..window`` per word).
    min_count : int
        Drop words seen fewer times in their language's corpus.
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative : int
        Noise words per prediction, from the unigram^0.75 distribution of both languages together.
    sample : float
        Frequent-word subsampling threshold (0 disables), over both corpora together.
    alpha, min_alpha : float
        Learning rate (CBOW's usual 0.05), decayed linearly over the run.
    epochs : int
        Passes over the two corpora.
    combine : {"sum", "input", "output"}
        The vectors returned: input + output vectors (the paper's combination), or either alone.
    batch_words : int
        Tokens per block of windows.
    batch_centres : int
        Centre words per update (gradients summed; much larger updates diverge).
    workers : int
        PyTorch threads on the CPU (one is fastest on a busy machine: the updates are scattered row writes).
    device : str or torch.device, optional
        Where to train (None: CUDA when available).
    random_state : int, numpy Generator or None
        Seeds the initialisation, the windows, subsampling and negatives.
    callbacks : sequence of callable
        Receive the events of :mod:`xling._progress`.

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Combined vectors of each language's words, float32.
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    history_ : list of dict
        One step event per epoch: ``loss`` (mean negative-sampling loss per
        centre word, both predictions), ``translated`` (share of centre words
        that had a translation to predict), ``words``, ``seconds``, ``words_per_sec``.
    n_dictionary_words_ : int
        Words of either vocabulary with at least one in-vocabulary translation.

    Examples
    --------
    >>> from xling import Lexicon
    >>> from xling.train import DictionaryCBOW
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 20
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 20
    >>> lex = Lexicon([("dog", "perro"), ("cat", "gato")])
    >>> model = DictionaryCBOW(vector_size=8, min_count=1, epochs=1, random_state=0).fit(en, es, lex)
    >>> model.src_embeddings_.vectors.shape
    (5, 8)
    """

    supervision_kind = "lexicon"
    _cbow = True  # read by the word2vec torch runner

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        negative: int = 5,
        sample: float = 1e-3,
        alpha: float = 0.05,
        min_alpha: float = 0.0001,
        epochs: int = 5,
        combine: str = "sum",
        batch_words: int = 10000,
        batch_centres: int = 512,
        workers: int = 1,
        device=None,
        random_state=None,
        callbacks: Sequence = (),
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
        self.combine = combine
        self.batch_words = batch_words
        self.batch_centres = batch_centres
        self.workers = workers
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    def fit(self, src_corpus: Iterable[Sequence[str]], tgt_corpus: Iterable[Sequence[str]],
            supervision: Lexicon) -> "DictionaryCBOW":
        """Train on the two monolingual corpora through the dictionary.

        Parameters
        ----------
        src_corpus, tgt_corpus : iterable of list of str
            Token lists, e.g. :class:`xling.LineCorpus` (read once).
        supervision : Lexicon
            Source -> target translations (same case as the corpora); a word
            may have several, the context picks among them.

        Returns
        -------
        self
        """
        # The shared word2vec checks; this trainer has one path (torch) and no checkpoints.
        check_word2vec_params(SimpleNamespace(**self.get_params(deep=False), backend="torch", resume=False,
                                              checkpoint_dir=None))
        if self.combine not in COMBINATIONS:
            raise InputError(f"Expected combine in {COMBINATIONS}, got {self.combine!r}")
        b = self.batch_centres
        if not isinstance(b, int) or isinstance(b, bool) or b < 1:
            raise InputError(f"Expected batch_centres to be an integer >= 1, got {b!r}")
        if not isinstance(supervision, Lexicon):
            raise InputTypeError(f"Expected the supervision to be an xling.Lexicon, got {type(supervision).__name__}")
        if len(supervision) == 0:
            raise InputError("Expected a non-empty lexicon, got an empty one (nothing would connect the two languages)")
        check_corpus(src_corpus, "src_corpus")
        check_corpus(tgt_corpus, "tgt_corpus")
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)

        t0 = time.perf_counter()
        src_vocab, src_enc = encode_corpus(src_corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        tgt_vocab, tgt_enc = encode_corpus(tgt_corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        n_src = len(src_vocab)
        mixed = Vocabulary(src_vocab.words + tgt_vocab.words, np.concatenate([src_vocab.counts, tgt_vocab.counts]),
                           src_vocab.n_tokens + tgt_vocab.n_tokens)
        encoded = interleave(src_enc, tgt_enc, n_src)
        offsets, candidates = translation_candidates(supervision, src_vocab, tgt_vocab)
        n_dict = int((np.diff(offsets) > 0).sum())
        if n_dict == 0:
            raise NotEnoughDataError(f"Expected lexicon pairs with both words in the vocabularies, got none of "
                                     f"{len(supervision)} (min_count={self.min_count})")
        logger.info("DictionaryCBOW: %d + %d words (%d with a translation), %d + %d tokens (encoded in %.1fs) on %s",
                    n_src, len(tgt_vocab), n_dict, len(src_enc), len(tgt_enc), time.perf_counter() - t0, device)

        dim = int(self.vector_size)
        gen = torch_generator(rng)
        # word2vec's initialisation: inputs uniform in [-0.5, 0.5) / dim, outputs zero.
        syn0 = ((torch.rand(len(mixed), dim, generator=gen) - 0.5) / dim).to(device)
        syn1 = torch.zeros(len(mixed), dim, device=device)
        keep = mixed.keep_probabilities(self.sample)
        alias_prob, alias_idx = alias_table(mixed.negative_distribution(0.75))
        runner = _DictionaryRunner(self, encoded, syn0, syn1, keep, alias_prob, alias_idx, device, offsets, candidates)
        self.history_ = []
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(int(self.workers))
        try:
            for epoch in range(int(self.epochs)):
                emit(self, self._epoch(runner, len(encoded), rng, epoch))
        finally:
            torch.set_num_threads(threads)

        W, C = syn0.cpu().numpy(), syn1.cpu().numpy()
        vectors = {"sum": W + C, "input": W, "output": C}[self.combine]
        self.src_vocabulary_, self.tgt_vocabulary_ = src_vocab, tgt_vocab
        self.src_embeddings_ = Embeddings(src_vocab.words, vectors[:n_src])
        self.tgt_embeddings_ = Embeddings(tgt_vocab.words, vectors[n_src:])
        self.n_dictionary_words_ = n_dict
        return self

    def _epoch(self, runner: _DictionaryRunner, n: int, rng, epoch: int) -> dict:
        """One epoch with progress events; returns its step event (not yet emitted)."""
        total = max(n, 1) * self.epochs
        e0 = time.perf_counter()
        loss_sum, terms, words = 0.0, 0, 0
        runner.n_centres = runner.n_translated = 0
        for done, (l_sum, n_terms, n_words) in runner.epoch(epoch, total, rng):
            loss_sum, terms, words = loss_sum + l_sum, terms + n_terms, words + n_words
            elapsed = time.perf_counter() - e0
            emit(self, make_event("train", epoch + 1, self.epochs, (epoch * n + done) / total, partial=True,
                                  loss=loss_sum / max(terms, 1), words_per_sec=done / max(elapsed, 1e-9)))
        seconds = time.perf_counter() - e0
        loss = loss_sum / max(terms, 1)
        if not math.isfinite(loss):
            raise FloatingPointError(f"Loss became {loss} in epoch {epoch + 1}; lower alpha")
        translated = runner.n_translated / max(runner.n_centres, 1)
        logger.info("epoch %d/%d: loss %.4f, %.1f%% of centre words with a translation, %.0f words/s (%.1fs)",
                    epoch + 1, self.epochs, loss, 100 * translated, n / max(seconds, 1e-9), seconds)
        return make_event("train", epoch + 1, self.epochs, (epoch + 1) / self.epochs, loss=loss,
                          translated=translated, words=n, words_kept=words, seconds=seconds,
                          words_per_sec=n / max(seconds, 1e-9), backend="torch")
