"""Joint bilingual objectives: BilBOWA, Trans-gram, pseudo-bilingual corpora."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from xling import Lexicon, ParallelCorpus
from xling.evaluate import bli
from xling.train import JOINT_TRAINERS, BilBOWA, PseudoBilingual, TransGram
from xling.train.bilbowa import omega, omega_gradient, omega_step
from xling.train.pseudo import MergedDocuments, PseudoBilingualCorpus
from xling.train.transgram import transgram_pairs
from xling.train._joint import Encoded, gather_segments


def _encoded(sentences: list[list[int]]) -> Encoded:
    offsets = np.cumsum([0] + [len(s) for s in sentences])
    return Encoded(torch.tensor([i for s in sentences for i in s], dtype=torch.int64), torch.tensor(offsets))


def _flat(sentences: list[list[int]]):
    ids = torch.tensor([i for s in sentences for i in s], dtype=torch.int64)
    seg = torch.tensor([p for p, s in enumerate(sentences) for _ in s], dtype=torch.int64)
    return ids, seg


# --------------------------------------------------------------------------- BilBOWA's Ω
def test_omega_and_gradient_match_brute_force():
    rng = np.random.default_rng(0)
    W = torch.tensor(rng.normal(size=(30, 4)), dtype=torch.float64)
    # Repeated words inside and across sentences, different lengths on each side.
    src = [[0, 1, 1, 2], [3], [4, 5, 6, 0, 0]]
    tgt = [[20, 21], [22, 22, 23, 24], [25]]
    s_ids, s_seg = _flat(src)
    t_ids, t_seg = _flat(tgt)

    Wg = W.clone().requires_grad_(True)
    brute = []
    for s, t in zip(src, tgt):
        delta = sum(Wg[w] for w in s) / len(s) - sum(Wg[w] for w in t) / len(t)
        brute.append((delta**2).sum())
    brute = torch.stack(brute)
    brute.sum().backward()

    loss, grad_s, grad_t = omega_gradient(W, s_ids, s_seg, t_ids, t_seg, 3)
    np.testing.assert_allclose(loss.numpy(), brute.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(omega(W, s_ids, s_seg, t_ids, t_seg, 3).numpy(), brute.detach().numpy(), rtol=1e-12)
    dense = torch.zeros_like(W).index_add_(0, s_ids, grad_s).index_add_(0, t_ids, grad_t)
    np.testing.assert_allclose(dense.numpy(), Wg.grad.numpy(), rtol=1e-10, atol=1e-14)

    # The step moves a word seen k times in the batch by the mean of its k gradients.
    lr = 0.1
    W2 = W.clone()
    total = omega_step(W2, s_ids, s_seg, t_ids, t_seg, 3, lr)
    assert total == pytest.approx(float(brute.detach().sum()))
    counts = torch.bincount(torch.cat([s_ids, t_ids]), minlength=30).clamp(min=1).to(W.dtype)
    np.testing.assert_allclose(W2.numpy(), (W - lr * Wg.grad / counts[:, None]).numpy(), rtol=1e-12)


def test_omega_rejects_empty_side():
    W = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="empty side"):
        omega(W, torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), torch.tensor([1]), 2)


def _unique_pairs(n_pairs: int, rng):
    """Pair p: source words 1000+10p+i, target words 5000+10p+j (every token unique and tagged with p)."""
    src = [[1000 + 10 * p + i for i in range(rng.integers(1, 6))] for p in range(n_pairs)]
    tgt = [[5000 + 10 * p + j for j in range(rng.integers(1, 6))] for p in range(n_pairs)]
    return src, tgt


def test_pair_identity_kept_by_gathering_filtering_and_batching():
    rng = np.random.default_rng(1)
    src, tgt = _unique_pairs(40, rng)
    par_s, par_t = _encoded(src), _encoded(tgt)
    # Subsampling drops tokens but never moves a sentence.
    keep_s = torch.from_numpy(rng.random(par_s.n_tokens) < 0.7)
    keep_t = torch.from_numpy(rng.random(par_t.n_tokens) < 0.7)
    fs, ft = par_s.filter(keep_s), par_t.filter(keep_t)
    usable = torch.nonzero((fs.lengths() > 0) & (ft.lengths() > 0)).flatten()
    order = usable[torch.from_numpy(rng.permutation(usable.numel()))]
    for batch in (1, 3, 7, usable.numel()):
        seen = []
        for a in range(0, order.numel(), batch):
            chosen = order[a:a + batch]
            s_ids, s_seg = gather_segments(fs, chosen)
            t_ids, t_seg = gather_segments(ft, chosen)
            for j, p in enumerate(chosen.tolist()):
                s_words = set(s_ids[s_seg == j].tolist())
                t_words = set(t_ids[t_seg == j].tolist())
                assert s_words and t_words
                assert {(w - 1000) // 10 for w in s_words} == {p}
                assert {(w - 5000) // 10 for w in t_words} == {p}
                assert s_words == {w for w, k in zip(src[p], keep_s[par_s.offsets[p]:par_s.offsets[p + 1]]) if k}
            seen += chosen.tolist()
        assert sorted(seen) == usable.tolist()


def test_omega_step_pulls_exactly_the_paired_means_together_however_split():
    rng = np.random.default_rng(2)
    src, tgt = _unique_pairs(25, rng)
    par_s, par_t = _encoded(src), _encoded(tgt)
    W0 = torch.tensor(rng.normal(size=(6000, 3)), dtype=torch.float64)
    lr = 0.05
    results = []
    for batch in (1, 4, 25):
        W = W0.clone()
        order = torch.from_numpy(rng.permutation(25))
        for a in range(0, 25, batch):
            chosen = order[a:a + batch]
            s_ids, s_seg = gather_segments(par_s, chosen)
            t_ids, t_seg = gather_segments(par_t, chosen)
            omega_step(W, s_ids, s_seg, t_ids, t_seg, chosen.numel(), lr)
        results.append(W)
    torch.testing.assert_close(results[0], results[1])
    torch.testing.assert_close(results[0], results[2])
    # With every token unique, a step moves each source word by -2·lr·δ/m and each
    # target word by +2·lr·δ/n, so the pair's difference of means shrinks to
    # δ·(1 - 2·lr/m - 2·lr/n): only the paired means move, exactly towards each other.
    W = results[0]
    for s, t in zip(src, tgt):
        delta0 = W0[s].mean(0) - W0[t].mean(0)
        delta1 = W[s].mean(0) - W[t].mean(0)
        torch.testing.assert_close(delta1, delta0 * (1 - 2 * lr / len(s) - 2 * lr / len(t)))


# --------------------------------------------------------------------------- Trans-gram
def test_transgram_pairs_are_every_cross_combination_within_each_pair():
    src = [[1, 2, 2], [3], [4, 5]]
    tgt = [[10, 11], [12, 13, 13], [14]]
    s_ids, s_seg = _flat(src)
    t_ids, t_seg = _flat(tgt)
    # The target side arrives in another order; pairs follow the segment tags, not positions.
    perm = torch.tensor([5, 0, 3, 1, 4, 2])
    a, b = transgram_pairs(s_ids, s_seg, t_ids[perm], t_seg[perm], 3)
    expected = [(s, t) for ss, tt in zip(src, tgt) for s, t in itertools.product(ss, tt)]
    assert Counter(zip(a.tolist(), b.tolist())) == Counter(expected)
    assert len(a) == sum(len(s) * len(t) for s, t in zip(src, tgt)) == 11
    a, b = transgram_pairs(s_ids, s_seg, t_ids, t_seg, 3)
    assert list(zip(a.tolist(), b.tolist())) == expected


# --------------------------------------------------------------------------- pseudo-bilingual
def _words(n, prefix):
    return [f"{prefix}{i}" for i in range(n)]


def test_pseudo_corpus_replaces_half_of_translatable_words_seeded():
    rng = np.random.default_rng(3)
    en_vocab, es_vocab = _words(50, "e"), _words(50, "s")
    lexicon = Lexicon([(f"e{i}", f"s{i}") for i in range(25)])  # half of each vocabulary translatable
    en = [list(rng.choice(en_vocab, 20)) for _ in range(600)]
    es = [list(rng.choice(es_vocab, 20)) for _ in range(600)]
    corpus = PseudoBilingualCorpus(en, es, lexicon, replace_prob=0.5, random_state=7)
    out = list(corpus)
    assert len(out) == 1200
    replaced = eligible = 0
    for original, mixed, own, other in itertools.chain(
        ((o, m, "src:", "tgt:") for o, m in zip(en, out[:600])),
        ((o, m, "tgt:", "src:") for o, m in zip(es, out[600:])),
    ):
        for w, m in zip(original, mixed):
            translatable = int(w[1:]) < 25
            eligible += translatable
            if m == own + w:
                continue
            assert translatable and m == other + ("s" if own == "src:" else "e") + w[1:]
            replaced += 1
    assert eligible == corpus.n_eligible and replaced == corpus.n_replaced
    # ~12,000 eligible tokens: the standard deviation of the rate is 0.0046.
    assert abs(replaced / eligible - 0.5) < 0.02
    assert list(corpus) == out  # every pass is the same text
    assert list(PseudoBilingualCorpus(en, es, lexicon, random_state=7)) == out
    assert list(PseudoBilingualCorpus(en, es, lexicon, random_state=8)) != out


def test_pseudo_corpus_keeps_languages_apart_and_picks_among_translations():
    lexicon = Lexicon([("no", "no"), ("no", "ni"), ("yes", "si")])
    corpus = PseudoBilingualCorpus([["no", "yes", "cat"]] * 400, [["no", "si"]] * 400, lexicon,
                                   replace_prob=1.0, random_state=0)
    counts = Counter(w for s in corpus for w in s)
    # English "no" becomes Spanish "no" or "ni"; Spanish "no" becomes English "no".
    assert counts["src:cat"] == 400 and counts["src:yes"] == 400 and counts["src:no"] == 400
    assert counts["tgt:si"] == 400 and counts["tgt:no"] + counts["tgt:ni"] == 400
    assert 150 < counts["tgt:ni"] < 250


def test_merged_documents_are_seeded_shuffles_of_both_documents():
    docs = [(["a", "b", "c", "no"], ["x", "y", "no"]), (["d"], ["z", "w"])]
    merged = list(MergedDocuments(docs, random_state=0))
    for (s, t), m in zip(docs, merged):
        assert sorted(m) == sorted(["src:" + w for w in s] + ["tgt:" + w for w in t])
    assert merged == list(MergedDocuments(docs, random_state=0))
    orders = {tuple(next(iter(MergedDocuments(docs, random_state=seed)))) for seed in range(20)}
    assert len(orders) > 10


def test_pseudo_bilingual_strips_prefixes_and_keeps_homographs_apart():
    en = [["no", "the", "dog", "runs"], ["the", "cat", "sleeps", "no"]] * 30
    es = [["no", "el", "perro", "corre"], ["el", "gato", "duerme", "no"]] * 30
    model = PseudoBilingual(vector_size=8, min_count=1, epochs=1, random_state=0, backend="torch")
    model.fit(en, es, Lexicon([("dog", "perro"), ("cat", "gato")]))
    assert sorted(model.src_embeddings_.words) == sorted({w for s in en for w in s})
    assert sorted(model.tgt_embeddings_.words) == sorted({w for s in es for w in s})
    assert not np.allclose(model.src_embeddings_["no"], model.tgt_embeddings_["no"])
    assert model.n_eligible_ == 120 and 0 < model.n_replaced_ < 120


def test_pseudo_bilingual_needs_lexicon_or_documents():
    with pytest.raises(TypeError, match="Lexicon"):
        PseudoBilingual().fit([["a"]], [["b"]], [(["a"], ["b"])])
    with pytest.raises(ValueError, match="empty lexicon and no documents"):
        PseudoBilingual().fit([["a"]], [["b"]], Lexicon())
    with pytest.raises(ValueError, match="sg"):
        PseudoBilingual(sg=2).fit([], [], Lexicon(), documents=[(["a"], ["b"])])
    # Documents alone (Vulić & Moens): empty corpora and an empty lexicon.
    docs = [(["a", "b", "c"], ["x", "y", "z"])] * 30
    model = PseudoBilingual(vector_size=4, min_count=1, epochs=1, random_state=0).fit([], [], Lexicon(), documents=docs)
    assert sorted(model.src_embeddings_.words) == ["a", "b", "c"] and model.n_eligible_ == 0


# --------------------------------------------------------------------------- trainers
def test_registry_names_the_joint_objectives():
    assert {name: JOINT_TRAINERS[name] for name in ("bilbowa", "transgram", "pseudo")} == {
        "bilbowa": BilBOWA, "transgram": TransGram, "pseudo": PseudoBilingual}


def _toy():
    rng = np.random.default_rng(4)
    en = [list(rng.choice(_words(30, "e"), 8)) for _ in range(300)]
    es = [list(rng.choice(_words(30, "s"), 8)) for _ in range(300)]
    return en, es, list(zip(en, es))


@pytest.mark.parametrize("cls", [BilBOWA, TransGram])
def test_resume_after_interruption_equals_uninterrupted_run(cls, tmp_path):
    en, es, par = _toy()
    # λ=1: with 30 words and no subsampling every word sits in every batch, and larger weights diverge.
    params = dict(vector_size=8, min_count=1, epochs=3, sample=0, workers=1, backend="torch", random_state=5,
                  cross_weight=1.0)
    full = cls(**params).fit(en, es, par)

    def stop_in_epoch_3(event):
        if event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cls(checkpoint_dir=tmp_path, callbacks=[stop_in_epoch_3], **params).fit(en, es, par)
    resumed = cls(checkpoint_dir=tmp_path, resume=True, **params).fit(en, es, par)
    np.testing.assert_allclose(resumed.src_embeddings_.vectors, full.src_embeddings_.vectors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.tgt_embeddings_.vectors, full.tgt_embeddings_.vectors, rtol=1e-5, atol=1e-6)
    assert [h["step"] for h in resumed.history_] == [1, 2, 3]
    assert resumed.history_[0]["cross_loss"] > 0 and resumed.history_[0]["parallel_pairs"] == 300
    with pytest.raises(ValueError, match="same settings"):
        cls(checkpoint_dir=tmp_path, resume=True, **{**params, "vector_size": 6}).fit(en, es, par)


def test_callbacks_report_progress_and_both_losses():
    en, es, par = _toy()
    events = []
    model = BilBOWA(vector_size=8, min_count=1, epochs=2, random_state=0, backend="torch", callbacks=[events.append])
    model.fit(en, es, par)
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert {"step", "progress", "words_per_sec", "loss", "cross_loss"} <= set(events[0])
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2] and steps == model.history_


def test_bad_hyperparameters_and_inputs_raise():
    en, es, par = _toy()
    with pytest.raises(ValueError, match="cross_weight"):
        BilBOWA(cross_weight=-1).fit(en, es, par)
    with pytest.raises(ValueError, match=r"negative .* 1\.\.64"):
        BilBOWA(negative=100, min_count=1).fit(en, es, par)
    with pytest.raises(TypeError, match="ParallelCorpus"):
        TransGram(min_count=1).fit(en, es, Lexicon([("e1", "s1")]))
    with pytest.raises(TypeError, match="pair 1"):
        TransGram(min_count=1).fit(en, es, [(["a"], ["b"]), "a b"])
    with pytest.raises(ValueError, match="window"):
        TransGram(window=0).fit(en, es, par)
    with pytest.raises(ValueError, match="parallel"):
        BilBOWA(min_count=1).fit(en, es, [])


def test_lambda_is_a_deprecated_alias_of_cross_weight():
    with pytest.warns(FutureWarning, match="'lambda_' is deprecated.*'cross_weight'"):
        model = TransGram(lambda_=3.0)
    assert model.cross_weight == 3.0 and "lambda_" not in model.get_params()
    with pytest.warns(FutureWarning, match="lambda_"):
        model.set_params(lambda_=5.0)
    assert model.cross_weight == 5.0
    with pytest.raises(TypeError, match="both"), pytest.warns(FutureWarning):
        model.set_params(lambda_=1.0, cross_weight=2.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'lambda'"):
        BilBOWA(**{"lambda": 1.0})
    en, es, par = _toy()
    fitted = BilBOWA(vector_size=4, min_count=1, epochs=1, random_state=0).fit(en, es, par)
    assert fitted.cross_weight is None and fitted.cross_weight_ == 100.0  # the method's default


# --------------------------------------------------------------------------- real data
def _bli(src, tgt, lexicon):
    return bli(src, tgt, lexicon, method="nn", ks=(1, 10))


@pytest.mark.slow
def test_bilbowa_on_the_bible_translates_frequent_words(shared_data):
    """BilBOWA on 12k Bible verses (en-es) aligns the two spaces; λ=0 (no cross-lingual signal) does not.

    Measured (NN retrieval, 1,076 evaluable words of en-es.0-5000): P@1 0.26 and P@10 0.39 with λ=100,
    P@10 0.008 with λ=0.
    """
    bible = shared_data / "parallel" / "bible"
    par = ParallelCorpus(bible / "kjv-rv1909.en-es.en.xz", bible / "kjv-rv1909.en-es.es.xz")
    pairs = list(itertools.islice(par, 12000))
    lexicon = Lexicon.read(shared_data / "lexicons" / "en-es" / "en-es.0-5000.tsv").lower()
    params = dict(vector_size=40, window=5, min_count=5, epochs=4, random_state=0, workers=2)
    en, es = [p[0] for p in pairs], [p[1] for p in pairs]
    joint = BilBOWA(cross_weight=100.0, **params).fit(en, es, pairs)
    control = BilBOWA(cross_weight=0.0, **params).fit(en, es, pairs)
    r = _bli(joint.src_embeddings_, joint.tgt_embeddings_, lexicon)
    r0 = _bli(control.src_embeddings_, control.tgt_embeddings_, lexicon)
    assert r["n_queries"] > 1000
    assert r["p@10"] > 0.28 and r["p@1"] > 0.18
    assert r0["p@10"] < 0.05
    assert joint.history_[-1]["cross_loss"] < control.history_[-1]["cross_loss"] / 5


@pytest.mark.gpu
@pytest.mark.parametrize("cls, weight", [(BilBOWA, 100.0), (TransGram, 1.0)])
def test_cuda_training_aligns_bible_translations(shared_data, cls, weight):
    """The PyTorch path on CUDA (large batches) learns aligned spaces too."""
    bible = shared_data / "parallel" / "bible"
    par = ParallelCorpus(bible / "kjv-rv1909.en-es.en.xz", bible / "kjv-rv1909.en-es.es.xz")
    pairs = list(itertools.islice(par, 12000))
    lexicon = Lexicon.read(shared_data / "lexicons" / "en-es" / "en-es.0-5000.tsv").lower()
    en, es = [p[0] for p in pairs], [p[1] for p in pairs]
    model = cls(cross_weight=weight, vector_size=40, min_count=5, epochs=4, random_state=0, device="cuda", batch_words=2000)
    model.fit(en, es, pairs)
    assert model.backend_ == "torch"
    r = _bli(model.src_embeddings_, model.tgt_embeddings_, lexicon)
    assert r["n_queries"] > 1000 and r["p@10"] > 0.2
