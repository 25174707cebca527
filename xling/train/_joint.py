"""Machinery shared by the joint bilingual trainers (:class:`BilBOWA`, :class:`TransGram`).

Both languages live in one pair of matrices: rows ``0 .. V_src-1`` of the input
matrix ``W`` (and of the output matrix ``C``) belong to the source vocabulary,
rows ``V_src .. V_src+V_tgt-1`` to the target vocabulary ("global ids").

The monolingual skip-gram terms are trained by the word2vec machinery of
:mod:`xling.train._word2vec`, which also holds the hyperparameter checks, the
choice of path and the checkpoints (the compiled Hogwild kernel on the CPU,
batched PyTorch on CUDA or without the compiled extension), each language on its own row
block of ``W`` and ``C`` with its own negative-sampling table. The cross-lingual terms
are batched PyTorch updates on rows (``index_add_``) written without autograd.

An epoch interleaves the three streams: the two monolingual corpora advance
in chunks of about 1% of an epoch, the language that is behind going first,
and after each chunk the parallel pairs (shuffled, subsampled) are consumed up
to the same fraction of their pass, so the parallel objective is sampled
alongside the monolingual updates and one pass over the parallel corpus ends
with each monolingual epoch. Parallel pairs are always gathered and
subsampled as units (:func:`gather_segments`), so pair identity never depends
on how the work is split into batches.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import numbers
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from xling._progress import emit, make_event
from xling._utils import check_random_state, resolve_device
from xling.embeddings import Embeddings
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError
from xling.lexicon import Lexicon
from xling.train._base import BaseJointTrainer, check_corpus
from xling.train._word2vec import (_KernelRunner, _TorchRunner, check_word2vec_params, choose_backend,
                                   load_checkpoint, resume_key, save_checkpoint)
from xling.train.vocab import EncodedCorpus, Vocabulary, alias_table, encode_corpus

logger = logging.getLogger(__name__)

__all__ = ["Encoded", "encode_bilingual", "gather_segments", "parallel_pairs", "sgns_step", "JointTrainer"]

# Sentence pairs per cross-lingual batch, and predictions per skip-gram update:
# on the CPU temporaries beyond a few MB cost more than they save; a GPU wants
# large batches.
_PAIR_BATCH = {"cpu": 256, "cuda": 8192}
_MAX_PREDICTIONS = {"cpu": 4096, "cuda": 1 << 16}


@dataclass
class Encoded:
    """Sentences as one flat id tensor.

    Attributes
    ----------
    ids : Tensor of shape (n_tokens,), int64
    offsets : Tensor of shape (n_sentences + 1,), int64
        Sentence ``k`` is ``ids[offsets[k]:offsets[k + 1]]``.
    """

    ids: torch.Tensor
    offsets: torch.Tensor

    @property
    def n_sentences(self) -> int:
        return int(self.offsets.numel()) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.ids.numel())

    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def to(self, device, shift: int = 0) -> "Encoded":
        return Encoded(self.ids.to(device) + shift, self.offsets.to(device))

    def filter(self, keep: torch.Tensor) -> "Encoded":
        """Keep the tokens where ``keep`` is True; every sentence stays (possibly empty) in place."""
        sent = torch.repeat_interleave(torch.arange(self.n_sentences, device=self.ids.device), self.lengths())
        counts = torch.bincount(sent[keep], minlength=self.n_sentences)
        offsets = torch.zeros(self.n_sentences + 1, dtype=torch.int64, device=self.ids.device)
        torch.cumsum(counts, 0, out=offsets[1:])
        return Encoded(self.ids[keep], offsets)


def gather_segments(enc: Encoded, sentences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens of the chosen sentences, each tagged with its sentence's position in ``sentences``.

    Parameters
    ----------
    enc : Encoded
    sentences : Tensor of shape (b,), int64
        Sentence indices, in the order wanted.

    Returns
    -------
    ids : Tensor of shape (n,), int64
        The tokens of ``sentences[0]``, then of ``sentences[1]``, ...
    segment : Tensor of shape (n,), int64
        ``segment[k] = j`` when token ``k`` comes from ``sentences[j]``.

    Examples
    --------
    >>> enc = Encoded(torch.tensor([5, 6, 7, 8, 9]), torch.tensor([0, 2, 3, 5]))
    >>> ids, seg = gather_segments(enc, torch.tensor([2, 0]))
    >>> ids.tolist(), seg.tolist()
    ([8, 9, 5, 6], [0, 0, 1, 1])
    """
    starts = enc.offsets[sentences]
    lengths = enc.offsets[sentences + 1] - starts
    segment = torch.repeat_interleave(torch.arange(sentences.numel(), device=sentences.device), lengths)
    # Position inside its sentence = running index minus where its segment starts in the output.
    out_starts = torch.cumsum(lengths, 0) - lengths
    pos = torch.arange(segment.numel(), device=sentences.device) - out_starts[segment]
    return enc.ids[starts[segment] + pos], segment


class _Tagged:
    """The monolingual sentences of one language followed by its side of the parallel pairs."""

    def __init__(self, mono: Iterable[Sequence[str]], pairs: list, side: int):
        self.mono, self.pairs, self.side = mono, pairs, side

    def __iter__(self):
        return itertools.chain(self.mono, (p[self.side] for p in self.pairs))


def _encode_side(vocab: Vocabulary, sentences: list[Sequence[str]]) -> tuple[list[np.ndarray], np.ndarray]:
    encoded = [vocab.encode(list(s)).astype(np.int64) for s in sentences]
    return encoded, np.array([len(e) for e in encoded], dtype=np.int64)


def _to_encoded(parts: list[np.ndarray]) -> Encoded:
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return Encoded(torch.from_numpy(ids), torch.from_numpy(offsets))


def parallel_pairs(supervision) -> list[tuple[list[str], list[str]]]:
    """The sentence pairs of a parallel corpus, as lists, checked.

    Parameters
    ----------
    supervision : ParallelCorpus or iterable of (list of str, list of str)

    Returns
    -------
    list of (list of str, list of str)
        Copies: the caller's lists are never modified.

    Raises
    ------
    TypeError
        ``supervision`` is not an iterable of pairs of token lists (e.g. a
        :class:`xling.Lexicon`, meant for :class:`xling.train.PseudoBilingual`).
    """
    if isinstance(supervision, (str, bytes, Lexicon)) or not isinstance(supervision, Iterable):
        raise InputTypeError("Expected the supervision to be an xling.ParallelCorpus or an iterable of (source tokens, "
                        f"target tokens) pairs, got {type(supervision).__name__}")
    pairs = []
    for k, item in enumerate(supervision):
        sides = None if isinstance(item, (str, bytes)) else tuple(item) if isinstance(item, Iterable) else None
        if sides is None or len(sides) != 2 or any(isinstance(s, (str, bytes)) or not isinstance(s, Iterable)
                                                   for s in sides):
            raise InputTypeError(f"Expected parallel pair {k} to be (source tokens, target tokens), got {item!r:.80}")
        pairs.append((list(sides[0]), list(sides[1])))
    return pairs


def encode_bilingual(
    src_corpus: Iterable[Sequence[str]],
    tgt_corpus: Iterable[Sequence[str]],
    parallel: Iterable[tuple[Sequence[str], Sequence[str]]],
    *,
    min_count: int,
    max_vocab_size: int | None = None,
):
    """Vocabularies and encodings of two monolingual corpora and a parallel corpus.

    Each language's vocabulary counts its monolingual corpus plus its side of
    the parallel corpus, and its monolingual training stream is the same text
    (the parallel sentences are text of the language too). Parallel pairs with
    a side left empty once out-of-vocabulary words are dropped are removed as
    pairs (and counted), so sentence ``k`` of ``par_src`` always translates
    sentence ``k`` of ``par_tgt``.

    Returns
    -------
    src_vocab, tgt_vocab : Vocabulary
    src_mono, tgt_mono : EncodedCorpus
        Local ids, int32.
    par_src, par_tgt : Encoded
        Local ids, int64, the same number of sentences.
    n_dropped : int
        Parallel pairs dropped.
    """
    pairs = parallel_pairs(parallel)
    if not pairs:
        raise NotEnoughDataError("Expected at least one parallel sentence pair, got none")
    src_vocab, src_mono = encode_corpus(_Tagged(src_corpus, pairs, 0), min_count=min_count, max_vocab_size=max_vocab_size)
    tgt_vocab, tgt_mono = encode_corpus(_Tagged(tgt_corpus, pairs, 1), min_count=min_count, max_vocab_size=max_vocab_size)
    s_parts, s_len = _encode_side(src_vocab, [p[0] for p in pairs])
    t_parts, t_len = _encode_side(tgt_vocab, [p[1] for p in pairs])
    both = (s_len > 0) & (t_len > 0)
    n_dropped = int((~both).sum())
    if not both.any():
        raise NotEnoughDataError(
            f"Expected parallel pairs with in-vocabulary words on both sides, got none of {len(pairs)} "
            f"(min_count={min_count})"
        )
    keep = np.flatnonzero(both)
    par_src = _to_encoded([s_parts[i] for i in keep])
    par_tgt = _to_encoded([t_parts[i] for i in keep])
    logger.info("parallel: %d pairs (%d + %d tokens), %d dropped with a side fully out of vocabulary",
                par_src.n_sentences, par_src.n_tokens, par_tgt.n_tokens, n_dropped)
    return src_vocab, tgt_vocab, src_mono, tgt_mono, par_src, par_tgt, n_dropped


class _Negatives:
    """Unigram^0.75 negatives of one language from its alias table, shifted to global ids."""

    def __init__(self, vocab: Vocabulary, offset: int, device):
        prob, alias = alias_table(vocab.negative_distribution(0.75))
        self.prob = torch.from_numpy(prob).to(device)
        self.alias = torch.from_numpy(alias.astype(np.int64)).to(device) + offset
        self.index = torch.arange(len(prob), device=device) + offset
        self.device = device

    def draw(self, shape, generator: torch.Generator) -> torch.Tensor:
        i = torch.randint(0, self.prob.numel(), shape, device=self.device, generator=generator)
        u = torch.rand(shape, device=self.device, generator=generator)
        return torch.where(u < self.prob[i], self.index[i], self.alias[i])


def _row_scale(rows: torch.Tensor, n_rows: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    # A row repeated k times in a batch would take k summed gradients computed at
    # the same point. Cross-lingual batches repeat rows far more than windows do
    # (each word of a pair meets every word of the other side), and the 1/sqrt(k)
    # damping of the monolingual torch path still diverges there; a row takes the
    # mean of its gradients instead.
    return torch.bincount(rows, minlength=n_rows)[rows].to(dtype).reciprocal_().unsqueeze(1)


def sgns_step(W, C, centers, contexts, negatives, lr: float) -> float:
    """One SGD step of skip-gram with negative sampling on rows, in place.

    Loss per pair: ``-log σ(w·c) - Σ_k log σ(-w·n_k)`` with ``w = W[center]``,
    ``c = C[context]``, ``n_k = C[negative_k]``. All gradients are taken before
    any update; a row repeated in the batch moves by the mean of its gradients.

    Parameters
    ----------
    W, C : Tensor of shape (n_rows, dim)
        Input and output matrices.
    centers, contexts : Tensor of shape (b,), int64
    negatives : Tensor of shape (b, k), int64
    lr : float

    Returns
    -------
    float
        Summed loss before the update.
    """
    if centers.numel() == 0:
        return 0.0
    w = W[centers]
    out_idx = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (b, 1 + k)
    out = C[out_idx]  # (b, 1 + k, d)
    f = torch.bmm(out, w.unsqueeze(2)).squeeze(2)
    sign = torch.full_like(f, -1.0)
    sign[:, 0] = 1.0
    loss = -torch.nn.functional.logsigmoid(sign * f).sum()
    # d loss / d f = σ(f) - label
    g = torch.sigmoid(f)
    g[:, 0] -= 1.0
    grad_w = torch.bmm(g.unsqueeze(1), out).squeeze(1)
    grad_out = (g.unsqueeze(2) * w.unsqueeze(1)).reshape(-1, W.shape[1])
    flat = out_idx.reshape(-1)
    n_rows = W.shape[0]
    C.index_add_(0, flat, grad_out * _row_scale(flat, n_rows, W.dtype), alpha=-lr)
    W.index_add_(0, centers, grad_w * _row_scale(centers, n_rows, W.dtype), alpha=-lr)
    return float(loss)


@contextlib.contextmanager
def _one_thread(device: torch.device):
    """Run the small cross-lingual CPU ops on one thread.

    Their tensors are a few hundred KB: a parallel region costs more than it
    saves, and on a busy machine each one waits for a descheduled thread
    (measured: a 2,560-row index_add_ took 25 ms with 2 threads, 0.06 ms with 1).
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _seed(base: int, *key: int) -> int:
    return int(np.random.SeedSequence([base, *key]).generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))


class JointTrainer(BaseJointTrainer):
    """Hyperparameters and training loop shared by :class:`xling.train.BilBOWA` and :class:`xling.train.TransGram`.

    Subclasses define the cross-lingual update (:meth:`_cross_step`), the
    default of ``cross_weight`` (``_default_cross_weight``) and the checkpoint
    file name. See :class:`xling.train.BilBOWA` for the parameters.
    """

    _cbow = False  # read by the word2vec runners
    _checkpoint_name = "joint.pt"
    _default_cross_weight = 1.0
    # ``lambda_`` ended in "_", scikit-learn's mark of a fitted attribute, so that
    # check_is_fitted passed on an unfitted model; accepted for one release.
    _deprecated_params = {"lambda_": "cross_weight"}

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
        epochs: int = 5,
        batch_words: int = 10000,
        workers: int = 2,
        device=None,
        backend: str = "auto",
        random_state=None,
        callbacks: Sequence = (),
        checkpoint_dir=None,
        resume: bool = False,
        **deprecated,
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
        self.epochs = epochs
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self._take_deprecated(deprecated)

    def _cross_step(self, W, C, s_ids, s_seg, t_ids, t_seg, n_pairs, lr, generator) -> tuple[float, int]:
        """Cross-lingual update on a batch of pairs; returns (summed loss, number of loss terms)."""
        raise NotImplementedError  # pragma: no cover

    # -------------------------------------------------------------------- fit
    def fit(
        self,
        src_corpus: Iterable[Sequence[str]],
        tgt_corpus: Iterable[Sequence[str]],
        supervision: Iterable[tuple[Sequence[str], Sequence[str]]],
    ) -> "JointTrainer":
        """Train on two monolingual corpora and a sentence-aligned corpus.

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
        check_word2vec_params(self)
        weight = self._default_cross_weight if self.cross_weight is None else self.cross_weight
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not weight >= 0:
            raise InputError(f"Expected cross_weight >= 0 or None, got {self.cross_weight!r}")
        check_corpus(src_corpus, "src_corpus")
        check_corpus(tgt_corpus, "tgt_corpus")
        pairs = parallel_pairs(supervision)
        device = resolve_device(self.device)
        backend, module = choose_backend(self.backend, device)
        src_vocab, tgt_vocab, src_mono, tgt_mono, par_src, par_tgt, n_dropped = encode_bilingual(
            src_corpus, tgt_corpus, pairs, min_count=self.min_count, max_vocab_size=self.max_vocab_size
        )
        self._weight = float(weight)
        W = self._train([src_vocab, tgt_vocab], [src_mono, tgt_mono], par_src, par_tgt, device, backend, module)
        n_src = len(src_vocab)
        self.src_vocabulary_, self.tgt_vocabulary_ = src_vocab, tgt_vocab
        self.src_embeddings_ = Embeddings(src_vocab.words, W[:n_src])
        self.tgt_embeddings_ = Embeddings(tgt_vocab.words, W[n_src:])
        self.cross_weight_ = float(weight)
        self.n_parallel_pairs_ = par_src.n_sentences
        self.n_parallel_dropped_ = n_dropped
        self.backend_ = backend
        return self

    def _train(self, vocabs: list[Vocabulary], monos: list[EncodedCorpus], par_src: Encoded, par_tgt: Encoded,
               device, backend, module):
        d = int(self.vector_size)
        starts = [0, len(vocabs[0])]
        n_rows = starts[1] + len(vocabs[1])
        ckpt_path = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / self._checkpoint_name
        key = resume_key(self, vocabs, [len(m) for m in monos] + [par_src.n_sentences])
        state = load_checkpoint(ckpt_path, key) if self.resume else None
        if state is None:
            base_seed = int(check_random_state(self.random_state).integers(0, 2**63 - 1))
            gen = torch.Generator().manual_seed(_seed(base_seed, 0))
            # word2vec's initialisation: inputs uniform in [-0.5, 0.5) / dim, outputs zero.
            W = (torch.rand(n_rows, d, generator=gen) - 0.5) / d
            C = torch.zeros(n_rows, d)
            start_epoch, self.history_ = 0, []
        else:
            base_seed, W, C = int(state["seed"]), state["W"], state["C"]
            start_epoch, self.history_ = int(state["epoch"]), list(state["history"])
            logger.info("resuming from %s after epoch %d", ckpt_path, start_epoch)
        if backend == "torch":
            W, C = W.to(device), C.to(device)
        W, C = W.contiguous(), C.contiguous()

        runners, keeps = [], []
        for lang, (vocab, mono) in enumerate(zip(vocabs, monos)):
            rows = slice(starts[lang], starts[lang] + len(vocab))
            keep = vocab.keep_probabilities(self.sample)
            alias_prob, alias_idx = alias_table(vocab.negative_distribution(0.75))
            # Views on the language's row block: the runners update W and C in place.
            runners.append((_KernelRunner if backend == "kernel" else _TorchRunner)(
                self, module, mono, W[rows], C[rows], keep, alias_prob, alias_idx, device))
            keeps.append(torch.from_numpy(keep))
        keep_all = torch.cat(keeps).to(device)
        self._negatives = [_Negatives(v, s, device) for v, s in zip(vocabs, starts)]
        self._max_pairs = _MAX_PREDICTIONS.get(device.type, _MAX_PREDICTIONS["cuda"])
        par_src, par_tgt = par_src.to(device), par_tgt.to(device, shift=starts[1])
        pair_batch = _PAIR_BATCH.get(device.type, _PAIR_BATCH["cuda"])
        sizes = [max(len(m), 1) for m in monos]
        logger.info("%s: %d + %d words, %d + %d training tokens, %d parallel pairs; %s path on %s",
                    type(self).__name__, len(vocabs[0]), len(vocabs[1]), len(monos[0]), len(monos[1]),
                    par_src.n_sentences, backend, device)

        for epoch in range(start_epoch, self.epochs):
            t0 = time.perf_counter()
            gen = torch.Generator(device=device).manual_seed(_seed(base_seed, epoch + 1))
            rngs = [np.random.default_rng(_seed(base_seed, epoch + 1, lang + 1)) for lang in range(2)]
            iters = [r.epoch(epoch, sizes[i] * self.epochs, rngs[i]) for i, r in enumerate(runners)]
            # Subsample the parallel sides once per epoch; a pair whose side empties sits this epoch out.
            ps = par_src.filter(torch.rand(par_src.n_tokens, generator=gen, device=device) < keep_all[par_src.ids])
            pt = par_tgt.filter(torch.rand(par_tgt.n_tokens, generator=gen, device=device) < keep_all[par_tgt.ids])
            usable = torch.nonzero((ps.lengths() > 0) & (pt.lengths() > 0)).flatten()
            order = usable[torch.randperm(usable.numel(), generator=gen, device=device)]
            done, active = [0, 0], [0, 1]
            mono_loss = cross_loss = 0.0
            mono_terms = cross_terms = pairs_done = 0
            n_events = 0
            while active:
                lang = min(active, key=lambda i: done[i] / sizes[i])
                try:
                    done[lang], (l_sum, n_terms, _) = next(iters[lang])
                except StopIteration:
                    active.remove(lang)
                    continue
                mono_loss, mono_terms = mono_loss + l_sum, mono_terms + n_terms
                frac = sum(done) / sum(sizes)
                due = order.numel() if not active else int(frac * order.numel())
                lr = self.alpha - (self.alpha - self.min_alpha) * (epoch + frac) / self.epochs
                with _one_thread(device):
                    while pairs_done < due:
                        chosen = order[pairs_done:min(due, pairs_done + pair_batch)]
                        s_ids, s_seg = gather_segments(ps, chosen)
                        t_ids, t_seg = gather_segments(pt, chosen)
                        c_sum, c_terms = self._cross_step(W, C, s_ids, s_seg, t_ids, t_seg, chosen.numel(), lr, gen)
                        cross_loss, cross_terms = cross_loss + c_sum, cross_terms + c_terms
                        pairs_done += chosen.numel()
                elapsed = time.perf_counter() - t0
                if frac >= (n_events + 1) / 100 or not active:
                    n_events += 1
                    mono = mono_loss / max(mono_terms, 1)
                    emit(self, make_event("train", epoch + 1, self.epochs, (epoch + frac) / self.epochs, partial=True,
                                          loss=mono, mono_loss=mono, cross_loss=cross_loss / max(cross_terms, 1),
                                          words_per_sec=sum(done) / max(elapsed, 1e-9)))
            seconds = time.perf_counter() - t0
            mono, cross = mono_loss / max(mono_terms, 1), cross_loss / max(cross_terms, 1)
            if not (math.isfinite(mono) and math.isfinite(cross)):
                raise FloatingPointError(f"Loss became {mono} / {cross} in epoch {epoch + 1}; lower alpha or "
                                         "cross_weight")
            n_words = sum(len(m) for m in monos)
            record = make_event("train", epoch + 1, self.epochs, (epoch + 1) / self.epochs, loss=mono,
                                mono_loss=mono, cross_loss=cross, parallel_pairs=pairs_done, words=n_words,
                                seconds=seconds, words_per_sec=n_words / max(seconds, 1e-9), backend=backend)
            logger.info("epoch %d/%d: mono loss %.4f, cross-lingual loss %.4f, %.0f words/s (%.1fs)",
                        epoch + 1, self.epochs, mono, cross, record["words_per_sec"], seconds)
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, key, epoch + 1, [*self.history_, record], seed=base_seed,
                                W=W.detach().cpu().clone(), C=C.detach().cpu().clone())
            emit(self, record)
        return W.detach().cpu().numpy()
