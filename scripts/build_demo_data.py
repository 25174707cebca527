"""Build the small demo corpora shipped in xling/data/ from the full novel corpora.

The sources are the ELTeC novel collections (public-domain texts; see
lexicons/SOURCES.md and xling/data/README.md). Given one-paragraph-per-line
files (e.g. built from ELTeC's level-1 XML), this keeps every ``--every``-th
paragraph, so the sample spans all novels rather than the first few, until
``--max-mb`` of uncompressed text, and writes ``<lang>.txt.xz``.

Example::

    python scripts/build_demo_data.py ../shared/data/mono/en.txt.xz ../shared/data/mono/es.txt.xz \
        --out-dir xling/data --every 5 --max-mb 11
"""

from __future__ import annotations

import argparse
import lzma
from pathlib import Path


def sample(src: Path, dst: Path, every: int, max_bytes: int) -> int:
    written = 0
    with lzma.open(src, "rt", encoding="utf-8") as fin, lzma.open(dst, "wt", encoding="utf-8", preset=9) as fout:
        for i, line in enumerate(fin):
            if i % every:
                continue
            fout.write(line)
            written += len(line.encode("utf-8"))
            if written >= max_bytes:
                break
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+", type=Path, help="<lang>.txt.xz files, one paragraph per line")
    parser.add_argument("--out-dir", type=Path, default=Path("xling/data"))
    parser.add_argument("--every", type=int, default=5, help="keep every N-th paragraph")
    parser.add_argument("--max-mb", type=float, default=11.0, help="stop after this many MB of raw text")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for corpus in args.corpora:
        lang = corpus.name.split(".")[0]
        dst = args.out_dir / f"{lang}.txt.xz"
        n = sample(corpus, dst, args.every, int(args.max_mb * 1e6))
        print(f"{dst}: {n / 1e6:.1f} MB raw, {dst.stat().st_size / 1e6:.2f} MB compressed")


if __name__ == "__main__":
    main()
