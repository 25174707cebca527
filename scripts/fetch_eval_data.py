"""Fetch the word-similarity sets that xling does not ship, in the format `xling eval-mono` reads.

WordSim-353 (Finkelstein et al. 2002), SimLex-999 (Hill et al. 2015) and the
cross-lingual sets of SemEval-2017 Task 2 (Camacho-Collados et al. 2017) state
no licence that allows redistribution, so xling ships none of them
(xling/data/eval/SOURCES.md); this script downloads each from its public
page and writes ``word1<TAB>word2<TAB>score`` files:

    python scripts/fetch_eval_data.py --out-dir eval-data
        eval-data/wordsim353.tsv, eval-data/simlex999.tsv,
        eval-data/semeval17-xsim/{en-de,en-es,en-it,...}.tsv (test data joined with its gold scores)

Offline, the copies of WordSim-353 and SimLex-999 in gensim's wheel
(gensim/test/test_data/, already in this format) can be used instead:

    pip download gensim --no-deps -d /tmp/gensim
    python scripts/fetch_eval_data.py --out-dir eval-data --gensim-wheel /tmp/gensim/gensim-*.whl

Then, for example:

    xling eval-mono en.vec --similarity eval-data/wordsim353.tsv --similarity eval-data/simlex999.tsv --analogies
    xling eval-xsim en.mapped.vec es.mapped.vec eval-data/semeval17-xsim/en-es.tsv
"""

from __future__ import annotations

import argparse
import glob
import io
import sys
import urllib.request
import zipfile
from pathlib import Path

WORDSIM_URL = "http://www.gabrilovich.com/resources/data/wordsim353/wordsim353.zip"
SIMLEX_URL = "https://fh295.github.io/SimLex-999.zip"
SEMEVAL_URL = "http://alt.qcri.org/semeval2017/task2/data/uploads/semeval2017-task2.zip"
SEMEVAL_PAIRS = ("de-es", "de-fa", "de-it", "en-de", "en-es", "en-fa", "en-it", "es-fa", "es-it", "it-fa")


def download(url: str) -> bytes:
    print(f"downloading {url}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed public URLs)
        return response.read()


def member(archive: zipfile.ZipFile, suffix: str) -> str:
    """The one member of ``archive`` whose name ends with ``suffix``."""
    names = [n for n in archive.namelist() if n.endswith(suffix) and not n.startswith("__MACOSX")]
    if len(names) != 1:
        raise SystemExit(f"Expected one file ending in {suffix!r} in the archive, found {names or 'none'}")
    return names[0]


def rows_to_tsv(rows, header: str) -> str:
    return f"# {header}\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows)


def wordsim353(data: bytes) -> str:
    """combined.tab of the WordSim-353 zip: 'Word 1<TAB>Word 2<TAB>Human (mean)' with a header line."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        lines = z.read(member(z, "combined.tab")).decode("utf-8").splitlines()
    rows = [line.split("\t")[:3] for line in lines[1:] if line.strip()]
    return rows_to_tsv(rows, f"WordSim-353 (Finkelstein et al. 2002), from {WORDSIM_URL}: word1, word2, mean score")


def simlex999(data: bytes) -> str:
    """SimLex-999.txt: a header, then word1, word2, POS, SimLex999, ... per line."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        lines = z.read(member(z, "SimLex-999.txt")).decode("utf-8").splitlines()
    header = lines[0].split("\t")
    column = header.index("SimLex999")
    rows = [(f[0], f[1], f[column]) for f in (line.split("\t") for line in lines[1:] if line.strip())]
    return rows_to_tsv(rows, f"SimLex-999 (Hill et al. 2015), from {SIMLEX_URL}: word1, word2, SimLex999 score")


def semeval_pairs(data: bytes) -> dict[str, str]:
    """Subtask 2 test data joined with its gold keys, per language pair."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for pair in SEMEVAL_PAIRS:
            words = z.read(member(z, f"{pair}.test.data.txt")).decode("utf-8").splitlines()
            gold = z.read(member(z, f"{pair}.test.gold.txt")).decode("utf-8").splitlines()
            words, gold = [w for w in words if w.strip()], [g for g in gold if g.strip()]
            if len(words) != len(gold):
                raise SystemExit(f"{pair}: {len(words)} pairs but {len(gold)} gold scores")
            rows = [(*w.split("\t")[:2], g.strip()) for w, g in zip(words, gold)]
            out[pair] = rows_to_tsv(rows, f"SemEval-2017 Task 2 subtask 2 {pair} test (Camacho-Collados et al. 2017), "
                                          f"from {SEMEVAL_URL}: {pair[:2]} word, {pair[3:]} word, gold score (0-4)")
    return out


def from_gensim_wheel(pattern: str) -> dict[str, str]:
    """WordSim-353 and SimLex-999 as gensim's wheel holds them (already word1, word2, score with '#' headers)."""
    wheels = glob.glob(pattern)
    if len(wheels) != 1:
        raise SystemExit(f"Expected one gensim wheel matching {pattern!r}, found {wheels or 'none'}")
    with zipfile.ZipFile(wheels[0]) as z:
        return {name: z.read(f"gensim/test/test_data/{source}").decode("utf-8")
                for name, source in (("wordsim353.tsv", "wordsim353.tsv"), ("simlex999.tsv", "simlex999.txt"))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="eval-data", type=Path)
    parser.add_argument("--gensim-wheel", default=None, help="Take WordSim-353 and SimLex-999 from this gensim wheel")
    parser.add_argument("--no-semeval", action="store_true", help="Skip the SemEval-2017 cross-lingual sets")
    args = parser.parse_args(argv)
    files: dict[str, str] = {}
    if args.gensim_wheel:
        files.update(from_gensim_wheel(args.gensim_wheel))
    else:
        files["wordsim353.tsv"] = wordsim353(download(WORDSIM_URL))
        files["simlex999.tsv"] = simlex999(download(SIMLEX_URL))
    if not args.no_semeval:
        files.update({f"semeval17-xsim/{pair}.tsv": text for pair, text in semeval_pairs(download(SEMEVAL_URL)).items()})
    for name, text in files.items():
        path = args.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({text.count(chr(10))} lines)", file=sys.stderr)


if __name__ == "__main__":
    main()
