"""Retrieval must equal a brute-force float64 numpy reference, whatever the tiling."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import xling.retrieval
from xling import Embeddings
from xling._kernels import kernel_error, load_topk
from xling.retrieval import (
    Scorer,
    best_matches,
    csls,
    csls_terms,
    induce_pairs,
    inverted_softmax,
    knn,
    mutual_nn_pairs,
    retrieve,
    topk_mean,
    translate,
    unit_rows,
    unsupervised_criterion,
    vecmap_matches,
)

ATOL = 2e-5


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny products: with two threads on a busy machine each one waits on a thread barrier."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def unit(A):
    A = np.asarray(A, dtype=np.float64)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.where(norms > 0, norms, 1.0)


def top_mean(C, k):
    """Mean of the k largest entries of each row."""
    return np.sort(C, axis=1)[:, ::-1][:, :k].mean(axis=1)


def ref_scores(Q, K, method, *, sources=None, knn_k=10, beta=30.0):
    """The full (n_q, n_k) score matrix of ``method``, in float64."""
    sources = Q if sources is None else sources
    C = unit(Q) @ unit(K).T
    if method == "nn":
        return C
    CS = unit(K) @ unit(sources).T  # keys x sources
    if method == "csls":
        return 2 * C - top_mean(C, knn_k)[:, None] - top_mean(CS, knn_k)[None, :]
    return beta * C - logsumexp(beta * CS, axis=1)[None, :]


def assert_topk(scores, indices, R, k):
    """(scores, indices) are an exact top-k of the reference matrix R (ties in any order)."""
    scores, indices = scores.numpy(), indices.numpy()
    k = min(k, R.shape[1])
    assert scores.shape == indices.shape == (R.shape[0], k)
    assert indices.dtype == np.int64
    expected = np.sort(R, axis=1)[:, ::-1][:, :k]
    np.testing.assert_allclose(scores, expected, atol=ATOL * max(1.0, np.abs(R).max()), rtol=0)
    # the returned indices really have the returned scores, and are distinct
    np.testing.assert_allclose(np.take_along_axis(R, indices, axis=1), scores, atol=ATOL * max(1.0, np.abs(R).max()))
    assert all(len(set(row)) == k for row in indices)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # Clustered vectors so that neighbourhoods (and hubs) are not uniform.
    centers = rng.normal(size=(40, 24))
    X = (centers[rng.integers(0, 40, 700)] + 0.7 * rng.normal(size=(700, 24))).astype(np.float32)
    Z = (centers[rng.integers(0, 40, 3000)] + 0.7 * rng.normal(size=(3000, 24))).astype(np.float32)
    X[3] = 0.0  # zero-norm query
    Z[11] = 0.0  # zero-norm key
    return X, Z


# (batch_size, tile_size): defaults, sizes that divide nothing, a grouped tile with a remainder
TILINGS = [(None, None), (97, 1000), (700, 2600), (256, 3000), (61, 257)]


@pytest.mark.parametrize("batch_size,tile_size", TILINGS)
@pytest.mark.parametrize("k", [1, 7])
def test_knn_matches_numpy(data, batch_size, tile_size, k):
    X, Z = data
    s, i = knn(X, Z, k=k, batch_size=batch_size, tile_size=tile_size, device="cpu")
    assert_topk(s, i, ref_scores(X, Z, "nn"), k)


@pytest.mark.parametrize("batch_size,tile_size", TILINGS)
def test_csls_matches_numpy(data, batch_size, tile_size, terms_path):
    X, Z = data
    s, i = csls(X, Z, k=5, knn_k=10, batch_size=batch_size, tile_size=tile_size, device="cpu")
    assert_topk(s, i, ref_scores(X, Z, "csls", knn_k=10), 5)


def test_csls_with_other_sources_and_precomputed_terms(data):
    X, Z = data
    queries = X[:50]
    s, i = csls(queries, Z, k=3, knn_k=4, sources=X, device="cpu")
    assert_topk(s, i, ref_scores(queries, Z, "csls", sources=X, knn_k=4), 3)
    _, r_z = csls_terms(X, Z, 4, device="cpu")
    s2, i2 = csls(queries, Z, k=3, knn_k=4, key_terms=r_z, device="cpu")
    np.testing.assert_allclose(s2.numpy(), s.numpy(), atol=1e-6)
    assert torch.equal(i2, i)


@pytest.mark.parametrize("batch_size,tile_size", TILINGS)
def test_inverted_softmax_matches_numpy(data, batch_size, tile_size):
    X, Z = data
    s, i = inverted_softmax(X, Z, k=4, beta=12.0, batch_size=batch_size, tile_size=tile_size, device="cpu")
    assert_topk(s, i, ref_scores(X, Z, "isf", beta=12.0), 4)


def test_inverted_softmax_large_beta_is_finite(data):
    X, Z = data
    s, i = inverted_softmax(X[:20], Z, k=2, beta=500.0, sources=X, device="cpu")
    assert torch.isfinite(s).all()
    assert_topk(s, i, ref_scores(X[:20], Z, "isf", sources=X, beta=500.0), 2)


@pytest.fixture(params=["torch", "kernel"])
def terms_path(request, monkeypatch):
    """Run the CSLS terms (and the scans after them) through the PyTorch path or the compiled tile scanner."""
    if request.param == "kernel":
        assert load_topk() is not None, kernel_error("topk")
        monkeypatch.setattr(xling.retrieval, "_KERNEL_MIN_SCORES", 0)
    else:  # the kernel would take even small scans with a dropout mask
        monkeypatch.setattr(xling.retrieval, "_topk_kernel", lambda *args, **kwargs: None)
    return request.param


@pytest.mark.parametrize("batch_size,tile_size", TILINGS)
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_csls_terms_match_numpy(data, batch_size, tile_size, threads, terms_path):
    X, Z = data
    torch.set_num_threads(threads)
    r_x, r_z = csls_terms(X, Z, 10, batch_size=batch_size, tile_size=tile_size, device="cpu")
    C = unit(X) @ unit(Z).T
    np.testing.assert_allclose(r_x.numpy(), top_mean(C, 10), atol=ATOL)
    np.testing.assert_allclose(r_z.numpy(), top_mean(C.T, 10), atol=ATOL)
    assert r_x.shape == (len(X),) and r_z.shape == (len(Z),)


@pytest.mark.parametrize("knn_k", [1, 3, 40])
def test_fused_csls_terms_neighbourhood_sizes(data, knn_k, terms_path):
    """knn_k larger than a tile's rows (40 > 23 queries of the last block) or than a side is capped."""
    X, Z = data
    X = X[:63]
    r_x, r_z = csls_terms(X, Z, knn_k, batch_size=40, tile_size=1100, device="cpu")
    C = unit(X) @ unit(Z).T
    np.testing.assert_allclose(r_x.numpy(), top_mean(C, knn_k), atol=ATOL)
    np.testing.assert_allclose(r_z.numpy(), top_mean(C.T, min(knn_k, len(X))), atol=ATOL)


@pytest.mark.parametrize("threads", [1, 2])
def test_topk_mean_matches_numpy_and_caps_k(data, threads, terms_path):
    X, Z = data
    torch.set_num_threads(threads)
    r = topk_mean(Z, X, k=10, batch_size=300, device="cpu")
    np.testing.assert_allclose(r.numpy(), top_mean(unit(Z) @ unit(X).T, 10), atol=ATOL)
    # k larger than the number of keys: mean over all keys
    r_all = topk_mean(X[:5], Z[:3], k=10, device="cpu")
    np.testing.assert_allclose(r_all.numpy(), (unit(X[:5]) @ unit(Z[:3]).T).mean(axis=1), atol=ATOL)


def test_zero_rows_score_zero(data):
    X, Z = data
    s, _ = knn(X[3:4], Z, k=5, device="cpu")
    assert torch.equal(s, torch.zeros(1, 5))
    s, i = knn(Z[11:12], X, k=3, device="cpu")
    assert torch.equal(s, torch.zeros(1, 3))


def test_huge_values_are_normalised_without_overflow(data):
    X, Z = data
    s1, i1 = knn(X[4:9], Z, k=3, device="cpu")
    s2, i2 = knn(1e25 * X[4:9], Z, k=3, device="cpu")  # squares overflow float32
    np.testing.assert_allclose(s2.numpy(), s1.numpy(), atol=1e-6)
    assert torch.equal(i1, i2)


def test_tensor_and_ndarray_inputs_agree(data):
    X, Z = data
    s1, i1 = csls(X, Z, k=3, device="cpu")
    s2, i2 = csls(torch.from_numpy(X), torch.from_numpy(Z).double(), k=3, device="cpu")
    np.testing.assert_allclose(s1.numpy(), s2.numpy(), atol=1e-6)
    assert torch.equal(i1, i2)
    assert s2.device.type == "cpu" and s2.dtype == torch.float32


def test_unnormalised_input_is_not_modified(data):
    X, Z = data
    X2 = 3 * X[:10]
    before = X2.copy()
    knn(X2, Z, k=1, device="cpu")
    np.testing.assert_array_equal(X2, before)


def test_k_larger_than_keys_returns_all_keys(data):
    X, Z = data
    s, i = knn(X[:4], Z[:6], k=50, device="cpu")
    assert s.shape == (4, 6)
    assert sorted(i[0].tolist()) == list(range(6))


def test_retrieve_dispatches(data):
    X, Z = data
    for method in ("nn", "csls", "isf"):
        s, i = retrieve(X[:30], Z, k=2, method=method, knn_k=5, beta=20.0, sources=X, device="cpu")
        assert_topk(s, i, ref_scores(X[:30], Z, method, sources=X, knn_k=5, beta=20.0), 2)
    with pytest.raises(ValueError, match="method"):
        retrieve(X, Z, method="csls_knn_10")


def test_bad_inputs_raise(data):
    X, Z = data
    with pytest.raises(ValueError, match="same dimension"):
        knn(X, Z[:, :5])
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        knn(bad, Z)
    with pytest.raises(ValueError, match="2-D"):
        knn(X[0], Z)
    with pytest.raises(ValueError, match="positive integer"):
        knn(X, Z, k=0)
    with pytest.raises(ValueError, match="beta"):
        inverted_softmax(X, Z, beta=0)


def _ref_best(X, Z, method, knn_k=10, beta=30.0):
    """Reference best z per x and best x per z, with scores."""
    F = ref_scores(X, Z, method, knn_k=knn_k, beta=beta)
    if method == "isf":
        B = ref_scores(Z, X, "isf", beta=beta)
    else:
        B = F.T  # nn and CSLS are symmetric
    return F.max(1), F.argmax(1), B.max(1), B.argmax(1)


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_induce_pairs_matches_numpy(data, method):
    X, Z = data
    X, Z = X[4:404], Z[12:912]  # no zero rows: their scores tie everywhere
    fv, fi, bv, bi = _ref_best(X, Z, method, beta=10.0)
    fwd = {(x, int(z)) for x, z in enumerate(fi)}
    bwd = {(int(x), z) for z, x in enumerate(bi)}
    kw = dict(method=method, beta=10.0, device="cpu", tile_size=700, batch_size=300)
    got = {d: {tuple(p) for p in induce_pairs(X, Z, direction=d, **kw).tolist()}
           for d in ("forward", "backward", "union", "intersection")}
    assert got["forward"] == fwd
    assert got["backward"] == bwd
    assert got["union"] == fwd | bwd
    assert got["intersection"] == fwd & bwd
    assert len(got["intersection"]) > 20
    mutual = mutual_nn_pairs(X, Z, **kw)
    assert mutual.dtype == np.int64 and mutual.shape[1] == 2
    assert {tuple(p) for p in mutual.tolist()} == fwd & bwd


def test_induce_pairs_max_rank_and_threshold(data):
    X, Z = data
    pairs = induce_pairs(X, Z, method="nn", max_rank=200, device="cpu")
    assert pairs[:, 0].max() < 200 and pairs[:, 1].max() < 200
    fv, fi, _, _ = _ref_best(X[:200], Z[:200], "nn")
    pairs = induce_pairs(X, Z, method="nn", max_rank=200, threshold=0.6, device="cpu")
    assert {tuple(p) for p in pairs.tolist()} == {(x, int(fi[x])) for x in range(200) if fv[x] >= 0.6}


# (batch_size, tile_size) of the two-way pass: groups of 16 rows and 64 columns with remainders, and single tiles
BOTH_WAYS_TILINGS = [(300, 700), (None, None), (61, 257), (400, 900)]


@pytest.fixture(params=["stored", "streamed"])
def product_path(request, monkeypatch):
    """Dictionary induction from one stored X Zᵀ, or from products recomputed tile by tile."""
    if request.param == "streamed":
        monkeypatch.setattr(xling.retrieval, "_STORED_SCORES_BYTES", 0)
    return request.param


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
@pytest.mark.parametrize("batch_size,tile_size", BOTH_WAYS_TILINGS)
def test_best_matches_match_numpy(data, method, batch_size, tile_size, terms_path, product_path):
    X, Z = data
    X, Z = X[4:404], Z[12:912]
    fv, fi, bv, bi = _ref_best(X, Z, method, beta=10.0)
    m = best_matches(X, Z, method=method, beta=10.0, batch_size=batch_size, tile_size=tile_size, device="cpu")
    assert m.forward_index.dtype == m.backward_index.dtype == torch.int64
    assert m.forward_index.shape == (400,) and m.backward_index.shape == (900,)
    np.testing.assert_array_equal(m.forward_index.numpy(), fi)
    np.testing.assert_array_equal(m.backward_index.numpy(), bi)
    scale = 10.0 if method == "isf" else 1.0
    np.testing.assert_allclose(m.forward_score.numpy(), fv, atol=ATOL * scale)
    np.testing.assert_allclose(m.backward_score.numpy(), bv, atol=ATOL * scale)
    assert m.objective == pytest.approx((fv.mean() + bv.mean()) / 2, abs=1e-5 * scale)


def _fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _ref_mask_bits(key, n_rows, n_cols, col0=0):
    """The documented mask bits, in numpy's wrapping uint32 arithmetic."""
    with np.errstate(over="ignore"):
        rows = np.arange(n_rows, dtype=np.uint32)
        cols = np.arange(col0, col0 + n_cols, dtype=np.uint32)
        golden = np.uint32(0x9E3779B1)
        h_row = _fmix32(np.uint32(key) ^ _fmix32(rows * golden + np.uint32(0x7F4A7C15)))
        return _fmix32(h_row[:, None] + cols[None, :] * golden) >> np.uint32(16)


def _ref_dropout_best(X, Z, keep_prob, seed):
    """Reference CSLS matches with the dropout mask as documented: one key from the generator, hashed per entry."""
    C = ref_scores(X, Z, "csls", knn_k=10)
    key = int(torch.randint(0, 2**32, (1,), generator=torch.Generator().manual_seed(seed)))
    C[_ref_mask_bits(key, len(X), len(Z)) >= round(keep_prob * 65536)] = -np.inf
    return C.max(1), C.argmax(1), C.max(0), C.argmax(0)


def test_stochastic_matches_follow_the_seed_whatever_the_tiling(product_path, terms_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2300, 16)).astype(np.float32)
    Z = (X[rng.permutation(2300)[:500]] + 0.3 * rng.normal(size=(500, 16))).astype(np.float32)
    fv, fi, bv, bi = _ref_dropout_best(X, Z, 0.3, seed=7)
    results = []
    for batch_size, tile_size in [(None, None), (100, 130)]:
        m = best_matches(X, Z, keep_prob=0.3, generator=torch.Generator().manual_seed(7),
                         batch_size=batch_size, tile_size=tile_size, device="cpu")
        np.testing.assert_array_equal(m.forward_index.numpy(), fi)
        np.testing.assert_array_equal(m.backward_index.numpy(), bi)
        np.testing.assert_allclose(m.forward_score.numpy(), fv, atol=ATOL)
        results.append(m.pairs("union"))
    np.testing.assert_array_equal(results[0], results[1])
    # dropout changes the matches: most of them differ from the full ones
    full = best_matches(X, Z, device="cpu")
    assert (full.forward_index != torch.from_numpy(fi)).float().mean() > 0.3


@pytest.mark.parametrize("keep_prob", [0.1, 0.8, 1e-9])
def test_dropout_mask_keeps_each_score_with_keep_prob(keep_prob):
    threshold = xling.retrieval._keep_threshold(keep_prob)
    bits = xling.retrieval._mask_bits(12345, slice(0, 2048), slice(5000, 8000), torch.device("cpu"))
    np.testing.assert_array_equal(bits.numpy(), _ref_mask_bits(12345, 2048, 3000, col0=5000))
    kept = (bits < threshold).float().mean().item()
    expected = max(keep_prob, 2.0**-16)  # counted in steps of 2^-16, never below one step
    assert abs(kept - expected) < 4 * (expected * (1 - expected) / bits.numel()) ** 0.5 + 2.0**-17
    # neighbouring rows and columns are not correlated
    kept_rows = (bits < threshold).float()
    if 0.05 < keep_prob < 0.95:
        corr = np.corrcoef(kept_rows[:-1].flatten().numpy(), kept_rows[1:].flatten().numpy())[0, 1]
        corr_c = np.corrcoef(kept_rows[:, :-1].flatten().numpy(), kept_rows[:, 1:].flatten().numpy())[0, 1]
        assert abs(corr) < 0.01 and abs(corr_c) < 0.01


def test_the_kernel_and_tensors_mask_alike_and_a_shard_sees_the_whole_mask(monkeypatch):
    """The compiled path (inline mask) and the tensor path give the same matches; so does a shard of Z's columns."""
    assert load_topk() is not None, kernel_error("topk")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(700, 12)).astype(np.float32)
    Z = rng.normal(size=(900, 12)).astype(np.float32)
    results = []
    kernel = xling.retrieval._topk_kernel
    for scanner in (kernel, lambda *args, **kwargs: None):  # the kernel (even for this small masked problem), then tensors
        monkeypatch.setattr(xling.retrieval, "_topk_kernel", scanner)
        m = best_matches(X, Z, keep_prob=0.2, generator=torch.Generator().manual_seed(1), device="cpu")
        r_x, r_z = xling.retrieval.csls_terms(X, Z)
        shard = best_matches(X, Z[300:], keep_prob=0.2, generator=torch.Generator().manual_seed(1), device="cpu",
                             terms=(r_x, r_z[300:]), column_offset=300, n_columns=900)
        results.append((m, shard))
    (k, ks), (t, ts) = results
    for a, b in ((k, t), (ks, ts)):
        np.testing.assert_array_equal(a.forward_index.numpy(), b.forward_index.numpy())
        np.testing.assert_array_equal(a.backward_index.numpy(), b.backward_index.numpy())
        np.testing.assert_allclose(a.forward_score.numpy(), b.forward_score.numpy(), atol=ATOL)
    # the shard's backward matches are the whole problem's for its columns
    np.testing.assert_array_equal(ks.backward_index.numpy(), k.backward_index.numpy()[300:])


def _ref_vecmap(X, Z, method, keep_prob, seed, knn_k=10):
    """VecMap's induction step (map_embeddings.py) in numpy, its two random masks replaced by xling's keyed ones.

    Dropped scores are set to 0 on VecMap's scale, cos - r/2 of the other side,
    and argmax takes the first of equal values; the scores are the best cosines.
    """
    S = unit(X) @ unit(Z).T
    F, B = S.copy(), S.copy()
    if method == "csls":
        F -= np.sort(S, axis=0)[-knn_k:].mean(axis=0)[None, :] / 2
        B -= np.sort(S, axis=1)[:, -knn_k:].mean(axis=1)[:, None] / 2
    if keep_prob < 1:
        gen = torch.Generator().manual_seed(seed)
        key_f, key_b = (int(torch.randint(0, 2**32, (1,), generator=gen)) for _ in range(2))
        F[_ref_mask_bits(key_f, len(X), len(Z)) >= round(keep_prob * 65536)] = 0
        B[_ref_mask_bits(key_b, len(X), len(Z)) >= round(keep_prob * 65536)] = 0
    return S.max(axis=1), F, S.max(axis=0), B


def assert_argmax(index, M, axis):
    """``index`` is numpy's argmax of M along ``axis``, but for near-ties (float32 cannot order them)."""
    expected = M.argmax(axis=axis)
    off = np.flatnonzero(index != expected)
    picked = np.take_along_axis(M, np.expand_dims(index, axis), axis).squeeze(axis)
    np.testing.assert_allclose(picked[off], M.max(axis=axis)[off], atol=1e-6)
    assert len(off) <= 2


@pytest.mark.parametrize("method", ["nn", "csls"])
@pytest.mark.parametrize("keep_prob", [1.0, 0.3, 0.02])
def test_vecmap_matches_follow_vecmaps_induction(method, keep_prob, terms_path, product_path):
    rng = np.random.default_rng(11)
    Z = rng.normal(size=(900, 16)) + 1.5  # a shared direction: cosines within Z's cone are positive
    X = rng.normal(size=(400, 16)) + 1.5
    X[:120] *= -1  # these rows' every cosine is negative, so a dropped score (0) beats every kept one
    X, Z = X.astype(np.float32), Z.astype(np.float32)
    fv, F, bv, B = _ref_vecmap(X, Z, method, keep_prob, seed=4)
    fi = F.argmax(axis=1)
    for batch_size, tile_size in [(None, None), (61, 257)]:
        m = vecmap_matches(X, Z, method=method, keep_prob=keep_prob, generator=torch.Generator().manual_seed(4),
                           batch_size=batch_size, tile_size=tile_size, device="cpu")
        assert_argmax(m.forward_index.numpy(), F, axis=1)
        assert_argmax(m.backward_index.numpy(), B, axis=0)
        np.testing.assert_allclose(m.forward_score.numpy(), fv, atol=ATOL)
        np.testing.assert_allclose(m.backward_score.numpy(), bv, atol=ATOL)
    if keep_prob < 1:
        # the zero rule is what picked the negative rows' matches: best_matches (dropped = ignored) differs there
        ignored = best_matches(X, Z, method=method, keep_prob=keep_prob, generator=torch.Generator().manual_seed(4),
                               device="cpu")
        assert (ignored.forward_index[:120].numpy() != fi[:120]).mean() > 0.9
        assert np.all(fi[:120] < 60)  # a first dropped column comes early
    # VecMap's union keeps pairs found both ways twice
    union = m.pairs("union", unique=False)
    assert len(union) == 400 + 900 and len(m.pairs("union")) == len(np.unique(union, axis=0)) < 1300


def test_matches_give_the_pairs_of_induce_pairs(data):
    X, Z = data
    m = best_matches(X, Z, method="csls", device="cpu")
    for direction in ("forward", "backward", "union", "intersection"):
        for threshold in (None, 0.1):
            np.testing.assert_array_equal(m.pairs(direction, threshold),
                                          induce_pairs(X, Z, direction=direction, threshold=threshold, device="cpu"))
    # a threshold between the extreme scores drops some pairs but not all
    middle = float(m.forward_score.median())
    assert 0 < len(m.pairs("forward", middle)) < len(m.pairs("forward"))


def test_unsupervised_criterion_matches_numpy(data):
    X, Z = data
    X, Z = X[4:504], Z[12:1012]
    C = ref_scores(X, Z, "csls", knn_k=10)
    expected = (unit(X) @ unit(Z).T)[np.arange(len(X)), C.argmax(1)].mean()
    assert unsupervised_criterion(X, Z, device="cpu") == pytest.approx(expected, abs=1e-5)
    # a random rotation destroys the alignment of X with itself: the criterion drops
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(24, 24)))
    aligned = unsupervised_criterion(X, X + 0.1, device="cpu")
    assert aligned > unsupervised_criterion(X @ Q.astype(np.float32), X + 0.1, device="cpu") + 0.2


def test_knn_by_dot_product(data):
    X, Z = data
    Zs = Z * np.linspace(0.2, 3.0, len(Z), dtype=np.float32)[:, None]  # key lengths now matter
    s, i = knn(X, Zs, k=4, metric="dot", batch_size=97, tile_size=1000, device="cpu")
    R = X.astype(np.float64) @ Zs.astype(np.float64).T
    scores, indices = s.numpy(), i.numpy()
    np.testing.assert_allclose(scores, np.sort(R, axis=1)[:, ::-1][:, :4], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(R, indices, axis=1), scores, rtol=1e-5, atol=1e-4)
    assert (i[:, 0] != knn(X, Zs, k=1, device="cpu")[1][:, 0]).any()  # not the cosine ranking
    with pytest.raises(ValueError, match="metric"):
        knn(X, Z, metric="euclidean")
    bad = X.copy()
    bad[5, 0] = np.inf
    with pytest.raises(ValueError, match="row 5"):
        knn(bad, Z, metric="dot")


def test_unit_rows():
    A = np.array([[3.0, 4.0], [0.0, 0.0], [1e30, 1e30]])
    before = A.copy()
    U = unit_rows(A)
    assert U.dtype == torch.float32 and U.device.type == "cpu"
    np.testing.assert_allclose(U.numpy(), [[0.6, 0.8], [0.0, 0.0], [2 ** -0.5, 2 ** -0.5]], atol=1e-7)
    np.testing.assert_array_equal(A, before)
    A[2, 1] = np.nan
    with pytest.raises(ValueError, match="vectors, got NaN or inf in row 2"):
        unit_rows(A, "vectors")
    with pytest.raises(ValueError, match="2-D"):
        unit_rows(np.ones(3))


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_scorer_ranks_match_numpy(data, method):
    X, Z = data
    queries = X[4:104]
    R = ref_scores(queries, Z, method, sources=X, knn_k=10, beta=10.0)
    scorer = Scorer(queries, Z, method=method, sources=X, beta=10.0, batch_size=33, tile_size=1000, device="cpu")
    assert_topk(*scorer.top(6), R, 6)
    rng = np.random.default_rng(2)
    cand = rng.integers(0, len(Z), size=(50, 3))
    cand[::4, 1:] = -1  # padding
    rows = np.arange(0, 100, 2)
    best = np.where(cand >= 0, R[rows[:, None], cand.clip(0)], -np.inf).max(axis=1)
    tol = 1e-5 * {"nn": 1.0, "csls": 2.0, "isf": 10.0}[method]  # the documented float32 margin, on the score's scale
    expected = 1 + (R[rows] > best[:, None] + tol).sum(axis=1)
    got = scorer.best_rank(cand, rows=rows).numpy()
    np.testing.assert_array_equal(got, expected)
    assert got.min() >= 1 and got.max() > 100  # random candidates rank low


def test_bad_induction_arguments_raise(data):
    X, Z = data
    with pytest.raises(ValueError, match="keep_prob"):
        best_matches(X, Z, keep_prob=0.0)
    with pytest.raises(ValueError, match="direction"):
        best_matches(X[:50], Z[:50], device="cpu").pairs("both")
    with pytest.raises(ValueError, match="method"):
        best_matches(X, Z, method="cosine")


def test_translate_returns_words_and_scores():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 16)).astype(np.float32)
    src = Embeddings([f"s{i}" for i in range(60)], X)
    # translations are small perturbations in the same (already aligned) space
    tgt = Embeddings([f"t{i}" for i in range(60)], X + 0.1 * rng.normal(size=X.shape))
    out = translate(src, tgt, ["s5", "s7", "s5"], k=3, method="csls")
    assert [row[0][0] for row in out] == ["t5", "t7", "t5"]
    assert len(out[0]) == 3 and out[0][0][1] >= out[0][1][1] >= out[0][2][1]
    assert [t for t, _ in translate(src, tgt, ["s9"], k=2, method="nn")[0]][0] == "t9"
    with pytest.raises(KeyError, match="nope"):
        translate(src, tgt, ["s1", "nope"])


@pytest.mark.gpu
def test_gpu_equals_cpu(data):
    X, Z = data
    for fn in (knn, csls, inverted_softmax):
        s_cpu, i_cpu = fn(X, Z, k=5, device="cpu")
        s_gpu, i_gpu = fn(X, Z, k=5, device="cuda")
        np.testing.assert_allclose(s_gpu.numpy(), s_cpu.numpy(), atol=1e-4)
        assert (i_gpu == i_cpu).float().mean() > 0.99  # ties and 1e-7 rounding may swap neighbours
    r_cpu = csls_terms(X, Z, device="cpu")
    r_gpu = csls_terms(X, Z, device="cuda")
    for a, b in zip(r_cpu, r_gpu):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    for method in ("nn", "csls", "isf"):
        m_cpu = best_matches(X, Z, method=method, device="cpu")
        m_gpu = best_matches(X, Z, method=method, device="cuda")
        assert (m_gpu.forward_index == m_cpu.forward_index).float().mean() > 0.99
        assert (m_gpu.backward_index == m_cpu.backward_index).float().mean() > 0.99
        np.testing.assert_allclose(m_gpu.forward_score.numpy(), m_cpu.forward_score.numpy(), atol=1e-4)
    # dropout on CUDA follows its generator: the same seed gives the same pairs
    runs = [best_matches(X, Z, keep_prob=0.5, generator=torch.Generator("cuda").manual_seed(3), device="cuda")
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].pairs("union"), runs[1].pairs("union"))
    # the mask is a hash of one key: a key from the same generator gives the CPU's stochastic matches
    m_cpu, m_gpu = (best_matches(X, Z, keep_prob=0.5, generator=torch.Generator().manual_seed(3), device=d)
                    for d in ("cpu", "cuda"))
    assert (m_gpu.forward_index == m_cpu.forward_index).float().mean() > 0.99
    assert (m_gpu.backward_index == m_cpu.backward_index).float().mean() > 0.99
    assert unsupervised_criterion(X, Z, device="cuda") == pytest.approx(unsupervised_criterion(X, Z, device="cpu"),
                                                                        abs=1e-4)


# -- inverted nearest neighbour ------------------------------------------------------
INVNN_TOL = 1e-5  # cosines within this are ties (float32 rounding of the products); ties go to the query


def ref_invnn(Q, K, S):
    """Brute-force float64 inverted nearest neighbour: (sort keys -r + cos/4, ranks), both (n_q, n_k).

    r[x, y] = 1 + #{s : cos(s, y) > cos(x, y)}, over every source.
    """
    C = unit(Q) @ unit(K).T
    CS = unit(K) @ unit(S).T  # keys x sources
    ranks = 1 + (CS[None, :, :] > C[:, :, None] + INVNN_TOL).sum(axis=2)
    return -ranks + 0.25 * C, ranks


@pytest.fixture(scope="module")
def invnn_data():
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(8, 12))
    S = (centers[rng.integers(0, 8, 300)] + 0.8 * rng.normal(size=(300, 12))).astype(np.float32)
    K = (centers[rng.integers(0, 8, 250)] + 0.8 * rng.normal(size=(250, 12))).astype(np.float32)
    S[20] = S[10]  # two sources with equal cosines to every key: they share their rank
    K[6] = K[5]  # two keys with equal scores for every query
    return S[:80], K, S


def check_invnn_top(scores, indices, R, ranks, k):
    scores, indices = scores.numpy(), indices.numpy()
    expected = np.sort(R, axis=1)[:, ::-1][:, :k]
    # the ranks are exact and the cosine tie-break is float32-close
    np.testing.assert_array_equal(np.round(-scores), np.round(-expected))
    np.testing.assert_allclose(scores, expected, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(np.take_along_axis(ranks, indices, axis=1), np.round(-expected))
    assert all(len(set(row)) == k for row in indices)


@pytest.mark.parametrize("shallow", [False, True])
@pytest.mark.parametrize("k", [1, 5])
def test_inverted_nn_matches_brute_force(invnn_data, monkeypatch, shallow, k):
    Q, K, S = invnn_data
    if shallow:
        # lists 2 deep, 25 keys per chunk and 37 x 37 tiles: most queries need deeper passes, up to all sources
        monkeypatch.setattr(xling.retrieval, "_INVNN_DEPTH", 2)
        monkeypatch.setattr(xling.retrieval, "_INVNN_BUDGET", 50)
        monkeypatch.setattr(xling.retrieval, "_INVNN_TILE", 37)
    R, ranks = ref_invnn(Q, K, S)
    scores, indices = xling.retrieval.inverted_nn(Q, K, k=k, sources=S, device="cpu")
    check_invnn_top(scores, indices, R, ranks, k)
    # the hub penalty changes answers: invnn is not cosine
    assert (indices[:, 0].numpy() != knn(Q, K, k=1, device="cpu")[1][:, 0].numpy()).mean() > 0.2
    # the duplicated key: for every query its score equals its twin's
    np.testing.assert_array_equal(R[:, 5], R[:, 6])


def test_inverted_nn_best_rank_matches_brute_force(invnn_data, monkeypatch):
    Q, K, S = invnn_data
    monkeypatch.setattr(xling.retrieval, "_INVNN_DEPTH", 4)
    R, _ = ref_invnn(Q, K, S)
    scorer = Scorer(Q, K, method="invnn", sources=S, device="cpu")
    rng = np.random.default_rng(3)
    cand = rng.integers(0, len(K), size=(40, 3))
    cand[::5, 1:] = -1
    cand[3] = [5, 6, -1]  # the twins: either one is the best candidate, and ties go to it
    rows = np.arange(0, 80, 2)
    best = np.where(cand >= 0, R[rows[:, None], cand.clip(0)], -np.inf).max(axis=1)
    expected = 1 + (R[rows] > best[:, None] + 0.25 * INVNN_TOL).sum(axis=1)
    got = scorer.best_rank(cand, rows=rows).numpy()
    np.testing.assert_array_equal(got, expected)
    assert got.max() > 50  # random candidates rank low: the deep passes ran
    np.testing.assert_array_equal(scorer.best_rank(np.full((2, 1), -1), rows=[0, 1]).numpy(), [len(K) + 1] * 2)


def test_inverted_nn_known_case():
    # VecMap's rule by hand: key y0 is near both sources and ranks x1 first; y1 ranks x0 first.
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[0.7, 0.714], [0.6, -0.8], [-1.0, 0.0]])
    scores, idx = retrieve(X, Y, k=3, method="invnn", device="cpu")
    assert idx.tolist() == [[1, 0, 2], [0, 2, 1]]
    # x0: rank 1 in y1's list, 2 in y0's and y2's (tie broken by cosine 0.7 > -1); x1: 1 in y0's, 1 in y2's ...
    assert np.round(-scores.numpy()).tolist() == [[1, 2, 2], [1, 1, 2]]
    np.testing.assert_allclose(scores[0, 0].item(), -1 + 0.6 / 4, atol=1e-6)
    # queries are ranked among the sources they are given, not among themselves
    _, idx = xling.retrieval.inverted_nn(X[:1], Y, k=1, sources=X)
    assert idx.tolist() == [[1]]


def test_inverted_nn_in_translate_and_its_limits(invnn_data):
    Q, K, S = invnn_data
    src = Embeddings([f"s{i}" for i in range(len(S))], S)
    tgt = Embeddings([f"t{i}" for i in range(len(K))], K)
    out = translate(src, tgt, ["s0", "s7"], k=2, method="invnn", device="cpu")
    _, idx = xling.retrieval.inverted_nn(S[[0, 7]], K, k=2, sources=S, device="cpu")
    assert [[t for t, _ in row] for row in out] == [[f"t{j}" for j in row] for row in idx.tolist()]
    with pytest.raises(ValueError, match="one of nn, csls, isf, got 'invnn'"):
        best_matches(S, K, method="invnn")  # induction ranks both ways at once: not defined for invnn
    scorer = Scorer(Q, K, method="invnn", device="cpu")
    with pytest.raises(ValueError, match="got 'invnn'"):
        scorer.best_score(np.zeros((80, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="key_terms=None"):
        Scorer(Q, K, method="invnn", key_terms=np.zeros(len(K)))


@pytest.mark.gpu
def test_inverted_nn_gpu_equals_cpu(invnn_data):
    Q, K, S = invnn_data
    s_cpu, i_cpu = xling.retrieval.inverted_nn(Q, K, k=5, sources=S, device="cpu")
    s_gpu, i_gpu = xling.retrieval.inverted_nn(Q, K, k=5, sources=S, device="cuda")
    np.testing.assert_array_equal(np.round(-s_gpu.numpy()), np.round(-s_cpu.numpy()))  # the same ranks
    np.testing.assert_allclose(s_gpu.numpy(), s_cpu.numpy(), atol=1e-4)


# -- precision -----------------------------------------------------------------------
def test_precision_names_and_scope(data):
    X, Z = data
    assert xling.retrieval.current_precision() == "fp32"
    with xling.retrieval.precision("fp64"):
        assert xling.retrieval.current_precision() == "fp64"
        assert unit_rows(X).dtype == torch.float64
        with xling.retrieval.precision("fp16"):
            assert unit_rows(X).dtype == torch.float16
        assert xling.retrieval.current_precision() == "fp64"  # restored on the way out
    assert unit_rows(X).dtype == torch.float32
    with pytest.raises(ValueError, match="Expected precision fp16, fp32 or fp64, got 'bf16'"):
        with xling.retrieval.precision("bf16"):
            pass
    with pytest.raises(RuntimeError):  # an error inside the block still restores the precision
        with xling.retrieval.precision("fp64"):
            raise RuntimeError
    assert xling.retrieval.current_precision() == "fp32"


@pytest.mark.parametrize("batch_size,tile_size", [(None, None), (61, 257)])
@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_fp64_equals_the_float64_reference_to_rounding(data, batch_size, tile_size, method):
    X, Z = data
    R = ref_scores(X[:200], Z, method, sources=X)
    with xling.retrieval.precision("fp64"):
        s, i = retrieve(X[:200], Z, k=5, method=method, sources=X, batch_size=batch_size, tile_size=tile_size,
                        device="cpu")
    assert s.dtype == torch.float64
    expected = np.sort(R, axis=1)[:, ::-1][:, :5]
    # 1e-12, where float32 is only 2e-5 close: the products and every term really are float64
    np.testing.assert_allclose(s.numpy(), expected, atol=1e-12 * max(1.0, np.abs(R).max()), rtol=0)
    np.testing.assert_allclose(np.take_along_axis(R, i.numpy(), axis=1), expected, atol=1e-12 * np.abs(R).max())
    s32, _ = retrieve(X[:200], Z, k=5, method=method, sources=X, device="cpu")
    assert np.abs(s32.numpy() - expected).max() > 1e-9  # so float32 could not have passed the assertion above


def test_fp64_on_a_problem_the_compiled_scanner_would_take(data, monkeypatch):
    # at fp32 every scan of this size goes through the kernel; at fp64 the tensor path gives float64 terms
    monkeypatch.setattr(xling.retrieval, "_KERNEL_MIN_SCORES", 0)
    X, Z = data
    with xling.retrieval.precision("fp64"):
        r_x, r_z = csls_terms(X, Z, knn_k=10, device="cpu")
        matches = best_matches(X, Z, method="csls", device="cpu")
    C = unit(X) @ unit(Z).T
    np.testing.assert_allclose(r_x.numpy(), top_mean(C, 10), atol=1e-12)
    np.testing.assert_allclose(r_z.numpy(), top_mean(C.T, 10), atol=1e-12)
    R = 2 * C - top_mean(C, 10)[:, None] - top_mean(C.T, 10)[None, :]
    np.testing.assert_allclose(matches.forward_score.numpy(), R.max(axis=1), atol=1e-12)
    np.testing.assert_array_equal(matches.forward_index.numpy(), R.argmax(axis=1))
    np.testing.assert_array_equal(matches.backward_index.numpy(), R.argmax(axis=0))
    fp32 = best_matches(X, Z, method="csls", device="cpu")  # the kernel at fp32: the same dictionary
    assert (fp32.forward_index == matches.forward_index).float().mean() > 0.99


def test_fp64_inverted_nn_and_ranks_are_exact(invnn_data):
    Q, K, S = invnn_data
    R, ranks = ref_invnn(Q, K, S)
    with xling.retrieval.precision("fp64"):
        scores, indices = xling.retrieval.inverted_nn(Q, K, k=3, sources=S, device="cpu")
        scorer = Scorer(Q, K, method="csls", sources=S, device="cpu")
        assert scorer.tolerance == pytest.approx(2e-12)
    assert scores.dtype == torch.float64
    check_invnn_top(scores, indices, R, ranks, 3)
    # the rank of the worst key is one past every other key: no tie within float64 rounding
    C = ref_scores(Q, K, "csls", sources=S)
    worst = C.argmin(axis=1)[:, None]
    np.testing.assert_array_equal(scorer.best_rank(worst).numpy(), [len(K)] * len(Q))


@pytest.mark.parametrize("method", ["nn", "csls", "isf", "invnn"])
def test_fp16_keeps_the_ranking_within_half_precision(data, method):
    X, Z = data
    with xling.retrieval.precision("fp64"):
        s64, i64 = retrieve(X[:300], Z, k=10, method=method, sources=X, device="cpu")
    with xling.retrieval.precision("fp16"):
        s16, i16 = retrieve(X[:300], Z, k=10, method=method, sources=X, device="cpu")
    assert s16.dtype == torch.float32  # the terms and kept scores are float32, the products half
    # half precision rounds cosines by ~5e-4 (scaled by beta for isf): near-ties may swap, nothing else
    tol = {"nn": 2e-3, "csls": 4e-3, "isf": 0.1, "invnn": 1e-2}[method]
    if method != "invnn":
        assert np.abs(s16.numpy() - s64.numpy()).max() < tol
    assert (i16[:, 0] == i64[:, 0]).float().mean() > 0.95
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i16.tolist(), i64.tolist())])
    assert overlap > 0.9


def test_fp16_from_vectors_beyond_its_range(data):
    # raw values above 65504 overflow half precision; rows are normalised in float32 first
    X, Z = data
    with xling.retrieval.precision("fp16"):
        s, i = knn(X[:50] * 1e6, Z, k=3, device="cpu")
    _, expected = knn(X[:50], Z, k=3, device="cpu")
    assert torch.isfinite(s).all()
    assert (i[:, 0] == expected[:, 0]).float().mean() > 0.95


def test_precision_of_translate(data):
    X, Z = data
    src = Embeddings([f"s{i}" for i in range(len(X))], X)
    tgt = Embeddings([f"t{i}" for i in range(len(Z))], Z)
    out64 = translate(src, tgt, ["s0", "s5"], k=3, method="csls", device="cpu", precision="fp64")
    out32 = translate(src, tgt, ["s0", "s5"], k=3, method="csls", device="cpu")
    R = ref_scores(X[[0, 5]], Z, "csls", sources=X)
    assert [[t for t, _ in row] for row in out64] == [[f"t{j}" for j in np.argsort(-r)[:3]] for r in R]
    np.testing.assert_allclose([s for _, s in out64[0]], np.sort(R[0])[::-1][:3], atol=1e-12)
    np.testing.assert_allclose([s for _, s in out32[0]], np.sort(R[0])[::-1][:3], atol=1e-5)
    assert xling.retrieval.current_precision() == "fp32"
    with pytest.raises(ValueError, match="Expected precision"):
        translate(src, tgt, ["s0"], precision="fp8")


@pytest.mark.gpu
def test_fp16_on_cuda_follows_the_float64_reference(data):
    X, Z = data
    for method in ("nn", "csls", "isf", "invnn"):
        with xling.retrieval.precision("fp64"):
            _, i64 = retrieve(X[:300], Z, k=10, method=method, sources=X, device="cpu")
        with xling.retrieval.precision("fp16"):
            s16, i16 = retrieve(X[:300], Z, k=10, method=method, sources=X, device="cuda")
        assert torch.isfinite(s16).all()
        assert (i16[:, 0] == i64[:, 0]).float().mean() > 0.95
    with xling.retrieval.precision("fp64"):
        s_gpu, _ = knn(X, Z, k=5, device="cuda")
    np.testing.assert_allclose(s_gpu.numpy(), np.sort(ref_scores(X, Z, "nn"), axis=1)[:, ::-1][:, :5], atol=1e-12)
