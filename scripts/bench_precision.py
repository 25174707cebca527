"""BLI at fp16, fp32 and fp64 on real vectors: the same map, the numbers and seconds of each precision.

Fits one Procrustes map (xling's default normalisation) on the seed lexicon,
then evaluates the test lexicon with every retrieval method at every
precision, in interleaved rounds (round robin, so that background load hits
every precision alike), and prints one markdown table: P@1 / P@10 / MRR,
the test words whose top-1 translation differs from fp64's, and the median
seconds of an evaluation (the CSLS terms and the full-ranking pass included).

    flock /tmp/xling-heavy.lock python scripts/bench_precision.py runs/vectors/xling-sgns/en.vec \\
        runs/vectors/xling-sgns/es.vec lexicons/en-es/en-es.0-5000.tsv lexicons/en-es/en-es.5000-6500.tsv

fp16 is made for GPUs (half the memory of the inputs and the products); on
a CPU without half-precision matrix units its products run slower than
float32, which the seconds show.

``--selflearning-iters N`` adds a second table: N iterations of self-learning
from the seed lexicon (CSLS union induction among ``--vocabulary-cutoff``
words, keep probability 1, so induction is deterministic) at each precision,
with the seconds an iteration, the final dictionary's pairs that fp64's
dictionary lacks, and the CSLS P@1 of the final map (evaluated at fp32).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from xling import Embeddings
from xling.evaluate import bli
from xling.exceptions import ConvergenceWarning
from xling.map import Procrustes, SelfLearning
from xling.retrieval import PRECISIONS, Scorer, at_precision
from xling.workflow import read_lexicon


def top1(src: Embeddings, tgt: Embeddings, lexicon, method: str, precision: str, device: str) -> torch.Tensor:
    """The top-1 target row of every evaluable test word (the queries of :func:`xling.evaluate.bli`)."""
    rows = [src.word_to_index[w] for w in lexicon.sources
            if w in src.word_to_index and any(t in tgt.word_to_index for t in lexicon[w])]
    with at_precision(precision):
        return Scorer(src.vectors[rows], tgt.vectors, method=method, sources=src.vectors, device=device).top(1)[1][:, 0]


def self_learning(src: Embeddings, tgt: Embeddings, pairs, test, precisions, iters: int, cutoff: int, device: str):
    """Print the self-learning table: ``iters`` iterations at each precision (see the module docstring)."""
    runs = {}
    for precision in precisions:
        m = SelfLearning(final_mapper=None, max_iter=iters, vocabulary_cutoff=cutoff, precision=precision,
                         device=device)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of iterations on purpose
            m.fit(src.vectors, tgt.vectors, pairs)
        seconds = (time.perf_counter() - start) / m.n_iter_
        mapped = Embeddings(src.words, m.transform(src.vectors)), Embeddings(tgt.words, m.transform_target(tgt.vectors))
        runs[precision] = m, seconds, bli(*mapped, test, method="csls", device=device)["p@1"]
    print(f"\nSelf-learning, {iters} iterations at most, vocabulary cutoff {cutoff}:\n")
    print("| precision | iterations | seconds / iteration | pairs | pairs not in fp64's dictionary | CSLS P@1 (fp32 eval) |")
    print("|---|---|---|---|---|---|")
    reference = {tuple(p) for p in runs["fp64"][0].pairs_} if "fp64" in runs else None
    for precision, (m, seconds, p1) in runs.items():
        extra = "" if reference is None else sum(tuple(p) not in reference for p in np.unique(m.pairs_, axis=0))
        print(f"| {precision} | {m.n_iter_} | {seconds:.2f} | {len(m.pairs_)} | {extra} | {100 * p1:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src")
    parser.add_argument("tgt")
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--methods", default="nn,csls,isf")
    parser.add_argument("--precisions", default="fp16,fp32,fp64")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the BLI table (0: no BLI table)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--selflearning-iters", type=int, default=0, help="also run self-learning (0: do not)")
    parser.add_argument("--vocabulary-cutoff", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods, precisions = args.methods.split(","), args.precisions.split(",")
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        parser.error(f"unknown precisions {unknown}; expected from {', '.join(PRECISIONS)}")

    src, tgt = Embeddings.read(args.src), Embeddings.read(args.tgt)
    seed = read_lexicon(args.train, src, tgt)
    test = read_lexicon(args.test, src, tgt)
    pairs, _ = seed.to_pairs(src, tgt)
    if args.rounds:  # 0: only the self-learning table
        mapper = Procrustes().fit(src.vectors, tgt.vectors, pairs)
        src_m = Embeddings(src.words, mapper.transform(src.vectors))
        tgt_m = Embeddings(tgt.words, mapper.transform_target(tgt.vectors))
        seconds = {(m, p): [] for m in methods for p in precisions}
        results = {}
        for _ in range(args.rounds):
            for method in methods:
                for precision in precisions:
                    start = time.perf_counter()
                    results[method, precision] = bli(src_m, tgt_m, test, method=method, precision=precision,
                                                     device=args.device)
                    seconds[method, precision].append(time.perf_counter() - start)

        print(f"{len(src)} x {len(tgt)} words, dim {src.dim}; {results[methods[0], precisions[0]]['n_queries']} "
              f"evaluable test words; {args.rounds} rounds, {args.threads} threads, device {args.device}\n")
        print("| method | precision | P@1 | P@10 | MRR | top-1 differs from fp64 | seconds (median) |")
        print("|---|---|---|---|---|---|---|")
        for method in methods:
            reference = top1(src_m, tgt_m, test, method, "fp64", args.device) if "fp64" in precisions else None
            for precision in precisions:
                r = results[method, precision]
                differs = "" if reference is None else \
                    int((top1(src_m, tgt_m, test, method, precision, args.device) != reference).sum())
                print(f"| {method} | {precision} | {100 * r['p@1']:.2f} | {100 * r['p@10']:.2f} | {r['mrr']:.4f} | "
                      f"{differs} | {statistics.median(seconds[method, precision]):.2f} |")
    if args.selflearning_iters:
        self_learning(src, tgt, pairs, test, precisions, args.selflearning_iters, args.vocabulary_cutoff, args.device)


if __name__ == "__main__":
    main()
