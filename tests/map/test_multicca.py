"""multiCCA: every language mapped into the hub's original space (Ammar et al. 2016).

Known answer: English is a random space H and every other language is an
invertible random linear transform of it plus a shift (not a rotation: CCA
must undo any linear map), so the exact answer sends each language onto H.
"""

from __future__ import annotations

import numpy as np
import pytest

from xling import Embeddings, Lexicon, XlingError, align
from xling.evaluate import bli
from xling.exceptions import InputError
from xling.map import CCA, MultiCCA

N_WORDS, DIM, N_SEED = 400, 12, 250
LANGS = ("de", "es", "fr")


@pytest.fixture(scope="module")
def spaces():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(N_WORDS, DIM)).astype(np.float32)
    words = {lang: [f"{lang}_{i}" for i in range(N_WORDS)] for lang in ("en", *LANGS)}
    emb = {"en": Embeddings(words["en"], H)}
    for lang in LANGS:
        A = rng.normal(size=(DIM, DIM))
        emb[lang] = Embeddings(words[lang], H @ A + rng.normal(size=DIM))
    seeds = {lang: Lexicon((f"{lang}_{i}", f"en_{i}") for i in range(N_SEED)) for lang in LANGS}
    return H, emb, seeds


def test_every_language_lands_on_the_hub_space_and_the_hub_is_unchanged(spaces):
    H, emb, seeds = spaces
    result = align(emb, "en", seeds, method="multicca", params={"normalize": None, "reg": 0.0})
    np.testing.assert_array_equal(result.embeddings["en"].vectors, H)
    for lang in LANGS:
        np.testing.assert_allclose(result.embeddings[lang].vectors, H, atol=2e-3)
        assert result.mappers[lang].shift_residual_ < 1e-4
    held_out = range(N_SEED, N_WORDS)
    # any two languages are comparable directly, including pairs no lexicon linked
    for src, tgt in (("de", "fr"), ("es", "de"), ("fr", "en"), ("en", "es")):
        test = Lexicon((f"{src}_{i}", f"{tgt}_{i}") for i in held_out)
        found = bli(*result.pair(src, tgt), test, method="nn", ks=(1,))
        assert found["p@1"] == 1.0 and found["n_queries"] == len(held_out)


def test_plain_cca_cannot_serve_as_a_hub(spaces):
    # the reason for multiCCA: CCA moves English differently for each source
    _, emb, seeds = spaces
    with pytest.raises(XlingError, match="moves the target space differently"):
        align(emb, "en", seeds, method="cca")


def test_the_map_is_the_cca_projection_times_the_inverse_hub_projection(spaces):
    _, emb, _ = spaces
    X, Z = emb["de"].vectors, emb["en"].vectors
    cca = CCA(normalize=None, keep=1.0, reg=1e-2).fit(X, Z)
    multi = MultiCCA(normalize=None, keep=1.0, reg=1e-2).fit(X, Z)
    W = cca.x_map_.astype(np.float64) @ np.linalg.inv(cca.z_map_.astype(np.float64))
    np.testing.assert_allclose(multi.x_map_, W, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(multi.correlations_, cca.correlations_, rtol=1e-5)
    # the hub's mean is carried by the source shift: the mapped pair means agree
    np.testing.assert_allclose(multi.transform(X).mean(axis=0), Z.mean(axis=0), atol=1e-3)


def test_fewer_directions_or_a_smaller_source_map_into_a_subspace_of_the_hub(spaces):
    H, emb, _ = spaces
    X = emb["de"].vectors
    for m, source in ((MultiCCA(normalize=None, keep=0.5), X), (MultiCCA(normalize=None), X[:, :8])):
        m.fit(source, H)
        mapped = m.transform(source)
        assert mapped.shape == H.shape and np.linalg.matrix_rank(m.x_map_) == (6 if m.keep == 0.5 else 8)
        np.testing.assert_array_equal(m.transform_target(H), H)
        assert m.shift_residual_ >= 0.0
        # still the best the subspace allows: much closer to H than H's own spread
        assert np.linalg.norm(mapped - H) < 0.9 * np.linalg.norm(H - H.mean(axis=0))


def test_keep_out_of_range_is_refused(spaces):
    H, emb, _ = spaces
    for keep in (0.0, 1.5):
        with pytest.raises(InputError, match=r"Expected keep in \(0, 1\]"):
            MultiCCA(keep=keep).fit(emb["de"].vectors, H)
    with pytest.raises(InputError, match="Expected reg >= 0"):
        MultiCCA(reg=-1.0).fit(emb["de"].vectors, H)
