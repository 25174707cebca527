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
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from xling import Embeddings
from xling.evaluate import bli
from xling.map import Procrustes
from xling.retrieval import PRECISIONS, Scorer, at_precision
from xling.workflow import read_lexicon


def top1(src: Embeddings, tgt: Embeddings, lexicon, method: str, precision: str, device: str) -> torch.Tensor:
    """The top-1 target row of every evaluable test word (the queries of :func:`xling.evaluate.bli`)."""
    rows = [src.word_to_index[w] for w in lexicon.sources
            if w in src.word_to_index and any(t in tgt.word_to_index for t in lexicon[w])]
    with at_precision(precision):
        return Scorer(src.vectors[rows], tgt.vectors, method=method, sources=src.vectors, device=device).top(1)[1][:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src")
    parser.add_argument("tgt")
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--methods", default="nn,csls,isf")
    parser.add_argument("--precisions", default="fp16,fp32,fp64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
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


if __name__ == "__main__":
    main()
