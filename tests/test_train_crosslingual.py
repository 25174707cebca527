"""Cross-lingual training from aligned sentences, documents or a dictionary: BiCVM, the bilingual
autoencoder, the inverted index and translation-invariant LSA.

The synthetic languages share one grammar: a random sparse Markov chain over 100 word ids (each id has
6 possible successors with random weights), so every word has its own distribution of neighbours.
Language "a" writes id i as "a<i>", language "b" as "b<i>": "a<i>" translates "b<i>". Parallel pairs
are one walk written in both languages (the target side shuffled, so no word order links them);
monolingual texts are independent walks. Chance P@1 is 1/100.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from click.testing import CliRunner

from xling import Embeddings, Lexicon, ParallelCorpus
from xling.cli import cli
from xling.evaluate import bli
from xling.train import (JOINT_TRAINERS, PPMISVD, BiCVM, BilingualAutoencoder, InvertedIndex,
                         TranslationInvariantLSA, Vocabulary)
from xling.train.bae import batch_correlation
from xling.train.bicvm import bicvm_loss, encode_aligned
from xling.train.inverted_index import document_matrix, truncated_svd
from xling.train.tilsa import dictionary_matrix, invariant_operator

V = 100
LEXICON = Lexicon((f"a{i}", f"b{i}") for i in range(V))


def _grammar(seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    T = np.zeros((V, V))
    for i in range(V):
        T[i, g.choice(V, 6, replace=False)] = g.random(6) + 0.2
    return T / T.sum(1, keepdims=True)


GRAMMAR = _grammar()


def _walks(n: int, length: int, seed: int) -> list[list[int]]:
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w = int(r.integers(V))
        walk = [w]
        for _ in range(length - 1):
            w = int(r.choice(V, p=GRAMMAR[w]))
            walk.append(w)
        out.append(walk)
    return out


def _words(prefix: str, ids) -> list[str]:
    return [f"{prefix}{i}" for i in ids]


@pytest.fixture(scope="module")
def pairs() -> list[tuple[list[str], list[str]]]:
    """1,500 aligned sentence pairs of 8 words, the target side in a random order."""
    r = np.random.default_rng(100)
    return [(_words("a", w), _words("b", r.permutation(w))) for w in _walks(1500, 8, 0)]


@pytest.fixture(scope="module")
def documents(pairs):
    """300 aligned documents of 5 pairs each, 20% of the target tokens replaced by random words."""
    r = np.random.default_rng(5)
    docs = []
    for k in range(0, len(pairs), 5):
        src = [w for p in pairs[k:k + 5] for w in p[0]]
        tgt = [w if r.random() > 0.2 else f"b{r.integers(V)}" for p in pairs[k:k + 5] for w in p[1]]
        docs.append((src, tgt))
    return docs


def _p_at_1(model, lexicon=LEXICON, method="nn") -> float:
    result = bli(model.src_embeddings_, model.tgt_embeddings_, lexicon, method=method, ks=(1,))
    assert result["n_queries"] == len(lexicon)  # every test word is in the vocabularies
    return result["p@1"]


def _misaligned(items):
    """The same sides, each source paired with another item's target: no cross-lingual signal left."""
    n = len(items)
    return [(items[i][0], items[(i + n // 2) % n][1]) for i in range(n)]


def test_registry_names_the_crosslingual_methods():
    assert {name: JOINT_TRAINERS[name] for name in ("bicvm", "bae", "inverted-index", "tilsa")} == {
        "bicvm": BiCVM, "bae": BilingualAutoencoder, "inverted-index": InvertedIndex,
        "tilsa": TranslationInvariantLSA}
    assert [JOINT_TRAINERS[n].supervision_kind for n in ("bicvm", "bae", "inverted-index", "tilsa")] == [
        "parallel", "parallel", "documents", "lexicon"]
    assert [JOINT_TRAINERS[n].uses_monolingual for n in ("bicvm", "bae", "inverted-index", "tilsa")] == [
        False, False, False, True]


# --------------------------------------------------------------------------- BiCVM
def test_bicvm_loss_matches_the_hinge_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    noise = np.array([[1, 2], [0, 3], [3, 1], [2, 0]])
    m = 2.5
    expected = [sum(max(0.0, m + ((a[p] - b[p]) ** 2).sum() - ((a[p] - b[n]) ** 2).sum()) for n in noise[p])
                for p in range(4)]
    got = bicvm_loss(torch.tensor(a), torch.tensor(b), torch.tensor(noise), m)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_bicvm_aligns_translations_and_its_loss_goes_down(pairs):
    model = BiCVM(vector_size=16, epochs=3, random_state=0).fit(None, None, pairs)
    assert _p_at_1(model) >= 0.9  # measured 1.0
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0] / 5  # measured 13.5 -> 0.4
    assert model.history_[-1]["violations"] < model.history_[0]["violations"]
    assert model.margin_ == 16.0 and model.n_parallel_pairs_ == 1500
    # The signal is the alignment: the same sentences paired at random give chance.
    control = BiCVM(vector_size=16, epochs=3, random_state=0).fit(None, None, _misaligned(pairs))
    assert _p_at_1(control) < 0.1


def test_bicvm_stops_on_a_callback_interrupt_with_the_finished_epochs_recorded(pairs):
    def stop_in_epoch_2(event):
        if event["step"] == 2:
            raise KeyboardInterrupt

    model = BiCVM(vector_size=8, epochs=3, random_state=0, callbacks=[stop_in_epoch_2])
    with pytest.raises(KeyboardInterrupt):
        model.fit(None, None, pairs)
    assert [h["step"] for h in model.history_] == [1]


# --------------------------------------------------------------------------- bilingual autoencoder
def test_batch_correlation_is_the_sum_of_per_unit_pearson_correlations():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(20, 5))
    B = A * rng.normal(size=5) + rng.normal(size=(20, 5))
    expected = sum(np.corrcoef(A[:, j], B[:, j])[0, 1] for j in range(5))
    assert float(batch_correlation(torch.tensor(A), torch.tensor(B))) == pytest.approx(expected, rel=1e-6)


def test_bae_aligns_translations_and_its_loss_goes_down(pairs):
    model = BilingualAutoencoder(vector_size=16, epochs=4, random_state=0).fit(None, None, pairs)
    assert _p_at_1(model) >= 0.9  # measured 0.99-1.0
    history = model.history_
    assert history[-1]["loss"] < 0.85 * history[0]["loss"]  # measured 99.6 -> 73.8
    assert history[-1]["correlation"] > 0.9
    control = BilingualAutoencoder(vector_size=16, epochs=4, random_state=0).fit(None, None, _misaligned(pairs))
    assert _p_at_1(control) < 0.1


# --------------------------------------------------------------------------- inverted index
def test_document_matrix_counts_each_word_in_its_document():
    docs = [(["x", "y", "x"], ["u"]), (["y"], ["u", "v"])]
    src_vocab, tgt_vocab, src, tgt, _ = encode_aligned(docs, what="document pair", min_count=1)
    C = document_matrix(src, tgt, len(src_vocab), len(tgt_vocab)).toarray()
    rows = {w: i for i, w in enumerate(src_vocab.words + tgt_vocab.words)}
    assert C[rows["x"]].tolist() == [2, 0] and C[rows["y"]].tolist() == [1, 1]
    assert C[rows["u"]].tolist() == [1, 1] and C[rows["v"]].tolist() == [0, 1]


@pytest.mark.parametrize("weighting", ["ppmi", "tfidf"])
def test_inverted_index_aligns_translations_of_noisy_documents(documents, weighting):
    model = InvertedIndex(vector_size=16, min_count=1, weighting=weighting, random_state=0)
    model.fit(None, None, documents)
    assert _p_at_1(model) >= 0.9  # measured 1.0 (ppmi) and 0.99 (tfidf)
    assert model.n_documents_ == 300
    assert [h["phase"] for h in model.history_] == ["vocabulary", "index", "weighting", "svds"]
    assert np.all(np.diff(model.singular_values_) <= 0)
    control = InvertedIndex(vector_size=16, min_count=1, weighting=weighting, random_state=0)
    assert _p_at_1(control.fit(None, None, _misaligned(documents))) < 0.1


def test_randomized_svd_matches_the_exact_decomposition():
    rng = np.random.default_rng(2)
    # A spectrum that decays as in real count matrices, plus sparse noise.
    U0, _ = np.linalg.qr(rng.normal(size=(300, 300)))
    V0, _ = np.linalg.qr(rng.normal(size=(200, 200)))
    M = (U0[:, :200] * 0.8 ** np.arange(200)) @ V0.T
    M = sp.csr_matrix(M)
    exact_U, exact_s, exact_Vt = np.linalg.svd(M.toarray(), full_matrices=False)
    for algorithm in ("randomized", "arpack"):
        U, s, V = truncated_svd(M, 10, algorithm=algorithm, random_state=0, tol=0)
        np.testing.assert_allclose(s, exact_s[:10], rtol=1e-8)
        # The same singular vectors, each column's largest entry positive.
        np.testing.assert_allclose(np.abs((U * exact_U[:, :10]).sum(0)), 1.0, rtol=1e-8)
        assert np.all(U[np.abs(U).argmax(0), np.arange(10)] > 0)
        np.testing.assert_allclose((U * s) @ V.T, (exact_U[:, :10] * exact_s[:10]) @ exact_Vt[:10], atol=1e-8)


def test_inverted_index_on_bible_verses_translates_frequent_words(shared_data):
    """5,000 verses (en-es) as documents: measured NN P@1 0.49 on 732 evaluable words of en-es.0-5000."""
    bible = shared_data / "parallel" / "bible"
    verses = list(itertools.islice(ParallelCorpus(bible / "kjv-rv1909.en-es.en.xz",
                                                  bible / "kjv-rv1909.en-es.es.xz"), 5000))
    lexicon = Lexicon.read(shared_data / "lexicons" / "en-es" / "en-es.0-5000.tsv").lower()
    model = InvertedIndex(vector_size=100, min_count=3, random_state=0).fit(None, None, verses)
    result = bli(model.src_embeddings_, model.tgt_embeddings_, lexicon, method="nn", ks=(1, 10))
    assert result["n_queries"] > 600
    assert result["p@1"] > 0.35 and result["p@10"] > 0.5


# --------------------------------------------------------------------------- translation-invariant LSA
def test_dictionary_matrix_and_invariant_operator_match_the_four_terms():
    rng = np.random.default_rng(3)
    src, tgt = Vocabulary(["a0", "a1", "a2"], [3, 2, 1], 6), Vocabulary(["b0", "b1"], [2, 1], 3)
    D, n_pairs = dictionary_matrix(Lexicon([("a0", "b0"), ("a1", "b0"), ("a2", "b1"), ("a2", "zz")]), src, tgt)
    assert n_pairs == 3  # ("a2", "zz") is out of vocabulary
    expected = np.zeros((5, 5))
    expected[0, 3] = expected[1, 3] = 1.0
    expected[2, 4] = expected[4, 2] = 1.0
    expected[3, 0] = expected[3, 1] = 0.5  # b0 has two translations: their mean
    np.testing.assert_array_equal(D.toarray(), expected)
    X = sp.csr_matrix(rng.random((5, 5)) * (rng.random((5, 5)) < 0.6))
    Dd, Xd = D.toarray(), X.toarray()
    four = Xd + Dd @ Xd + Xd @ Dd.T + Dd @ Xd @ Dd.T
    op = invariant_operator(X, D)
    v = rng.normal(size=5)
    np.testing.assert_allclose(op @ v, four @ v, rtol=1e-12)
    np.testing.assert_allclose(op.T @ v, four.T @ v, rtol=1e-12)


def test_tilsa_translates_words_outside_its_dictionary():
    en = [_words("a", w) for w in _walks(1500, 10, 1)]
    es = [_words("b", w) for w in _walks(1500, 10, 2)]  # independent text: not parallel
    order = np.random.default_rng(3).permutation(V)
    train = Lexicon((f"a{i}", f"b{i}") for i in order[:50])
    test = Lexicon((f"a{i}", f"b{i}") for i in order[50:])
    model = TranslationInvariantLSA(vector_size=20, window=2, min_count=1, random_state=0).fit(en, es, train)
    assert _p_at_1(model, test) >= 0.9  # measured 1.0 on the 50 held-out words
    assert model.n_dictionary_pairs_ == 50
    # A one-to-one dictionary pair has identical rows of I + D, hence identical vectors.
    src, tgt = model.src_embeddings_, model.tgt_embeddings_
    i = int(order[0])
    np.testing.assert_allclose(src.vectors[src.get_index(f"a{i}")], tgt.vectors[tgt.get_index(f"b{i}")], atol=1e-6)
    # Without the dictionary's invariance (plain PPMI-SVD of each language) the spaces are unrelated.
    separate = [PPMISVD(vector_size=20, window=2, min_count=1, random_state=0).fit(t).embeddings_ for t in (en, es)]
    assert bli(*separate, test, method="nn", ks=(1,))["p@1"] < 0.1


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", [BiCVM, BilingualAutoencoder, InvertedIndex])
def test_aligned_text_methods_reject_bad_supervision(cls, pairs):
    with pytest.raises(ValueError, match="Expected at least one aligned .* got an empty corpus"):
        cls().fit(None, None, [])
    with pytest.raises(TypeError, match="ParallelCorpus"):
        cls().fit(None, None, LEXICON)
    with pytest.raises(TypeError, match="pair 1"):
        cls().fit(None, None, [(["a"], ["b"]), "a b"])
    with pytest.raises(ValueError, match="src_corpus=None and tgt_corpus=None"):
        cls().fit([p[0] for p in pairs], [p[1] for p in pairs], pairs)
    # Each side has a word seen twice, but never in the same pair.
    with pytest.raises(ValueError, match="in-vocabulary words on both sides"):
        cls(min_count=2).fit(None, None, [(["a", "a"], ["x"]), (["c"], ["y", "y"])])
    with pytest.raises(ValueError, match="vector_size to be an integer >= 1"):
        cls(vector_size=0).fit(None, None, pairs)


def test_bad_settings_and_too_little_data_raise(pairs, documents):
    with pytest.raises(ValueError, match="negative < batch_size"):
        BiCVM(negative=10, batch_size=10).fit(None, None, pairs)
    with pytest.raises(ValueError, match=r"more than negative=10 usable sentence pairs .* got 5"):
        BiCVM().fit(None, None, pairs[:5])
    with pytest.raises(ValueError, match="alpha to be a number > 0"):
        BilingualAutoencoder(alpha=0).fit(None, None, pairs)
    with pytest.raises(ValueError, match="corr_weight to be a number >= 0"):
        BilingualAutoencoder(corr_weight=-1.0).fit(None, None, pairs)
    with pytest.raises(ValueError, match="margin to be a number > 0"):
        BiCVM(margin=0).fit(None, None, pairs)
    with pytest.raises(ValueError, match=r"vector_size below .* words \(\d+\) and of aligned documents \(20\)"):
        InvertedIndex(vector_size=20, min_count=1).fit(None, None, documents[:20])
    with pytest.raises(ValueError, match="weighting in"):
        InvertedIndex(weighting="bm25").fit(None, None, documents)
    with pytest.raises(ValueError, match="algorithm in"):
        InvertedIndex(algorithm="lanczos").fit(None, None, documents)


def test_tilsa_rejects_bad_supervision(pairs):
    en, es = [p[0] for p in pairs], [p[1] for p in pairs]
    with pytest.raises(TypeError, match="xling.Lexicon .* got list"):
        TranslationInvariantLSA(min_count=1).fit(en, es, pairs)
    with pytest.raises(ValueError, match="non-empty lexicon"):
        TranslationInvariantLSA(min_count=1).fit(en, es, Lexicon())
    with pytest.raises(ValueError, match="none of 2 .*case"):
        TranslationInvariantLSA(vector_size=8, min_count=1).fit(en, es, Lexicon([("A1", "B1"), ("A2", "B2")]))
    with pytest.raises(TypeError, match="src_corpus"):
        TranslationInvariantLSA().fit("en.txt", es, LEXICON)
    with pytest.raises(ValueError, match="shift"):
        TranslationInvariantLSA(shift=0.5).fit(en, es, LEXICON)


# --------------------------------------------------------------------------- command line
def _write(path, lines) -> str:
    path.write_text("".join(" ".join(line) + "\n" for line in lines), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("method, settings", [
    ("bicvm", ["--dim", "16", "--epochs", "3"]),
    ("bae", ["--dim", "16", "--epochs", "4"]),
    ("inverted-index", ["--dim", "16", "--min-count", "1"]),
    ("tilsa", ["--dim", "20", "--window", "2", "--min-count", "1"]),
])
def test_train_joint_runs_each_method_on_tiny_files(tmp_path, pairs, documents, method, settings):
    if method in ("bicvm", "bae"):
        inputs = ["--parallel", _write(tmp_path / "xa.txt", [p[0] for p in pairs]),
                  _write(tmp_path / "xb.txt", [p[1] for p in pairs])]
        test = LEXICON
    elif method == "inverted-index":
        inputs = ["--documents", _write(tmp_path / "xa.txt", [d[0] for d in documents]),
                  _write(tmp_path / "xb.txt", [d[1] for d in documents])]
        test = LEXICON
    else:
        order = np.random.default_rng(3).permutation(V)
        (tmp_path / "train.tsv").write_text("".join(f"a{i}\tb{i}\n" for i in order[:50]), encoding="utf-8")
        inputs = ["--src-mono", _write(tmp_path / "xa.txt", [_words("a", w) for w in _walks(1500, 10, 1)]),
                  "--tgt-mono", _write(tmp_path / "xb.txt", [_words("b", w) for w in _walks(1500, 10, 2)]),
                  "--lexicon", str(tmp_path / "train.tsv")]
        test = Lexicon((f"a{i}", f"b{i}") for i in order[50:])
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["train-joint", "--method", method, *inputs, "--out-dir", str(out),
                                      "--seed", "0", *settings], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    src, tgt = Embeddings.read(out / "xa.vec"), Embeddings.read(out / "xb.vec")
    assert bli(src, tgt, test, method="nn", ks=(1,))["p@1"] >= 0.9
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == method and report["history"]


def test_train_joint_names_the_input_a_method_needs(tmp_path, pairs):
    a = _write(tmp_path / "xa.txt", [p[0] for p in pairs[:20]])
    b = _write(tmp_path / "xb.txt", [p[1] for p in pairs[:20]])
    result = CliRunner().invoke(cli, ["train-joint", "-m", "inverted-index", "--parallel", a, b,
                                      "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--documents" in result.output and not (tmp_path / "o").exists()
    result = CliRunner().invoke(cli, ["train-joint", "-m", "bicvm", "--src-mono", a, "--tgt-mono", b,
                                      "--parallel", a, b, "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no monolingual text" in result.output
