"""Adversarial mapping (selection and failure report) and hub alignment of several languages."""

from __future__ import annotations

import numpy as np
import pytest

from xling import ConvergenceWarning, Embeddings, Lexicon
from xling.evaluate import bli
from xling.map import Adversarial, AdversarialAutoencoder, map_to_hub


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


def three_languages(n=600, d=12, seed=4):
    """A hub 'en' and two languages 'de', 'fr', each a noisy rotation of it."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n, d)) * np.linspace(2, 0.5, d)
    spaces = {"en": Embeddings([f"en{i}" for i in range(n)], H)}
    for lang in ("de", "fr"):
        order = rng.permutation(n)  # rows in another order: word i sits at row where(order == i)
        V = H @ rotation(d, rng) + 0.02 * rng.normal(size=H.shape)
        spaces[lang] = Embeddings([f"{lang}{i}" for i in order], V[order])
    lexicons = {lang: Lexicon((f"{lang}{i}", f"en{i}") for i in range(200)) for lang in ("de", "fr")}
    return spaces, lexicons


def test_a_non_hub_pair_is_evaluated_through_the_hub():
    spaces, lexicons = three_languages()
    al = map_to_hub(spaces, "en", lexicons, method="procrustes", normalize=None)
    assert set(al.mappers) == {"de", "fr"} and al.coverage["de"].n_entries_used == 200
    src, tgt = al.pair("de", "fr")
    test = Lexicon((f"de{i}", f"fr{i}") for i in range(200, 600))  # words never in any lexicon
    result = bli(src, tgt, test, method="csls", device="cpu")
    assert result["p@1"] > 0.99 and result["coverage"] == 1.0
    # the hub's own vectors are shared by every language
    np.testing.assert_allclose(al.embeddings["en"].vectors, spaces["en"].vectors, atol=1e-5)


def test_hub_rejects_two_sided_methods_and_missing_lexicons():
    spaces, lexicons = three_languages()
    with pytest.raises(ValueError, match="one-sided"):
        map_to_hub(spaces, "en", lexicons, method="cca")
    with pytest.raises(ValueError, match="fr→en lexicon"):
        map_to_hub(spaces, "en", {"de": lexicons["de"]})
    with pytest.raises(ValueError, match="hub"):
        map_to_hub(spaces, "it", lexicons)
    with pytest.raises(ValueError, match="method"):
        map_to_hub(spaces, "en", lexicons, method="nope")
