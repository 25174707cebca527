"""Gold lexicons between non-English languages, pivoted through English in Open Multilingual Wordnet.

The OMW lists of the data folder (``lexicons/full/omw.en-{de,es,fr,it}.tsv.xz``)
are English -> xx word pairs; their third column is the *number* of synsets
the two words share, not synset ids, so the pairs cannot be joined by synset.
Two words x (language a) and y (language b) are therefore paired when they
share an English entry: x ∈ omw(e → a) and y ∈ omw(e → b) for some English
word e. A polysemous English word pairs all its senses' translations (bank:
Bank/Ufer × banque/rive), so the gold is generous rather than exact, like
MUSE's lists with several translations per word. To bound that, each source
word keeps at most ``--max-translations`` (10) targets, those linked through the
most English words first (then the most frequent).

Words are lower-cased (the vectors are trained on lower-cased text) and kept
only when they are a single token of letters (what the corpus tokenizer
yields) and among the 50,000 most frequent words of their language
(``freq/<lang>.top50k.tsv``, wordfreq). Source words are ranked by that
frequency and split MUSE-style and disjoint by source word: the ``seed`` most
frequent source words (ranks 0–5000 by default) form the seed part, the next
``test`` (5000–6500) the test part.

Written to ``--out-dir`` (default ``runs/omw-pairs``, not shipped: the OMW
wordnets carry their own licences, CeCILL-C, CC BY 3.0, ODC-BY and
CC BY-SA 3.0, see the data folder's SOURCES.tsv): ``<a>-<b>.0-5000.tsv``,
``<a>-<b>.5000-6500.tsv`` and ``manifest.json`` with the counts.

Example::

    python scripts/build_omw_pairs.py --pairs de-fr,es-it,de-es,fr-it,de-it,es-fr
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
from collections import Counter, defaultdict
from pathlib import Path

from xling import Lexicon

WORD = re.compile(r"^[^\W\d_]+$")


def read_omw(path: Path, vocabulary: set[str]) -> dict[str, set[str]]:
    """English word -> its translations, lower-cased single-letter-run words of ``vocabulary`` only."""
    by_english: dict[str, set[str]] = defaultdict(set)
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            en, xx = (part.strip().lower() for part in line.rstrip("\n").split("\t")[:2])
            if WORD.match(en) and WORD.match(xx) and xx in vocabulary:
                by_english[en].add(xx)
    return by_english


def read_ranks(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8") as fh:
        return {line.split("\t", 1)[0]: rank for rank, line in enumerate(fh)}


def pivot(a: dict[str, set[str]], b: dict[str, set[str]]) -> dict[str, Counter]:
    """x -> Counter {y: number of English words whose translations include both x and y}."""
    pairs: dict[str, Counter] = defaultdict(Counter)
    for en in a.keys() & b.keys():
        for x in a[en]:
            pairs[x].update(b[en])
    return pairs


def split(pairs: dict[str, Counter], ranks: dict[str, int], tgt_ranks: dict[str, int], seed: int, test: int,
          max_translations: int):
    """(seed Lexicon, test Lexicon): source words by frequency; per word the best-linked, then most frequent, targets."""
    sources = sorted(pairs, key=ranks.__getitem__)

    def lexicon(words):
        return Lexicon((x, y) for x in words
                       for y in sorted(pairs[x], key=lambda y: (-pairs[x][y], tgt_ranks[y]))[:max_translations])

    return lexicon(sources[:seed]), lexicon(sources[seed:seed + test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--pairs", default="de-fr,es-it,de-es,fr-it,de-it,es-fr")
    parser.add_argument("--seed", type=int, default=5000, help="source words in the seed part (most frequent)")
    parser.add_argument("--test", type=int, default=1500, help="source words in the test part (the next ones)")
    parser.add_argument("--max-translations", type=int, default=10, help="targets kept per source word")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/omw-pairs"))
    args = parser.parse_args()

    pairs = [tuple(p.split("-")) for p in args.pairs.split(",")]
    langs = sorted({lang for pair in pairs for lang in pair})
    ranks = {lang: read_ranks(args.data / "freq" / f"{lang}.top50k.tsv") for lang in langs}
    omw = {lang: read_omw(args.data / "lexicons" / "full" / f"omw.en-{lang}.tsv.xz", ranks[lang].keys()) for lang in langs}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"source": "Open Multilingual Wordnet en->xx lists pivoted through shared English words "
                          "(the files carry shared-synset counts, not synset ids)",
                "max_translations": args.max_translations, "seed_ranks": [0, args.seed], "test_ranks": [args.seed, args.seed + args.test], "pairs": {}}
    for a, b in pairs:
        gold = pivot(omw[a], omw[b])
        seed, test = split(gold, ranks[a], ranks[b], args.seed, args.test, args.max_translations)
        names = (f"{a}-{b}.0-{args.seed}.tsv", f"{a}-{b}.{args.seed}-{args.seed + args.test}.tsv")
        seed.write(args.out_dir / names[0])
        test.write(args.out_dir / names[1])
        manifest["pairs"][f"{a}-{b}"] = {
            "source_words": len(gold), "seed": {"file": names[0], "words": len(seed), "pairs": seed.n_pairs},
            "test": {"file": names[1], "words": len(test), "pairs": test.n_pairs},
        }
        print(f"{a}-{b}: {len(gold)} source words; seed {len(seed)} words / {seed.n_pairs} pairs, "
              f"test {len(test)} words / {test.n_pairs} pairs")
    (args.out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
