"""Translation-invariant LSA (Gardner et al. 2015, "Translation invariant word embeddings").

Learned from monolingual text plus a bilingual dictionary. ``X`` is the joint
word × context matrix of both languages: rows and columns run over the source
words then the target words, and the two languages' monolingual PPMI
co-occurrence matrices sit on its diagonal blocks (monolingual text has no
cross-language co-occurrences). ``D`` is the dictionary matrix: ``D[i, j] > 0``
when word ``j`` (of the other language) translates word ``i``. Embeddings
invariant under translation should factorise ``X`` as well as its
translations on either side, ``DX`` (rows replaced by their translations'),
``XDᵀ`` (contexts translated) and ``DXDᵀ``; the rank-``k`` ``U Σ Vᵀ`` that
minimises

    ||X - UΣVᵀ||² + ||DX - UΣVᵀ||² + ||XDᵀ - UΣVᵀ||² + ||DXDᵀ - UΣVᵀ||²

is the truncated SVD of their mean, ``(X + DX + XDᵀ + DXDᵀ) / 4 =
(I + D) X (I + D)ᵀ / 4`` (the paper's closed form), and the word vectors are
``U Σ^eig``. The product is never formed: ARPACK only needs ``M v`` and
``Mᵀ v``, three sparse products each.

Each row of ``D`` is normalised to sum to 1, so a word with several
translations is mixed with their mean rather than their sum (a word with ten
translations would otherwise outweigh its own row tenfold).
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from xling._progress import emit, make_event
from xling.embeddings import Embeddings
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError
from xling.lexicon import Lexicon
from xling.train._base import BaseJointTrainer, check_corpus
from xling.train.bicvm import check_settings
from xling.train.cooccurrence import WEIGHTINGS, cooccurrence_matrix
from xling.train.inverted_index import SVD_ALGORITHMS, truncated_svd
from xling.train.ppmi import ppmi_matrix
from xling.train.vocab import Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["TranslationInvariantLSA", "dictionary_matrix", "invariant_operator"]


def dictionary_matrix(lexicon: Lexicon, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> tuple[sp.csr_matrix, int]:
    """The row-normalised dictionary matrix ``D`` over the joint vocabulary.

    Parameters
    ----------
    lexicon : Lexicon
        Source -> target translations; pairs with a word out of vocabulary are left out.
    src_vocab, tgt_vocab : Vocabulary
        Rows ``0 .. n_src-1`` are the source words, then the target words.

    Returns
    -------
    D : csr_matrix of shape (n, n), n = n_src + n_tgt
        ``D[s, n_src + t] = 1 / (translations of s)`` and
        ``D[n_src + t, s] = 1 / (translations of t)`` for each pair (s, t);
        the diagonal blocks are zero.
    n_pairs : int
        Lexicon pairs with both words in the vocabularies.

    Examples
    --------
    >>> v_en, v_es = Vocabulary(["dog", "cat"], [2, 1], 3), Vocabulary(["perro"], [1], 1)
    >>> D, n = dictionary_matrix(Lexicon([("dog", "perro"), ("cat", "perro")]), v_en, v_es)
    >>> D.toarray().tolist(), n
    ([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], 2)
    """
    n_src, n = len(src_vocab), len(src_vocab) + len(tgt_vocab)
    s_index, t_index = src_vocab.word_to_index, tgt_vocab.word_to_index
    pairs = np.array([(s_index[s], n_src + t_index[t]) for s, t in lexicon if s in s_index and t in t_index],
                     dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    D = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    D.data[:] = 1.0  # a pair listed twice counts once
    out_degree = np.maximum(np.diff(D.indptr), 1)
    D = sp.csr_matrix(sp.diags(1.0 / out_degree) @ D)
    D.sort_indices()
    return D, len(pairs)


def invariant_operator(X: sp.csr_matrix, D: sp.csr_matrix) -> sla.LinearOperator:
    """``M = (I + D) X (I + D)ᵀ = X + DX + XDᵀ + DXDᵀ`` as a LinearOperator (never formed).

    Parameters
    ----------
    X, D : sparse matrices of shape (n, n)

    Returns
    -------
    LinearOperator of shape (n, n)
        ``M v = A (X (Aᵀ v))`` and ``Mᵀ v = A (Xᵀ (Aᵀ v))`` with ``A = I + D``.
    """
    A = sp.csr_matrix(sp.identity(X.shape[0], format="csr") + D)
    At, Xt = A.T.tocsr(), X.T.tocsr()
    return sla.LinearOperator(X.shape, matvec=lambda v: A @ (X @ (At @ v)), rmatvec=lambda v: A @ (Xt @ (At @ v)),
                              matmat=lambda V: A @ (X @ (At @ V)), rmatmat=lambda V: A @ (Xt @ (At @ V)),
                              dtype=np.float64)


class TranslationInvariantLSA(BaseJointTrainer):
    """Cross-lingual word vectors from monolingual PPMI made invariant under a dictionary (Gardner et al. 2015).

    ``fit(src_corpus, tgt_corpus, lexicon)``: each language's windowed
    co-occurrences (:mod:`xling.train.cooccurrence`) are PPMI-weighted
    (:func:`xling.train.ppmi.ppmi_matrix`) and the truncated SVD of
    ``(I + D) X (I + D)ᵀ`` gives both languages' vectors in one space; see
    :mod:`xling.train.tilsa`.

    Parameters
    ----------
    vector_size : int
        Number of singular triplets (the dimension).
    window : int
        Largest distance between co-occurring words, on each side.
    min_count : int
        Ignore words seen fewer times in their language.
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    weighting : {"linear", "harmonic", "uniform"}
        Weight of a co-occurrence at distance d (see :mod:`xling.train.cooccurrence`).
    context_smoothing : float
        Exponent α of the context distribution in the PPMI (0.75).
    shift : float
        k of the PPMI's shift by log k (1 = no shift).
    eig : float
        Exponent p of the singular values in ``U Σ^p`` (0.5, as Levy, Goldberg & Dagan 2015 advise).
    algorithm : {"randomized", "arpack"}
        The truncated SVD: a seeded randomised range finder (fast) or ARPACK (exact to
        ``tol``); see :func:`xling.train.inverted_index.truncated_svd`.
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
    n_dictionary_pairs_ : int
        Lexicon pairs with both words in the vocabularies (the entries of ``D``).
    history_ : list of dict
        One step event per phase (``phase`` "vocabulary", "cooccurrence",
        "ppmi", "dictionary", "svds"), each with ``seconds`` and sizes; there
        is no iterative loss.

    Examples
    --------
    >>> from xling import Lexicon
    >>> from xling.train import TranslationInvariantLSA
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"], ["a", "dog", "sleeps"]] * 5
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"], ["un", "perro", "duerme"]] * 5
    >>> lex = Lexicon([("dog", "perro"), ("cat", "gato"), ("the", "el")])
    >>> model = TranslationInvariantLSA(vector_size=3, window=2, min_count=1, random_state=0).fit(en, es, lex)
    >>> model.tgt_embeddings_.vectors.shape
    (6, 3)
    """

    supervision_kind = "lexicon"
    uses_monolingual = True
    _phases = ("vocabulary", "cooccurrence", "ppmi", "dictionary", "svds")

    def __init__(
        self,
        vector_size: int = 300,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        weighting: str = "linear",
        context_smoothing: float = 0.75,
        shift: float = 1.0,
        eig: float = 0.5,
        algorithm: str = "randomized",
        n_iter: int = 10,
        tol: float = 1e-4,
        random_state=None,
        callbacks: Sequence = (),
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.weighting = weighting
        self.context_smoothing = context_smoothing
        self.shift = shift
        self.eig = eig
        self.algorithm = algorithm
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state
        self.callbacks = callbacks

    def _phase(self, name: str, start: float, progress: float, **sizes) -> None:
        emit(self, make_event(name, self._phases.index(name) + 1, len(self._phases), progress,
                              seconds=time.perf_counter() - start, **sizes))

    def fit(self, src_corpus: Iterable[Sequence[str]], tgt_corpus: Iterable[Sequence[str]],
            supervision: Lexicon) -> "TranslationInvariantLSA":
        """Count, weight, make translation-invariant and factorise.

        Parameters
        ----------
        src_corpus, tgt_corpus : iterable of list of str
            Monolingual text of each language, restartable (read twice), e.g. :class:`xling.LineCorpus`.
        supervision : Lexicon
            Source -> target translations (same case as the corpora).

        Returns
        -------
        self
        """
        check_settings(self, integers=("vector_size", "window", "min_count"),
                       positive=("context_smoothing",), non_negative=("tol",))
        if self.algorithm not in SVD_ALGORITHMS:
            raise InputError(f"Expected algorithm in {SVD_ALGORITHMS}, got {self.algorithm!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, int) or self.n_iter < 0:
            raise InputError(f"Expected n_iter to be an integer >= 0, got {self.n_iter!r}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"Expected weighting in {WEIGHTINGS}, got {self.weighting!r}")
        if not self.shift >= 1:
            raise InputError(f"Expected shift (the k of log k) >= 1, got {self.shift!r}")
        if not np.isfinite(self.eig):
            raise InputError(f"Expected a finite eig exponent, got {self.eig!r}")
        check_corpus(src_corpus, "src_corpus")
        check_corpus(tgt_corpus, "tgt_corpus")
        if not isinstance(supervision, Lexicon):
            raise InputTypeError(f"Expected the supervision to be an xling.Lexicon (TranslationInvariantLSA learns "
                                 f"from a dictionary), got {type(supervision).__name__}")
        if len(supervision) == 0:
            raise NotEnoughDataError("Expected a non-empty lexicon, got an empty one (nothing would connect the "
                                     "two languages)")
        self.history_ = []
        start = time.perf_counter()
        vocabs = [Vocabulary.build(c, min_count=self.min_count, max_vocab=self.max_vocab_size)
                  for c in (src_corpus, tgt_corpus)]
        n_src, n = len(vocabs[0]), len(vocabs[0]) + len(vocabs[1])
        self._phase("vocabulary", start, 0.15, n_words=n)
        d = int(self.vector_size)
        if d >= n:
            raise NotEnoughDataError(f"Expected a joint vocabulary larger than vector_size={d}, got {n} words; "
                                     "lower vector_size or min_count, or give more text")
        start = time.perf_counter()
        counts = [cooccurrence_matrix(c, v, window=self.window, weighting=self.weighting)
                  for c, v in zip((src_corpus, tgt_corpus), vocabs)]
        self._phase("cooccurrence", start, 0.4, nnz=int(sum(C.nnz for C in counts)))
        start = time.perf_counter()
        X = sp.block_diag([ppmi_matrix(C, context_smoothing=self.context_smoothing, shift=self.shift)
                           for C in counts], format="csr")
        self._phase("ppmi", start, 0.5, nnz=int(X.nnz))
        start = time.perf_counter()
        D, n_pairs = dictionary_matrix(supervision, *vocabs)
        if n_pairs == 0:
            raise NotEnoughDataError(f"Expected lexicon pairs with both words in the vocabularies, got none of "
                                     f"{supervision.n_pairs} (check the case of the lexicon and the corpora)")
        self._phase("dictionary", start, 0.55, dictionary_pairs=n_pairs)
        logger.info("TILSA: %d + %d words, %d PPMI entries, %d of %d lexicon pairs in vocabulary",
                    n_src, n - n_src, X.nnz, n_pairs, supervision.n_pairs)
        start = time.perf_counter()
        U, sigma, _ = truncated_svd(invariant_operator(X, D), d, algorithm=self.algorithm, n_iter=self.n_iter,
                                  tol=self.tol, random_state=self.random_state)
        self._phase("svds", start, 1.0, top_singular_value=float(sigma[0]), last_singular_value=float(sigma[-1]))
        vectors = U * sigma ** self.eig
        self.src_vocabulary_, self.tgt_vocabulary_ = vocabs
        self.src_embeddings_ = Embeddings(vocabs[0].words, vectors[:n_src])
        self.tgt_embeddings_ = Embeddings(vocabs[1].words, vectors[n_src:])
        self.singular_values_ = sigma
        self.n_dictionary_pairs_ = n_pairs
        return self
