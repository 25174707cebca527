"""BLI evaluation: hand-built cases with known scores, a numpy reference, OOV conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from xling import Embeddings, Lexicon, NotEnoughDataError
from xling.evaluate import bli, evaluate_many, format_table
from xling.map import Procrustes


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny products: with two threads on a busy machine each one waits on a thread barrier."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def angles(degrees):
    """Unit vectors in the plane at the given angles."""
    rad = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


@pytest.fixture
def hand_built():
    # Targets on the unit circle; each query's ranking by cosine is its angular distance.
    tgt = Embeddings(["t0", "t10", "t20", "t45", "t90", "t180"], angles([0, 10, 20, 45, 90, 180]))
    src = Embeddings(["a", "b", "c", "d"], angles([1, 44, 88, 170]))
    # a: nearest t0 (gold t10 -> rank 2); b: gold t45 and t20 -> rank 1;
    # c: gold t0 -> rank 5 (t90, t45, t20, t10 closer); d: gold t180 -> rank 1.
    lexicon = Lexicon([("a", "t10"), ("b", "t20"), ("b", "t45"), ("c", "t0"), ("d", "t180")])
    return src, tgt, lexicon


def test_hand_built_precision_and_mrr(hand_built):
    src, tgt, lexicon = hand_built
    r = bli(src, tgt, lexicon, method="nn", ks=(1, 2, 5))
    assert r["p@1"] == pytest.approx(2 / 4)
    assert r["p@2"] == pytest.approx(3 / 4)
    assert r["p@5"] == pytest.approx(4 / 4)
    assert r["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 5 + 1) / 4)
    assert r["coverage"] == 1.0 and r["n_queries"] == 4 and r["n_test_words"] == 4


def test_mrr_counts_ranks_beyond_the_largest_k(hand_built):
    # With ks=(1,) the rank 2 and rank 5 golds are found by counting over all targets.
    src, tgt, lexicon = hand_built
    r = bli(src, tgt, lexicon, method="nn", ks=(1,))
    assert r["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 5 + 1) / 4)


def test_any_gold_translation_is_a_hit(hand_built):
    src, tgt, _ = hand_built
    one = bli(src, tgt, Lexicon([("b", "t20")]), method="nn", ks=(1,))
    both = bli(src, tgt, Lexicon([("b", "t20"), ("b", "t45")]), method="nn", ks=(1,))
    assert one["p@1"] == 0.0 and one["mrr"] == pytest.approx(1 / 2)
    assert both["p@1"] == 1.0 and both["mrr"] == 1.0


def test_oov_conventions(hand_built):
    src, tgt, lexicon = hand_built
    # "zz" has no source vector; "a" keeps one usable translation; "b" has only an OOV gold.
    lex = Lexicon(list(lexicon) + [("zz", "t0"), ("a", "nope")])
    lex = Lexicon([p for p in lex if p[0] != "b"] + [("b", "missing")])
    excl = bli(src, tgt, lex, method="nn", ks=(1, 5), oov="exclude")
    wrong = bli(src, tgt, lex, method="nn", ks=(1, 5), oov="wrong")
    # covered: a (rank 2), c (rank 5), d (rank 1); uncovered: zz, b
    for r in (excl, wrong):
        assert r["n_queries"] == 3 and r["n_test_words"] == 5
        assert r["coverage"] == pytest.approx(3 / 5)
    assert excl["n_scored"] == 3 and wrong["n_scored"] == 5
    assert excl["p@1"] == pytest.approx(1 / 3) and wrong["p@1"] == pytest.approx(1 / 5)
    assert excl["p@5"] == pytest.approx(1.0) and wrong["p@5"] == pytest.approx(3 / 5)
    assert excl["mrr"] == pytest.approx((1 / 2 + 1 / 5 + 1) / 3)
    assert wrong["mrr"] == pytest.approx((1 / 2 + 1 / 5 + 1) / 5)


def test_all_oov_lexicon_raises_with_counts(hand_built):
    src, tgt, _ = hand_built
    lex = Lexicon([("x1", "t0"), ("x2", "t10"), ("a", "nope")])
    with pytest.raises(NotEnoughDataError, match=r"none of 3: 2 source words .* 1 have no translation"):
        bli(src, tgt, lex)


def test_bad_arguments(hand_built):
    src, tgt, lexicon = hand_built
    with pytest.raises(ValueError, match="oov"):
        bli(src, tgt, lexicon, oov="skip")
    with pytest.raises(ValueError, match="method"):
        bli(src, tgt, lexicon, method="cosine")
    with pytest.raises(ValueError, match="ks"):
        bli(src, tgt, lexicon, ks=(0, 1))
    with pytest.raises(ValueError, match="same dimension"):
        bli(src, Embeddings(tgt.words, np.ones((len(tgt), 3))), lexicon)


def reference_bli(src, tgt, lexicon, method, ks, knn_k=10, beta=30.0):
    """Brute force: full score matrix with r_S / normaliser over all source vectors."""
    def unit(A):
        A = A.astype(np.float64)
        return A / np.linalg.norm(A, axis=1, keepdims=True)

    X, Z = unit(src.vectors), unit(tgt.vectors)
    C = X @ Z.T
    if method == "csls":
        r_t = np.sort(C, axis=1)[:, ::-1][:, :knn_k].mean(1)
        r_s = np.sort(C, axis=0)[::-1][:knn_k].mean(0)
        C = 2 * C - r_t[:, None] - r_s[None, :]
    elif method == "isf":
        C = beta * C - logsumexp(beta * C, axis=0)[None, :]
    elif method == "invnn":
        # the rank of x among all sources in each target's list, ties by cosine
        ranks = np.stack([1 + (C > C[i][None, :]).sum(axis=0) for i in range(len(C))])
        C = -ranks + 0.25 * C
    hits, rr = {k: 0 for k in ks}, 0.0
    for word in lexicon.sources:
        row = src.word_to_index[word]
        gold = [tgt.word_to_index[t] for t in lexicon[word]]
        best = C[row, gold].max()
        rank = 1 + int((C[row] > best).sum())
        rr += 1 / rank
        for k in ks:
            hits[k] += rank <= k
    n = len(lexicon)
    return {f"p@{k}": hits[k] / n for k in ks} | {"mrr": rr / n}


@pytest.mark.parametrize("method", ["nn", "csls", "isf", "invnn"])
def test_matches_brute_force_reference(method):
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(30, 20))
    Xv = centers[rng.integers(0, 30, 500)] + 0.8 * rng.normal(size=(500, 20))
    Zv = Xv[:400] + 1.5 * rng.normal(size=(400, 20))  # noisy translations of the first 400
    src = Embeddings([f"s{i}" for i in range(500)], Xv)
    tgt = Embeddings([f"t{i}" for i in range(400)], Zv)
    pairs = [(f"s{i}", f"t{i}") for i in range(0, 400, 3)]
    pairs += [(f"s{i}", f"t{(i * 7) % 400}") for i in range(0, 400, 9)]  # second gold translations
    lexicon = Lexicon(pairs)
    got = bli(src, tgt, lexicon, method=method, ks=(1, 5, 10), beta=15.0, tile_size=150, batch_size=64)
    ref = reference_bli(src, tgt, lexicon, method, (1, 5, 10), beta=15.0)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert 0.05 < got["p@1"] < 0.95 and got["mrr"] < got["p@10"]  # neither trivial nor hopeless


def test_synthetic_rotation_recovered_by_procrustes():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 32))
    Q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    Z = X @ Q
    words_s, words_t = [f"s{i}" for i in range(600)], [f"t{i}" for i in range(600)]
    train = np.stack([np.arange(300), np.arange(300)], axis=1)
    m = Procrustes(normalize=None).fit(X, Z, train)
    src = Embeddings(words_s, m.transform(X))
    tgt = Embeddings(words_t, m.transform_target(Z))
    test = Lexicon((f"s{i}", f"t{i}") for i in range(300, 600))
    results = evaluate_many(src, tgt, test, ks=(1, 5))
    for method, r in results.items():
        assert r["p@1"] == 1.0 and r["mrr"] == 1.0, method
    # without the map, the rotated space is (nearly) unrelated
    assert bli(Embeddings(words_s, X), Embeddings(words_t, Z), test, method="nn")["p@1"] < 0.1


def test_format_table(hand_built):
    src, tgt, lexicon = hand_built
    table = format_table(evaluate_many(src, tgt, lexicon, methods=("nn", "csls"), ks=(1, 5)))
    lines = table.splitlines()
    assert lines[0] == "| method | P@1 | P@5 | MRR | coverage | queries |"
    assert lines[2].startswith("| nn | 50.00 | 100.00 | 67.50 | 100.0% | 4/4 |")
    assert lines[3].startswith("| csls |")


@pytest.fixture(scope="module")
def noisy_pair():
    """A rotated space with noise: P@1 well below 1, so rounding of the scores could move it."""
    rng = np.random.default_rng(4)
    n, d = 3000, 32
    base = rng.normal(size=(n, d))
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    src = Embeddings([f"s{i}" for i in range(n)], (base @ q + 0.9 * rng.normal(size=(n, d))).astype(np.float32))
    tgt = Embeddings([f"t{i}" for i in range(n)], (base + 0.9 * rng.normal(size=(n, d))).astype(np.float32))
    src = Embeddings(src.words, src.vectors @ q.T.astype(np.float32))  # back into the target's space
    return src, tgt, Lexicon((f"s{i}", f"t{i}") for i in range(0, n, 3))


@pytest.mark.parametrize("method", ["nn", "csls", "isf", "invnn"])
def test_bli_at_every_precision(noisy_pair, method):
    src, tgt, lexicon = noisy_pair
    results = {p: bli(src, tgt, lexicon, method=method, precision=p, device="cpu") for p in ("fp16", "fp32", "fp64")}
    assert 0.2 < results["fp64"]["p@1"] < 0.9
    n = results["fp64"]["n_scored"]
    # fp32 and fp64 differ only at near-ties of float32 rounding; fp16 by a few more queries
    for p, queries in (("fp32", 1), ("fp16", 10)):
        for key in ("p@1", "p@5", "p@10"):
            assert abs(results[p][key] - results["fp64"][key]) <= queries / n, (p, key)
        assert results[p]["mrr"] == pytest.approx(results["fp64"]["mrr"], abs=queries / n)
    # the default is the current precision: fp32
    assert bli(src, tgt, lexicon, method=method, device="cpu") == results["fp32"]
    with pytest.raises(ValueError, match="Expected precision fp16, fp32 or fp64, got 'fp8'"):
        bli(src, tgt, lexicon, method=method, precision="fp8")
