"""Co-occurrence counts, spectral (M*) embeddings and PPMI-SVD."""

from __future__ import annotations

import numpy as np
import pytest

from xling import Embeddings, LineCorpus, NotEnoughDataError
from xling.train import PPMISVD, TRAINERS, SpectralEmbedding, Vocabulary
from xling.train.cooccurrence import cooccurrence_matrix
from xling.train.ppmi import ppmi_matrix
from xling.train.spectral import target_matrix_sparse_part, target_operator


def _zipf_corpus(n_sentences: int = 300, n_types: int = 150, seed: int = 0) -> list[list[str]]:
    """Random sentences over a Zipf-like vocabulary with a little structure."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, n_types + 1)
    probs /= probs.sum()
    sentences = []
    for _ in range(n_sentences):
        length = int(rng.integers(1, 15))
        ids = rng.choice(n_types, size=length, p=probs)
        tokens = []
        for i in ids:
            tokens.append(f"w{i}")
            # Word 2k is often followed by 2k+1, so the counts are not independent.
            if i % 2 == 0 and rng.random() < 0.5:
                tokens.append(f"w{i + 1}")
        sentences.append(tokens)
    return sentences


def _brute_force_counts(sentences, vocab: Vocabulary, window: int, weighting: str) -> np.ndarray:
    n = len(vocab)
    C = np.zeros((n, n))
    for tokens in sentences:
        ids = [vocab.word_to_index[t] for t in tokens if t in vocab.word_to_index]
        for a in range(len(ids)):
            for b in range(len(ids)):
                d = abs(a - b)
                if 1 <= d <= window:
                    w = {"uniform": 1.0, "harmonic": 1.0 / d, "linear": (window - d + 1) / window}[weighting]
                    C[ids[a], ids[b]] += w
    return C


def _dense_target(C: np.ndarray) -> np.ndarray:
    """M*_ij = (P_ij - P_i P_j) / (½ (P_ij + P_i P_j)), straight from the definition."""
    P = C / C.sum()
    p = P.sum(axis=1)
    q = np.outer(p, p)
    return (P - q) / (0.5 * (P + q))


@pytest.mark.parametrize("weighting", ["uniform", "harmonic", "linear"])
@pytest.mark.parametrize("window", [1, 3])
def test_cooccurrence_equals_brute_force(weighting, window):
    sentences = _zipf_corpus(seed=window)
    # min_count=3 drops rare words, which must vanish before windowing (word2vec's rule).
    vocab = Vocabulary.build(sentences, min_count=3)
    assert len(vocab) < len({t for s in sentences for t in s})
    expected = _brute_force_counts(sentences, vocab, window, weighting)
    # A tiny chunk size forces many chunk reductions and sums.
    C = cooccurrence_matrix(sentences, vocab, window=window, weighting=weighting, chunk_tokens=37)
    np.testing.assert_allclose(C.toarray(), expected, rtol=1e-12, atol=1e-12)
    assert (C != C.T).nnz == 0
    assert C.has_sorted_indices


def test_cooccurrence_windows_do_not_cross_lines():
    sentences = [["a", "b"], ["c", "a"], ["b"]]
    vocab = Vocabulary.build(sentences, min_count=1)
    C = cooccurrence_matrix(sentences, vocab, window=5)
    dense = C.toarray()
    idx = vocab.word_to_index
    assert dense[idx["b"], idx["c"]] == 0 and dense[idx["c"], idx["b"]] == 0
    assert dense[idx["a"], idx["b"]] == 1 and dense[idx["a"], idx["c"]] == 1
    assert C.sum() == 4


def test_cooccurrence_rejects_bad_options():
    vocab = Vocabulary.build([["a", "b"]], min_count=1)
    with pytest.raises(ValueError, match="weighting"):
        cooccurrence_matrix([["a", "b"]], vocab, weighting="gaussian")
    with pytest.raises(ValueError, match="window"):
        cooccurrence_matrix([["a", "b"]], vocab, window=0)


def test_target_matrix_equals_dense_reference():
    sentences = _zipf_corpus()
    vocab = Vocabulary.build(sentences, min_count=2)
    C = cooccurrence_matrix(sentences, vocab, window=2)
    M = _dense_target(C.toarray())
    assert (M == -2).sum() > 0  # unobserved pairs exist, so the constant part matters
    S = target_matrix_sparse_part(C)
    np.testing.assert_allclose(S.toarray() - 2.0, M, atol=1e-12)
    op = target_operator(S)
    X = np.random.default_rng(1).standard_normal((len(vocab), 3))
    np.testing.assert_allclose(op.matmat(X), M @ X, atol=1e-10)
    np.testing.assert_allclose(op.matvec(X[:, 0]), M @ X[:, 0], atol=1e-10)


def test_spectral_eigenvectors_equal_dense_eigh():
    sentences = _zipf_corpus(n_sentences=500)
    model = SpectralEmbedding(vector_size=5, window=2, min_count=2, tol=0, random_state=0).fit(sentences)
    C = cooccurrence_matrix(sentences, model.vocabulary_, window=2, weighting="linear")
    values, vectors = np.linalg.eigh(_dense_target(C.toarray()))
    top_values, top_vectors = values[::-1][:5], vectors[:, ::-1][:, :5]
    assert (top_values > 0).all() and np.diff(top_values).min() < -1e-3  # distinct: vectors unique up to sign
    np.testing.assert_allclose(model.eigenvalues_, top_values, rtol=1e-8)
    W = model.embeddings_.vectors.astype(np.float64)
    expected = top_vectors * np.sqrt(top_values)
    signs = np.sign((W * expected).sum(axis=0))
    np.testing.assert_allclose(W, expected * signs, atol=1e-5)
    assert [h["phase"] for h in model.history_] == ["vocabulary", "cooccurrence", "target", "eigsh"]
    assert model.history_[-1]["max_residual"] < 1e-8


def test_ppmi_equals_dense_reference():
    sentences = _zipf_corpus()
    vocab = Vocabulary.build(sentences, min_count=2)
    C = cooccurrence_matrix(sentences, vocab, window=3).toarray()
    for alpha, k in [(1.0, 1.0), (0.75, 1.0), (0.75, 5.0)]:
        P = C / C.sum()
        pw = P.sum(axis=1)
        pc = C.sum(axis=0) ** alpha
        pc /= pc.sum()
        with np.errstate(divide="ignore"):
            expected = np.maximum(np.log(P / np.outer(pw, pc)) - np.log(k), 0.0)
        got = ppmi_matrix(C, context_smoothing=alpha, shift=k)
        np.testing.assert_allclose(got.toarray(), expected, atol=1e-12)
        assert (got.data > 0).all()


@pytest.mark.parametrize("eig,add_context", [(0.5, False), (1.0, True)])
def test_ppmi_svd_equals_dense_svd(eig, add_context):
    sentences = _zipf_corpus(n_sentences=500)
    model = PPMISVD(vector_size=4, window=2, min_count=2, eig=eig, add_context=add_context, tol=0,
                    random_state=0).fit(sentences)
    C = cooccurrence_matrix(sentences, model.vocabulary_, window=2, weighting="linear")
    U, s, Vt = np.linalg.svd(ppmi_matrix(C).toarray())
    expected = U[:, :4] * s[:4] ** eig
    if add_context:
        expected = expected + Vt[:4].T * s[:4] ** eig
    np.testing.assert_allclose(model.singular_values_, s[:4], rtol=1e-8)
    W = model.embeddings_.vectors.astype(np.float64)
    signs = np.sign((W * expected).sum(axis=0))
    np.testing.assert_allclose(W, expected * signs, atol=1e-5)


@pytest.mark.parametrize("name", ["spectral", "ppmi-svd"])
def test_registered_and_reproducible(name):
    cls = TRAINERS[name]
    sentences = _zipf_corpus(n_sentences=400)
    events = []
    a = cls(vector_size=6, window=3, min_count=2, random_state=7, callbacks=(events.append,)).fit(sentences)
    b = cls(vector_size=6, window=3, min_count=2, random_state=7).fit(sentences)
    assert isinstance(a.embeddings_, Embeddings)
    assert a.embeddings_.words == a.vocabulary_.words
    assert a.embeddings_.vectors.shape == (len(a.vocabulary_), 6)
    np.testing.assert_array_equal(a.embeddings_.vectors, b.embeddings_.vectors)
    assert events == a.history_ and [e["step"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["progress"] == 1.0
    assert all(h["seconds"] >= 0 for h in a.history_)


@pytest.mark.parametrize("cls", [SpectralEmbedding, PPMISVD])
def test_rejects_bad_input(cls):
    with pytest.raises(NotEnoughDataError, match="vector_size"):
        cls(vector_size=50, min_count=1).fit([["a", "b", "c"]])
    with pytest.raises(ValueError, match="weighting"):
        cls(weighting="flat", min_count=1).fit([["a", "b"]])
    with pytest.raises(TypeError, match="token lists"):
        cls(min_count=1).fit("a b c")


def _rank_of(emb: Embeddings, query: str, target: str) -> int:
    X = emb.vectors / np.maximum(np.linalg.norm(emb.vectors, axis=1, keepdims=True), 1e-12)
    scores = X @ X[emb.get_index(query)]
    scores[emb.get_index(query)] = -np.inf
    return int((scores > scores[emb.get_index(target)]).sum()) + 1


# Pairs a distributional model of 19th-century novels should place close together.
NEIGHBOUR_PAIRS = [("he", "she"), ("mother", "father"), ("two", "three"), ("monday", "saturday"),
                   ("june", "july"), ("said", "replied"), ("looked", "glanced"), ("brother", "sister")]


@pytest.mark.parametrize("cls", [SpectralEmbedding, PPMISVD])
def test_quality_on_real_text(shared_data, cls):
    corpus = LineCorpus(shared_data / "mono" / "en.txt.xz", max_lines=30_000)  # about 1.6M tokens
    model = cls(vector_size=100, window=5, min_count=20, random_state=0).fit(corpus)
    emb = model.embeddings_
    ranks = {pair: _rank_of(emb, *pair) for pair in NEIGHBOUR_PAIRS if pair[0] in emb and pair[1] in emb}
    assert len(ranks) >= 6, ranks
    hits = sum(rank <= 10 for rank in ranks.values())
    assert _rank_of(emb, "he", "she") <= 10, ranks
    assert hits >= len(ranks) - 2, ranks
