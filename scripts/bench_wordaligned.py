"""Word-aligned and EM-based methods on real data: alignment quality, then BLI of BiSkip, Guo et al. and Duong et al.

Part ``align``: :class:`xling.WordAligner` (IBM Model 1 and fast_align's Model 2,
5 EM iterations a direction) on each parallel corpus (LibreOffice help for
en-de/es/fr/it, the Bible for en-es), against the diagonal baseline (source
word ``i`` linked to target word ``round(i·(m-1)/(n-1))``). For the links
between two words of the training lexicon's vocabularies (the lexicons of
``bench_joint.py``): the share that are translations in it (precision), and
of the source tokens whose lexicon translation occurs in the target sentence,
the share linked to one (recall).

Part ``bli``: for one language pair, the data of ``bench_joint.py`` (the
novels plus the parallel text), then BLI (NN and CSLS, P@1 and P@10, evaluable
words) of

* ``biskip``: :class:`xling.train.BiSkip` (EM Model 2 alignment), mono + parallel;
* ``guo``: :class:`xling.train.AlignmentProjection` (source skip-gram, targets projected through the alignment);
* ``duong``: :class:`xling.train.DictionaryCBOW` on a slice of the novels (``--duong-lines``;
  pure PyTorch, ~30x slower than the compiled kernels) and the training lexicon, with
  ``pseudo`` (:class:`xling.train.PseudoBilingual`) on the same slice side by side.

Examples::

    flock /tmp/xling-heavy.lock python scripts/bench_wordaligned.py --part align
    flock /tmp/xling-heavy.lock python scripts/bench_wordaligned.py --part bli --pair en-de
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from xling import Lexicon, LineCorpus, ParallelCorpus, WordAligner
from xling.train import AlignmentProjection, BiSkip, DictionaryCBOW, PseudoBilingual
from xling.wordalign import diagonal_links

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_joint import LEXICONS, evaluate  # noqa: E402  (the same lexicons and evaluation as the joint table)

CORPORA = {"en-de": "lohelp", "en-es": "lohelp", "en-fr": "lohelp", "en-it": "lohelp", "en-es (Bible)": "bible"}


def read_parallel(data: Path, name: str) -> list:
    pair = name.split()[0]
    src, tgt = pair.split("-")
    if CORPORA[name] == "bible":
        bible = data / "parallel" / "bible"
        return list(ParallelCorpus(bible / "kjv-rv1909.en-es.en.xz", bible / "kjv-rv1909.en-es.es.xz"))
    lohelp = data / "parallel" / "lohelp"
    return list(ParallelCorpus(lohelp / f"{pair}.{src}.xz", lohelp / f"{pair}.{tgt}.xz"))


def link_quality(pairs, links, lexicon: Lexicon) -> dict:
    """Precision and recall of links against the lexicon (see the module docstring)."""
    src_words, tgt_words = set(lexicon.sources), {t for _, t in lexicon}
    hits = judged = translatable = found = n_links = 0
    for (s, t), lk in zip(pairs, links):
        n_links += len(lk)
        linked: dict = {}
        for i, j in lk.tolist():
            linked.setdefault(i, set()).add(t[j])
            if s[i] in src_words and t[j] in tgt_words:
                judged += 1
                hits += t[j] in lexicon[s[i]]
        present = set(t)
        for i, w in enumerate(s):
            if w in src_words and present.intersection(lexicon[w]):
                translatable += 1
                found += bool(linked.get(i, set()).intersection(lexicon[w]))
    return {"links": n_links, "judged": judged, "precision": 100 * hits / max(judged, 1),
            "recall": 100 * found / max(translatable, 1), "translatable": translatable}


def part_align(args) -> None:
    print("| corpus | pairs | aligner | fit s | links | judged links | precision % | recall % |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name in args.corpora.split(","):
        pairs = read_parallel(args.data, name)
        lexicon = Lexicon.read(args.data / LEXICONS[name.split()[0]][0]).lower()

        def row(label, seconds, links, extra=""):
            q = link_quality(pairs, links, lexicon)
            print(f"| {name} | {len(pairs):,} | {label} | {seconds} | {q['links']:,} | {q['judged']:,} | "
                  f"{q['precision']:.1f} | {q['recall']:.1f} |{extra}", flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"part": "align", "corpus": name, "aligner": label, "seconds": seconds,
                                         **q}) + "\n")

        row("diagonal", "-", [diagonal_links(len(s), len(t)) for s, t in pairs])
        for model in (1, 2):
            t0 = time.perf_counter()
            aligner = WordAligner(model=model, n_iter=args.align_iter).fit(pairs)
            seconds = f"{time.perf_counter() - t0:.0f}"
            ll = aligner.history_[args.align_iter - 1]["log_likelihood_per_word"]
            tension = "" if model == 1 else f", tension {aligner.tension_:.1f} / {aligner.reverse_tension_:.1f}"
            for sym in ("grow-diag", "intersection"):
                aligner.set_params(symmetrize=sym)
                row(f"IBM{model} {sym}", seconds if sym == "grow-diag" else "〃", aligner.align(pairs),
                    f" <!-- LL/word {ll:.3f}{tension} -->" if sym == "grow-diag" else "")


def part_bli(args) -> None:
    src_lang, tgt_lang = args.pair.split("-")
    d = args.data
    t0 = time.perf_counter()
    mono = [list(LineCorpus(d / "mono" / f"{lang}.txt.xz", max_lines=args.mono_lines)) for lang in (src_lang, tgt_lang)]
    parallel = read_parallel(d, args.pair)
    if args.pair == "en-es":
        parallel += read_parallel(d, "en-es (Bible)")
    train_lex, test_lex = (Lexicon.read(d / p).lower() for p in LEXICONS[args.pair])
    n_tok = [sum(map(len, m)) for m in mono]
    print(f"<!-- {args.pair}: mono {n_tok[0]:,} + {n_tok[1]:,} tokens, {len(parallel):,} parallel pairs; read in "
          f"{time.perf_counter() - t0:.0f}s -->", flush=True)
    common = dict(vector_size=args.dim, window=args.window, min_count=args.min_count, random_state=args.seed)

    def report(method, seconds, model, note=""):
        row = {"pair": args.pair, "method": method, "seconds": seconds,
               **evaluate(model.src_embeddings_, model.tgt_embeddings_, test_lex), "note": note}
        print(f"| {args.pair} | {method} | {seconds:.0f} | {row['nn p@1']:.1f} | {row['nn p@10']:.1f} | "
              f"{row['csls p@1']:.1f} | {row['csls p@10']:.1f} | {row['evaluable']:,} / {row['n_test']:,} | {note} |",
              flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"part": "bli", **row}) + "\n")

    print("| pair | method | train s | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | evaluable / test words | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for method in args.methods.split(","):
        t = time.perf_counter()
        if method == "biskip":
            m = BiSkip(epochs=args.epochs, workers=args.threads, align_iter=args.align_iter,
                       cross_weight=args.biskip_lambda, **common).fit(mono[0], mono[1], parallel)
            report(f"biskip λ={args.biskip_lambda:g}", time.perf_counter() - t, m,
                   f"{m.n_links_:,} links, {m.n_window_pairs_:,} window pairs")
        elif method == "guo":
            m = AlignmentProjection(epochs=args.epochs, workers=args.threads, align_iter=args.align_iter,
                                    **common).fit(mono[0], mono[1], parallel)
            report("guo", time.perf_counter() - t, m, f"{m.n_projected_:,} projected + {m.n_edit_distance_:,} by "
                   f"edit distance, {m.n_unprojected_:,} left out")
        elif method in ("duong", "pseudo"):
            sl = [x[: args.duong_lines] for x in mono] if args.duong_lines else mono
            tokens = f"{sum(map(len, sl[0])) / 1e6:.2f}M + {sum(map(len, sl[1])) / 1e6:.2f}M tokens"
            if method == "duong":
                m = DictionaryCBOW(epochs=args.duong_epochs, **common).fit(sl[0], sl[1], train_lex)
                note = (f"{len(sl[0]):,} + {len(sl[1]):,} lines ({tokens}), {args.duong_epochs} epochs; "
                        f"{100 * m.history_[-1]['translated']:.0f}% of centre words translated")
            else:
                m = PseudoBilingual(epochs=args.duong_epochs, workers=args.threads, **common).fit(sl[0], sl[1],
                                                                                                  train_lex)
                note = "same slice and epochs as duong, compiled kernel"
            # The test words are disjoint from the training lexicon: the seen pairs tell a weak
            # model (too little text) from one whose signal does not reach unseen words.
            seen = evaluate(m.src_embeddings_, m.tgt_embeddings_, train_lex)
            note += f"; training-lexicon pairs CSLS P@1 {seen['csls p@1']:.1f} ({seen['evaluable']:,} evaluable)"
            report(method, time.perf_counter() - t, m, note)
        else:
            raise SystemExit(f"unknown method {method!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--part", choices=("align", "bli"), required=True)
    ap.add_argument("--corpora", default=",".join(CORPORA), help="part align: comma-separated corpus names")
    ap.add_argument("--pair", default="en-es", choices=sorted(LEXICONS), help="part bli")
    ap.add_argument("--methods", default="biskip,guo,duong,pseudo")
    ap.add_argument("--mono-lines", type=int, default=100_000_000, help="paragraphs of each novel corpus")
    ap.add_argument("--duong-lines", type=int, default=10_000, help="paragraphs of each corpus for duong/pseudo (0: all)")
    ap.add_argument("--duong-epochs", type=int, default=2)
    ap.add_argument("--align-iter", type=int, default=5)
    ap.add_argument("--biskip-lambda", type=float, default=10.0)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="append one JSON line per row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    (part_align if args.part == "align" else part_bli)(args)


if __name__ == "__main__":
    main()
