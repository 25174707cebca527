"""The compiled kernels: installed with the package, chosen for the CPU, equal on every code path.

Each check runs xling in a fresh interpreter, because the code path is chosen
once per process (``XLING_ISA``) and because "no compiler on PATH" must hold
for the whole import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from xling._kernels import ISAS, available_isas
from xling.info import format_info, info

# Computes, with the kernels of whatever code path XLING_ISA selects: both CSLS
# terms on a problem big enough for the tile scanner, stochastic CSLS matches
# both ways, a skip-gram fit, and alias draws; saves them to argv[1] and prints what it ran on.
_RUN = textwrap.dedent(
    """
    import json, shutil, sys
    import numpy as np
    import xling
    from xling.info import info
    from xling.train import SkipGram

    rng = np.random.default_rng(0)
    # 8192 x 8192 = 2**26 cosines: the size from which csls_terms uses the compiled scanner.
    X = rng.standard_normal((8192, 16)).astype(np.float32)
    Z = rng.standard_normal((8192, 16)).astype(np.float32)
    r_x, r_z = xling.csls_terms(X, Z, knn_k=10)
    _, top = xling.csls(X[:300], Z, k=10, knn_k=10, sources=X)
    import torch
    from xling.retrieval import best_matches
    m = best_matches(X, Z, keep_prob=0.3, generator=torch.Generator().manual_seed(0), device="cpu")

    words = [f"w{i}" for i in range(60)]
    corpus = [[words[j] for j in rng.zipf(1.3, 12) % 60] for _ in range(400)]
    model = SkipGram(vector_size=16, window=3, negative=5, min_count=1, sample=0, epochs=2, workers=1,
                     backend="kernel", random_state=0).fit(corpus)
    from xling._kernels import load_word2vec
    prob = np.full(60, 0.5, dtype=np.float32)
    alias = np.arange(60, dtype=np.int32)[::-1].copy()
    draws = load_word2vec().sample_alias(prob, alias, 1000, 7).numpy()

    np.savez(sys.argv[1], r_x=r_x.numpy(), r_z=r_z.numpy(), top=top.numpy(),
             words=np.array(model.embeddings_.words), vectors=model.embeddings_.vectors, draws=draws,
             fwd=m.forward_index.numpy(), bwd=m.backward_index.numpy(), fwd_score=m.forward_score.numpy())
    report = info()
    report["backend"] = model.backend_
    report["compiler_on_path"] = any(shutil.which(c) for c in ("cc", "c++", "g++", "gcc", "clang"))
    report["cpp_extension_imported"] = "torch.utils.cpp_extension" in sys.modules
    print(json.dumps(report))
    """
)


def _python_only_path(tmp_path) -> str:
    """A PATH of one directory holding only the Python interpreter: no cc, c++, g++ or ninja."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(os.path.realpath(sys.executable))
    return str(bin_dir)


def _run(code: str, tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("XLING_ISA", "XLING_NO_KERNEL")}
    environ.update(PATH=_python_only_path(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", code, *args], env=environ, capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The script above on the default (best) code path and on XLING_ISA=portable, without a compiler."""
    tmp_path = tmp_path_factory.mktemp("kernels")
    out = {}
    for isa in ("auto", "portable"):
        path = tmp_path / f"{isa}.npz"
        proc = _run(_RUN, tmp_path, str(path), XLING_ISA=isa)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[isa] = (json.loads(proc.stdout.strip().splitlines()[-1]), dict(np.load(path)))
    return out


def test_kernels_load_without_a_compiler_on_path(runs):
    report, _ = runs["auto"]
    assert not report["compiler_on_path"]
    # Loading and running both kernels never reached for torch's JIT compiler.
    assert not report["cpp_extension_imported"]
    assert report["backend"] == "kernel"
    # The best code path this CPU runs, of those the build has (reported for the log).
    assert report["kernel_isa"] == report["kernel_isas"][0] == available_isas()[0], report
    print("active ISA:", report["kernel_isa"], "of", report["kernel_isas"])


def test_portable_path_gives_the_results_of_the_dispatched_one(runs):
    (best, a), (portable, b) = runs["auto"], runs["portable"]
    assert portable["kernel_isa"] == "portable" and portable["backend"] == "kernel"
    if best["kernel_isa"] == "portable":
        pytest.skip("this CPU runs only the portable path")
    # Top-k selection is exact: the same cosines give the same sets on every path.
    np.testing.assert_allclose(a["r_x"], b["r_x"], rtol=1e-6)
    np.testing.assert_allclose(a["r_z"], b["r_z"], rtol=1e-6)
    np.testing.assert_array_equal(a["top"], b["top"])
    np.testing.assert_array_equal(a["draws"], b["draws"])
    # Stochastic dictionary induction: the same mask and matches on every path.
    np.testing.assert_array_equal(a["fwd"], b["fwd"])
    np.testing.assert_array_equal(a["bwd"], b["bwd"])
    np.testing.assert_allclose(a["fwd_score"], b["fwd_score"], atol=1e-5)
    # Skip-gram updates differ only by rounding (FMA, the order of the dot products' sums).
    np.testing.assert_array_equal(a["words"], b["words"])
    assert np.abs(a["vectors"]).max() > 0.1  # training moved the vectors
    np.testing.assert_allclose(a["vectors"], b["vectors"], atol=1e-4)


def test_scanned_terms_match_brute_force(runs):
    _, a = runs["auto"]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8192, 16)).astype(np.float32)
    Z = rng.standard_normal((8192, 16)).astype(np.float32)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    S = torch.from_numpy(Xn[:200]) @ torch.from_numpy(Zn).T
    np.testing.assert_allclose(a["r_x"][:200], S.topk(10, dim=1).values.mean(dim=1).numpy(), atol=1e-5)


def test_an_unknown_isa_request_is_refused_in_one_line(tmp_path):
    proc = _run("from xling._kernels import load_topk; load_topk()", tmp_path, XLING_ISA="sse9")
    assert proc.returncode != 0
    assert "XlingError: Expected XLING_ISA to be one of auto, avx512, avx2, portable; got 'sse9'" in proc.stderr


def test_an_isa_the_cpu_lacks_is_refused(tmp_path):
    missing = [isa for isa in ISAS if isa not in available_isas()]
    if not missing:
        pytest.skip("this CPU runs every code path of the build")
    proc = _run("from xling._kernels import load_topk; load_topk()", tmp_path, XLING_ISA=missing[0])
    assert proc.returncode != 0
    assert f"this CPU runs and this build has ({', '.join(available_isas())}), got '{missing[0]}'" in proc.stderr


def test_a_missing_extension_warns_once_per_kernel_and_falls_back(tmp_path):
    code = textwrap.dedent(
        """
        import sys, warnings
        for isa in ("portable", "avx2", "avx512"):
            sys.modules["xling._kernels._" + isa] = None  # as if the build had not installed them
        from xling._kernels import kernel_error, load_topk, load_word2vec
        from xling.train import SkipGram
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert load_topk() is None and load_topk() is None
            model = SkipGram(vector_size=8, min_count=1, epochs=1, random_state=0).fit([["a", "b", "c"]] * 20)
            assert load_word2vec() is None
        assert model.backend_ == "torch", model.backend_
        assert "not installed" in kernel_error()
        for w in caught:
            print(f"{w.category.__name__}: {w.message}")
        """
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    topk, word2vec = sorted(lines)
    assert topk.startswith("RuntimeWarning: xling's compiled topk kernel is unavailable") and "CSLS" in topk
    assert "SkipGram" in word2vec and "pip install" in word2vec


def test_info_reports_the_backends():
    report = info()
    assert report["kernel_isa"] in ISAS and report["kernel_isa"] == report["kernel_isas"][0]
    assert report["kernel_error"] is None
    assert report["torch"] == torch.__version__ and report["torch_threads"] == torch.get_num_threads()
    assert report["cuda_devices"] == [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    text = format_info(report)
    assert f"kernel_isa:    {report['kernel_isa']}" in text.splitlines()
