"""Benchmark exact retrieval: top-k by cosine and CSLS, and the CSLS neighbourhood terms.

Two parts, each printed as a markdown table with effective GFLOP/s
(2 * n_q * n_t * d / time) next to a plain torch matmul of the same shapes and
to faiss-cpu ``IndexFlatIP`` (column left out if faiss is not installed), all
measured in the same run. Repetitions are interleaved (round robin) so that
background load hits every method alike; medians are reported.

``--part query``: n_q queries x n_t targets (default 1,500 x 200,000, d=300),
exact top-k (k=10). The matmul baseline is one ``torch.mm`` producing the whole
(n_q, n_t) score matrix.

``--part terms``: both CSLS terms (mean of the k largest cosines per row and per
column) for n_s sources x n_t2 targets (default 200,000 x 20,000, a subset of
the 200k x 200k problem; ``--full-terms`` also times 200k x 200k once, next to its
tiled products). The full
score matrix would not fit in memory, so the matmul baseline is the same tiled
products (4096 x 8192 blocks, the library's CPU default) without the top-k.

Run it under the shared lock::

    flock /tmp/xling-heavy.lock python scripts/bench_retrieval.py --part query
    flock /tmp/xling-heavy.lock python scripts/bench_retrieval.py --part terms --full-terms

With ``XLING_NO_KERNEL=1`` xling uses its pure-PyTorch top-k instead of the
compiled tile scanner; ``XLING_ISA=avx2|portable`` forces one of its code paths.
``--jit-baseline REV`` adds the rows that use the tile scanner (the CSLS terms)
once more with the scanner as xling built it before issue 13 (the source of git
revision REV, compiled at run time with ``-march=native``), interleaved with the
installed build, e.g. ``--jit-baseline b3dd463``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from xling import csls, csls_terms, knn, topk_mean
from xling._kernels import kernel_isa

try:
    import faiss
except ImportError:  # the faiss column is optional
    faiss = None


def unit_random(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Clustered unit vectors (a rough stand-in for word vectors: dense regions and hubs)."""
    centers = rng.standard_normal((1000, d), dtype=np.float32)
    X = centers[rng.integers(0, 1000, n)] + 1.5 * rng.standard_normal((n, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def run_interleaved(methods: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each callable, repetitions interleaved (after one warm-up each)."""
    times = {name: [] for name in methods}
    for fn in methods.values():
        fn()
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(rows: list[tuple[str, float, float]], baseline: str) -> str:
    ref = next(g for name, _, g in rows if name == baseline)
    lines = ["| method | median s | GFLOP/s | vs torch matmul |", "|---|---:|---:|---:|"]
    for name, sec, gflops in rows:
        lines.append(f"| {name} | {sec:.3f} | {gflops:.0f} | {100 * gflops / ref:.0f}% |")
    return "\n".join(lines)


def faiss_search(index_data: np.ndarray, queries: np.ndarray, k: int):
    index = faiss.IndexFlatIP(index_data.shape[1])
    index.add(index_data)
    return lambda: index.search(queries, k)


def with_jit(args, fn):
    """``fn`` run with the former JIT-built tile scanner (``--jit-baseline``) instead of the installed one."""
    from kernel_baseline import jit_kernel, using

    module = jit_kernel("topk", args.jit_baseline)

    def run():
        with using("topk", module):
            return fn()

    return run


def part_query(args, rng) -> None:
    Q = unit_random(args.n_queries, args.dim, rng)
    K = unit_random(args.n_targets, args.dim, rng)
    Qt, Kt = torch.from_numpy(Q), torch.from_numpy(K)
    flops = 2 * args.n_queries * args.n_targets * args.dim
    _, r_k = csls_terms(Q, K, 10)  # precomputed target-side term (sources = the queries)
    methods = {
        "torch.mm (full score matrix)": lambda: torch.mm(Qt, Kt.T),
        f"xling knn top-{args.k}": lambda: knn(Q, K, args.k, device="cpu"),
        f"xling csls top-{args.k}, r_S given": lambda: csls(Q, K, args.k, key_terms=r_k, device="cpu"),
        f"xling csls top-{args.k}, r_S computed (2 passes)": lambda: csls(Q, K, args.k, device="cpu"),
    }
    if args.jit_baseline:
        methods[f"xling csls top-{args.k}, r_S computed, JIT kernel"] = with_jit(
            args, lambda: csls(Q, K, args.k, device="cpu"))
    if faiss is not None:
        methods[f"faiss IndexFlatIP top-{args.k}"] = faiss_search(K, Q, args.k)
    med = run_interleaved(methods, args.repeats)

    # Exactness: xling's neighbours agree with faiss and with a float64 check.
    s, i = knn(Q, K, args.k, device="cpu")
    ref = (Q[:100].astype(np.float64) @ K.T.astype(np.float64))
    ref_top = np.sort(ref, axis=1)[:, ::-1][:, : args.k]
    err = float(np.abs(s[:100].numpy() - ref_top).max())
    agree = ""
    if faiss is not None:
        _, fi = methods[f"faiss IndexFlatIP top-{args.k}"]()
        agree = f", indices equal to faiss for {100 * float((i.numpy() == fi).mean()):.2f}% of entries"
    rows = [(name, sec, flops / sec / 1e9) for name, sec in med.items()]
    print(f"\n{args.n_queries:,} queries x {args.n_targets:,} targets, d={args.dim}, k={args.k}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"max |score - float64| over 100 queries: {err:.1e}{agree}\n")
    print(table(rows, "torch.mm (full score matrix)"))


def tiled_mm(X: torch.Tensor, Z: torch.Tensor, bq: int = 4096, bt: int = 8192) -> None:
    """The products of csls_terms' tiles, without the top-k."""
    buf = torch.empty(bq * bt)
    for q0 in range(0, len(X), bq):
        Xb = X[q0 : q0 + bq]
        for k0 in range(0, len(Z), bt):
            Zb = Z[k0 : k0 + bt]
            torch.mm(Xb, Zb.T, out=buf[: len(Xb) * len(Zb)].view(len(Xb), len(Zb)))


def part_terms(args, rng) -> None:
    X = unit_random(args.n_sources, args.dim, rng)
    Z = unit_random(args.n_targets_terms, args.dim, rng)
    Xt, Zt = torch.from_numpy(X), torch.from_numpy(Z)
    flops = 2 * args.n_sources * args.n_targets_terms * args.dim
    methods = {
        "torch.mm tiles 4096x8192 (no top-k)": lambda: tiled_mm(Xt, Zt),
        "xling csls_terms (fused, one pass)": lambda: csls_terms(X, Z, 10, device="cpu"),
        "xling topk_mean twice (two passes)": lambda: (topk_mean(X, Z, 10, device="cpu"), topk_mean(Z, X, 10, device="cpu")),
    }
    if args.jit_baseline:
        methods["xling csls_terms (fused, one pass), JIT kernel"] = with_jit(
            args, lambda: csls_terms(X, Z, 10, device="cpu"))
    if faiss is not None:
        fx, fz = faiss_search(Z, X, 10), faiss_search(X, Z, 10)
        methods["faiss IndexFlatIP, both directions"] = lambda: (fx(), fz())
    med = run_interleaved(methods, args.repeats_terms)
    r_x, r_z = csls_terms(X, Z, 10, device="cpu")
    ref_x = np.sort(X[:50].astype(np.float64) @ Z.T.astype(np.float64), axis=1)[:, -10:].mean(1)
    err = float(np.abs(r_x[:50].numpy() - ref_x).max())
    rows = [(name, sec, flops / sec / 1e9) for name, sec in med.items()]
    print(f"\nCSLS terms, {args.n_sources:,} sources x {args.n_targets_terms:,} targets, d={args.dim}, knn_k=10, "
          f"{torch.get_num_threads()} threads, median of {args.repeats_terms}")
    print(f"max |r_x - float64| over 50 rows: {err:.1e}\n")
    print(table(rows, "torch.mm tiles 4096x8192 (no top-k)"))
    fused = med["xling csls_terms (fused, one pass)"]
    full = 2 * args.n_sources * args.n_sources * args.dim
    print(f"\nExtrapolated to {args.n_sources:,} x {args.n_sources:,} at the same rate: "
          f"{fused * args.n_sources / args.n_targets_terms:.0f} s (estimate, not measured)")
    if args.full_terms:
        Zf = unit_random(args.n_sources, args.dim, rng)
        Zft = torch.from_numpy(Zf)
        once = {}
        for name, fn in (("torch.mm tiles 4096x8192 (no top-k)", lambda: tiled_mm(Xt, Zft)),
                         ("xling csls_terms (fused, one pass)", lambda: csls_terms(X, Zf, 10, device="cpu"))):
            start = time.perf_counter()
            fn()
            once[name] = time.perf_counter() - start
        print(f"\nMeasured once each, {args.n_sources:,} x {args.n_sources:,} (the full problem):\n")
        print(table([(name, sec, full / sec / 1e9) for name, sec in once.items()], "torch.mm tiles 4096x8192 (no top-k)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["query", "terms", "all"], default="all")
    parser.add_argument("--n-queries", type=int, default=1500)
    parser.add_argument("--n-targets", type=int, default=200_000)
    parser.add_argument("--n-sources", type=int, default=200_000, help="sources of the CSLS-terms part")
    parser.add_argument("--n-targets-terms", type=int, default=20_000, help="targets of the CSLS-terms part")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--repeats-terms", type=int, default=3)
    parser.add_argument("--full-terms", action="store_true", help="also time the full n_sources x n_sources terms once")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit-baseline", metavar="REV", default=None,
                        help="also time the CSLS terms with the -march=native JIT scanner of git revision REV")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if faiss is not None:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    print(f"torch {torch.__version__}, faiss {getattr(faiss, '__version__', 'not installed')}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, kernel code path {kernel_isa()}")
    if args.part in ("query", "all"):
        part_query(args, rng)
    if args.part in ("terms", "all"):
        part_terms(args, rng)


if __name__ == "__main__":
    main()
