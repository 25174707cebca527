"""Inverted indexing for cross-lingual word vectors (Søgaard et al. 2015, "Inverted indexing for
cross-lingual NLP").

Learned from aligned documents alone (Wikipedia articles about the same
concept in the paper; here any line-aligned pair of documents: help pages,
Bible chapters or verses, paragraphs). A word is represented by the aligned
documents it occurs in: the inverted index is one matrix with a row per word
of either language and a column per aligned document pair, so the columns are
shared across languages and a word and its translation, which occur in the
same documents, get similar rows. The index is then reduced to
``vector_size`` dimensions.

Reduction. The paper reduced the index by word2vec-style training with the
documents in the role of contexts. Here the reduction is its closed-form
counterpart: a truncated SVD of the PPMI-weighted word × document matrix,
``PPMI ≈ U Σ Vᵀ``, word vectors ``U Σ^eig``. Skip-gram with negative sampling
factorises the (shifted) PMI matrix of its word-context pairs implicitly
(Levy & Goldberg 2014), so the SVD targets the same statistics without
epochs, learning rates or sampling, and is deterministic but for ARPACK's
start vector; the PPMI weighting of sentence-id matrices is also the strong
baseline of Levy, Søgaard & Goldberg (2017). ``weighting="tfidf"`` uses
``count · log(n_documents / document frequency)`` instead (classic LSA).
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from xling._progress import emit, make_event
from xling.embeddings import Embeddings
from xling.exceptions import InputError, NotEnoughDataError
from xling.train._base import BaseJointTrainer
from xling.train._svd import SVD_ALGORITHMS, truncated_svd
from xling.train.bicvm import _check_no_monolingual, check_settings, encode_aligned
from xling.train.ppmi import ppmi_matrix

logger = logging.getLogger(__name__)

__all__ = ["InvertedIndex", "document_matrix", "truncated_svd", "WEIGHTINGS", "SVD_ALGORITHMS"]

WEIGHTINGS = ("ppmi", "tfidf")
def document_matrix(src, tgt, n_src: int, n_tgt: int) -> sp.csr_matrix:
    """The inverted index as counts: ``C[w, j]`` = occurrences of word ``w`` in aligned document pair ``j``.

    Parameters
    ----------
    src, tgt : Encoded
        The two sides of the aligned documents, local ids, the same number of documents.
    n_src, n_tgt : int
        Vocabulary sizes; target words are rows ``n_src ..``.

    Returns
    -------
    csr_matrix of shape (n_src + n_tgt, n_documents), float64
    """
    n_docs = src.n_sentences
    rows = np.concatenate([src.ids.numpy(), tgt.ids.numpy() + n_src])
    cols = np.concatenate([np.repeat(np.arange(n_docs), enc.lengths().numpy()) for enc in (src, tgt)])
    C = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_src + n_tgt, n_docs))  # duplicates summed
    C.sort_indices()
    return C


def _tfidf(C: sp.csr_matrix) -> sp.csr_matrix:
    df = np.diff(C.indptr)  # documents per word (C has no explicit zeros)
    idf = np.log(C.shape[1] / np.maximum(df, 1))
    out = sp.csr_matrix(sp.diags(idf) @ C)
    out.eliminate_zeros()
    return out


class InvertedIndex(BaseJointTrainer):
    """Cross-lingual word vectors from the documents each word occurs in (Søgaard et al. 2015).

    Trained on aligned documents alone (``fit(None, None, documents)``): an
    :class:`xling.ParallelCorpus` whose line ``j`` of each file is one
    document of aligned pair ``j``. See :mod:`xling.train.inverted_index` for
    the index and why its reduction is an SVD.

    Parameters
    ----------
    vector_size : int
        Number of singular triplets (the dimension); below both the number
        of words and the number of documents.
    min_count : int
        Drop words seen fewer times on their side of the documents.
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    weighting : {"ppmi", "tfidf"}
        Weight of a (word, document) count: positive PMI with the document
        distribution smoothed by ``context_smoothing``, or TF-IDF.
    context_smoothing : float
        Exponent of the document distribution in the PPMI (0.75, as word2vec's negatives).
    eig : float
        Exponent p of the singular values in ``U Σ^p`` (0.5, as Levy, Goldberg & Dagan 2015 advise).
    algorithm : {"randomized", "arpack"}
        The truncated SVD: a seeded randomised range finder (fast) or ARPACK (exact to
        ``tol``); see :func:`xling.train._svd.truncated_svd`.
    n_iter : int
        Power iterations of the randomised SVD.
    tol : float
        ARPACK's relative accuracy (0: machine precision).
    random_state : int, numpy Generator or None
        Seeds the randomised SVD (or ARPACK's start vector).
    callbacks : sequence of callables
        Called with one step event per phase (:mod:`xling._progress`).

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Float32, shape (n_words, vector_size).
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    singular_values_ : ndarray of shape (vector_size,)
        Decreasing.
    history_ : list of dict
        One step event per phase (``phase`` "vocabulary", "index", "weighting",
        "svds"), each with ``seconds`` and sizes; there is no iterative loss.
    n_documents_, n_documents_dropped_ : int
        Aligned documents indexed, and those dropped for a side with no in-vocabulary word.

    Examples
    --------
    >>> from xling.train import InvertedIndex
    >>> docs = [(["dog", "runs"], ["perro", "corre"]), (["cat", "sleeps"], ["gato", "duerme"]),
    ...         (["dog", "sleeps"], ["perro", "duerme"]), (["cat", "runs"], ["gato", "corre"])]
    >>> model = InvertedIndex(vector_size=2, random_state=0).fit(None, None, docs)
    >>> model.src_embeddings_.vectors.shape
    (4, 2)
    """

    supervision_kind = "documents"
    uses_monolingual = False
    _phases = ("vocabulary", "index", "weighting", "svds")

    def __init__(
        self,
        vector_size: int = 300,
        min_count: int = 2,
        max_vocab_size: int | None = None,
        weighting: str = "ppmi",
        context_smoothing: float = 0.75,
        eig: float = 0.5,
        algorithm: str = "randomized",
        n_iter: int = 10,
        tol: float = 1e-4,
        random_state=None,
        callbacks: Sequence = (),
    ):
        self.vector_size = vector_size
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.weighting = weighting
        self.context_smoothing = context_smoothing
        self.eig = eig
        self.algorithm = algorithm
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state
        self.callbacks = callbacks

    def _phase(self, name: str, start: float, progress: float, **sizes) -> None:
        emit(self, make_event(name, self._phases.index(name) + 1, len(self._phases), progress,
                              seconds=time.perf_counter() - start, **sizes))

    def fit(self, src_corpus: None, tgt_corpus: None,
            supervision: Iterable[tuple[Sequence[str], Sequence[str]]]) -> "InvertedIndex":
        """Index the aligned documents and reduce the index.

        Parameters
        ----------
        src_corpus, tgt_corpus : None
            The inverted index uses no monolingual text.
        supervision : ParallelCorpus
            Aligned documents, one document per line of each file (or any
            iterable of ``(source tokens, target tokens)`` document pairs).

        Returns
        -------
        self
        """
        check_settings(self, integers=("vector_size", "min_count"), positive=("context_smoothing",),
                       non_negative=("tol",))
        if self.algorithm not in SVD_ALGORITHMS:
            raise InputError(f"Expected algorithm in {SVD_ALGORITHMS}, got {self.algorithm!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, int) or self.n_iter < 0:
            raise InputError(f"Expected n_iter to be an integer >= 0, got {self.n_iter!r}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"Expected weighting in {WEIGHTINGS}, got {self.weighting!r}")
        if not np.isfinite(self.eig):
            raise InputError(f"Expected a finite eig exponent, got {self.eig!r}")
        _check_no_monolingual(self, src_corpus, tgt_corpus)
        self.history_ = []
        start = time.perf_counter()
        src_vocab, tgt_vocab, docs_src, docs_tgt, n_dropped = encode_aligned(
            supervision, what="document pair", min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        n_src, n_tgt, n_docs = len(src_vocab), len(tgt_vocab), docs_src.n_sentences
        self._phase("vocabulary", start, 0.3, n_words=n_src + n_tgt, n_documents=n_docs)
        d = int(self.vector_size)
        if d >= min(n_src + n_tgt, n_docs):
            raise NotEnoughDataError(f"Expected vector_size below the number of words ({n_src + n_tgt}) and of "
                                     f"aligned documents ({n_docs}), got vector_size={d}; lower it or give more "
                                     "documents")
        start = time.perf_counter()
        C = document_matrix(docs_src, docs_tgt, n_src, n_tgt)
        self._phase("index", start, 0.4, nnz=int(C.nnz))
        start = time.perf_counter()
        M = ppmi_matrix(C, context_smoothing=self.context_smoothing) if self.weighting == "ppmi" else _tfidf(C)
        if M.nnz == 0:
            raise NotEnoughDataError(f"Expected some positive {self.weighting} weights, got none (every word occurs "
                                     "in every document?)")
        self._phase("weighting", start, 0.5, nnz=int(M.nnz))
        logger.info("inverted index: %d + %d words x %d documents (%d dropped), %d %s entries",
                    n_src, n_tgt, n_docs, n_dropped, M.nnz, self.weighting)
        start = time.perf_counter()
        U, sigma, _ = truncated_svd(M, d, algorithm=self.algorithm, n_iter=self.n_iter,
                                  tol=self.tol, random_state=self.random_state)
        self._phase("svds", start, 1.0, top_singular_value=float(sigma[0]), last_singular_value=float(sigma[-1]))
        vectors = U * sigma ** self.eig
        self.src_vocabulary_, self.tgt_vocabulary_ = src_vocab, tgt_vocab
        self.src_embeddings_ = Embeddings(src_vocab.words, vectors[:n_src])
        self.tgt_embeddings_ = Embeddings(tgt_vocab.words, vectors[n_src:])
        self.singular_values_ = sigma
        self.n_documents_, self.n_documents_dropped_ = n_docs, n_dropped
        return self
