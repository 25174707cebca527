"""Cross-lingual training from aligned sentences and documents, on real data.

For one language pair, with the parallel text and test lexicons of ``scripts/bench_joint.py``
(LibreOffice help for every pair, plus the Bible for en-es), train and evaluate by bilingual
lexicon induction (NN and CSLS, P@1 and P@10, with the number of evaluable test words):

* ``bicvm``: :class:`xling.train.BiCVM` on the aligned sentences alone;
* ``bae``: :class:`xling.train.BilingualAutoencoder` on the aligned sentences alone;
* ``inverted-index``: :class:`xling.train.InvertedIndex` with each aligned line (help paragraph,
  Bible verse) as one document;
* ``inverted-index-docs``: the same with coarser documents: blocks of ``--block-lines`` consecutive
  help paragraphs and (en-es) Bible chapters (``scripts/build_aligned_documents.py``);
* ``tilsa``: :class:`xling.train.TranslationInvariantLSA` on a slice of the monolingual novels plus
  each language's side of the parallel text, with the training lexicon as the dictionary;
* ``ppmi-svd+procrustes``: its control: :class:`xling.train.PPMISVD` on each language's same text (same
  vocabulary limit, window, PPMI and dimension) mapped by :class:`xling.map.Procrustes` on the same lexicon;
* ``full-sgns@parallel-vocab``: the full-corpus skip-gram vectors of the joint table (``--sgns-dir``)
  + Procrustes, evaluated on the test pairs whose two words are in the vocabulary of the methods trained
  on the parallel text alone (``--min-count`` on the parallel sides), i.e. on the words those methods
  can be evaluated on.

Prints a markdown table (and appends rows as JSON lines with ``--json``).

Example::

    flock /tmp/xling-heavy.lock nice -n 5 python scripts/bench_crosslingual.py --pair en-es
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench_joint import LEXICONS, evaluate, procrustes  # the lexicons and BLI rows of the joint-objectives table
from build_aligned_documents import block_keys, chapter_keys, read_lines
from xling import Embeddings, Lexicon, LineCorpus
from xling.corpus import tokenize
from xling.train import PPMISVD, BiCVM, BilingualAutoencoder, InvertedIndex, TranslationInvariantLSA, Vocabulary


def coarse_documents(pairs: list, keys: list) -> list:
    """Token-list documents: runs of consecutive pairs with the same key, concatenated on each side."""
    docs, last = [], object()
    for key, (s, t) in zip(keys, pairs):
        if key != last:
            docs.append(([], []))
            last = key
        docs[-1][0].extend(s)
        docs[-1][1].extend(t)
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--pair", default="en-es", choices=sorted(LEXICONS))
    ap.add_argument("--bible", action=argparse.BooleanOptionalAction, default=True,
                    help="add the Bible to the parallel text (en-es only)")
    ap.add_argument("--methods", default="bicvm,bae,inverted-index,inverted-index-docs,tilsa,ppmi-svd+procrustes")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--min-count", type=int, default=3, help="for the methods trained on parallel text")
    ap.add_argument("--bicvm-epochs", type=int, default=5)
    ap.add_argument("--bae-epochs", type=int, default=5)
    ap.add_argument("--block-lines", type=int, default=10, help="help paragraphs per document (inverted-index-docs)")
    ap.add_argument("--mono-lines", type=int, default=20000, help="novel paragraphs per language (tilsa)")
    ap.add_argument("--tilsa-max-vocab", type=int, default=30000)
    ap.add_argument("--sgns-dir", type=Path,
                    default=Path(__file__).resolve().parents[1] / "runs" / "vectors" / "xling-sgns")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="append one JSON line per row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    src_lang, tgt_lang = args.pair.split("-")
    d = args.data
    t0 = time.perf_counter()
    lohelp = d / "parallel" / "lohelp"
    files = [(lohelp / f"{args.pair}.{src_lang}.xz", lohelp / f"{args.pair}.{tgt_lang}.xz")]
    if args.pair == "en-es" and args.bible:
        bible = d / "parallel" / "bible"
        files.append((bible / "kjv-rv1909.en-es.en.xz", bible / "kjv-rv1909.en-es.es.xz"))
    # The pairs xling.ParallelCorpus reads (the joint table's input: lower-cased, pairs with an empty side
    # skipped), read here with each line's document key for the coarse documents.
    parallel, keys = [], []
    for part, (s_path, t_path) in enumerate(files):
        s_lines, t_lines = read_lines(s_path), read_lines(t_path)
        if part == 0:
            part_keys = [("lohelp", k) for k in block_keys(len(s_lines), args.block_lines)]
        else:
            ids = read_lines(d / "parallel" / "bible" / "kjv-rv1909.en-es.ids.xz")
            part_keys = [("bible", k) for k in chapter_keys(ids)]
        for s, t, k in zip(s_lines, t_lines, part_keys):
            s_tok, t_tok = tokenize(s), tokenize(t)
            if s_tok and t_tok:
                parallel.append((s_tok, t_tok))
                keys.append(k)
    n_lohelp = sum(1 for k in keys if k[0] == "lohelp")
    train_lex, test_lex = (Lexicon.read(d / p).lower() for p in LEXICONS[args.pair])
    par_tok = [sum(len(p[i]) for p in parallel) for i in (0, 1)]
    print(f"<!-- {args.pair}: {len(parallel):,} aligned pairs ({n_lohelp:,} lohelp) = {par_tok[0]:,} + {par_tok[1]:,} "
          f"tokens; read in {time.perf_counter() - t0:.0f}s -->", flush=True)

    rows = []

    def report(method, seconds, src, tgt, note=""):
        row = {"pair": args.pair, "method": method, "seconds": seconds, **evaluate(src, tgt, test_lex), "note": note}
        rows.append(row)
        print(f"| {args.pair} | {method} | {seconds:.0f} | {row['nn p@1']:.1f} | {row['nn p@10']:.1f} | "
              f"{row['csls p@1']:.1f} | {row['csls p@10']:.1f} | {row['evaluable']:,} / {row['n_test']:,} | {note} |",
              flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    print("| pair | method | train s | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | evaluable / test words | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    texts = None  # the monolingual text of tilsa and its control, read once
    for method in args.methods.split(","):
        t = time.perf_counter()
        if method == "bicvm":
            m = BiCVM(vector_size=args.dim, min_count=args.min_count, epochs=args.bicvm_epochs,
                      random_state=args.seed).fit(None, None, parallel)
            h = m.history_
            report(method, time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                   f"{args.bicvm_epochs} epochs; hinge/pair {h[0]['loss']:.0f} → {h[-1]['loss']:.0f}, "
                   f"{100 * h[-1]['violations']:.0f}% of noise terms inside the margin")
        elif method == "bae":
            m = BilingualAutoencoder(vector_size=args.dim, min_count=args.min_count, epochs=args.bae_epochs,
                                     random_state=args.seed).fit(None, None, parallel)
            h = m.history_
            report(method, time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                   f"{args.bae_epochs} epochs; reconstruction/pair {h[0]['loss']:.0f} → {h[-1]['loss']:.0f}, "
                   f"correlation {h[-1]['correlation']:.2f}")
        elif method in ("inverted-index", "inverted-index-docs"):
            docs = parallel if method == "inverted-index" else coarse_documents(parallel, keys)
            m = InvertedIndex(vector_size=args.dim, min_count=args.min_count, random_state=args.seed)
            m.fit(None, None, docs)
            report(method, time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                   f"{m.n_documents_:,} documents")
        elif method in ("tilsa", "ppmi-svd+procrustes"):
            if texts is None:
                mono = [list(LineCorpus(d / "mono" / f"{lang}.txt.xz", max_lines=args.mono_lines))
                        for lang in (src_lang, tgt_lang)]
                texts = [mono[i] + [p[i] for p in parallel] for i in (0, 1)]
            n_tok = [sum(map(len, x)) / 1e6 for x in texts]
            text_note = (f"{args.mono_lines:,} novel paragraphs + parallel side = {n_tok[0]:.2f}M + {n_tok[1]:.2f}M "
                         "tokens")
            t = time.perf_counter()
            if method == "tilsa":
                m = TranslationInvariantLSA(vector_size=args.dim, max_vocab_size=args.tilsa_max_vocab,
                                            random_state=args.seed).fit(texts[0], texts[1], train_lex)
                report(method, time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                       f"{text_note}; {m.n_dictionary_pairs_:,} dictionary pairs in vocabulary")
            else:
                spaces = [PPMISVD(vector_size=args.dim, max_vocab_size=args.tilsa_max_vocab, random_state=args.seed)
                          .fit(x).embeddings_ for x in texts]
                report(method, time.perf_counter() - t, *procrustes(*spaces, train_lex), text_note)
        elif method == "full-sgns@parallel-vocab":
            vocabs = [set(Vocabulary.build([p[i] for p in parallel], min_count=args.min_count).words)
                      for i in (0, 1)]
            subset = Lexicon((s, t) for s, t in test_lex if s in vocabs[0] and t in vocabs[1])
            src, tgt = (Embeddings.read(args.sgns_dir / f"{lang}.vec") for lang in (src_lang, tgt_lang))
            src, tgt = procrustes(src, tgt, train_lex)
            for name, lexicon in (("full-sgns+procrustes", test_lex), (method, subset)):
                row = {"pair": args.pair, "method": name, "seconds": 0.0, **evaluate(src, tgt, lexicon)}
                print(f"| {args.pair} | {name} | | {row['nn p@1']:.1f} | {row['nn p@10']:.1f} | {row['csls p@1']:.1f} "
                      f"| {row['csls p@10']:.1f} | {row['evaluable']:,} / {row['n_test']:,} | {len(subset):,} test "
                      "words in the parallel-text vocabularies |", flush=True)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
        else:
            raise SystemExit(f"unknown method {method!r}")


if __name__ == "__main__":
    main()
