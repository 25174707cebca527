"""Normalisation steps: each does what it says, fitted statistics are reused, inputs untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xling import Normalizer, normalize
from xling.preprocessing import STEPS, parse_steps


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    # Shifted and anisotropic, so centering and scaling have work to do.
    return (rng.standard_normal((200, 6)) * [1, 2, 3, 4, 5, 6] + 3.0).astype(np.float32)


def test_unit_rows_have_norm_one_and_zero_rows_stay_zero(X):
    X = X.copy()
    X[7] = 0.0
    out = normalize(X, "unit")
    norms = np.linalg.norm(out, axis=1)
    np.testing.assert_allclose(np.delete(norms, 7), 1.0, rtol=1e-6)
    assert norms[7] == 0.0 and np.isfinite(out).all()


def test_center_gives_zero_mean_columns(X):
    np.testing.assert_allclose(normalize(X, "center").mean(axis=0), 0.0, atol=1e-5)


def test_unit_dim_gives_unit_variance_columns(X):
    out = normalize(X, "center,unit_dim")
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)


def test_center_emb_gives_zero_mean_rows(X):
    np.testing.assert_allclose(normalize(X, "center_emb").mean(axis=1), 0.0, atol=1e-5)


def test_steps_apply_in_order(X):
    # unit then center: rows are no longer unit; center then unit: they are.
    a = normalize(X, "unit,center")
    b = normalize(X, "center,unit")
    assert np.abs(np.linalg.norm(a, axis=1) - 1).max() > 0.1
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-6)
    # The classic recipe ends on unit rows whose mean is close to zero.
    c = normalize(X, "unit,center,unit")
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-6)
    assert np.linalg.norm(c.mean(axis=0)) < np.linalg.norm(normalize(X, "unit").mean(axis=0)) / 4


def test_transform_reapplies_the_fitted_statistics(X):
    norm = Normalizer("center,unit_dim").fit(X)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    new = X[:10] + 100.0  # a shifted batch: must get the training shift, not its own
    np.testing.assert_allclose(norm.transform(new), (new - mean) / scale, rtol=1e-4, atol=1e-4)
    assert [step for step, _ in norm.stats_] == ["center", "unit_dim"]
    np.testing.assert_allclose(norm.stats_[0][1], mean, rtol=1e-6)


def test_fit_transform_equals_fit_then_transform(X):
    norm = Normalizer("unit,center,unit")
    np.testing.assert_allclose(norm.fit_transform(X), Normalizer("unit,center,unit").fit(X).transform(X),
                               rtol=1e-6, atol=1e-7)


def test_input_is_not_mutated_and_output_is_float32(X):
    before = X.copy()
    out = Normalizer("unit,center,unit_dim,center_emb").fit(X).transform(X)
    np.testing.assert_array_equal(X, before)
    assert out.dtype == np.float32 and out is not X
    as_float64 = X.astype(np.float64)
    normalize(as_float64, "center")
    np.testing.assert_array_equal(as_float64, before.astype(np.float64))


def test_accepts_tensors_and_sequences(X):
    np.testing.assert_allclose(normalize(torch.from_numpy(X), ["unit"]), normalize(X, "unit"))


def test_parse_steps():
    assert parse_steps("unit, center ,unit") == ("unit", "center", "unit")
    assert parse_steps(["unit-dim", "none"]) == ("unit_dim",)
    assert parse_steps(None) == () and parse_steps("none") == ()
    assert set(STEPS) == {"unit", "center", "unit_dim", "center_emb", "none"}
    with pytest.raises(ValueError, match="'norm'"):
        parse_steps("unit,norm")


def test_bad_matrices_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        normalize(np.ones(3))
    with pytest.raises(ValueError, match="NaN or inf in row 1"):
        normalize(np.array([[1.0, 2.0], [np.nan, 1.0]]))


def test_transform_before_fit_raises(X):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Normalizer().transform(X)
