"""Self-learning: from few seeds, from words, and from nothing; and the dictionary-free diagnosis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xling import ConvergenceWarning, NotEnoughDataError
from xling._utils import check_random_state, torch_generator
from xling.exceptions import InputError
from xling.map import LeastSquares, Procrustes, SelfLearning, seed_pairs, similarity_distribution_pairs
from xling.map._diagnosis import conclude, spelling_check
from xling.map.presets import Artetxe2018SemiSupervised, Artetxe2018Supervised, Artetxe2018Unsupervised


def languages(n=3000, d=20, noise=0.05, seed=0):
    """Anisotropic clustered X, and Z = X Q + noise with frequency ranks jittered.

    Row i of X translates to row ``perm[i]`` of Z; ``perm`` only swaps rows
    within windows of 20, as frequency ranks of translations differ a little.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, d)) * 1.5
    X = centers[rng.integers(0, 40, n)] + rng.normal(size=(n, d)) * np.linspace(2.0, 0.3, d)
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    perm = np.concatenate([start + rng.permutation(20) for start in range(0, n, 20)])
    Z = np.empty_like(X)
    Z[perm] = X @ Q + noise * rng.normal(size=X.shape)
    return X.astype(np.float32), Z.astype(np.float32), Q, perm


def accuracy(m, X, Z, perm) -> float:
    Y, W = m.transform(X), m.transform_target(Z)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return float(((Y @ W.T).argmax(axis=1) == perm).mean())


def test_from_five_percent_seed_pairs_recovers_the_rotation():
    X, Z, Q, perm = languages()
    seeds = np.stack([np.arange(150), perm[:150]], axis=1)  # 5% of the vocabulary
    events = []
    m = SelfLearning(mapper=Procrustes(normalize=None), random_state=0, device="cpu", callbacks=[events.append])
    m.fit(X, Z, seeds)
    np.testing.assert_allclose(m.x_map_, Q, atol=0.02)
    assert accuracy(m, X, Z, perm) > 0.99
    assert (m.pairs_[:, 1] == perm[m.pairs_[:, 0]]).mean() > 0.99
    assert events[-1]["phase"] == "diagnosis" and events[-1]["success"]
    objectives = [e["objective"] for e in events[:-1]]
    assert objectives[-2] >= objectives[0] and m.diagnosis_["success"]
    # Procrustes on the seeds alone is already good here, but far from the full dictionary
    assert len(m.pairs_) > 10 * len(seeds)


def test_directions_and_threshold_shape_the_dictionary():
    X, Z, _, perm = languages(n=1500)
    seeds = np.stack([np.arange(100), perm[:100]], axis=1)
    sizes = {}
    for direction in ("forward", "intersection", "union"):
        m = SelfLearning(mapper=Procrustes(normalize=None), direction=direction, device="cpu").fit(X, Z, seeds)
        sizes[direction] = len(m.pairs_)
    assert sizes["intersection"] <= sizes["forward"] <= sizes["union"]
    strict = SelfLearning(mapper=Procrustes(normalize=None), direction="forward", threshold=0.4, device="cpu")
    assert len(strict.fit(X, Z, seeds).pairs_) < sizes["forward"]
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        SelfLearning(mapper=Procrustes(normalize=None), max_iter=1, device="cpu").fit(X, Z, seeds)


def test_seeds_from_identical_words_and_numerals():
    X, Z, _, perm = languages(n=1500)
    src = [f"s{i}" for i in range(1500)]
    tgt = [f"t{j}" for j in range(1500)]
    for i in range(0, 1500, 15):  # 100 shared strings, ten of them numerals
        name = str(1800 + i) if i % 150 == 0 else f"name{i}"
        src[i] = tgt[perm[i]] = name
    assert len(seed_pairs(src, tgt, "identical")) == 100
    assert len(seed_pairs(src, tgt, "numerals")) == 10
    m = SelfLearning(mapper=Procrustes(normalize=None), seed="identical", device="cpu")
    m.fit(X, Z, src_words=src, tgt_words=tgt)
    assert accuracy(m, X, Z, perm) > 0.99
    with pytest.raises(ValueError, match="src_words and tgt_words"):
        SelfLearning(seed="numerals").fit(X, Z)
    with pytest.raises(ValueError, match="one word per row"):
        SelfLearning(seed="identical").fit(X, Z, src_words=src[:10], tgt_words=tgt)
    with pytest.raises(NotEnoughDataError, match="shared"):
        SelfLearning(seed="numerals").fit(X, Z, src_words=[f"a{i}" for i in range(1500)], tgt_words=tgt)


def test_unsupervised_initialisation_finds_translations_without_any_signal():
    X, Z, _, perm = languages()
    pairs = similarity_distribution_pairs(X, Z, cutoff=1000, device="cpu")
    correct = pairs[:, 1] == perm[pairs[:, 0]]
    assert correct.mean() > 0.5  # far above chance (1/1000)


def test_unsupervised_self_learning_recovers_the_rotation():
    X, Z, Q, perm = languages()
    m = SelfLearning(mapper=Procrustes(normalize=None), seed="unsupervised", init_cutoff=1000,
                     random_state=0, device="cpu")
    assert not m.supervised
    m.fit(X, Z)
    np.testing.assert_allclose(m.x_map_, Q, atol=0.02)
    assert accuracy(m, X, Z, perm) > 0.99
    assert m.diagnosis_["success"]
    with pytest.raises(ValueError, match="pairs=None"):
        m.fit(X, Z, np.stack([np.arange(10)] * 2, axis=1))


def test_stochastic_recipe_and_failure_message():
    X, Z, _, perm = languages(n=1000)
    m = Artetxe2018Unsupervised(init_cutoff=600, stochastic_interval=1, random_state=0, device="cpu").fit(X, Z)
    keep = [e["keep_prob"] for e in m.history_[:-1]]
    assert keep[0] == pytest.approx(0.1) and keep[-1] == 1.0 and keep == sorted(keep)
    assert accuracy(m, X, Z, perm) > 0.95
    # unrelated spaces: nothing to find, and the result says so
    rng = np.random.default_rng(9)
    noise = rng.normal(size=(1000, 20)).astype(np.float32)
    with pytest.warns(ConvergenceWarning, match="never rose"):
        bad = SelfLearning(seed="unsupervised", init_cutoff=600, max_iter=5, random_state=0, device="cpu").fit(X, noise)
    assert not bad.diagnosis_["success"] and "failed" in bad.diagnosis_["message"]
    assert bad.history_[-1]["phase"] == "diagnosis" and "never rose" in bad.history_[-1]["message"]


def test_wraps_any_supervised_mapper_and_clones_it():
    X, Z, _, perm = languages(n=1500)
    inner = LeastSquares()
    m = SelfLearning(mapper=inner, device="cpu").fit(X, Z, np.stack([np.arange(150), perm[:150]], axis=1))
    assert m.mapper_ is not inner and not hasattr(inner, "x_map_")
    assert accuracy(m, X, Z, perm) > 0.99


def test_a_final_mapper_is_fitted_once_on_the_final_dictionary():
    """Iterate one solver, fit another on the dictionary the iterations end with (VecMap's recipes)."""
    X, Z, _, perm = languages(n=1500)
    seeds = np.stack([np.arange(150), perm[:150]], axis=1)
    iterated = SelfLearning(final_mapper=None, vocabulary_cutoff=1000, random_state=0, device="cpu").fit(X, Z, seeds)
    both = SelfLearning(final_mapper=Artetxe2018Supervised(), vocabulary_cutoff=1000, random_state=0,
                        device="cpu").fit(X, Z, seeds)
    np.testing.assert_array_equal(both.pairs_, iterated.pairs_)  # the same iterations
    assert isinstance(both.mapper_, Artetxe2018Supervised) and isinstance(iterated.mapper_, Procrustes)
    final = Artetxe2018Supervised().fit(X, Z, both.pairs_)
    np.testing.assert_allclose(both.x_map_, final.x_map_, atol=1e-6)
    np.testing.assert_allclose(both.transform(X[:50]), final.transform(X[:50]), atol=1e-5)
    assert not np.allclose(both.x_map_, iterated.x_map_, atol=1e-2)  # a multi-step map is not the rotation
    # the default ("auto"): that multi-step map after the default Procrustes loop, none after another solver
    default = SelfLearning(vocabulary_cutoff=1000, random_state=0, device="cpu").fit(X, Z, seeds)
    np.testing.assert_allclose(default.x_map_, both.x_map_, atol=1e-6)
    other = SelfLearning(mapper=LeastSquares(), vocabulary_cutoff=1000, device="cpu").fit(X, Z, seeds)
    assert isinstance(other.mapper_, LeastSquares)


def test_the_automatic_final_map_needs_more_pairs_than_dimensions():
    """Whitening needs more pairs than dimensions: with fewer, "auto" keeps the last iteration's map."""
    X, Z, _, perm = languages(n=400, d=20)
    seeds = np.stack([np.arange(40), perm[:40]], axis=1)
    m = SelfLearning(vocabulary_cutoff=10, random_state=0, device="cpu").fit(X, Z, seeds)  # at most 2 x 10 pairs
    assert len(m.pairs_) <= 20 and isinstance(m.mapper_, Procrustes)
    with pytest.raises(InputError, match="final_mapper"):
        SelfLearning(final_mapper="best", device="cpu").fit(X, Z, seeds)


def test_vecmaps_semi_supervised_recipe_iterates_procrustes_and_ends_with_the_multistep_map():
    X, Z, _, perm = languages(n=1500)
    seeds = np.stack([np.arange(150), perm[:150]], axis=1)
    recipe = Artetxe2018SemiSupervised(vocabulary_cutoff=1000, stochastic_interval=2, random_state=0, device="cpu")
    recipe.fit(X, Z, seeds)
    same = SelfLearning(mapper=Procrustes(), final_mapper=Artetxe2018Supervised(), vocabulary_cutoff=1000,
                        stochastic_initial=0.1, stochastic_interval=2, max_iter=1000, induction="vecmap",
                        random_state=0, device="cpu").fit(X, Z, seeds)
    np.testing.assert_array_equal(recipe.pairs_, same.pairs_)
    np.testing.assert_allclose(recipe.x_map_, same.x_map_, atol=1e-6)
    assert isinstance(recipe.mapper_, Artetxe2018Supervised) and accuracy(recipe, X, Z, perm) > 0.95


def _unit_center_unit(A):
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    A = A - A.mean(axis=0)
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def _mask(key, n_x, n_z, keep_prob):
    """xling's keyed mask of the entries of an (n_x, n_z) problem: True where dropped."""
    from xling.retrieval import _keep_threshold, _mask_bits

    return (_mask_bits(key, slice(0, n_x), slice(0, n_z), torch.device("cpu")) >= _keep_threshold(keep_prob)).numpy()


def _vecmap_loop(X, Z, seeds, *, cut, interval, random_state, keep_prob=0.1, multiplier=2.0, threshold=1e-6):
    """VecMap's map_embeddings.py self-learning loop (--orthogonal --csls 10 --direction union, stochastic) in
    numpy, written from its description; its random masks are xling's keyed ones drawn in the same order.

    Returns the final dictionary (src, trg), the final map and the number of inductions.
    """
    gen = torch_generator(check_random_state(random_state))
    x, z = _unit_center_unit(X.astype(np.float64)), _unit_center_unit(Z.astype(np.float64))
    src, trg = seeds[:, 0], seeds[:, 1]
    best, last, it, end = -100.0, 0, 1, False
    while True:
        if it - last > interval:
            end = keep_prob >= 1.0
            keep_prob, last = min(1.0, multiplier * keep_prob), it
        u, _, vt = np.linalg.svd(z[trg].T @ x[src])
        w = vt.T @ u.T
        if end:
            return src, trg, w, it - 1
        S = (x[:cut] @ w) @ z[:cut].T
        F = S - np.sort(S, axis=0)[-10:].mean(axis=0)[None, :] / 2
        B = S - np.sort(S, axis=1)[:, -10:].mean(axis=1)[:, None] / 2
        if keep_prob < 1.0:
            key_f, key_b = (int(torch.randint(0, 2**32, (1,), generator=gen)) for _ in range(2))
            F[_mask(key_f, cut, cut, keep_prob)] = 0
            B[_mask(key_b, cut, cut, keep_prob)] = 0
        src = np.concatenate([np.arange(cut), B.argmax(axis=0)])
        trg = np.concatenate([F.argmax(axis=1), np.arange(cut)])
        objective = (S.max(axis=1).mean() + S.max(axis=0).mean()) / 2
        if objective - best >= threshold:
            last, best = it, objective
        it += 1


def test_vecmap_induction_follows_vecmaps_loop_to_the_same_dictionary_and_map():
    X, Z, _, perm = languages(n=900, d=12, noise=0.3)
    seeds = np.stack([np.arange(40), perm[:40]], axis=1)
    src, trg, w, n_inductions = _vecmap_loop(X, Z, seeds, cut=600, interval=3, random_state=5)
    m = SelfLearning(induction="vecmap", final_mapper=None, vocabulary_cutoff=600, stochastic_initial=0.1,
                     stochastic_interval=3, max_iter=500, random_state=5, device="cpu").fit(X, Z, seeds)
    assert m.n_iter_ == n_inductions > 5 * 3  # five stages of at least three iterations
    np.testing.assert_array_equal(m.pairs_, np.stack([src, trg], axis=1))  # with the pairs found both ways twice
    np.testing.assert_allclose(m.x_map_ @ m.z_map_.T, w, atol=1e-4)
    keep = [e["keep_prob"] for e in m.history_[:-1]]
    assert keep[0] == pytest.approx(0.1) and keep[-1] == 1.0
    assert len(np.unique(m.pairs_, axis=0)) < len(m.pairs_) == 2 * 600
    # the default induction is another one: a union without duplicates, other iterations
    default = SelfLearning(final_mapper=None, vocabulary_cutoff=600, stochastic_initial=0.1, stochastic_interval=3,
                           max_iter=500, random_state=5, device="cpu").fit(X, Z, seeds)
    assert len(default.pairs_) == len(np.unique(default.pairs_, axis=0)) and default.n_iter_ != m.n_iter_
    assert accuracy(m, X, Z, perm) > 0.9
    with pytest.raises(InputError, match="induction"):
        SelfLearning(induction="zero", device="cpu").fit(X, Z, seeds)
    with pytest.raises(InputError, match="threshold"):
        SelfLearning(induction="vecmap", threshold=0.1, device="cpu").fit(X, Z, seeds)


def test_induction_runs_at_the_precision_asked_for():
    X, Z, _, perm = languages(n=600, d=12, noise=0.3)
    seeds = np.stack([np.arange(40), perm[:40]], axis=1)
    # the first iteration's objective: the mean best cosine both ways of the seed map, in float64
    seeded = Procrustes().fit(X, Z, seeds)
    Y, W = (A.astype(np.float64) for A in (seeded.transform(X), seeded.transform_target(Z)))
    S = (Y / np.linalg.norm(Y, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=1, keepdims=True)).T
    reference = (S.max(axis=1).mean() + S.max(axis=0).mean()) / 2
    objective = {}
    for precision in ("fp16", "fp32", "fp64"):
        m = SelfLearning(induction="vecmap", method="nn", final_mapper=None, max_iter=1, precision=precision,
                         device="cpu")
        with pytest.warns(ConvergenceWarning):
            m.fit(X, Z, seeds)
        objective[precision] = m.history_[0]["objective"]
    assert objective["fp64"] == pytest.approx(reference, abs=1e-12)
    assert 1e-12 < abs(objective["fp32"] - reference) < 1e-6  # float32 products round; fp64 ones do not
    assert objective["fp16"] == pytest.approx(reference, abs=2e-3)
    with pytest.raises(InputError, match="Expected precision fp16, fp32 or fp64, got 'half'"):
        SelfLearning(precision="half", device="cpu").fit(X, Z, seeds)


# -- diagnosis: the spelling check ------------------------------------------------
def vocabularies(perm, n_shared=300, n_numerals=0, rng=None):
    """Words of X's and Z's rows: ``n_shared`` true translations spelled alike, the rest distinct.

    The first ``n_numerals`` shared words are numerals ("1", "2", ...).
    """
    n = len(perm)
    src = [f"src{i}" for i in range(n)]
    tgt = [f"tgt{j}" for j in range(n)]
    shared = (rng or np.random.default_rng(0)).choice(n, n_shared, replace=False)
    for k, i in enumerate(shared):
        word = str(k + 1) if k < n_numerals else f"name{i}"
        src[i] = tgt[perm[i]] = word
    return src, tgt


def test_spelling_check_tells_a_right_map_from_a_wrong_one():
    X, Z, _, perm = languages()
    src, tgt = vocabularies(perm)
    right = Procrustes(normalize=None).fit(X, Z, np.stack([np.arange(500), perm[:500]], axis=1))
    ok = spelling_check(right.transform(X), right.transform_target(Z), src, tgt, device="cpu")
    assert ok["conclusive"] and ok["success"] and ok["identical_words"] == 300
    assert ok["identical_recovered"] > 0.9
    rng = np.random.default_rng(1)
    wrong = Procrustes(normalize=None).fit(X, Z, np.stack([np.arange(500), rng.permutation(len(Z))[:500]], axis=1))
    bad = spelling_check(wrong.transform(X), wrong.transform_target(Z), src, tgt, device="cpu")
    assert bad["conclusive"] and not bad["success"] and bad["identical_recovered"] < 0.03
    assert "probably failed" in bad["message"]


def test_spelling_check_is_inconclusive_with_few_shared_words_and_can_skip_numerals():
    X, Z, _, perm = languages(n=1000)
    src, tgt = vocabularies(perm, n_shared=40, n_numerals=20)
    m = Procrustes(normalize=None).fit(X, Z, np.stack([np.arange(300), perm[:300]], axis=1))
    A, B = m.transform(X), m.transform_target(Z)
    assert spelling_check(A, B, src, tgt, device="cpu")["conclusive"]
    few = spelling_check(A, B, src, tgt, skip_numerals=True, device="cpu")
    assert few["identical_words"] == 20 and not few["conclusive"] and np.isnan(few["identical_recovered"])
    assert "inconclusive" in few["message"]


def test_a_failed_spelling_check_overrules_a_criterion_that_looked_fine():
    X, Z, _, perm = languages()
    src, tgt = vocabularies(perm)
    rng = np.random.default_rng(2)
    m = Procrustes(normalize=None).fit(X, Z, np.stack([np.arange(500), rng.permutation(len(Z))[:500]], axis=1))
    m.diagnosis_ = {"success": True, "message": "held-out criterion looked fine"}  # what a fooled check says
    with pytest.warns(ConvergenceWarning, match="spelled alike"):
        conclude(m, X, Z, src, tgt, cut=2000)
    assert not m.diagnosis_["success"] and not m.diagnosis_["spelling"]["success"]
    assert m.history_[-1]["phase"] == "diagnosis" and "probably failed" in m.history_[-1]["message"]
    # a right map whose consistency check failed: the spelling check rules it a success
    right = Procrustes(normalize=None).fit(X, Z, np.stack([np.arange(500), perm[:500]], axis=1))
    right.diagnosis_ = {"success": False, "message": "agreement 8% (< 10%): the mapping has probably failed"}
    conclude(right, X, Z, src, tgt, cut=2000)
    assert right.diagnosis_["success"] and "overrules" in right.diagnosis_["message"]
    # both checks fail: one verdict, with the spelling check's evidence after it
    m.diagnosis_ = {"success": False, "message": "agreement 6% (< 10%): the mapping has probably failed"}
    with pytest.warns(ConvergenceWarning, match="the spelling check agrees"):
        conclude(m, X, Z, src, tgt, cut=2000)
    assert not m.diagnosis_["success"] and m.diagnosis_["message"].count("probably failed") == 1
    assert "spelled alike translated to themselves (< 3%" in m.diagnosis_["message"]
    # without the words nothing changes and nothing is raised
    m.diagnosis_ = {"success": True, "message": "fine"}
    conclude(m, X, Z, cut=2000)
    assert m.diagnosis_ == {"success": True, "message": "fine"}


def test_self_learning_from_numerals_is_checked_on_the_other_shared_words():
    X, Z, Q, perm = languages()
    src, tgt = vocabularies(perm, n_shared=300, n_numerals=150)
    m = SelfLearning(mapper=Procrustes(normalize=None), seed="numerals", random_state=0, device="cpu")
    m.fit(X, Z, src_words=src, tgt_words=tgt)
    np.testing.assert_allclose(m.x_map_, Q, atol=0.02)
    spelling = m.diagnosis_["spelling"]
    assert spelling["identical_words"] == 150 and spelling["success"]  # the 150 numerals left out
    # numerals that pair the wrong rows: a wrong map, and the verdict says so
    wrong_tgt = list(tgt)
    numeral_rows = [j for j, w in enumerate(tgt) if w.isdigit()]
    for j, w in zip(numeral_rows, np.random.default_rng(3).permutation([tgt[j] for j in numeral_rows])):
        wrong_tgt[j] = w
    with pytest.warns(ConvergenceWarning, match="numerals"):
        bad = SelfLearning(mapper=Procrustes(normalize=None), seed="numerals", max_iter=5, random_state=0,
                           device="cpu").fit(X, Z, src_words=src, tgt_words=wrong_tgt)
    assert not bad.diagnosis_["success"] and not bad.diagnosis_["spelling"]["success"]


def test_identical_string_seeds_are_not_graded_by_themselves():
    X, Z, _, perm = languages(n=1000)
    src, tgt = vocabularies(perm, n_shared=100)
    m = SelfLearning(mapper=Procrustes(normalize=None), seed="identical", random_state=0, device="cpu")
    m.fit(X, Z, src_words=src, tgt_words=tgt)
    assert "spelling" not in m.diagnosis_ and m.history_[-1]["phase"] == "diagnosis"
