"""Bilingual bag-of-words autoencoder (Chandar et al. 2014, "An autoencoder approach to learning bilingual
word representations").

Learned from aligned sentence pairs alone. Each sentence is a binary bag of
words; a language's encoder maps a bag to the hidden representation

    φ(x) = sigmoid(a(x)),   a(x) = c + Σ_{w ∈ x} W_w

(``W`` the language's word matrix, ``c`` a hidden bias shared by both
languages), and each language's decoder reconstructs its bag from any hidden
representation, with the score of word ``w`` being ``s_w(φ) = W_w · φ + b_w``
(tied weights: the decoder of a language uses its encoder's matrix). The loss
of a pair ``(x, y)`` sums the four reconstructions, within and across the two
languages, and rewards correlated encodings over a minibatch (BAE-cr/corr)::

    ℓ(x | φ(x)) + ℓ(y | φ(y)) + ℓ(y | φ(x)) + ℓ(x | φ(y))  -  λ · corr(a(x), a(y))

where ``corr`` is the sum over hidden units of the Pearson correlation of
the pre-activations of the two sides across the batch. The word vectors are
the rows of ``W`` (the columns of the paper's encoder matrix).

Reconstruction. The paper's binary reconstruction error is a cross-entropy
over every word of the vocabulary, O(V) per bag, which it made affordable by
merging several sentences into one bag (BAE-cr) or by a tree-structured
decoder (BAE-tr). Here the binary cross-entropy is estimated with sampled
negatives (as in word2vec): each word of the bag is a positive, ``-log σ(s_w)``,
and ``negative`` words drawn per positive from the language's unigram^0.75
distribution are negatives, ``-log σ(-s_n)``. That costs O(|bag| · negative)
per bag whatever the vocabulary size, and keeps every word of the vocabulary
in the decoder; the alternative, a softmax over the few thousand most
frequent words, would leave the rarer words (those of the BLI test lexicons,
ranks 5,000 and beyond) with no reconstruction signal at all.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from xling._progress import emit, make_event
from xling._utils import check_random_state, resolve_device
from xling.embeddings import Embeddings
from xling.train._base import BaseJointTrainer
from xling.train._joint import _Negatives, _one_thread, gather_segments
from xling.train.bicvm import RowAdagrad, _batches, _check_no_monolingual, check_settings, encode_aligned

logger = logging.getLogger(__name__)

__all__ = ["BilingualAutoencoder", "batch_correlation"]


def batch_correlation(A: torch.Tensor, B: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Sum over columns of the Pearson correlation of ``A[:, j]`` and ``B[:, j]`` across rows.

    Parameters
    ----------
    A, B : Tensor of shape (b, d)

    Returns
    -------
    Tensor, scalar
        In ``[-d, d]``; a column with no variance contributes 0.

    Examples
    --------
    >>> A = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> round(float(batch_correlation(A, 2 * A)), 4)
    2.0
    """
    A = A - A.mean(0, keepdim=True)
    B = B - B.mean(0, keepdim=True)
    cov = (A * B).sum(0)
    return (cov / torch.sqrt((A * A).sum(0) * (B * B).sum(0) + eps)).sum()


def _bags(ids: torch.Tensor, seg: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary bags: each (sentence, word) once, as (ids, seg) sorted by sentence."""
    keys = torch.unique(seg * n_rows + ids)
    return keys % n_rows, keys // n_rows


def _reconstruction(h: torch.Tensor, pos_vec, pos_bias, pos_seg, neg_vec, neg_bias) -> torch.Tensor:
    """Sampled binary cross-entropy of the bags given the hidden rows ``h`` (summed).

    ``pos_vec`` (n, d) are the decoder rows of the bag's words, ``pos_seg`` their
    bag; ``neg_vec`` (n, k, d) the negatives drawn for each positive.
    """
    hp = h[pos_seg]
    pos = (hp * pos_vec).sum(1) + pos_bias
    neg = torch.bmm(neg_vec, hp.unsqueeze(2)).squeeze(2) + neg_bias
    return -F.logsigmoid(pos).sum() - F.logsigmoid(-neg).sum()


class BilingualAutoencoder(BaseJointTrainer):
    """Bilingual word vectors from a bag-of-words autoencoder with a correlation term (Chandar et al. 2014).

    Trained on aligned sentences alone (``fit(None, None, parallel)``); see
    :mod:`xling.train.bae` for the model and for the sampled reconstruction.
    Optimised by AdaGrad on the rows each batch touches (the reconstruction
    of a bag involves its words and their negatives only).

    Parameters
    ----------
    vector_size : int
        Number of hidden units, the dimension of the word vectors (the paper: 40).
    min_count : int
        Drop words seen fewer times on their side of the parallel corpus.
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative : int
        Negative words sampled per word of a bag, from the bag's language.
    corr_weight : float
        Weight ``λ`` of the correlation term (0 disables it: the plain BAE-cr).
    alpha : float
        AdaGrad's learning rate (in 2 epochs on 60k en-es pairs, CSLS P@1 21.4 / 38.7 / 36.4 at 0.05 / 0.2 / 0.5).
    batch_size : int
        Sentence pairs per step; the correlation is computed over a batch.
    epochs : int
        Passes over the parallel corpus.
    device : str or torch.device, optional
        ``None`` picks CUDA when present.
    random_state : int, numpy Generator or None
        Seeds the initialisation, the batches and the negatives.
    callbacks : sequence of callables
        Called with the events of :mod:`xling._progress`: progress events
        inside an epoch and each epoch's step event (the one appended to ``history_``).

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Rows of each language's encoder matrix, float32, shape (n_words, vector_size).
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    history_ : list of dict
        One step event per epoch (``phase`` "train"): ``loss`` (mean sampled
        reconstruction loss per pair, the four terms summed, before each
        batch's update), ``correlation`` (mean per-unit correlation of
        ``a(x)`` and ``a(y)`` over the epoch's batches, in [-1, 1]),
        ``pairs``, ``seconds``, ``pairs_per_sec``.
    n_parallel_pairs_, n_parallel_dropped_ : int
        Pairs trained on, and pairs dropped for a side with no in-vocabulary word.

    Examples
    --------
    >>> from xling.train import BilingualAutoencoder
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 10
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 10
    >>> model = BilingualAutoencoder(vector_size=8, batch_size=4, epochs=2, random_state=0)
    >>> model.fit(None, None, list(zip(en, es))).tgt_embeddings_.vectors.shape
    (5, 8)
    """

    supervision_kind = "parallel"
    uses_monolingual = False

    def __init__(
        self,
        vector_size: int = 40,
        min_count: int = 1,
        max_vocab_size: int | None = None,
        negative: int = 5,
        corr_weight: float = 1.0,
        alpha: float = 0.2,
        batch_size: int = 256,
        epochs: int = 5,
        device=None,
        random_state=None,
        callbacks: Sequence = (),
    ):
        self.vector_size = vector_size
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.negative = negative
        self.corr_weight = corr_weight
        self.alpha = alpha
        self.batch_size = batch_size
        self.epochs = epochs
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    def fit(self, src_corpus: None, tgt_corpus: None,
            supervision: Iterable[tuple[Sequence[str], Sequence[str]]]) -> "BilingualAutoencoder":
        """Train on aligned sentence pairs.

        Parameters
        ----------
        src_corpus, tgt_corpus : None
            The autoencoder uses no monolingual text.
        supervision : ParallelCorpus
            Aligned sentence pairs: an :class:`xling.ParallelCorpus`, or any
            iterable of ``(source tokens, target tokens)`` pairs.

        Returns
        -------
        self
        """
        check_settings(self, integers=("vector_size", "min_count", "negative", "batch_size", "epochs"),
                       positive=("alpha",), non_negative=("corr_weight",))
        _check_no_monolingual(self, src_corpus, tgt_corpus)
        device = resolve_device(self.device)
        src_vocab, tgt_vocab, par_src, par_tgt, n_dropped = encode_aligned(
            supervision, what="sentence pair", min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        n = par_src.n_sentences
        rng = check_random_state(self.random_state)
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(0, 2**63 - 1)))
        n_src, d = len(src_vocab), int(self.vector_size)
        n_rows = n_src + len(tgt_vocab)
        # word2vec's initialisation: small enough that the sigmoid starts in its linear range.
        W = (torch.rand(n_rows, d, generator=gen, device=device) - 0.5) / d
        bias = torch.zeros(n_rows, 1, device=device)
        hidden_bias = torch.zeros(1, d, device=device)
        optimizer = RowAdagrad([W, bias, hidden_bias], self.alpha)
        only_row = torch.zeros(1, dtype=torch.int64, device=device)
        negatives = [_Negatives(src_vocab, 0, device), _Negatives(tgt_vocab, n_src, device)]
        par_src, par_tgt = par_src.to(device), par_tgt.to(device, shift=n_src)
        logger.info("BilingualAutoencoder: %d + %d words, %d sentence pairs (%d dropped), %d hidden units",
                    n_src, len(tgt_vocab), n, n_dropped, d)
        self.history_ = []
        k = int(self.negative)
        for epoch in range(self.epochs):
            t0 = time.perf_counter()
            batches = _batches(n, self.batch_size, rng)
            report_every = max(1, len(batches) // 20)
            loss_sum, corr_sum, done = 0.0, 0.0, 0
            with _one_thread(device):
                for i, batch in enumerate(batches):
                    chosen = torch.from_numpy(batch).to(device)
                    b = chosen.numel()
                    sides = []
                    for lang, enc in enumerate((par_src, par_tgt)):
                        ids, seg = _bags(*gather_segments(enc, chosen), n_rows)
                        sides.append((ids, seg, negatives[lang].draw((ids.numel(), k), gen)))
                    touched = torch.cat([t for ids, _, neg in sides for t in (ids, neg.reshape(-1))])
                    rows, inverse = torch.unique(touched, return_inverse=True)
                    leaf_w, leaf_b = optimizer.gather(0, rows), optimizer.gather(1, rows)
                    leaf_c = optimizer.gather(2, only_row)
                    vec, bia = leaf_w[inverse], leaf_b[inverse, 0]
                    parts, start = [], 0
                    for ids, seg, neg in sides:
                        n_pos, n_neg = ids.numel(), neg.numel()
                        pos_vec, pos_bias = vec[start:start + n_pos], bia[start:start + n_pos]
                        neg_vec = vec[start + n_pos:start + n_pos + n_neg].reshape(n_pos, k, d)
                        neg_bias = bia[start + n_pos:start + n_pos + n_neg].reshape(n_pos, k)
                        start += n_pos + n_neg
                        pre = leaf_c + pos_vec.new_zeros(b, d).index_add(0, seg, pos_vec)  # a(x), (b, d)
                        parts.append((pre, pos_vec, pos_bias, seg, neg_vec, neg_bias))
                    hidden = [torch.sigmoid(p[0]) for p in parts]
                    # Each language's bags from both encodings: within and across languages.
                    recon = sum(_reconstruction(h, *part[1:]) for part in parts for h in hidden)
                    corr = batch_correlation(parts[0][0], parts[1][0]) if b > 1 else recon.new_zeros(())
                    loss = recon / b - self.corr_weight * corr
                    loss.backward()
                    for index, (r, leaf) in enumerate(((rows, leaf_w), (rows, leaf_b), (only_row, leaf_c))):
                        optimizer.step(index, r, leaf)
                    loss_sum += float(recon.detach())
                    corr_sum += float(corr.detach()) / d * b
                    done += b
                    if (i + 1) % report_every == 0 and i + 1 < len(batches):
                        emit(self, make_event("train", epoch + 1, self.epochs, (epoch + done / n) / self.epochs,
                                              partial=True, loss=loss_sum / done, correlation=corr_sum / done,
                                              pairs_per_sec=done / max(time.perf_counter() - t0, 1e-9)))
            seconds = time.perf_counter() - t0
            mean = loss_sum / n
            if not math.isfinite(mean):
                raise FloatingPointError(f"Loss became {mean} in epoch {epoch + 1}; lower alpha or corr_weight")
            record = make_event("train", epoch + 1, self.epochs, (epoch + 1) / self.epochs, loss=mean,
                                correlation=corr_sum / n, pairs=n, seconds=seconds,
                                pairs_per_sec=n / max(seconds, 1e-9))
            logger.info("epoch %d/%d: reconstruction loss %.4f a pair, correlation %.3f (%.1fs)",
                        epoch + 1, self.epochs, mean, record["correlation"], seconds)
            emit(self, record)
        vectors = W.cpu().numpy()
        self.src_vocabulary_, self.tgt_vocabulary_ = src_vocab, tgt_vocab
        self.src_embeddings_ = Embeddings(src_vocab.words, vectors[:n_src])
        self.tgt_embeddings_ = Embeddings(tgt_vocab.words, vectors[n_src:])
        self.n_parallel_pairs_, self.n_parallel_dropped_ = n, n_dropped
        return self
