"""SkipGram and CBOW: algorithm pieces, both training paths, checkpoints, quality on real text."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from xling import Embeddings, LineCorpus, XlingError
from xling.map import Procrustes
from xling.train import CBOW, TRAINERS, SkipGram, Vocabulary
from xling.train.vocab import alias_table, encode_corpus


def en_corpus(shared_data, lines):
    return LineCorpus(shared_data / "mono" / "en.txt.xz", max_lines=lines)


def neighbours(emb: Embeddings, word: str, k: int) -> list[str]:
    V = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    sims = V @ V[emb.get_index(word)]
    return [emb.words[i] for i in np.argsort(-sims)[1 : k + 1]]


def toy_corpus(seed=0, n=400):
    """Two topics that never share a sentence, plus a word that only stands alone."""
    rng = np.random.default_rng(seed)
    animals = ["cat", "dog", "cow", "horse", "sheep", "goat"]
    tools = ["hammer", "saw", "drill", "wrench", "chisel", "pliers"]
    sentences = []
    for _ in range(n):
        topic = animals if rng.random() < 0.5 else tools
        sentences.append(list(rng.choice(topic, size=8)))
        if rng.random() < 0.1:
            sentences.append(["lonely"])
    return sentences


# ---------------------------------------------------------------- vocabulary


def test_registered_for_the_cli():
    assert TRAINERS["sgns"] is SkipGram and TRAINERS["cbow"] is CBOW
    params = SkipGram().get_params()
    for name in ("vector_size", "window", "min_count", "negative", "sample", "alpha", "min_alpha", "epochs",
                 "workers", "device", "random_state", "checkpoint_dir", "resume"):
        assert name in params


def test_encoding_matches_line_by_line_tokenisation(shared_data):
    corpus = en_corpus(shared_data, 1500)
    vocab, encoded = encode_corpus(corpus, min_count=3)
    reference = Vocabulary.build(corpus, min_count=3)
    assert vocab.words == reference.words
    np.testing.assert_array_equal(vocab.counts, reference.counts)
    sentences = [ids for ids in (reference.encode(tokens) for tokens in corpus) if len(ids)]
    np.testing.assert_array_equal(encoded.ids, np.concatenate(sentences))
    np.testing.assert_array_equal(np.diff(encoded.offsets), [len(s) for s in sentences])
    # The generic path (token lists from memory) gives the same encoding.
    vocab2, encoded2 = encode_corpus(list(corpus), min_count=3)
    assert vocab2.words == vocab.words
    np.testing.assert_array_equal(encoded2.ids, encoded.ids)


def test_block_tokenisation_edge_cases(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"Hello World\n\nfoo BAR\r\nlast line")
    corpus = LineCorpus(path)
    flat = [t for block in corpus.iter_token_blocks(block_bytes=4) for t in block]
    assert flat == ["hello", "world", "\n", "\n", "foo", "bar", "\n", "last", "line", "\n"]
    assert list(corpus) == [["hello", "world"], ["foo", "bar"], ["last", "line"]]  # same tokens per line
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nok\nbad \xff here\n")
    with pytest.raises(XlingError, match=r"bad.txt:3: .*0xff at column 5"):
        encode_corpus(LineCorpus(bad), min_count=1)


def test_encoding_limits_vocabulary_size():
    vocab, encoded = encode_corpus([["a", "a", "a", "b", "b", "c"], ["c", "c", "d"]], min_count=2, max_vocab_size=2)
    assert vocab.words == ["a", "c"] and vocab.n_tokens == 9
    np.testing.assert_array_equal(encoded.ids, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(encoded.offsets, [0, 4, 6])


def test_subsampling_follows_the_word2vec_formula():
    vocab = Vocabulary(["a", "b", "c"], [9000, 900, 100], 10000)
    keep = vocab.keep_probabilities(1e-3)
    t = 1e-3 * 10000  # threshold in counts: 10
    expected = [(np.sqrt(9000 / t) + 1) * t / 9000, (np.sqrt(900 / t) + 1) * t / 900, (np.sqrt(10) + 1) / 10]
    np.testing.assert_allclose(keep, expected, rtol=1e-6)
    assert keep[0] == pytest.approx(0.03444, abs=1e-4)
    # Words below the threshold are always kept.
    np.testing.assert_array_equal(Vocabulary(["a", "b"], [9990, 10], 10000).keep_probabilities(1e-2)[1], 1.0)
    np.testing.assert_array_equal(vocab.keep_probabilities(0), [1, 1, 1])


@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_training_subsamples_at_the_expected_rate(backend):
    corpus = toy_corpus()
    model = SkipGram(vector_size=8, min_count=1, sample=0.01, epochs=2, workers=1, backend=backend,
                     random_state=0).fit(corpus)
    vocab = model.vocabulary_
    expected = float((vocab.counts * vocab.keep_probabilities(0.01)).sum())
    for record in model.history_:
        assert record["words_kept"] == pytest.approx(expected, rel=0.03)
        assert record["words_kept"] < 0.5 * record["words"]


def test_negative_table_is_unigram_to_the_three_quarters(shared_data):
    vocab, _ = encode_corpus(en_corpus(shared_data, 1000), min_count=2)
    target = vocab.negative_distribution(0.75)
    np.testing.assert_allclose(target, vocab.counts**0.75 / (vocab.counts**0.75).sum())
    prob, alias = alias_table(target)
    n = len(target)
    # The distribution the table really samples: column i keeps i with prob[i], else gives alias[i].
    implied = prob.astype(np.float64) / n
    np.add.at(implied, alias, (1.0 - prob.astype(np.float64)) / n)
    assert np.abs(implied - target).max() < 1e-6
    # And draws from it pass a chi-square test on the 50 most frequent words.
    rng = np.random.default_rng(0)
    i = rng.integers(0, n, 400_000)
    draws = np.where(rng.random(len(i)) < prob[i], i, alias[i])
    observed = np.bincount(draws, minlength=n)[:50]
    expected = target[:50] * len(draws)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 90  # 49 degrees of freedom: p < 0.001 above ~86


# ------------------------------------------------------------ training paths


def test_compiled_kernel_is_used_when_installed():
    model = SkipGram(vector_size=8, min_count=1, epochs=1, random_state=0).fit(toy_corpus(n=50))
    assert model.backend_ == "kernel"
    assert model.history_[0]["backend"] == "kernel"


@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("cls", [SkipGram, CBOW])
def test_updates_are_sparse_and_seeded_runs_reproducible(cls, backend):
    corpus = toy_corpus()
    kw = dict(vector_size=16, min_count=1, sample=0, workers=1, backend=backend, random_state=3)
    one = cls(epochs=1, **kw).fit(corpus).embeddings_
    three = cls(epochs=3, **kw).fit(corpus).embeddings_
    again = cls(epochs=3, **kw).fit(corpus).embeddings_
    np.testing.assert_array_equal(three.vectors, again.vectors)  # one thread: exactly reproducible
    other_seed = cls(epochs=3, **{**kw, "random_state": 4}).fit(corpus).embeddings_
    assert not np.allclose(three.vectors, other_seed.vectors)
    # "lonely" only ever stands alone, so no step uses its input row: it keeps its initial value.
    row = three.get_index("lonely")
    np.testing.assert_array_equal(three.vectors[row], one.vectors[row])
    assert np.abs(three.vectors[row]).max() <= 0.5 / 16
    assert not np.allclose(np.delete(three.vectors, row, 0), np.delete(one.vectors, row, 0))


@pytest.mark.parametrize("cls", [SkipGram, CBOW])
def test_toy_topics_are_separated(cls):
    corpus = toy_corpus()
    emb = cls(vector_size=16, min_count=1, sample=0, epochs=5, window=3, random_state=0).fit(corpus).embeddings_
    animals = {"cat", "dog", "cow", "horse", "sheep", "goat"}
    for word in ("cat", "hammer"):
        same = animals if word in animals else {"hammer", "saw", "drill", "wrench", "chisel", "pliers"}
        assert set(neighbours(emb, word, 5)) == same - {word}


@pytest.fixture(scope="module")
def small_en(shared_data):
    return list(en_corpus(shared_data, 4000))


@pytest.mark.parametrize("cls", [SkipGram, CBOW])
def test_loss_decreases_and_progress_is_reported(cls, small_en):
    events = []
    model = cls(vector_size=50, epochs=3, random_state=0, callbacks=[events.append]).fit(small_en)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < 0.95 * losses[0]
    assert losses[0] < 0.95 * 6 * np.log(2)  # below the loss of all-zero scores (1 + 5 predictions at log 2)
    progress = [e["progress"] for e in events if e["event"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    assert all(e["words_per_sec"] > 0 and np.isfinite(e["loss"]) for e in events)
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3] and steps == model.history_


def _identity_p_at_1(a: Embeddings, b: Embeddings, n_train=500, n_test=300) -> float:
    """Align two embeddings of the same vocabulary on frequent words; P@1 of the identity on the next ones."""
    pairs = np.stack([np.arange(n_train), np.arange(n_train)], axis=1)
    mapper = Procrustes().fit(a.vectors, b.vectors, pairs)
    A = mapper.transform(a.vectors)[n_train : n_train + n_test]
    B = mapper.transform_target(b.vectors)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return float(np.mean(np.argmax(A @ B.T, axis=1) == np.arange(n_train, n_train + n_test)))


def test_kernel_and_torch_paths_learn_the_same_space(small_en):
    kw = dict(vector_size=50, epochs=3, workers=1)
    kernel = SkipGram(backend="kernel", random_state=0, **kw).fit(small_en).embeddings_
    kernel2 = SkipGram(backend="kernel", random_state=1, **kw).fit(small_en).embeddings_
    torch_ = SkipGram(backend="torch", random_state=0, **kw).fit(small_en).embeddings_
    assert kernel.words == torch_.words
    # Different seeds on both comparisons (the same seed shares the initial vectors).
    reference = _identity_p_at_1(kernel, kernel2)
    across = _identity_p_at_1(kernel2, torch_)
    assert reference > 0.45
    assert across >= 0.85 * reference


@pytest.mark.parametrize("cls,min_hits", [(SkipGram, 5), (CBOW, 4)])
def test_neighbours_of_frequent_words_are_sensible(cls, min_hits, shared_data):
    # About 1.4M tokens of English novels.
    emb = cls(vector_size=100, epochs=3, random_state=0).fit(en_corpus(shared_data, 20000)).embeddings_
    expected = {
        "he": {"she"},
        "father": {"mother", "brother", "uncle"},
        "monday": {"tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
        "said": {"replied", "answered", "cried", "exclaimed"},
        "good": {"bad", "nice", "excellent", "fine"},
        "three": {"two", "four", "five", "six", "several"},
    }
    hits = {w: bool(set(neighbours(emb, w, 5)) & ok) for w, ok in expected.items()}
    assert sum(hits.values()) >= min_hits, hits


# --------------------------------------------------------------- checkpoints


class Interrupt:
    """Raise KeyboardInterrupt at the first progress event of ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, event):
        if event["event"] == "progress" and event["step"] == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_resume_after_interrupt_equals_uninterrupted_run(backend, tmp_path):
    corpus = toy_corpus()
    kw = dict(vector_size=16, min_count=1, epochs=3, workers=1, backend=backend, random_state=0)
    full = SkipGram(**kw).fit(corpus)
    with pytest.raises(KeyboardInterrupt):
        SkipGram(checkpoint_dir=tmp_path, callbacks=[Interrupt(epoch=3)], **kw).fit(corpus)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2  # the last complete epoch survived the interruption
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no partial files left behind
    resumed = SkipGram(checkpoint_dir=tmp_path, resume=True, **kw).fit(corpus)
    assert [h["step"] for h in resumed.history_] == [1, 2, 3]
    np.testing.assert_array_equal(resumed.embeddings_.vectors, full.embeddings_.vectors)
    np.testing.assert_array_equal(resumed.context_vectors_, full.context_vectors_)


def test_resume_without_checkpoint_trains_from_scratch_and_mismatch_is_refused(tmp_path):
    corpus = toy_corpus(n=60)
    model = SkipGram(vector_size=8, min_count=1, epochs=1, checkpoint_dir=tmp_path, resume=True,
                     random_state=0).fit(corpus)
    assert len(model.history_) == 1 and (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(ValueError, match="checkpoint"):
        SkipGram(vector_size=12, min_count=1, epochs=2, checkpoint_dir=tmp_path, resume=True).fit(corpus)
    with pytest.raises(ValueError, match="checkpoint"):
        CBOW(vector_size=8, min_count=1, epochs=2, checkpoint_dir=tmp_path, resume=True).fit(corpus)
    with pytest.raises(ValueError, match="tokens"):
        SkipGram(vector_size=8, min_count=1, epochs=2, checkpoint_dir=tmp_path, resume=True).fit(corpus[:-5])


@pytest.mark.parametrize(
    "params",
    [{"vector_size": 0}, {"window": 0}, {"negative": 0}, {"sample": -1}, {"alpha": 0}, {"backend": "fast"},
     {"resume": True}, {"min_alpha": 1.0}, {"negative": 65}, {"epochs": 1.5}, {"max_vocab_size": 0}],
)
def test_bad_hyperparameters_are_refused(params):
    with pytest.raises(ValueError, match="Expected"):
        SkipGram(**params).fit([["a", "b"]] * 10)


@pytest.mark.parametrize("cls", [SkipGram, CBOW])
@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_negative_beyond_the_kernel_limit_is_a_one_line_value_error(cls, backend):
    # The compiled kernel holds at most 64 noise words a prediction (kMaxNegative); the check comes first.
    with pytest.raises(ValueError, match=r"^Expected negative to be an integer in 1\.\.64 .*got 100$"):
        cls(negative=100, min_count=1, backend=backend).fit(toy_corpus(n=20))
    model = cls(negative=64, vector_size=4, min_count=1, epochs=1, backend=backend, random_state=0)
    assert np.isfinite(model.fit(toy_corpus(n=20)).embeddings_.vectors).all()


def test_too_little_text_names_the_problem():
    with pytest.raises(XlingError, match="min_count"):
        SkipGram(min_count=5).fit([["a", "b"]])


@pytest.mark.gpu
def test_cuda_torch_path_matches_cpu_quality(small_en):
    kw = dict(vector_size=50, epochs=3, workers=1, random_state=0)
    cpu = SkipGram(backend="torch", device="cpu", **kw).fit(small_en).embeddings_
    gpu_model = SkipGram(device="cuda", **kw).fit(small_en)
    assert gpu_model.backend_ == "torch"
    cpu2 = SkipGram(backend="torch", device="cpu", **{**kw, "random_state": 1}).fit(small_en).embeddings_
    assert _identity_p_at_1(cpu2, gpu_model.embeddings_) >= 0.85 * _identity_p_at_1(cpu, cpu2)
