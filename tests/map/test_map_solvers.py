"""Each solver on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xling import NotEnoughDataError
from xling.map import CCA, RCSLS, LeastSquares, MaxMargin, MultiStep, Procrustes
from xling.map.presets import Artetxe2016, Artetxe2018Supervised, Faruqui2014, Mikolov2013, Xing2015


def rotation(d: int, rng) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(d, d)))[0]


def p_at_1(m, X, Z, rows=None) -> float:
    """Share of source rows whose nearest mapped target (cosine) is the same row."""
    Y, W = m.transform(X), m.transform_target(Z)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    rows = np.arange(len(X)) if rows is None else rows
    return float(((Y[rows] @ W.T).argmax(axis=1) == rows).mean())


@pytest.fixture(scope="module")
def rotated():
    """X anisotropic, Z = X Q + noise; the first 300 rows are the seed pairs."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 20)) * np.linspace(2.0, 0.5, 20)
    Q = rotation(20, rng)
    Z = X @ Q + 0.05 * rng.normal(size=X.shape)
    return X.astype(np.float32), Z.astype(np.float32), Q, np.stack([np.arange(300)] * 2, axis=1)


@pytest.mark.parametrize("m", [Procrustes(normalize=None), MultiStep(normalize=None), Xing2015(normalize=None)])
def test_orthogonal_solvers_recover_the_rotation(m, rotated):
    X, Z, Q, pairs = rotated
    m.fit(X, X @ Q, pairs)  # exact: Q itself
    W = m.x_map_ @ m.z_map_.T  # maps x into Z's coordinates (z_map_ orthogonal)
    np.testing.assert_allclose(W, Q, atol=1e-4)
    m.fit(X, Z, pairs)  # with noise: close to Q
    np.testing.assert_allclose(m.x_map_ @ m.z_map_.T, Q, atol=2e-2)
    np.testing.assert_allclose(m.x_map_.T @ m.x_map_, np.eye(20), atol=1e-5)


def test_least_squares_recovers_a_general_linear_map():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 12))
    W = rng.normal(size=(12, 7))
    m = LeastSquares().fit(X, X @ W)
    np.testing.assert_allclose(m.x_map_, W, atol=1e-4)
    # ridge shrinks the map towards zero
    ridge = LeastSquares(alpha=1e4).fit(X, X @ W)
    assert np.linalg.norm(ridge.x_map_) < 0.5 * np.linalg.norm(W)


def test_orthogonal_beats_least_squares_on_a_noisy_rotation_with_few_pairs():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 20)) * np.linspace(2.0, 0.5, 20)
    Z = X @ rotation(20, rng) + 0.5 * rng.normal(size=X.shape)
    few = np.stack([np.arange(25)] * 2, axis=1)  # barely more pairs than dimensions: LS overfits
    rows = np.arange(500, 2000)
    ls, orth = p_at_1(Mikolov2013().fit(X, Z, few), X, Z, rows), p_at_1(Artetxe2016().fit(X, Z, few), X, Z, rows)
    assert orth > 0.8 and ls < orth - 0.15


def test_multistep_with_source_whitening_is_least_squares(rotated):
    X, Z, _, pairs = rotated
    rng = np.random.default_rng(3)
    Z2 = Z @ rng.normal(size=(20, 20))  # a general linear relation
    ms = MultiStep(normalize=None, whiten="src", src_reweight=1).fit(X, Z2, pairs)
    ls = LeastSquares().fit(X, Z2, pairs)
    # identical similarities between mapped source and target: same retrieval
    np.testing.assert_allclose(ms.transform(X[:50]) @ ms.transform_target(Z2).T,
                               ls.transform(X[:50]) @ ls.transform_target(Z2).T, rtol=1e-3, atol=1e-3)


def test_multistep_recipe_with_dim_reduction_and_reweighting(rotated):
    X, Z, _, pairs = rotated
    m = Artetxe2018Supervised(normalize=None).fit(X, Z, pairs)
    assert p_at_1(m, X, Z) > 0.99
    assert np.all(np.diff(m.singular_values_) <= 1e-9)
    reduced = MultiStep(normalize=None, whiten=True, dim_reduction=5).fit(X, Z, pairs)
    assert reduced.transform(X).shape == (len(X), 5)
    with pytest.raises(ValueError, match="dim_reduction"):
        MultiStep(dim_reduction=50).fit(X, Z, pairs)
    with pytest.raises(NotEnoughDataError, match="whiten"):
        MultiStep(whiten=True).fit(X, Z, pairs[:10])


def test_cca_finds_the_shared_latent_directions():
    rng = np.random.default_rng(4)
    n = 3000
    S = rng.normal(size=(n, 3))  # shared signal
    X = np.hstack([S @ rng.normal(size=(3, 3)), rng.normal(size=(n, 5))]) @ rotation(8, rng)
    Z = np.hstack([S @ rng.normal(size=(3, 3)) + 0.1 * rng.normal(size=(n, 3)), rng.normal(size=(n, 3))])
    m = CCA(normalize=None, keep=0.5, reg=0.0).fit(X, Z)
    assert m.x_map_.shape == (8, 3) and m.z_map_.shape == (6, 3)  # keep 50% of min(8, 6)
    assert m.correlations_[:3].min() > 0.95
    # the projections of paired rows agree, and span the latent S
    Px, Pz = m.transform(X), m.transform_target(Z)
    for j in range(3):
        assert np.corrcoef(Px[:, j], Pz[:, j])[0, 1] > 0.95
    coef = np.linalg.lstsq(Px, S, rcond=None)[0]
    assert np.linalg.norm(Px @ coef - S) / np.linalg.norm(S) < 0.1
    # full CCA: the non-shared directions have small correlations
    full = CCA(normalize=None, keep=1.0, reg=0.0).fit(X, Z)
    assert full.correlations_[3:].max() < 0.1


def test_cca_is_regularised_for_few_pairs():
    rng = np.random.default_rng(5)
    X, Z = rng.normal(size=(100, 30)), rng.normal(size=(100, 30))
    pairs = np.stack([np.arange(20)] * 2, axis=1)  # 20 pairs < 30 dimensions
    with pytest.raises(NotEnoughDataError, match="reg > 0"):
        CCA(reg=0.0).fit(X, Z, pairs)
    m = Faruqui2014().fit(X, Z, pairs)
    assert np.isfinite(m.transform(X)).all() and m.transform(X).shape == (100, 24)


def test_rcsls_reaches_p1_one_and_respects_its_constraint(rotated):
    X, Z, _, pairs = rotated
    rows = np.arange(300, 2000)
    for constraint in ("spectral", "orthogonal", None):
        m = RCSLS(normalize=None, n_iter=10, constraint=constraint, device="cpu").fit(X, Z, pairs)
        assert p_at_1(m, X, Z, rows) > 0.99
        s = np.linalg.svd(m.x_map_, compute_uv=False)
        if constraint == "spectral":
            assert s.max() <= 1 + 1e-5
        if constraint == "orthogonal":
            np.testing.assert_allclose(s, 1, atol=1e-4)
        assert m.history_[-1]["loss"] <= m.initial_loss_ + 1e-6


def test_rcsls_step_is_the_gradient_of_the_paper_loss():
    # one step from the Procrustes start, against a float64 autograd reference of the loss with the
    # step's neighbourhoods held fixed (brute-force dot-product neighbours)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 12))
    Z = X @ rotation(12, rng) + 0.5 * rng.normal(size=X.shape)
    pairs = np.stack([np.arange(150)] * 2, axis=1)
    k, lr = 5, 0.5
    m = RCSLS(normalize=None, knn_k=k, n_iter=1, lr=lr, constraint=None, device="cpu").fit(X, Z, pairs)
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    Zu = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    Xs, Ys = Xu[pairs[:, 0]], Zu[pairs[:, 1]]
    U, _, Vt = np.linalg.svd(Xs.T @ Ys)
    W0 = torch.tensor(U @ Vt, requires_grad=True)
    Xs_t, Ys_t, Xu_t, Zu_t = (torch.tensor(a) for a in (Xs, Ys, Xu, Zu))
    Yhat = Xs_t @ W0
    nn_y = (Yhat @ Zu_t.T).topk(k, dim=1).indices
    nn_x = (Ys_t @ (Xu_t @ W0).T).topk(k, dim=1).indices
    loss = (-2 * (Yhat * Ys_t).sum(1) + (Yhat[:, None, :] * Zu_t[nn_y.detach()]).sum((1, 2)) / k
            + ((Xu_t[nn_x.detach()] @ W0) * Ys_t[:, None, :]).sum((1, 2)) / k).mean()
    loss.backward()
    assert abs(m.initial_loss_ - loss.item()) < 1e-5
    step = (W0 - lr * W0.grad).detach().numpy()
    if m.history_[-1]["lr"] == lr:  # the step was taken (the loss went down)
        np.testing.assert_allclose(m.x_map_, step, atol=1e-5)
    else:
        np.testing.assert_allclose(m.x_map_, W0.detach().numpy(), atol=1e-5)


def test_rcsls_lowers_the_csls_loss_below_procrustes_on_noisy_data():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3000, 20))
    Z = X @ rotation(20, rng) + 0.8 * rng.normal(size=X.shape)
    m = RCSLS(n_iter=15, device="cpu").fit(X, Z, np.stack([np.arange(1000)] * 2, axis=1))
    assert m.history_[-1]["loss"] < m.initial_loss_


def test_rcsls_fasttext_options_max_pairs_sgd_and_weight_decay():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3000, 20))
    Z = X @ rotation(20, rng) + 0.8 * rng.normal(size=X.shape)
    pairs = np.stack([np.arange(1000)] * 2, axis=1)
    # --maxsup: the first pairs only, the same fit as giving only them
    a = RCSLS(n_iter=3, max_pairs=400, device="cpu").fit(X, Z, pairs)
    b = RCSLS(n_iter=3, device="cpu").fit(X, Z, pairs[:400])
    np.testing.assert_allclose(a.x_map_, b.x_map_, atol=1e-6)
    # --sgd: mini-batch steps follow the seed and lower the mini-batch loss
    sgd = [RCSLS(n_iter=15, batch_size=200, lr=0.5, random_state=s, device="cpu").fit(X, Z, pairs) for s in (0, 0, 1)]
    np.testing.assert_array_equal(sgd[0].x_map_, sgd[1].x_map_)
    assert not np.allclose(sgd[0].x_map_, sgd[2].x_map_)
    assert sgd[0].history_[-1]["loss"] < sgd[0].history_[0]["loss"] - 0.02  # measured -0.267 -> -0.310
    assert len(sgd[0].history_) == 15 and all(np.isfinite(h["loss"]) for h in sgd[0].history_)
    # --reg: weight decay shrinks the map
    plain = RCSLS(n_iter=5, device="cpu").fit(X, Z, pairs)
    decayed = RCSLS(n_iter=5, reg=0.5, device="cpu").fit(X, Z, pairs)
    assert np.linalg.norm(decayed.x_map_) < np.linalg.norm(plain.x_map_)
    for bad in (dict(max_pairs=0), dict(batch_size=-3), dict(reg=-0.1), dict(reg=2.0)):
        with pytest.raises(ValueError, match="max_pairs|batch_size|reg"):
            RCSLS(n_iter=1, device="cpu", **bad).fit(X, Z, pairs)


@pytest.mark.parametrize("negatives", ["intruder", "random"])
def test_max_margin_reaches_p1_one(negatives, rotated):
    X, Z, _, pairs = rotated
    m = MaxMargin(negatives=negatives, n_epochs=10, random_state=0, device="cpu").fit(X[:1000], Z[:1000], pairs)
    assert p_at_1(m, X[:1000], Z[:1000], np.arange(300, 1000)) > 0.97
    assert m.history_[-1]["loss"] < m.history_[0]["loss"]


def test_intruders_are_harder_negatives_than_random_ones(rotated):
    X, Z, _, pairs = rotated
    kw = dict(n_epochs=1, random_state=0, device="cpu", lr=1e-9)  # W stays at its start: same ŷ
    hard = MaxMargin(negatives="intruder", **kw).fit(X[:1000], Z[:1000], pairs)
    easy = MaxMargin(negatives="random", **kw).fit(X[:1000], Z[:1000], pairs)
    # intruders sit closer to the mapped vectors, so they violate the margin more
    assert hard.history_[0]["loss"] > 1.5 * easy.history_[0]["loss"]


def test_max_margin_divergence_is_reported(rotated):
    X, Z, _, pairs = rotated
    with pytest.raises(FloatingPointError, match="diverged"):
        MaxMargin(lr=float("inf"), n_epochs=2, random_state=0, device="cpu").fit(X[:500], Z[:500], pairs)
