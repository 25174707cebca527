"""Sharded retrieval and induction over torch.distributed: 2 and 3 CPU processes (gloo) against one process.

Each spawn runs every function once in each process and saves the results;
the tests compare them with the single-process functions. Process start-up
(importing torch) dominates, so the spawns are few and shared by the tests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from click.testing import CliRunner

from xling import Embeddings, Lexicon
from xling import distributed
from xling.cli import cli
from xling.distributed import (
    DistributedError,
    backend_for,
    gather_rows,
    init_from_env,
    read_shard,
    session,
    shard_rows,
    sharded_best_matches,
    sharded_csls,
    sharded_csls_terms,
    sharded_induce_pairs,
    sharded_inverted_softmax,
    sharded_knn,
    sharded_topk_mean,
)
from xling.evaluate import evaluate_many
from xling.exceptions import FormatError, NotEnoughDataError
from xling.map import SelfLearning
from xling.resources import lexicon_path
from xling.retrieval import (
    DIRECTIONS,
    best_matches,
    csls,
    csls_terms,
    induce_pairs,
    inverted_softmax,
    knn,
    topk_mean,
)

TIMEOUT = 20.0  # seconds a collective may wait in these tests (a killed rank must be noticed within it)
OPTS = dict(batch_size=64, tile_size=96)  # several tiles per shard, so tile merging is exercised too


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def _rotation_problem(seed: int = 0):
    """Z: a row-permuted rotation of X plus noise. Returns (X rotated, Z, where): x_i translates to z_{where[i]}."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 24))
    Q, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    perm = rng.permutation(150)  # Z row j is x_perm[j], rotated
    Z = (X[perm] @ Q + 0.01 * rng.normal(size=(150, 24))).astype(np.float32)
    # the sources mapped by the rotation (as a fitted orthogonal map would)
    return (X @ Q).astype(np.float32), Z, np.argsort(perm)


def _hubby_vectors(n: int, seed: int):
    """Clustered vectors around a shared direction: hubs exist, so CSLS and NN disagree on some rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, 32))
    X = centres[rng.integers(0, 12, n)] + 0.8 * rng.normal(size=(n, 32)) + 2.0 * rng.normal(size=32)
    return X.astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The single-process references of these tiny problems run on one thread.

    On a busy 2-core machine, two OpenMP threads make a 140 x 161 best_matches
    take 0.6 s instead of 17 ms (the threads wait for each other).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Files the ranks read: the rotation problem as .npz, real-ish vectors as .vec and .bin."""
    root = tmp_path_factory.mktemp("dist")
    X, Z, where = _rotation_problem()
    np.savez(root / "rotation.npz", X=X, Z=Z)
    src = Embeddings([f"s{i}" for i in range(140)], _hubby_vectors(140, 1))
    tgt = Embeddings([f"t{i}" for i in range(161)], _hubby_vectors(161, 2))
    src.write(root / "src.vec")
    tgt.write(root / "tgt.vec")
    tgt.write(root / "tgt.bin")
    return dict(root=root, X=X, Z=Z, where=where, src=Embeddings.read(root / "src.vec"),
                tgt=Embeddings.read(root / "tgt.vec"))


# ---------------------------------------------------------------------------
# spawning
# ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, case: str, root: str) -> None:
    torch.set_num_threads(1)  # the ranks share the machine's cores
    # what torchrun sets, plus xling's timeout
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      XLING_DIST_TIMEOUT=str(TIMEOUT))
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo stays on the loopback interface
    assert init_from_env(device="cpu") and dist.get_backend() == "gloo"
    out = Path(root) / case
    try:
        torch.save(_CASES[case](rank, world, Path(root)), out / f"{rank}.pt")
    except Exception as exc:
        traceback.print_exc()
        (out / f"{rank}.err").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
    dist.destroy_process_group()


def _spawn(case: str, world: int, root: Path, wait: float = 120.0):
    """Run ``case`` on ``world`` processes; returns (exit codes, seconds each took, results, error texts)."""
    (root / case).mkdir()
    # a fork server imports torch and xling once for all the ranks of all the spawns
    # (each import takes seconds on a busy machine); it has run no OpenMP code, so forking it is safe
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "xling.distributed", "xling.map", "xling.evaluate"])
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, case, str(root))) for r in range(world)]
    start = time.monotonic()
    for p in procs:
        p.start()
    took = []
    for p in procs:
        p.join(max(1.0, wait - (time.monotonic() - start)))
        took.append(time.monotonic() - start)
        if p.is_alive():
            p.kill()
            p.join()
    out = root / case
    results = [torch.load(out / f"{r}.pt", weights_only=False) if (out / f"{r}.pt").exists() else None
               for r in range(world)]
    errors = [(out / f"{r}.err").read_text() if (out / f"{r}.err").exists() else None for r in range(world)]
    return [p.exitcode for p in procs], took, results, errors


# ---------------------------------------------------------------------------
# cases (run in every rank)
# ---------------------------------------------------------------------------
def _compare_case(rank: int, world: int, root: Path) -> dict:
    data = np.load(root / "rotation.npz")
    X, Z = data["X"], data["Z"]
    Zs = Z[shard_rows(len(Z), rank, world)]
    res = {}
    res["knn"] = sharded_knn(X, Zs, 5, **OPTS)
    res["topk_mean"] = sharded_topk_mean(X, Zs, 7, **OPTS)
    r_x, r_z = sharded_csls_terms(X, Zs, 10, **OPTS)
    res["csls_terms"] = (r_x, gather_rows(r_z))
    res["csls"] = sharded_csls(X[:40], Zs, 3, knn_k=10, sources=X, **OPTS)
    res["isf"] = sharded_inverted_softmax(X[:40], Zs, 3, beta=20.0, sources=X, **OPTS)
    # real-ish vectors, each rank reading only its rows of the target file
    src = read_shard(root / "src.vec", 0, 1).embeddings.vectors
    text, binary = read_shard(root / "tgt.vec"), read_shard(root / "tgt.bin")
    res["shard"] = (text.rows, text.n_total, text.embeddings.words, text.embeddings.vectors,
                    binary.embeddings.words, binary.embeddings.vectors)
    T = text.embeddings.vectors
    res["real_knn"] = sharded_knn(src, T, 4, **OPTS)
    res["real_csls"] = sharded_csls(src, T, 4, knn_k=5, **OPTS)
    res["real_isf"] = sharded_inverted_softmax(src, T, 4, beta=30.0, **OPTS)
    for method in ("nn", "csls", "isf"):
        m = sharded_best_matches(src, T, method=method, knn_k=5, **OPTS)
        res[f"matches_{method}"] = (m.forward_score, m.forward_index, m.backward_score, m.backward_index)
        for direction in DIRECTIONS:
            res[f"pairs_{method}_{direction}"] = sharded_induce_pairs(src, T, method=method, direction=direction,
                                                                      knn_k=5, **OPTS)
    res["pairs_threshold"] = sharded_induce_pairs(src, T, method="csls", direction="union", threshold=0.1,
                                                  knn_k=5, **OPTS)
    res["pairs_max_rank"] = sharded_induce_pairs(src, T, method="csls", direction="intersection", max_rank=100,
                                                 knn_k=5, **OPTS)
    res["rotation_pairs"] = sharded_induce_pairs(X, Zs, method="csls", direction="forward", **OPTS)
    return res


def _failure_case(rank: int, world: int, root: Path) -> dict:
    """Bad input on one rank; every rank must stop with the same message, and the group stays usable."""
    messages = {}
    for name, run in (
        ("read", lambda: read_shard(root / "bad.vec")),
        ("dim", lambda: sharded_knn(np.ones((4, 8)), np.ones((3, 8 if rank != 2 else 7)))),
        ("queries", lambda: sharded_knn(np.ones((4 if rank != 2 else 5, 8)), np.ones((3, 8)))),
        ("offset", lambda: sharded_knn(np.ones((4, 8)), np.ones((3, 8)), offset=0)),
        ("nan", lambda: sharded_csls(np.ones((4, 8)), np.full((3, 8), np.nan if rank == 1 else 1.0))),
    ):
        try:
            run()
            messages[name] = None
        except DistributedError as exc:
            messages[name] = (str(exc), exc.rank, exc.__cause__ is not None)
    torch.save(messages, root / "failure" / f"{rank}.messages")
    raise DistributedError(messages["read"][0])  # exit non-zero as a CLI run would


def _killed_case(rank: int, world: int, root: Path) -> dict:
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"knn": sharded_knn(np.eye(4), np.eye(4), 1)}


#: self-learning runs compared between 1 and W processes (small, so that every one runs in well under a second)
LEARNING_RUNS = {
    "csls": dict(vocabulary_cutoff=400, max_iter=12),
    "stochastic": dict(vocabulary_cutoff=400, max_iter=12, stochastic_initial=0.3, stochastic_interval=2),
    # VecMap's induction: every rank induces the whole dictionary, with the masks of one process
    "vecmap": dict(vocabulary_cutoff=400, max_iter=12, stochastic_initial=0.3, stochastic_interval=2,
                   induction="vecmap"),
    "nn": dict(method="nn", direction="intersection", vocabulary_cutoff=300, max_iter=8),
    # sharded induction in float64: the ranks send float64 scores and terms
    "fp64": dict(vocabulary_cutoff=400, max_iter=12, stochastic_initial=0.3, stochastic_interval=2, precision="fp64"),
    "unsupervised": dict(seed="unsupervised", init_cutoff=300, vocabulary_cutoff=400, max_iter=4),
}


def _learning_problem(n: int = 400, d: int = 32, sigma: float = 1.0, seed: int = 3):
    """Z: a row-permuted rotation of X plus much noise, so self-learning takes several iterations (and errs a little)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    perm = rng.permutation(n)
    Z = (X[perm] @ Q + sigma * rng.normal(size=(n, d))).astype(np.float32)
    where = np.argsort(perm)
    # mapped sources for BLI: the true rotation, blurred so that the ranks of the gold translations vary
    XQ = (X @ Q + 0.8 * np.random.default_rng(11).normal(size=(n, d))).astype(np.float32)
    return dict(X=X.astype(np.float32), Z=Z, XQ=XQ, where=where,
                seed=np.stack([np.arange(40), where[:40]], axis=1))


def _learning_spaces(data):
    """The problem as Embeddings plus a test lexicon: half the true pairs, and words without vectors."""
    n = len(data["X"])
    src = Embeddings([f"s{i}" for i in range(n)], data["XQ"])
    tgt = Embeddings([f"t{j}" for j in range(n)], data["Z"])
    entries = [(f"s{i}", f"t{data['where'][i]}") for i in range(0, n, 2)] + [("s1", "nope"), ("oov", "t1")]
    return src, tgt, Lexicon(entries)


def _self_learning(data) -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose (ConvergenceWarning)
        for name, params in LEARNING_RUNS.items():
            m = SelfLearning(random_state=0, device="cpu", **params).fit(
                data["X"], data["Z"], None if params.get("seed") == "unsupervised" else data["seed"])
            out[name] = dict(pairs=m.pairs_, x_map=m.x_map_, z_map=m.z_map_, n_iter=m.n_iter_,
                             seed_pairs=m.seed_pairs_,
                             objective=[h["objective"] for h in m.history_ if "objective" in h])
    return out


def _learning_case(rank: int, world: int, root: Path) -> dict:
    data = dict(np.load(root / "learning.npz"))
    with distributed.scope():
        res = _self_learning(data)
        src, tgt, lexicon = _learning_spaces(data)
        res["bli"] = evaluate_many(src, tgt, lexicon, ("nn", "csls", "isf"), ks=(1, 5, 10), knn_k=5)
        res["bli_wrong"] = evaluate_many(src, tgt, lexicon, ("csls",), oov="wrong")
        res["translate"] = distributed.translate(src, tgt, ["s0", "s7", "s9"], k=3, method="csls",
                                                 group=distributed.current_group())
        res["bli_fp64"] = evaluate_many(src, tgt, lexicon, ("nn", "csls", "isf"), ks=(1, 5, 10), knn_k=5,
                                        precision="fp64")
        res["translate_fp64"] = distributed.translate(src, tgt, ["s0", "s7", "s9"], k=3, method="csls",
                                                      precision="fp64", group=distributed.current_group())
    # stochastic induction with more than one block of mask rows (2,048 each), every rank drawing alike
    big = np.random.default_rng(1).normal(size=(2100, 16)).astype(np.float32)
    keys = big[:300][shard_rows(300, rank, world)]
    for method in ("nn", "csls", "isf"):
        res[f"dropout_{method}"] = sharded_induce_pairs(
            big, keys, method=method, direction="union", keep_prob=0.4, knn_k=5,
            generator=torch.Generator().manual_seed(5))
    return res


_CASES = {"compare": _compare_case, "failure": _failure_case, "killed": _killed_case, "learning": _learning_case}


@pytest.fixture(scope="module", params=[2, 3], ids=["2 ranks", "3 ranks"])
def ranks(request, problem):
    world = request.param
    root = problem["root"] / f"w{world}"
    root.mkdir()
    for name in ("rotation.npz", "src.vec", "tgt.vec", "tgt.bin"):
        (root / name).symlink_to(problem["root"] / name)
    codes, _, results, errors = _spawn("compare", world, root)
    assert codes == [0] * world, errors
    return world, results


@pytest.fixture(scope="module", params=[2, 3], ids=["2 ranks", "3 ranks"])
def learned(request, tmp_path_factory):
    """Self-learning, BLI and stochastic induction run in ``world`` processes, with the problem they ran on."""
    world = request.param
    root = tmp_path_factory.mktemp(f"learning{world}")
    data = _learning_problem()
    np.savez(root / "learning.npz", **data)
    codes, _, results, errors = _spawn("learning", world, root)
    assert codes == [0] * world, errors
    return world, results, data


# ---------------------------------------------------------------------------
# tests without processes
# ---------------------------------------------------------------------------
def test_shard_rows_cover_the_rows_once_with_sizes_within_one():
    for n, world in [(10, 3), (7, 7), (5, 8), (1000, 6)]:
        parts = [shard_rows(n, r, world) for r in range(world)]
        assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]]
        assert parts[0].start == 0 and parts[-1].stop == n
        sizes = [p.stop - p.start for p in parts]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank < world"):
        shard_rows(10, 3, 3)


def test_without_a_process_group_the_single_process_functions_run():
    X, Z, where = _rotation_problem()
    assert not init_from_env()  # no torchrun environment here
    with session() as active:
        assert not active
    assert backend_for("cpu") == "gloo"
    s, i = sharded_knn(X, Z, 3)
    s0, i0 = knn(X, Z, 3)
    assert torch.equal(i, i0) and torch.equal(s, s0)
    assert np.array_equal(sharded_induce_pairs(X, Z, method="csls"), induce_pairs(X, Z, method="csls"))


@pytest.mark.parametrize("name", ["tgt.vec", "tgt.bin", "tgt.vec.gz"])
def test_read_shard_reads_exactly_its_rows(problem, name):
    root, tgt = problem["root"], problem["tgt"]
    if name.endswith(".gz"):
        tgt.write(root / name)
    for world in (1, 2, 3, 5):
        words, parts = [], []
        for rank in range(world):
            shard = read_shard(root / name, rank, world)
            assert shard.n_total == len(tgt) and shard.embeddings.words == tgt.words[shard.rows]
            words += shard.embeddings.words
            parts.append(shard.embeddings.vectors)
        assert words == tgt.words
        assert np.array_equal(np.concatenate(parts), tgt.vectors)
    limited = read_shard(root / name, 1, 2, limit=50)
    assert limited.rows == slice(25, 50) and limited.embeddings.words == tgt.words[25:50]


def test_read_shard_errors_name_the_line_of_the_whole_file(tmp_path, problem):
    lines = (problem["root"] / "tgt.vec").read_text().splitlines(keepends=True)
    lines[120] = "bad 1 2\n"  # line 121 of the file, row 119: in the last of 3 shards
    (tmp_path / "bad.vec").write_text("".join(lines))
    assert read_shard(tmp_path / "bad.vec", 0, 3).embeddings.words[0] == "t0"  # rows 0-53: fine
    with pytest.raises(FormatError, match=r"bad\.vec:121: Expected a word and 32 values, got 2"):
        read_shard(tmp_path / "bad.vec", 2, 3)
    (tmp_path / "short.vec").write_text("".join(lines[:100]))
    with pytest.raises(FormatError, match="truncated"):
        read_shard(tmp_path / "short.vec", 2, 3)
    (tmp_path / "tiny.vec").write_text("2 2\na 1 0\nb 0 1\n")
    with pytest.raises(NotEnoughDataError, match="at least one vector per rank, got 2 vectors for 3 ranks"):
        read_shard(tmp_path / "tiny.vec", 0, 3)


# ---------------------------------------------------------------------------
# sharded against single-process
# ---------------------------------------------------------------------------
def _same(sharded, single, scale: float = 1.0):
    """Identical indices, and scores within 1e-6 times the size of the terms they are made of.

    A score is a difference of terms of size ``scale`` (2 cos and r for CSLS,
    beta cos and a log-normaliser near beta for inverted softmax), each exact
    to float32 rounding of a product whose tiling (and thread count) differs
    between one process and a shard: the single-process function itself moves
    by 1.9e-6 on beta = 20 scores when only its tile size changes.
    """
    (s, i), (s0, i0) = sharded, single
    assert torch.equal(i, i0)
    assert torch.allclose(s, s0, atol=1e-6 * scale, rtol=0)


def test_every_rank_gets_the_same_result(ranks):
    world, results = ranks
    for key, value in results[0].items():
        if key == "shard":
            continue
        for other in results[1:]:
            a, b = value, other[key]
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b), key
            else:
                assert all(torch.equal(x, y) for x, y in zip(a, b)), key


def test_sharded_retrieval_equals_single_process_on_the_rotation(ranks, problem):
    _, results = ranks
    X, Z, where = problem["X"], problem["Z"], problem["where"]
    res = results[-1]
    _same(res["knn"], knn(X, Z, 5, **OPTS))
    assert np.array_equal(res["knn"][1][:, 0].numpy(), where)  # the rotation is recovered
    assert torch.allclose(res["topk_mean"], topk_mean(X, Z, 7, **OPTS), atol=1e-6, rtol=0)
    r_x, r_z = csls_terms(X, Z, 10, **OPTS)
    assert torch.allclose(res["csls_terms"][0], r_x, atol=1e-6, rtol=0)
    assert torch.allclose(res["csls_terms"][1], r_z, atol=1e-6, rtol=0)
    _same(res["csls"], csls(X[:40], Z, 3, knn_k=10, sources=X, **OPTS), scale=2.0)
    _same(res["isf"], inverted_softmax(X[:40], Z, 3, beta=20.0, sources=X, **OPTS), scale=20.0)
    assert np.array_equal(res["rotation_pairs"], np.stack([np.arange(150), where], axis=1))


def test_sharded_retrieval_equals_single_process_on_vectors_read_by_shard(ranks, problem):
    world, results = ranks
    src, tgt = problem["src"].vectors, problem["tgt"].vectors
    words = [w for r in results for w in r["shard"][2]]
    assert words == problem["tgt"].words
    assert np.array_equal(np.concatenate([r["shard"][3] for r in results]), tgt)
    assert np.array_equal(np.concatenate([r["shard"][5] for r in results]), tgt)  # .bin shards
    res = results[0]
    _same(res["real_knn"], knn(src, tgt, 4, **OPTS))
    single_csls = csls(src, tgt, 4, knn_k=5, **OPTS)
    _same(res["real_csls"], single_csls, scale=2.0)
    # the data has hubs, so CSLS really differs from the nearest neighbour here
    assert (single_csls[1][:, 0] != knn(src, tgt, 1)[1][:, 0]).sum() >= 10
    _same(res["real_isf"], inverted_softmax(src, tgt, 4, beta=30.0, **OPTS), scale=30.0)


def test_sharded_induction_equals_single_process(ranks, problem):
    _, results = ranks
    src, tgt = problem["src"].vectors, problem["tgt"].vectors
    res = results[0]
    for method, scale in (("nn", 1.0), ("csls", 2.0), ("isf", 30.0)):
        m = best_matches(src, tgt, method=method, knn_k=5, **OPTS)
        fv, fi, bv, bi = res[f"matches_{method}"]
        _same((fv, fi), (m.forward_score, m.forward_index), scale)
        _same((bv, bi), (m.backward_score, m.backward_index), scale)
        for direction in DIRECTIONS:
            single = induce_pairs(src, tgt, method=method, direction=direction, knn_k=5, **OPTS)
            assert np.array_equal(res[f"pairs_{method}_{direction}"], single), (method, direction)
    union = induce_pairs(src, tgt, method="csls", direction="union", threshold=0.1, knn_k=5, **OPTS)
    assert 0 < len(union) < len(res["pairs_csls_union"])  # the threshold removes some pairs
    assert np.array_equal(res["pairs_threshold"], union)
    mutual = induce_pairs(src, tgt, method="csls", direction="intersection", max_rank=100, knn_k=5, **OPTS)
    assert np.array_equal(res["pairs_max_rank"], mutual) and mutual[:, 1].max() < 100


# ---------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------
def test_one_rank_with_bad_input_stops_every_rank_with_its_message(problem):
    root = problem["root"] / "fail"
    root.mkdir()
    lines = (problem["root"] / "tgt.vec").read_text().splitlines(keepends=True)
    lines[70] = "oops 1 2\n"  # line 71, row 69: rank 1's shard of 3 (rows 54-107)
    (root / "bad.vec").write_text("".join(lines))
    codes, _, _, errors = _spawn("failure", 3, root)
    assert codes == [1, 1, 1]
    messages = [torch.load(root / "failure" / f"{r}.messages") for r in range(3)]
    for rank, m in enumerate(messages):
        text, failed, chained = m["read"]
        assert text.startswith("rank 1 of 3 failed while reading its shard: ")
        assert f"{root / 'bad.vec'}:71: Expected a word and 32 values, got 2" in text
        assert failed == 1 and chained == (rank == 1)  # the failing rank keeps its own exception as the cause
        assert m["dim"][0].startswith("rank 2 of 3 failed while scoring the queries against the key shard (knn)")
        assert "Expected queries and keys of the same dimension, got 8 and 7" in m["dim"][0]
        assert m["queries"][0] == ("Expected the same queries (rows x dim) and dimension on every rank, "
                                   "got rank 0: 4 x 8, rank 1: 4 x 8, rank 2: 5 x 8")
        assert m["offset"][0] == "rank 1 of 3: expected the shards in rank order, so its shard starts at row 3, " \
                                 "got offset=0"
        assert m["nan"][0].startswith("rank 1 of 3 failed while scoring") and "NaN or inf in row 0" in m["nan"][0]
        assert errors[rank].startswith("DistributedError: rank 1 of 3 failed while reading its shard")


def test_a_killed_rank_makes_the_others_exit_non_zero_within_the_timeout(problem):
    root = problem["root"] / "kill"
    root.mkdir()
    codes, took, results, errors = _spawn("killed", 2, root, wait=TIMEOUT + 40)
    assert codes[1] == -signal.SIGKILL
    assert codes[0] not in (0, None) and results[0] is None
    assert took[0] < TIMEOUT + 30  # start-up plus at most the collective timeout: no hang
    assert "a collective failed while" in errors[0] and "another rank stopped" in errors[0]


def test_without_a_scope_library_code_runs_in_one_process():
    assert distributed.current_group() is None  # a script's own process group is never used unasked
    with distributed.scope(None):
        assert distributed.current_group() is None
    assert distributed.plan_sources(["de", "en", "fr"], [0, 1]) == {"de": (0,), "en": (1,), "fr": (0,)}
    assert distributed.plan_sources(["de", "en"], [0, 1, 2, 3, 4]) == {"de": (0, 2, 4), "en": (1, 3)}


# ---------------------------------------------------------------------------
# self-learning, BLI and translation over the ranks
# ---------------------------------------------------------------------------
def test_distributed_self_learning_gives_the_dictionary_and_map_of_one_process(learned):
    world, results, data = learned
    single = _self_learning(data)
    for name, one in single.items():
        for rank, res in enumerate(results):
            got = res[name]
            assert np.array_equal(got["pairs"], one["pairs"]), (name, rank)
            assert np.array_equal(got["seed_pairs"], one["seed_pairs"]), (name, rank)
            assert got["n_iter"] == one["n_iter"], (name, rank)
            np.testing.assert_allclose(got["x_map"], one["x_map"], atol=1e-5, rtol=0)
            np.testing.assert_allclose(got["z_map"], one["z_map"], atol=1e-5, rtol=0)
            np.testing.assert_allclose(got["objective"], one["objective"], atol=1e-6, rtol=0)
            # the map is fitted once, on rank 0, and sent: every rank holds the very same numbers
            assert np.array_equal(got["x_map"], results[0][name]["x_map"])
    # the runs did learn: more iterations than one, and the dictionary grew from 40 seed pairs to mostly
    # right ones (the stochastic run changed its keep probability along the way)
    csls = single["csls"]
    assert csls["n_iter"] > 3 and len(csls["pairs"]) > 300
    assert np.mean(data["where"][csls["pairs"][:, 0]] == csls["pairs"][:, 1]) > 0.85
    assert single["stochastic"]["n_iter"] > 5


def test_sharded_bli_and_translation_give_the_numbers_of_one_process(learned):
    _, results, data = learned
    src, tgt, lexicon = _learning_spaces(data)
    bli = evaluate_many(src, tgt, lexicon, ("nn", "csls", "isf"), ks=(1, 5, 10), knn_k=5)
    wrong = evaluate_many(src, tgt, lexicon, ("csls",), oov="wrong")
    for res in results:
        assert res["bli"] == bli and res["bli_wrong"] == wrong  # every P@k, MRR and count, exactly
    # not a trivial problem: the hubness corrections win, many gold translations rank beyond 10 (full ranks)
    assert 0.5 < bli["nn"]["p@1"] < bli["csls"]["p@1"] < bli["isf"]["p@1"] < 0.8
    assert bli["csls"]["p@10"] <= 0.95 and bli["csls"]["mrr"] < 0.8  # >= 10 queries ranked sharded beyond 10
    assert bli["csls"]["n_queries"] == 200 and bli["csls"]["n_test_words"] == 202
    from xling.retrieval import translate

    expected = translate(src, tgt, ["s0", "s7", "s9"], k=3, method="csls")
    for res in results:
        assert [[w for w, _ in row] for row in res["translate"]] == [[w for w, _ in row] for row in expected]
        np.testing.assert_allclose([s for row in res["translate"] for _, s in row],
                                   [s for row in expected for _, s in row], atol=2e-6)


def test_sharded_bli_and_translation_at_fp64_give_the_numbers_of_one_process(learned):
    _, results, data = learned
    src, tgt, lexicon = _learning_spaces(data)
    bli = evaluate_many(src, tgt, lexicon, ("nn", "csls", "isf"), ks=(1, 5, 10), knn_k=5, precision="fp64")
    from xling.retrieval import translate

    expected = translate(src, tgt, ["s0", "s7", "s9"], k=3, method="csls", precision="fp64")
    for res in results:
        assert res["bli_fp64"] == bli  # a rank without rows sends float64 like the others: every number
        assert [[w for w, _ in row] for row in res["translate_fp64"]] == [[w for w, _ in row] for row in expected]
        # float64 scores: one process and the shards agree far below float32 rounding
        np.testing.assert_allclose([s for row in res["translate_fp64"] for _, s in row],
                                   [s for row in expected for _, s in row], atol=1e-12)


def test_sharded_stochastic_induction_draws_the_mask_of_one_process(learned):
    _, results, _ = learned
    big = np.random.default_rng(1).normal(size=(2100, 16)).astype(np.float32)
    for method in ("nn", "csls", "isf"):
        one = induce_pairs(big, big[:300], method=method, direction="union", keep_prob=0.4, knn_k=5,
                           generator=torch.Generator().manual_seed(5))
        full = induce_pairs(big, big[:300], method=method, direction="union", knn_k=5)
        assert not np.array_equal(one, full)  # the mask changed the matches
        for res in results:
            assert np.array_equal(res[f"dropout_{method}"], one), method


def test_best_matches_with_precomputed_terms_and_a_column_offset_equals_the_whole_problem():
    X, Z, _ = _rotation_problem()
    r_x, r_z, top = csls_terms(X, Z, 10, return_top=True)
    assert torch.allclose(top.mean(dim=1), r_x) and torch.all(top[:, :-1] >= top[:, 1:])
    whole = best_matches(X, Z, method="csls", keep_prob=0.5, generator=torch.Generator().manual_seed(2))
    part = best_matches(X, Z[60:], method="csls", terms=(r_x, r_z[60:]), keep_prob=0.5,
                        generator=torch.Generator().manual_seed(2), column_offset=60, n_columns=150)
    assert torch.equal(part.backward_index, whole.backward_index[60:])
    with pytest.raises(ValueError, match="column_offset"):
        best_matches(X, Z[60:], column_offset=100, n_columns=150)
    with pytest.raises(ValueError, match="terms=None for method 'nn'"):
        best_matches(X, Z, method="nn", terms=(r_x, r_z))


# ---------------------------------------------------------------------------
# the command line under torchrun, and its failures
# ---------------------------------------------------------------------------
CLI_TIMEOUT = 8  # XLING_DIST_TIMEOUT of the command-line ranks: a dead rank is noticed within it
TRAIN_LEXICON, TEST_LEXICON = "en-es/en-es.0-5000.tsv", "en-es/en-es.5000-6500.tsv"


def _first_translations(path: Path, n: int) -> list[tuple[str, str]]:
    """n entries of a shipped lexicon, each source word with its first translation not taken by an earlier word."""
    pairs, sources, targets = [], set(), set()
    for line in path.read_text(encoding="utf-8").splitlines():
        s, t = line.split("\t")[:2]
        if s not in sources and t not in targets:
            sources.add(s)
            targets.add(t)
            pairs.append((s, t))
            if len(pairs) == n:
                break
    return pairs


@pytest.fixture(scope="module")
def lexicon_vectors(tmp_path_factory):
    """en, enb and es vectors over words of the shipped en-es lexicons, es a noisy rotation of each English space.

    enb holds the English words too, in another rotation, so that two sources map onto one hub with the
    shipped lexicons. Rows of es are shuffled (no alignment by row order).
    """
    root = tmp_path_factory.mktemp("cli")
    train = _first_translations(lexicon_path(TRAIN_LEXICON), 300)
    test = [p for p in _first_translations(lexicon_path(TEST_LEXICON), 400) if p[1] not in {t for _, t in train}][:120]
    pairs = train + test
    rng = np.random.default_rng(7)
    en = rng.normal(size=(len(pairs), 40))
    Q1, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    Q2, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    es = en @ Q1 + 0.5 * rng.normal(size=en.shape)
    order = rng.permutation(len(pairs))
    Embeddings([t for _, t in pairs], es).subset([pairs[i][1] for i in order]).write(root / "es.vec")
    Embeddings([s for s, _ in pairs], en).write(root / "en.vec")
    Embeddings([s for s, _ in pairs], es @ Q2.T + 0.3 * rng.normal(size=en.shape)).write(root / "enb.vec")
    return root


def _env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", XLING_DIST_TIMEOUT=str(CLI_TIMEOUT))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    env.update(extra)
    return env


def _cli_rank(env: dict, args: list, out: str, err: str) -> None:
    """One rank of ``xling ARGS``: the command's own entry point, in a process of the fork server."""
    torch.set_num_threads(1)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_APPEND), fd)
    cli.main(args, prog_name="xling")  # exits through SystemExit with the command's status


def _ranks(args, world: int, root: Path, *, started=None):
    """``xling ARGS`` as ``world`` ranks, given torchrun's variables by hand (no launcher to kill the rest).

    The ranks are processes of the fork server (torch and xling already imported: seconds saved per
    rank); the torchrun test starts real interpreters. ``started(procs, logs)`` runs once they are
    started. Returns (exit codes, stdout, stderr).
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "xling.distributed", "xling.map", "xling.evaluate", "xling.cli",
                                "xling.workflow"])
    port = _free_port()
    logs, procs = [], []
    for rank in range(world):
        out, err = root / f"rank{rank}.out", root / f"rank{rank}.err"
        out.touch(), err.touch()
        logs.append((out, err))
        env = _env(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        procs.append(ctx.Process(target=_cli_rank, args=(env, [str(a) for a in args], str(out), str(err)),
                                 daemon=True))
        procs[-1].start()
    start = time.monotonic()
    try:
        if started is not None:
            started(procs, logs)
        for p in procs:
            p.join(max(1.0, 150 - (time.monotonic() - start)))
    finally:  # never leave a rank behind (one waiting for a killed peer waits only for the timeout, but still)
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return [p.exitcode for p in procs], [o.read_text() for o, _ in logs], [e.read_text() for _, e in logs]


def _one_process(args) -> None:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _align_args(root: Path, *sources: str, learn: bool = True) -> list:
    """Self-learning plus BLI (``learn``), or just Procrustes (the failure tests need only the run's shape)."""
    lexicons = [a for _ in sources for a in ("--lexicon", lexicon_path(TRAIN_LEXICON))]
    if not learn:
        return ["align", *[root / f"{s}.vec" for s in sources], root / "es.vec", *lexicons, "--device", "cpu"]
    evals = [a for _ in sources for a in ("--eval", lexicon_path(TEST_LEXICON))]
    return ["align", *[root / f"{s}.vec" for s in sources], root / "es.vec", *lexicons, *evals,
            "-m", "selflearning", "-p", "vocabulary_cutoff=400", "-p", "max_iter=6", "--retrieval", "nn,csls",
            "--device", "cpu"]


def _same_outputs(one: Path, many: Path, names) -> None:
    """The files of a 1-process and a W-process run: same words, vectors within 1e-6, maps and BLI equal.

    Not byte for byte: the ranks run one BLAS thread each, and a different thread count sums a matmul in
    another order (last-digit differences in the written text).
    """
    for name in names:
        e1, ew = Embeddings.read(one / name), Embeddings.read(many / name)
        assert e1.words == ew.words, name
        np.testing.assert_allclose(ew.vectors, e1.vectors, atol=1e-6, err_msg=name)
    r1, rw = (json.loads((d / "report.json").read_text()) for d in (one, many))
    assert list(rw["sources"]) == list(r1["sources"]) and rw["target"] == r1["target"]
    for lang, entry in r1["sources"].items():
        assert rw["sources"][lang]["bli"] == entry["bli"] and rw["sources"][lang]["n_iter"] == entry["n_iter"]
        assert rw["sources"][lang]["pairs_used"] == entry["pairs_used"]
        m1, mw = (np.load(d / f"{lang}-es.map.npz") for d in (one, many))
        assert sorted(m1.files) == sorted(mw.files)
        for key in m1.files:
            np.testing.assert_array_equal(mw[key], m1[key], err_msg=f"{lang}: {key}")
    assert sorted(p.name for p in many.iterdir()) == sorted(p.name for p in one.iterdir())


def test_torchrun_align_writes_the_files_of_one_process(lexicon_vectors, tmp_path):
    args = _align_args(lexicon_vectors, "en")
    _one_process(args + ["--out-dir", tmp_path / "one"])
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "xling", *map(str, args), "--out-dir", str(tmp_path / "two")],
                          env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _same_outputs(tmp_path / "one", tmp_path / "two", ["en.mapped.vec", "es.mapped.vec"])
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["sources"]["en"]["ranks"] == [0, 1]  # one source: both ranks sharded it
    assert report["sources"]["en"]["bli"]["csls"]["p@1"] > 0.8 and report["sources"]["en"]["n_iter"] >= 2
    assert proc.stdout.count("| method |") == 1  # the table, printed by rank 0 only


def test_two_sources_go_to_two_ranks_and_give_the_files_of_one_process(lexicon_vectors, tmp_path):
    args = _align_args(lexicon_vectors, "en", "enb")
    _one_process(args + ["--out-dir", tmp_path / "one"])
    codes, out, err = _ranks(args + ["--out-dir", tmp_path / "two"], 2, tmp_path)
    assert codes == [0, 0], err
    _same_outputs(tmp_path / "one", tmp_path / "two", ["en.mapped.vec", "enb.mapped.vec", "es.mapped.vec"])
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["sources"]["en"]["ranks"] == [0] and report["sources"]["enb"]["ranks"] == [1]
    assert out[1] == "" and out[0].count("| method |") == 1


def test_bad_input_on_one_rank_stops_every_rank_with_one_message(lexicon_vectors, tmp_path):
    lines = (lexicon_vectors / "enb.vec").read_text().splitlines(keepends=True)
    lines[50] = "broken 1 2\n"  # line 51 of the file rank 1 reads (its source)
    (tmp_path / "enb.vec").write_text("".join(lines))
    for name in ("en.vec", "es.vec"):
        (tmp_path / name).symlink_to(lexicon_vectors / name)
    codes, out, err = _ranks(_align_args(tmp_path, "en", "enb", learn=False) + ["--out-dir", tmp_path / "out"],
                             2, tmp_path)
    assert codes == [1, 1]
    message = (f"Error: rank 1 of 2 failed while aligning its sources: {tmp_path / 'enb.vec'}:51: "
               "Expected a word and 40 values, got 2")
    assert message in err[0] and "Traceback" not in err[0] + err[1]
    assert "Error:" not in err[1]  # rank 0 says it, once
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_killed_rank_stops_the_others_within_the_timeout_and_nothing_is_written(lexicon_vectors, tmp_path):
    os.mkfifo(tmp_path / "enb.vec")  # rank 1 blocks reading its source until it is killed
    for name in ("en.vec", "es.vec"):
        (tmp_path / name).symlink_to(lexicon_vectors / name)
    killed = {}

    def kill_rank_1_once_rank_0_waits(procs, logs):
        deadline = time.monotonic() + 120
        while "finished its sources" not in logs[0][1].read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        killed["at"] = time.monotonic()
        procs[1].kill()

    args = ["-v", *_align_args(tmp_path, "en", "enb", learn=False), "--out-dir", tmp_path / "out"]
    codes, _, err = _ranks(args, 2, tmp_path, started=kill_rank_1_once_rank_0_waits)
    assert codes[1] == -signal.SIGKILL and codes[0] == 1
    assert "rank 1 of 2 stopped (killed or crashed: no sign of life for 8 s)" in err[0]
    assert time.monotonic() - killed["at"] < CLI_TIMEOUT + 20  # noticed within the timeout, no hang
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_eval_translate_and_apply_under_two_ranks_give_the_output_of_one_process(lexicon_vectors, tmp_path):
    root = lexicon_vectors
    aligned = tmp_path / "aligned"
    _one_process(_align_args(root, "en", learn=False) + ["--out-dir", aligned])
    commands = {
        "eval": ["eval", aligned / "en.mapped.vec", aligned / "es.mapped.vec", lexicon_path(TEST_LEXICON),
                 "--retrieval", "nn,csls,isf", "--json", "--device", "cpu"],
        "translate": ["translate", aligned / "en.mapped.vec", aligned / "es.mapped.vec", "house", "night", "water",
                      "--top", "3", "--device", "cpu"],
    }
    for name, args in commands.items():
        one = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert one.exit_code == 0, one.output
        (tmp_path / name).mkdir()
        codes, out, err = _ranks(args, 2, tmp_path / name)
        assert codes == [0, 0], err
        assert out[1] == ""  # only rank 0 prints
        if name == "eval":
            assert json.loads(out[0]) == json.loads(one.stdout)
        else:
            assert out[0] == one.stdout
    # apply: rank 0 writes the one output file; it equals the one-process file
    args = ["apply", aligned / "en-es.map.npz", root / "en.vec", "-o", tmp_path / "two.vec"]
    (tmp_path / "apply").mkdir()
    codes, _, err = _ranks(args, 2, tmp_path / "apply")
    assert codes == [0, 0], err
    _one_process(["apply", aligned / "en-es.map.npz", root / "en.vec", "-o", tmp_path / "one.vec"])
    assert (tmp_path / "two.vec").read_bytes() == (tmp_path / "one.vec").read_bytes()
