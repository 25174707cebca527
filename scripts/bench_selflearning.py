"""Time a self-learning fit on real vectors, two versions of xling side by side.

Fits :class:`xling.map.SelfLearning` on en-es vectors (rows sorted by
frequency) from the shipped seed lexicon ``en-es.0-5000`` and evaluates BLI
(nn and CSLS P@1) on ``en-es.5000-6500``, for each recipe:

``default``  ``SelfLearning()`` as shipped: Procrustes, CSLS, union, the 20,000
             most frequent words, no dropout.
``vecmap``   VecMap's semi-supervised recipe: the multi-step map of
             ``artetxe2018-supervised`` inside self-learning with stochastic
             dictionary induction (keep probability 0.1, doubled after
             ``--stochastic-interval`` iterations without improvement; VecMap
             waits 50, which takes hundreds of iterations).

``--cutoff`` and ``--max-iter`` shrink both recipes for a busy machine (the
time per iteration is what compares the versions; a capped run warns that it
did not converge).

Each fit runs in a fresh process that imports xling from one checkout
(``--before``, e.g. a read-only ``git worktree`` of HEAD, and ``--after``, the
working tree), the two alternating, ``--repeats`` times each; the table gives
the median fit time and the P@1 of each version, and whether both versions
induced the same final dictionary (a digest of ``pairs_``). Loading the
vectors and compiling the kernels are not timed: each worker first runs one
large CSLS pass to load them. Every checkout gets its own kernel cache, so
that alternating versions never rebuild.

Example::

    git worktree add --detach /tmp/xling-head HEAD
    python scripts/bench_selflearning.py /tmp/vec/en.vec /tmp/vec/es.vec \\
        --before /tmp/xling-head --after . --json /tmp/bench_selflearning.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "lexicons/en-es/en-es.0-5000.tsv"
TEST = ROOT / "lexicons/en-es/en-es.5000-6500.tsv"
RECIPES = ("default", "vecmap")


def recipe(name: str, args):
    """The SelfLearning of recipe ``name`` (imported here: the worker's checkout decides the code)."""
    from xling.map import SelfLearning
    from xling.map.presets import Artetxe2018Supervised

    common = dict(random_state=args.seed, device="cpu")
    if args.cutoff is not None:
        common["vocabulary_cutoff"] = args.cutoff
    if args.max_iter is not None:
        common["max_iter"] = args.max_iter
    if name == "default":
        return SelfLearning(**common)
    return SelfLearning(mapper=Artetxe2018Supervised(), stochastic_initial=0.1, stochastic_multiplier=2.0,
                        stochastic_interval=args.stochastic_interval, **common)


def use_checkout(checkout: Path) -> None:
    """Make ``import xling`` load ``checkout``.

    An editable install may redirect ``xling`` through a finder that comes
    before ``sys.path``; for another checkout than the installed one it is
    taken out of this worker's import system.
    """
    sys.path.insert(0, str(checkout))
    if checkout != ROOT:
        sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable")]
    import xling

    if not Path(xling.__file__).resolve().is_relative_to(checkout):
        raise RuntimeError(f"Expected xling from {checkout}, got {xling.__file__}")


def worker(args) -> None:
    """One fit; prints one JSON line."""
    use_checkout(Path(os.environ["XLING_BENCH_CHECKOUT"]))
    import numpy as np
    import torch

    import xling
    from xling import Embeddings, Lexicon
    from xling.evaluate import bli
    from xling.retrieval import csls_terms

    src = Embeddings.read(args.src, limit=args.limit)
    tgt = Embeddings.read(args.tgt, limit=args.limit)
    pairs, _ = Lexicon.read(TRAIN).to_pairs(src, tgt)
    test = Lexicon.read(TEST)
    # warm-up, not timed: kernel build or load, precision probe, first-touch of the BLAS buffers
    csls_terms(src.vectors[:8192], tgt.vectors[:8192], device="cpu")
    mapper = recipe(args.worker, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        mapper.fit(src.vectors, tgt.vectors, pairs)
        seconds = time.perf_counter() - start
    s_map = src.with_vectors(mapper.transform(src.vectors))
    t_map = tgt.with_vectors(mapper.transform_target(tgt.vectors))
    row = {
        "xling": str(Path(xling.__file__).parent.parent), "recipe": args.worker, "fit_s": seconds,
        "n_iter": int(mapper.n_iter_), "n_pairs": int(len(mapper.pairs_)),
        "pairs_sha1": hashlib.sha1(np.ascontiguousarray(mapper.pairs_, dtype=np.int64).tobytes()).hexdigest()[:12],
        "objectives": [e["objective"] for e in mapper.history_ if "objective" in e],
        "threads": torch.get_num_threads(), "seed_pairs": int(len(pairs)),
        "src_words": len(src), "tgt_words": len(tgt), "warnings": sorted({str(w.message)[:120] for w in caught}),
    }
    for method in ("nn", "csls"):
        r = bli(s_map, t_map, test, method=method, ks=(1,), device="cpu")
        row[f"{method}_p@1"] = r["p@1"]
        row["coverage"] = f"{r['n_queries']}/{r['n_test_words']}"
    print("RESULT " + json.dumps(row), flush=True)


def run(checkout: Path, name: str, args) -> dict:
    env = dict(os.environ, XLING_BENCH_CHECKOUT=str(checkout.resolve()),
               XLING_CACHE=str(Path(args.cache) / hashlib.sha1(str(checkout.resolve()).encode()).hexdigest()[:8]))
    cmd = [sys.executable, __file__, args.src, args.tgt, "--worker", name, "--limit", str(args.limit),
           "--seed", str(args.seed), "--stochastic-interval", str(args.stochastic_interval)]
    for option in ("cutoff", "max_iter"):
        if getattr(args, option) is not None:
            cmd += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"worker {name} in {checkout} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("tgt")
    ap.add_argument("--before", type=Path, help="checkout timed first (e.g. a worktree of HEAD)")
    ap.add_argument("--after", type=Path, default=ROOT, help="checkout timed second (default: this one)")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=50_000, help="most frequent words read per side")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cutoff", type=int, help="vocabulary_cutoff of both recipes (default: SelfLearning's, 20,000)")
    ap.add_argument("--max-iter", type=int, help="iteration cap of both recipes (default: SelfLearning's, 100)")
    ap.add_argument("--stochastic-interval", type=int, default=3, help="vecmap recipe (VecMap: 50)")
    ap.add_argument("--cache", default="/tmp/xling-bench-selflearning", help="kernel caches, one per checkout")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", choices=RECIPES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.before is None:
        ap.error("Expected --before CHECKOUT (e.g. a git worktree of HEAD), got none")
    versions = {"before": args.before, "after": args.after}
    rows = []
    for name in args.recipes.split(","):
        for rep in range(args.repeats):
            for label, checkout in versions.items():
                row = {"version": label, "repeat": rep, **run(checkout, name, args)}
                print(json.dumps({k: v for k, v in row.items() if k != "objectives"}), flush=True)
                rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("\n| recipe | version | fit s (median of %d) | runs | iterations | final pairs | pairs digest | nn P@1 | CSLS P@1 |"
          % args.repeats)
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.recipes.split(","):
        for label in versions:
            rs = [r for r in rows if r["recipe"] == name and r["version"] == label]
            times = ", ".join(f"{r['fit_s']:.1f}" for r in rs)
            digests = ", ".join(sorted({r["pairs_sha1"] for r in rs}))
            print(f"| {name} | {label} | {statistics.median(r['fit_s'] for r in rs):.1f} | {times} | "
                  f"{rs[0]['n_iter']} | {rs[0]['n_pairs']} | {digests} | {100 * rs[0]['nn_p@1']:.2f} | "
                  f"{100 * rs[0]['csls_p@1']:.2f} |")


if __name__ == "__main__":
    main()
