"""The contract every registered mapper honours (scikit-learn style)."""

from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from xling import Alignment, ConvergenceWarning, FormatError, NotEnoughDataError
from xling.map import MAPPERS

# settings that keep the iterative solvers to a fraction of a second here
FAST = {
    "maxmargin": {"n_epochs": 3},
    "rcsls": {"n_iter": 3},
    "adversarial": {"n_epochs": 1, "epoch_size": 256, "dis_hidden": 16, "n_refinement": 1},
    "adversarial-autoencoder": {"n_epochs": 1, "epoch_size": 256, "dis_hidden": 16},
    "selflearning": {"max_iter": 3},
    "unsupervised": {"max_iter": 4, "stochastic_interval": 1, "init_cutoff": 150},
    "artetxe2018-unsupervised": {"max_iter": 4, "stochastic_interval": 1, "init_cutoff": 150},
    "artetxe2018-semi-supervised": {"max_iter": 4, "stochastic_interval": 1},
    "artetxe2018-identical": {"max_iter": 4, "stochastic_interval": 1},
}


def make(name: str, **extra):
    cls = MAPPERS[name]
    params = dict(FAST.get(name, {}))
    names = cls().get_params()
    if "random_state" in names:
        params["random_state"] = 0
    if "device" in names:
        params["device"] = "cpu"
    params.update(extra)
    return cls(**params)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 8)) * np.linspace(2, 0.5, 8)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    Z = (X @ Q + 0.01 * rng.normal(size=X.shape)).astype(np.float32)
    pairs = np.stack([np.arange(100), np.arange(100)], axis=1)
    return X, Z, pairs


def fit(m, X, Z, pairs):
    """Fit with the seed pairs, or without for unsupervised methods (whose
    failure warnings on this tiny case are not what these tests check). Row i
    of X and of Z is word ``w{i}`` on both sides, so an identical-spelling
    seed finds the true pairs."""
    words = [f"w{i}" for i in range(len(X))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return m.fit(X, Z, pairs if m.supervised else None, src_words=words, tgt_words=words[:len(Z)])


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_fit_returns_self_and_transforms_have_matching_shapes(name, data):
    X, Z, pairs = data
    X0, Z0 = X.copy(), Z.copy()
    m = make(name)
    assert fit(m, X, Z, pairs) is m
    Y, W = m.transform(X), m.transform_target(Z)
    assert isinstance(Y, np.ndarray) and Y.dtype == np.float32 and Y.shape[0] == len(X)
    assert W.dtype == np.float32 and W.shape == (len(Z), Y.shape[1])
    assert m.x_map_.shape[1] == m.z_map_.shape[1] == Y.shape[1]
    np.testing.assert_array_equal(X, X0)  # inputs are not mutated
    np.testing.assert_array_equal(Z, Z0)
    # tensor in → float32 tensor out, same values
    Yt = m.transform(torch.from_numpy(X))
    assert isinstance(Yt, torch.Tensor) and Yt.dtype == torch.float32
    np.testing.assert_allclose(Yt.numpy(), Y, atol=1e-5)
    Wt = m.transform_target(torch.from_numpy(Z))
    np.testing.assert_allclose(Wt.numpy(), W, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_not_fitted_raises(name, data):
    X, _, _ = data
    with pytest.raises(NotFittedError):
        make(name).transform(X)
    with pytest.raises(NotFittedError):
        make(name).transform_target(X)


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_seeded_fits_are_reproducible_and_clone_keeps_params(name, data):
    X, Z, pairs = data
    m = make(name)
    a = fit(clone(m), X, Z, pairs)
    b = fit(clone(m), X, Z, pairs)
    np.testing.assert_array_equal(a.x_map_, b.x_map_)
    np.testing.assert_array_equal(a.z_map_, b.z_map_)
    assert clone(m).get_params() == m.get_params()


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_bad_inputs_give_clear_errors(name, data):
    X, Z, pairs = data
    m = make(name)
    with pytest.raises(ValueError, match="finite"):
        bad = X.copy()
        bad[3, 1] = np.nan
        fit(m, bad, Z, pairs)
    if m.same_dim:
        with pytest.raises(ValueError, match="same dimension"):
            fit(m, X, Z[:, :5], pairs)
    if m.supervised:
        with pytest.raises(NotEnoughDataError, match="at least"):
            m.fit(X, Z, pairs[:1])
        with pytest.raises(ValueError, match="out-of-range"):
            m.fit(X, Z, pairs + 150)
    elif getattr(m, "seed", None) == "identical":  # given pairs join the identical ones; the words are required
        with pytest.raises(ValueError, match="src_words and tgt_words"):
            m.fit(X, Z, None)
    else:
        with pytest.raises(ValueError, match="pairs"):
            m.fit(X, Z, pairs)


@pytest.mark.parametrize("name", [n for n in sorted(MAPPERS) if not MAPPERS[n]().same_dim])
def test_different_dimensions_are_accepted_when_the_solver_allows(name, data):
    X, Z, pairs = data
    m = fit(make(name), X, Z[:, :6], pairs)
    assert m.transform(X).shape[1] == m.transform_target(Z[:, :6]).shape[1]


@pytest.mark.parametrize("name", ["maxmargin", "rcsls", "selflearning", "adversarial", "unsupervised"])
def test_iterative_solvers_report_progress(name, data):
    X, Z, pairs = data
    events = []
    m = fit(make(name, callbacks=[events.append]), X, Z, pairs)
    assert events and events == m.history_
    assert all(0 < e["progress"] <= 1 for e in events)
    assert events[-1]["step"] >= 1
    assert all(set(e) >= {"event", "phase", "step", "total", "progress"} for e in events)


def test_registry_says_which_methods_need_a_lexicon():
    unsupervised = {name for name, cls in MAPPERS.items() if not cls.supervised}
    assert unsupervised == {"adversarial", "adversarial-autoencoder", "unsupervised", "artetxe2018-unsupervised",
                            "artetxe2018-identical"}
    # instances follow their seed, so a generic caller can ask either
    assert MAPPERS["selflearning"](seed="identical").supervised is False
    assert MAPPERS["unsupervised"](seed="pairs").supervised is True


def test_self_learning_accepts_the_words_whatever_its_seed(data):
    # a generic caller (the CLI) passes the words to every fit that takes them
    X, Z, pairs = data
    words = [f"w{i}" for i in range(len(X))]
    m = make("selflearning").fit(X, Z, pairs, src_words=words, tgt_words=words)
    np.testing.assert_array_equal(m.seed_pairs_, pairs)


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_saved_alignment_applies_exactly_the_fitted_map(name, data, tmp_path):
    # the state a user keeps is the map that produced the report, for every method
    X, Z, pairs = data
    m = fit(make(name), X, Z, pairs)
    path = tmp_path / "map.npz"
    m.to_alignment("xx", "yy", name).save(path)
    loaded = Alignment.load(path)
    assert (loaded.method, loaded.src_lang, loaded.tgt_lang) == (name, "xx", "yy")
    np.testing.assert_allclose(loaded.apply(X), m.transform(X), atol=1e-6)
    np.testing.assert_allclose(loaded.apply_target(Z), m.transform_target(Z), atol=1e-6)


@pytest.mark.parametrize("name", ["selflearning", "unsupervised", "cca", "faruqui2014", "artetxe2018-supervised"])
def test_transform_equals_the_recipe_of_the_method(name, data):
    # the fitted state is not just "normaliser then x_map_": self-learning
    # normalises inside its sub-mapper, CCA shifts by the pair means
    X, Z, pairs = data
    m = fit(make(name), X, Z, pairs)
    inner = getattr(m, "mapper_", None)
    if inner is not None:
        np.testing.assert_allclose(m.transform(X), inner.transform(X), atol=1e-6)
        np.testing.assert_allclose(m.transform_target(Z), inner.transform_target(Z), atol=1e-6)
    if name in ("cca", "faruqui2014"):
        Xn = m.x_normalizer_.transform(X)
        np.testing.assert_allclose(m.transform(X), (Xn - m.x_mean_) @ m.x_map_, atol=1e-5)
        assert np.abs(m.x_mean_).max() > 1e-3  # the shift is real, so a map without it would be wrong


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_every_mapper_has_one_fit_signature_and_checks_the_input_width(name, data):
    X, Z, pairs = data
    params = list(inspect.signature(MAPPERS[name].fit).parameters.values())
    assert [(p.name, p.kind, p.default) for p in params] == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("X", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("Z", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("pairs", inspect.Parameter.POSITIONAL_OR_KEYWORD, None),
        ("src_words", inspect.Parameter.KEYWORD_ONLY, None),
        ("tgt_words", inspect.Parameter.KEYWORD_ONLY, None),
        ("validation", inspect.Parameter.KEYWORD_ONLY, None),
    ]
    assert "transform" not in vars(MAPPERS[name]) and "transform_target" not in vars(MAPPERS[name])
    m = fit(make(name), X, Z, pairs)
    assert (m.n_features_in_, m.n_target_features_in_) == (X.shape[1], Z.shape[1])
    with pytest.raises(ValueError, match=f"Expected source vectors with {X.shape[1]} columns .*got 5"):
        m.transform(X[:, :5])
    with pytest.raises(ValueError, match=f"Expected target vectors with {Z.shape[1]} columns .*got 7"):
        m.transform_target(Z[:, :7])


def test_alignment_files_that_are_not_ours_or_too_new_are_refused(data, tmp_path):
    X, Z, pairs = data
    path = tmp_path / "map.npz"
    make("procrustes").fit(X, Z, pairs).to_alignment().save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**arrays, "meta": np.array(json.dumps({**meta, "format_version": 99}))})
    with pytest.raises(FormatError, match=r"newer.npz: Expected alignment format version <= 1, got 99"):
        Alignment.load(newer)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(FormatError, match="other.npz: Expected an xling alignment"):
        Alignment.load(other)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FormatError, match="broken.npz: Expected an xling alignment"):
        Alignment.load(broken)
    missing = tmp_path / "missing.npz"
    np.savez(missing, **{k: v for k, v in arrays.items() if k != "source_matrix"})
    with pytest.raises(FormatError, match="missing.npz: Expected the source side's 'source_matrix'"):
        Alignment.load(missing)


@pytest.mark.parametrize("name", sorted(MAPPERS))
def test_validation_pairs_are_scored_per_iteration_or_ignored(name, data):
    # held-out rows 100..199 (the seed pairs are rows 0..99): the iterative solvers log their P@1
    # every iteration (VecMap's --validation); the others fit exactly the same map without them
    X, Z, pairs = data
    validation = np.stack([np.arange(100, 200), np.arange(100, 200)], axis=1)
    m = make(name, **({"n_epochs": 40} if name == "maxmargin" else {}))  # from a random start it needs the epochs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        words = [f"w{i}" for i in range(len(X))]  # for identical-word seeds (see fit)
        m.fit(X, Z, pairs if m.supervised else None, validation=validation, src_words=words, tgt_words=words)
    steps = [e for e in m.history_ if e.get("phase") != "diagnosis"]
    if not m.uses_validation:
        assert not any(k.startswith("val_") for e in m.history_ for k in e)
        np.testing.assert_array_equal(m.x_map_, fit(make(name), X, Z, pairs).x_map_)
        return
    assert steps and all({"val_nn_p@1", "val_csls_p@1"} <= set(e) for e in steps)
    assert all(0.0 <= e[key] <= 1.0 for e in steps for key in ("val_nn_p@1", "val_csls_p@1"))
    if m.supervised:
        # Z is a rotation of X plus 1% noise: the held-out words translate right
        assert steps[-1]["val_nn_p@1"] > 0.9 and steps[-1]["val_csls_p@1"] > 0.9
    if name in ("rcsls", "maxmargin"):  # their last iteration's map is the fitted one: brute-force NN agrees
        Y, W = m.transform(X), m.transform_target(Z)
        cos = (Y / np.linalg.norm(Y, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=1, keepdims=True)).T
        assert steps[-1]["val_nn_p@1"] == pytest.approx((cos[100:200].argmax(axis=1) == np.arange(100, 200)).mean())


def test_bad_validation_pairs_are_named(data):
    X, Z, pairs = data
    with pytest.raises(ValueError, match="validation: Expected pair indices within X rows"):
        make("rcsls").fit(X, Z, pairs, validation=[[0, 500]])
    with pytest.raises(ValueError, match=r"validation: Expected pairs of shape \(n_pairs, 2\)"):
        make("procrustes").fit(X, Z, pairs, validation=[1, 2, 3])
