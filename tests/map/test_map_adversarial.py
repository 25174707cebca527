"""Adversarial mapping: selection of the map and the report of a failed run (hub alignment: tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest

from xling import ConvergenceWarning
from xling.map import Adversarial, AdversarialAutoencoder


def rotation(d, rng):
    return np.linalg.qr(rng.normal(size=(d, d)))[0]


FAST = dict(epoch_size=640, dis_hidden=32, criterion_size=1000, max_rank=2000, device="cpu", random_state=0)


def test_adversarial_refinement_recovers_a_rotation_near_the_identity_and_keeps_w_orthogonal():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(2000, 10)) * np.linspace(2, 0.5, 10)).astype(np.float32)
    # a small rotation: the adversarial start (identity) is in its basin
    A = rng.normal(size=(10, 10)) * 0.08
    Q = np.linalg.qr(np.eye(10) + A - A.T)[0]
    Q *= np.sign(np.diag(Q))
    Z = (X @ Q).astype(np.float32)
    m = Adversarial(normalize=None, n_epochs=2, n_refinement=3, **FAST).fit(X, Z)
    np.testing.assert_allclose(m.x_map_, Q, atol=1e-2)
    phases = [e["phase"] for e in m.history_]
    assert phases == ["adversarial"] * 2 + ["refinement"] * 3 + ["diagnosis"]
    assert m.criterion_ == max(e["criterion"] for e in m.history_[:-1])  # selected by the criterion
    assert m.diagnosis_["success"]


def test_orthogonalisation_keeps_the_adversarial_map_orthogonal():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    Z = (X @ rotation(8, rng)).astype(np.float32)
    with pytest.warns(ConvergenceWarning):
        m = Adversarial(normalize=None, n_epochs=2, n_refinement=0, beta=0.01, **FAST).fit(X, Z)
    np.testing.assert_allclose(m.x_map_.T @ m.x_map_, np.eye(8), atol=0.05)


@pytest.mark.parametrize("cls", [Adversarial, AdversarialAutoencoder])
def test_a_failed_unsupervised_mapping_says_so(cls):
    # isotropic Gaussian clouds: any rotation fits equally well, nothing is identifiable
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1500, 16)).astype(np.float32)
    Z = (X @ rotation(16, rng)).astype(np.float32)
    with pytest.warns(ConvergenceWarning, match="never rose"):
        m = cls(n_epochs=1, n_refinement=1, **FAST).fit(X, Z)
    assert not m.diagnosis_["success"]
    assert "failed" in m.diagnosis_["message"]


def test_adversarial_refuses_a_lexicon():
    X = np.random.default_rng(3).normal(size=(50, 4))
    with pytest.raises(ValueError, match="pairs=None"):
        Adversarial(**FAST).fit(X, X, np.stack([np.arange(5)] * 2, axis=1))
