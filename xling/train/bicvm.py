"""BiCVM: bilingual compositional vector models (Hermann & Blunsom 2014).

Learned from aligned sentence pairs alone. A sentence's vector is the sum of
its word vectors (the ADD composition), ``a = Σ_{w ∈ s} x_w``, and aligned
sentences ``(a, b)`` are pulled together while each source sentence is pushed
away from ``k`` non-aligned target sentences ``n_1 .. n_k`` by the
noise-contrastive hinge loss (the paper's Eq. 4–5)::

    E(a, b) = ||a - b||²
    J(θ) = Σ_{(a, b)} Σ_{i=1..k} max(0, m + E(a, b) - E(a, n_i)) + (λ/2) ||θ||²

minimised with AdaGrad. Every word of both languages has one vector (rows
``0 .. V_src-1`` of one matrix for the source words, the target words after
them); those vectors are the embeddings.

The helpers :func:`encode_aligned` and :class:`RowAdagrad` are shared with
:mod:`xling.train.bae` and :mod:`xling.train.inverted_index`.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from typing import Iterable, Sequence

import numpy as np
import torch

from xling._progress import emit, make_event
from xling._utils import check_random_state, resolve_device
from xling.embeddings import Embeddings
from xling.exceptions import InputError, NotEnoughDataError
from xling.train._base import BaseJointTrainer
from xling.train._joint import _one_thread, encode_bilingual, gather_segments, parallel_pairs

logger = logging.getLogger(__name__)

__all__ = ["BiCVM", "RowAdagrad", "encode_aligned", "bicvm_loss", "check_settings"]


def check_settings(est, *, integers: Sequence[str] = (), positive: Sequence[str] = (),
                   non_negative: Sequence[str] = ()) -> None:
    """Raise :class:`InputError` naming the first setting of ``est`` out of its range.

    ``integers`` must be ints >= 1, ``positive`` real numbers > 0, ``non_negative``
    real numbers >= 0; ``max_vocab_size`` (when ``est`` has it) None or an int >= 1.
    """
    for name in integers:
        value = getattr(est, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InputError(f"Expected {name} to be an integer >= 1, got {value!r}")
    for names, ok, what in ((positive, lambda v: v > 0, "> 0"), (non_negative, lambda v: v >= 0, ">= 0")):
        for name in names:
            value = getattr(est, name)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not (real and math.isfinite(value) and ok(value)):
                raise InputError(f"Expected {name} to be a number {what}, got {value!r}")
    limit = getattr(est, "max_vocab_size", None)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1):
        raise InputError(f"Expected max_vocab_size to be an integer >= 1 or None, got {limit!r}")


def encode_aligned(supervision, *, what: str, min_count: int, max_vocab_size: int | None = None):
    """Vocabularies of both sides of aligned pairs and the pairs encoded, checked.

    Parameters
    ----------
    supervision : ParallelCorpus or iterable of (list of str, list of str)
        Aligned sentence pairs or aligned documents.
    what : str
        What a pair is, for messages ("sentence pair", "document pair").
    min_count : int
        Words seen fewer times on their side are dropped.
    max_vocab_size : int, optional
        Then keep this many most frequent words per side.

    Returns
    -------
    src_vocab, tgt_vocab : Vocabulary
    src, tgt : Encoded
        Local ids, the same number of items: item ``k`` of ``src`` is aligned
        with item ``k`` of ``tgt``.
    n_dropped : int
        Pairs dropped because a side had no in-vocabulary word left.

    Raises
    ------
    TypeError
        ``supervision`` is not an iterable of pairs of token lists (e.g. a Lexicon).
    NotEnoughDataError
        No pair, or none with in-vocabulary words on both sides.
    """
    pairs = parallel_pairs(supervision)
    if not pairs:
        raise NotEnoughDataError(f"Expected at least one aligned {what}, got an empty corpus")
    # No monolingual text: each side's vocabulary is counted on its side of the pairs.
    src_vocab, tgt_vocab, _, _, src, tgt, n_dropped = encode_bilingual(
        [], [], pairs, min_count=min_count, max_vocab_size=max_vocab_size)
    return src_vocab, tgt_vocab, src, tgt, n_dropped


class RowAdagrad:
    """AdaGrad (Duchi, Hazan & Singer 2011) on the rows of parameter matrices that a batch touches.

    ``θ_r ← θ_r - lr · g_r / (sqrt(G_r) + eps)`` with ``G_r`` the running sum
    of squared gradients of row ``r``. Rows a batch does not touch keep their
    value and their accumulator, as in a sparse AdaGrad; an L2 term adds
    ``l2 · θ_r`` to the gradient of each touched row.

    Parameters
    ----------
    params : list of Tensor
        2-D parameter matrices (a 1-D bias is a matrix of one column), updated in place.
    lr : float
    l2 : float
    eps : float
    """

    def __init__(self, params: list[torch.Tensor], lr: float, l2: float = 0.0, eps: float = 1e-8):
        self.params = params
        self.sums = [torch.zeros_like(p) for p in params]
        self.lr, self.l2, self.eps = float(lr), float(l2), float(eps)

    def gather(self, index: int, rows: torch.Tensor) -> torch.Tensor:
        """A leaf copy of ``params[index][rows]`` to differentiate against (``rows`` unique)."""
        return self.params[index][rows].detach().clone().requires_grad_(True)

    def step(self, index: int, rows: torch.Tensor, leaf: torch.Tensor) -> None:
        """Apply the update of the rows ``rows`` from ``leaf.grad`` (the leaf from :meth:`gather`)."""
        if leaf.grad is None:
            return
        grad = leaf.grad
        if self.l2:
            grad = grad + self.l2 * leaf.detach()
        acc = self.sums[index]
        acc[rows] += grad * grad
        self.params[index][rows] -= self.lr * grad / (acc[rows].sqrt() + self.eps)


def _segment_sums(vectors: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Row ``j`` = sum of the rows of ``vectors`` whose ``segment`` is ``j``, shape (n, dim)."""
    return vectors.new_zeros(n, vectors.shape[1]).index_add(0, segment, vectors)


def bicvm_loss(src_vecs: torch.Tensor, tgt_vecs: torch.Tensor, noise: torch.Tensor, margin: float) -> torch.Tensor:
    """The noise-contrastive hinge loss of each pair, summed over its noise sentences.

    Parameters
    ----------
    src_vecs, tgt_vecs : Tensor of shape (b, dim)
        Composed vectors ``a_p`` and ``b_p`` of the aligned pairs.
    noise : Tensor of shape (b, k), int64
        For pair ``p``, the rows of ``tgt_vecs`` used as its noise sentences ``n_i``.
    margin : float
        ``m``.

    Returns
    -------
    Tensor of shape (b,)
        ``Σ_i max(0, m + ||a_p - b_p||² - ||a_p - b_{noise[p, i]}||²)``.

    Examples
    --------
    >>> a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    >>> b = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    >>> bicvm_loss(a, b, torch.tensor([[1], [0]]), margin=1.0).tolist()
    [0.0, 4.0]
    """
    return torch.relu(_hinge_terms(src_vecs, tgt_vecs, noise, margin)).sum(1)


def _hinge_terms(src_vecs, tgt_vecs, noise, margin: float) -> torch.Tensor:
    """``m + E(a_p, b_p) - E(a_p, n_i)`` for each pair and noise sentence, shape (b, k)."""
    positive = ((src_vecs - tgt_vecs) ** 2).sum(1)
    negative = ((src_vecs.unsqueeze(1) - tgt_vecs[noise]) ** 2).sum(2)
    return margin + positive.unsqueeze(1) - negative


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled split of ``range(n)`` into batches of ``batch_size`` or a little more (never fewer, when n allows)."""
    order = rng.permutation(n)
    return np.array_split(order, max(1, n // batch_size))


def _noise_in_batch(b: int, k: int, generator: torch.Generator, device) -> torch.Tensor:
    """For each of ``b`` pairs, ``k`` distinct other pairs of the batch, shape (b, k)."""
    offsets = torch.rand(b, b - 1, generator=generator, device=device).argsort(1)[:, :k] + 1
    return (torch.arange(b, device=device).unsqueeze(1) + offsets) % b


class BiCVM(BaseJointTrainer):
    """Bilingual word vectors from sentence pairs, composed by addition (Hermann & Blunsom 2014).

    Trained on aligned sentences alone (``fit(None, None, parallel)``). The
    noise sentences of a pair are ``negative`` other target sentences of its
    minibatch, drawn without replacement: the batches are a fresh shuffle of
    the corpus every epoch, so these are uniform draws of non-aligned
    sentences, as in the paper, whose composed vectors the batch has already
    computed. The regulariser is applied, as in a sparse AdaGrad, to the rows
    each batch touches (a dense update of every row at every step would cost
    a pass over the whole vocabulary per batch).

    Parameters
    ----------
    vector_size : int
        Dimension of the shared space (the paper: 128).
    min_count : int
        Drop words seen fewer times on their side of the parallel corpus.
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative : int
        Noise sentences ``k`` per aligned pair (the paper tried 1, 10 and 50);
        must be below ``batch_size``.
    margin : float, optional
        Hinge margin ``m``; ``None`` means ``vector_size`` (the paper's ``m = d``).
    l2 : float
        Weight ``λ`` of the L2 term ``(λ/2)||θ||²`` (the paper: 1), on the rows of each batch.
    alpha : float
        AdaGrad's learning rate (the paper: 0.05, over hundreds of epochs; in 3 epochs on 60k en-es pairs 0.2
        gave CSLS P@1 21.8 against 8.5 at 0.05 and 15.0 at 0.5).
    init_std : float
        Standard deviation of the Gaussian initialisation (the paper: variance 0.1).
    batch_size : int
        Sentence pairs per AdaGrad step.
    epochs : int
        Passes over the parallel corpus.
    device : str or torch.device, optional
        ``None`` picks CUDA when present.
    random_state : int, numpy Generator or None
        Seeds the initialisation, the batches and the noise sentences.
    callbacks : sequence of callables
        Called with the events of :mod:`xling._progress`: progress events
        inside an epoch and each epoch's step event (the one appended to ``history_``).

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Word vectors, float32, shape (n_words, vector_size).
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    history_ : list of dict
        One step event per epoch (``phase`` "train"): ``loss`` (mean hinge
        loss per pair, summed over its noise sentences, before each batch's
        update), ``violations`` (fraction of (pair, noise) terms inside the
        margin), ``pairs``, ``seconds``, ``pairs_per_sec``.
    margin_ : float
        The margin used.
    n_parallel_pairs_, n_parallel_dropped_ : int
        Pairs trained on, and pairs dropped for a side with no in-vocabulary word.

    Examples
    --------
    >>> from xling.train import BiCVM
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"], ["a", "bird", "sings"]] * 8
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"], ["un", "pájaro", "canta"]] * 8
    >>> model = BiCVM(vector_size=8, negative=2, batch_size=6, epochs=2, random_state=0)
    >>> model.fit(None, None, list(zip(en, es))).src_embeddings_.vectors.shape
    (8, 8)
    """

    supervision_kind = "parallel"
    uses_monolingual = False

    def __init__(
        self,
        vector_size: int = 128,
        min_count: int = 1,
        max_vocab_size: int | None = None,
        negative: int = 10,
        margin: float | None = None,
        l2: float = 1.0,
        alpha: float = 0.2,
        init_std: float = 0.1 ** 0.5,
        batch_size: int = 100,
        epochs: int = 5,
        device=None,
        random_state=None,
        callbacks: Sequence = (),
    ):
        self.vector_size = vector_size
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.negative = negative
        self.margin = margin
        self.l2 = l2
        self.alpha = alpha
        self.init_std = init_std
        self.batch_size = batch_size
        self.epochs = epochs
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    def fit(self, src_corpus: None, tgt_corpus: None,
            supervision: Iterable[tuple[Sequence[str], Sequence[str]]]) -> "BiCVM":
        """Train on aligned sentence pairs.

        Parameters
        ----------
        src_corpus, tgt_corpus : None
            BiCVM uses no monolingual text.
        supervision : ParallelCorpus
            Aligned sentence pairs: an :class:`xling.ParallelCorpus`, or any
            iterable of ``(source tokens, target tokens)`` pairs.

        Returns
        -------
        self
        """
        check_settings(self, integers=("vector_size", "min_count", "negative", "batch_size", "epochs"),
                       positive=("alpha", "init_std"), non_negative=("l2",))
        if self.margin is not None:
            check_settings(self, positive=("margin",))
        if self.negative >= self.batch_size:
            raise InputError(f"Expected negative < batch_size (the noise sentences of a pair are other pairs of its "
                             f"batch), got negative={self.negative}, batch_size={self.batch_size}")
        _check_no_monolingual(self, src_corpus, tgt_corpus)
        device = resolve_device(self.device)
        src_vocab, tgt_vocab, par_src, par_tgt, n_dropped = encode_aligned(
            supervision, what="sentence pair", min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        n = par_src.n_sentences
        if n <= self.negative:
            raise NotEnoughDataError(f"Expected more than negative={self.negative} usable sentence pairs (each needs "
                                     f"{self.negative} non-aligned ones), got {n}")
        margin = float(self.vector_size if self.margin is None else self.margin)
        rng = check_random_state(self.random_state)
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(0, 2**63 - 1)))
        n_src, d = len(src_vocab), int(self.vector_size)
        W = torch.randn(n_src + len(tgt_vocab), d, generator=gen, device=device) * float(self.init_std)
        optimizer = RowAdagrad([W], self.alpha, self.l2)
        par_src, par_tgt = par_src.to(device), par_tgt.to(device, shift=n_src)
        logger.info("BiCVM: %d + %d words, %d sentence pairs (%d dropped), margin %g, %d noise sentences a pair",
                    n_src, len(tgt_vocab), n, n_dropped, margin, self.negative)
        self.history_ = []
        for epoch in range(self.epochs):
            t0 = time.perf_counter()
            batches = _batches(n, self.batch_size, rng)
            report_every = max(1, len(batches) // 20)
            loss_sum, violated, done = 0.0, 0, 0
            with _one_thread(device):
                for i, batch in enumerate(batches):
                    chosen = torch.from_numpy(batch).to(device)
                    s_ids, s_seg = gather_segments(par_src, chosen)
                    t_ids, t_seg = gather_segments(par_tgt, chosen)
                    rows, inverse = torch.unique(torch.cat([s_ids, t_ids]), return_inverse=True)
                    leaf = optimizer.gather(0, rows)
                    vecs = leaf[inverse]
                    b = chosen.numel()
                    a = _segment_sums(vecs[: s_ids.numel()], s_seg, b)
                    t = _segment_sums(vecs[s_ids.numel():], t_seg, b)
                    noise = _noise_in_batch(b, self.negative, gen, device)
                    terms = _hinge_terms(a, t, noise, margin)
                    loss = torch.relu(terms).sum()
                    loss.backward()
                    optimizer.step(0, rows, leaf)
                    violated += int((terms > 0).sum())
                    loss_sum += float(loss.detach())
                    done += b
                    if (i + 1) % report_every == 0 and i + 1 < len(batches):
                        emit(self, make_event("train", epoch + 1, self.epochs, (epoch + done / n) / self.epochs,
                                              partial=True, loss=loss_sum / done,
                                              pairs_per_sec=done / max(time.perf_counter() - t0, 1e-9)))
            seconds = time.perf_counter() - t0
            mean = loss_sum / n
            if not math.isfinite(mean):
                raise FloatingPointError(f"Loss became {mean} in epoch {epoch + 1}; lower alpha")
            record = make_event("train", epoch + 1, self.epochs, (epoch + 1) / self.epochs, loss=mean,
                                violations=violated / (n * self.negative), pairs=n, seconds=seconds,
                                pairs_per_sec=n / max(seconds, 1e-9))
            logger.info("epoch %d/%d: hinge loss %.4f a pair, %.1f%% of noise terms inside the margin (%.1fs)",
                        epoch + 1, self.epochs, mean, 100 * record["violations"], seconds)
            emit(self, record)
        vectors = W.cpu().numpy()
        self.src_vocabulary_, self.tgt_vocabulary_ = src_vocab, tgt_vocab
        self.src_embeddings_ = Embeddings(src_vocab.words, vectors[:n_src])
        self.tgt_embeddings_ = Embeddings(tgt_vocab.words, vectors[n_src:])
        self.margin_ = margin
        self.n_parallel_pairs_, self.n_parallel_dropped_ = n, n_dropped
        return self


def _check_no_monolingual(est, src_corpus, tgt_corpus) -> None:
    """The methods trained on aligned text alone take ``None`` for both corpora (a corpus would be ignored)."""
    if src_corpus is not None or tgt_corpus is not None:
        raise InputError(f"Expected src_corpus=None and tgt_corpus=None ({type(est).__name__} learns from its "
                         f"{est.supervision_kind} alone), got a monolingual corpus")

