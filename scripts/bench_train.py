"""Training throughput of xling's SkipGram and CBOW next to gensim Word2Vec, in one run.

All runs see the same tokens (xling's tokenisation of the same file), the same
dimension, window, negatives, subsampling, min_count and worker count. Words/s
counts corpus tokens (out-of-vocabulary ones included, as gensim's "raw
words") per second of training; vocabulary building is timed apart. gensim is
measured twice: fed the token lists from memory (its usual iterable API) and
through ``corpus_file`` (its fastest mode, on a whitespace-joined copy of the
same tokens).

    flock /tmp/xling-heavy.lock python scripts/bench_train.py ../shared/data/mono/en.txt.xz

gensim is needed for the comparison only (``pip install gensim``).

The xling systems run on the installed compiled kernel (its code path is
printed; ``XLING_ISA=avx2|portable`` forces one). ``--jit-baseline REV`` adds
``xling-sgns-jit`` / ``xling-cbow-jit``: the kernel as xling built it before
issue 13 (the source of git revision REV, compiled at run time with
``-march=native``), e.g. ``--systems xling-sgns,xling-sgns-jit --jit-baseline b3dd463``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time

import torch

from xling import LineCorpus
from xling._kernels import kernel_isa
from xling.train import CBOW, SkipGram


def run_xling(cls, corpus, args, backend):
    model = cls(
        vector_size=args.dim, window=args.window, negative=args.negative, min_count=args.min_count,
        sample=args.sample, epochs=args.epochs, workers=args.workers, backend=backend, random_state=0,
    )
    t0 = time.perf_counter()
    model.fit(corpus)
    total = time.perf_counter() - t0
    train = sum(h["seconds"] for h in model.history_)
    return {"train_s": train, "prep_s": total - train, "loss": model.history_[-1]["loss"], "path": model.backend_}


def run_gensim(sg, sentences, corpus_file, args):
    from gensim.models import Word2Vec

    kw = dict(vector_size=args.dim, window=args.window, negative=args.negative, min_count=args.min_count,
              sample=args.sample, workers=args.workers, sg=sg, hs=0, seed=0, epochs=args.epochs)
    t0 = time.perf_counter()
    model = Word2Vec(**kw)
    if corpus_file:
        model.build_vocab(corpus_file=corpus_file)
    else:
        model.build_vocab(sentences)
    prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    if corpus_file:
        model.train(corpus_file=corpus_file, total_words=model.corpus_total_words, epochs=args.epochs)
    else:
        model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    return {"train_s": time.perf_counter() - t1, "prep_s": prep, "loss": float("nan"),
            "path": "corpus_file" if corpus_file else "iterable"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="text file (.txt/.gz/.xz), one paragraph per line")
    parser.add_argument("--max-lines", type=int, default=None, help="use only the first N lines")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="repetitions; medians are reported")
    parser.add_argument("--systems", default="xling-sgns,xling-cbow,gensim-sg,gensim-cbow,gensim-sg-file,gensim-cbow-file",
                        help="comma-separated: xling-sgns, xling-cbow, xling-sgns-torch, xling-cbow-torch, "
                             "xling-sgns-jit, xling-cbow-jit (with --jit-baseline), "
                             "gensim-sg, gensim-cbow, gensim-sg-file, gensim-cbow-file")
    parser.add_argument("--jit-baseline", metavar="REV", default=None,
                        help="git revision whose word2vec.cpp the -jit systems compile with -march=native")
    args = parser.parse_args()
    torch.set_num_threads(args.workers)
    logging.basicConfig(level=logging.WARNING)

    corpus = LineCorpus(args.corpus, max_lines=args.max_lines)
    systems = args.systems.split(",")
    sentences, corpus_file = None, None
    if any(s.startswith("gensim") for s in systems):
        sentences = list(corpus)
    n_tokens = sum(len(s) for s in sentences) if sentences is not None else None
    tmpdir = tempfile.TemporaryDirectory()
    if any(s.endswith("-file") for s in systems):
        corpus_file = os.path.join(tmpdir.name, "corpus.txt")
        with open(corpus_file, "w", encoding="utf-8") as fh:
            for s in sentences:
                fh.write(" ".join(s) + "\n")

    jit = None
    if any(s.endswith("-jit") for s in systems):
        if args.jit_baseline is None:
            parser.error("the -jit systems need --jit-baseline REV")
        from kernel_baseline import jit_kernel, using

        jit = jit_kernel("word2vec", args.jit_baseline)

    results: dict[str, list[dict]] = {s: [] for s in systems}
    for _ in range(args.repeats):
        for name in systems:
            if name.startswith("xling"):
                cls = SkipGram if "sgns" in name else CBOW
                if name.endswith("-jit"):
                    with using("word2vec", jit):
                        r = run_xling(cls, corpus, args, "kernel")
                    r["path"] = "JIT -march=native"
                else:
                    r = run_xling(cls, corpus, args, "torch" if name.endswith("-torch") else "auto")
                    if r["path"] == "kernel":
                        r["path"] = f"kernel ({kernel_isa()})"
            else:
                r = run_gensim(1 if "-sg" in name else 0, sentences, corpus_file if name.endswith("-file") else None, args)
            results[name].append(r)
    if n_tokens is None:
        n_tokens = sum(len(s) for s in corpus)
    tmpdir.cleanup()

    print(f"corpus: {args.corpus} ({n_tokens:,} tokens{'' if args.max_lines is None else f', first {args.max_lines} lines'}), "
          f"dim {args.dim}, window {args.window}, negative {args.negative}, sample {args.sample}, "
          f"min_count {args.min_count}, {args.epochs} epoch(s), {args.workers} workers, {args.repeats} repeat(s)\n")
    base = {}
    for name in systems:
        train = statistics.median(r["train_s"] for r in results[name])
        base[name] = n_tokens * args.epochs / train
    print("| system | path | words/s (training) | vs gensim iterable | vs gensim corpus_file | training s | vocab/encode s | final loss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in systems:
        rs = results[name]
        arch = "sg" if ("sgns" in name or "-sg" in name) else "cbow"
        ref_it, ref_file = base.get(f"gensim-{arch}"), base.get(f"gensim-{arch}-file")
        ratio = lambda ref: f"{base[name] / ref:.2f}x" if ref else "-"  # noqa: E731
        loss = statistics.median(r["loss"] for r in rs)
        print(f"| {name} | {rs[0]['path']} | {base[name]:,.0f} | {ratio(ref_it)} | {ratio(ref_file)} | "
              f"{statistics.median(r['train_s'] for r in rs):.1f} | {statistics.median(r['prep_s'] for r in rs):.1f} | "
              f"{'-' if loss != loss else f'{loss:.3f}'} |")


if __name__ == "__main__":
    main()
