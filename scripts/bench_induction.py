"""One dictionary-induction step (``xling.retrieval.best_matches``, CSLS) of an older commit against this tree.

The older ``xling/retrieval.py`` is taken from git (``--before``) into a
temporary folder and imported next to the installed one (it uses this tree's
compiled kernels, which is fine as long as their functions it calls exist
there); both run the same problem, the first ``--cutoff`` words of the two
vector files, alternating, with and without dropout. Prints each run's
seconds and union-pair count, then the minimum per version.

Example (the "Self-learning on one retrieval engine" section of BENCHMARKS.md)::

    flock /tmp/xling-heavy.lock python scripts/bench_induction.py runs/vectors/xling-sgns/en.vec \\
        runs/vectors/xling-sgns/es.vec --before 45f5c5e --cutoff 20000 --repeats 2
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from xling import Embeddings
from xling import retrieval as current


def load_module_at(commit: str, tmp: Path):
    """``xling/retrieval.py`` as of ``commit``, imported under another name."""
    source = subprocess.run(["git", "show", f"{commit}:xling/retrieval.py"], check=True, capture_output=True,
                            text=True).stdout
    path = tmp / "retrieval_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("retrieval_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("tgt", type=Path)
    ap.add_argument("--before", required=True, help="git commit of the older retrieval.py")
    ap.add_argument("--cutoff", type=int, default=20_000)
    ap.add_argument("--keep", default="1.0,0.1", help="keep probabilities to time")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X = Embeddings.read(args.src).vectors[: args.cutoff]
    Z = Embeddings.read(args.tgt).vectors[: args.cutoff]
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"before": load_module_at(args.before, Path(tmp)), "after": current}
        times: dict = {}
        for _ in range(args.repeats):
            for keep in map(float, args.keep.split(",")):
                for name, module in versions.items():
                    start = time.perf_counter()
                    m = module.best_matches(X, Z, keep_prob=keep, generator=torch.Generator().manual_seed(0),
                                            device="cpu")
                    seconds = time.perf_counter() - start
                    times.setdefault((name, keep), []).append(seconds)
                    print(f"{name} keep {keep}: {seconds:.2f} s, {len(m.pairs('union'))} union pairs", flush=True)
    for (name, keep), runs in times.items():
        print(f"{name} keep {keep}: min {min(runs):.2f} s, runs {', '.join(f'{t:.2f}' for t in runs)}")


if __name__ == "__main__":
    main()
