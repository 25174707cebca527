"""Benchmark loading and writing word vectors: xling's ``Embeddings.read`` and ``write`` against gensim.

The script writes a deterministic ``N x D`` word2vec text file (and its binary
twin) from a seed, then loads each file with each loader in a fresh Python
process per repetition, so that every load starts from the same state and its
peak memory can be read from the kernel:

* time: wall-clock seconds of the load call alone (imports excluded);
* peak: the process's peak resident set size (``VmHWM`` in ``/proc/self/status``)
  during the load minus its resident set size just before it (``VmRSS``), i.e.
  the peak extra memory the load needed, compared with the size of the final
  float32 matrix (``N * D * 4`` bytes). The peak is reset just before the load
  by writing ``5`` to ``/proc/self/clear_refs`` (Linux), so that the imports
  (torch) do not count.

Loaders: ``xling`` (``Embeddings.read``), ``xling-python`` (the same with
``XLING_NO_KERNEL=1``: numpy's text reader instead of the compiled parser),
``gensim`` (``KeyedVectors.load_word2vec_format``; skipped when gensim is not
installed: ``pip install gensim`` into the environment that runs this script,
it is not a dependency of xling) and ``naive`` (a plain Python loop: ``split``
every line, ``np.array`` every row, ``np.vstack`` at the end; text only).

Writers (``--writers``), timed the same way on the matrix read from each file:
``xling`` (``Embeddings.write``, 9 significant digits in text), ``xling-python``
(Python's ``%`` formatting, ``XLING_NO_KERNEL=1``) and ``gensim``
(``KeyedVectors.save_word2vec_format``, which writes ``repr`` of each value).

Run the heavy version under the shared lock::

    flock /tmp/xling-heavy.lock python scripts/bench_load.py --n 200000 --dim 300 --repeats 3

and read the markdown tables (loads, then writes) on stdout.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LOADERS = ("xling", "xling-python", "gensim", "naive")
WRITERS = ("xling", "xling-python", "gensim")
FORMATS = ("vec", "bin")


def make_words(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct word-like strings: random letters, made unique by a base-36 suffix."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzáéñöü"))
    lengths = rng.integers(2, 12, size=n)
    flat = letters[rng.integers(0, len(letters), size=int(lengths.sum()))]
    words, pos = [], 0
    for i, length in enumerate(lengths.tolist()):
        words.append("".join(flat[pos : pos + length]) + "_" + np.base_repr(i, 36).lower())
        pos += length
    return words


def make_files(out: Path, n: int, dim: int, seed: int, precision: int) -> dict[str, Path]:
    """Write (or reuse) ``bench-{n}x{dim}-s{seed}-p{precision}.{vec,bin}`` under ``out``."""
    from xling import Embeddings

    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{n}x{dim}-s{seed}-p{precision}"
    paths = {"vec": stem.with_suffix(".vec"), "bin": stem.with_suffix(".bin")}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    # fastText-like magnitudes: values of about +-0.1, a few larger.
    vectors = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(0.1)
    emb = Embeddings(make_words(n, rng), vectors)
    t = time.perf_counter()
    emb.write(paths["vec"], precision=precision)
    print(f"wrote {paths['vec']} ({paths['vec'].stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)
    # The binary twin holds the values read back from the text, as a converter would.
    Embeddings.read(paths["vec"]).write(paths["bin"])
    return paths


def _memory_kib() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of this process, in KiB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def worker(loader: str, path: str, fmt: str) -> None:
    """Load ``path`` once with ``loader`` and print a JSON line (run in a fresh process).

    A loader ``write:<writer>`` reads ``path`` untimed and times writing it back
    in format ``fmt`` with ``writer`` instead.
    """
    if loader.startswith("write:"):
        load = _writer(loader.partition(":")[2], path, fmt)
    elif loader in ("xling", "xling-python"):
        from xling import Embeddings

        def load():
            emb = Embeddings.read(path)
            return len(emb.words), emb.vectors

    elif loader == "gensim":
        from gensim.models import KeyedVectors

        def load():
            kv = KeyedVectors.load_word2vec_format(path, binary=fmt == "bin")
            return len(kv.index_to_key), kv.vectors

    else:

        def load():
            words, rows = [], []
            with open(path, "rb") as fh:
                fh.readline()
                for line in fh:
                    parts = line.split()
                    words.append(parts[0].decode("utf-8"))
                    rows.append(np.array(parts[1:], dtype=np.float32))
            return len(words), np.vstack(rows)

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak RSS to the current RSS
    before = _memory_kib()
    if before["VmHWM"] > before["VmRSS"] + 1024:
        raise RuntimeError(f"could not reset the peak RSS: {before}")
    t = time.perf_counter()
    n_words, vectors = load()
    seconds = time.perf_counter() - t
    after = _memory_kib()
    print(json.dumps({
        "seconds": seconds,
        "peak_extra": (after["VmHWM"] - before["VmRSS"]) * 1024,
        "n": n_words,
        "shape": list(vectors.shape),
        "dtype": str(vectors.dtype),
        "checksum": float(np.asarray(vectors[:: max(1, len(vectors) // 1000)], dtype=np.float64).sum()),
    }))


def _writer(writer: str, path: str, fmt: str):
    """Read ``path`` now; return the timed call that writes it to a scratch file beside it."""
    out = f"{path}.written.{fmt}"
    if writer == "gensim":
        from gensim.models import KeyedVectors

        # from the binary twin (same values), as gensim takes ~30 s to read the text
        kv = KeyedVectors.load_word2vec_format(str(Path(path).with_suffix(".bin")), binary=True)

        def write():
            kv.save_word2vec_format(out, binary=fmt == "bin")
            os.remove(out)
            return len(kv.index_to_key), kv.vectors

    else:
        from xling import Embeddings

        emb = Embeddings.read(path)

        def write():
            emb.write(out, format=fmt)
            os.remove(out)
            return len(emb.words), emb.vectors

    return write


def run_once(loader: str, path: Path, fmt: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", loader, str(path), fmt]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    if loader.endswith("xling-python"):
        env["XLING_NO_KERNEL"] = "1"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{loader} on {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="words (default 200,000)")
    parser.add_argument("--dim", type=int, default=300, help="dimension (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", type=int, default=5, help="significant digits in the text file")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process loads per cell (median reported)")
    parser.add_argument("--loaders", default=",".join(LOADERS), help=f"subset of {','.join(LOADERS)}")
    parser.add_argument("--writers", default=",".join(WRITERS), help=f"subset of {','.join(WRITERS)} (empty: none)")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"subset of {','.join(FORMATS)}")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_load"), help="where the files are written")
    parser.add_argument("--worker", nargs=3, metavar=("LOADER", "PATH", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return

    loaders = [name for name in args.loaders.split(",") if name]
    writers = [name for name in args.writers.split(",") if name]
    has_gensim = importlib.util.find_spec("gensim") is not None
    if not has_gensim and "gensim" in loaders + writers:
        print("gensim is not installed (pip install gensim): skipping its rows", file=sys.stderr)
        loaders = [name for name in loaders if name != "gensim"]
        writers = [name for name in writers if name != "gensim"]
    paths = make_files(args.out, args.n, args.dim, args.seed, args.precision)

    results: dict[tuple[str, str], list[dict]] = {}
    jobs = loaders + [f"write:{name}" for name in writers]
    for fmt in args.formats.split(","):
        for rep in range(args.repeats):
            for loader in jobs:  # interleaved, so a noisy moment hits every loader alike
                if loader == "naive" and fmt != "vec":
                    continue
                r = run_once(loader, paths[fmt], fmt)
                if r["shape"] != [args.n, args.dim] or r["dtype"] != "float32":
                    raise RuntimeError(f"{loader} returned shape {r['shape']} {r['dtype']}")
                results.setdefault((fmt, loader), []).append(r)
                print(f"{fmt} {loader} rep {rep}: {r['seconds']:.2f} s, peak +{r['peak_extra'] / 2**20:.0f} MiB",
                      file=sys.stderr)
    # Every loader must have read the same numbers.
    for fmt in args.formats.split(","):
        sums = {loader: rs[0]["checksum"] for (f, loader), rs in results.items() if f == fmt}
        if max(sums.values()) - min(sums.values()) > 1e-3 * max(1.0, abs(max(sums.values()))):
            raise RuntimeError(f"loaders disagree on {fmt}: {sums}")
    print_tables(args, results, {fmt: p.stat().st_size / 2**20 for fmt, p in paths.items()},
                 "gensim" in loaders + writers)


def print_tables(args, results: dict[tuple[str, str], list[dict]], size_mb: dict[str, float], gensim: bool) -> None:
    """The markdown tables of the median time and peak memory of each load, then of each write."""
    matrix_mb = args.n * args.dim * 4 / 2**20
    print(f"\n{args.n:,} x {args.dim} float32 (final matrix {matrix_mb:.0f} MiB), {args.repeats} fresh-process "
          f"repeats, median; {datetime.date.today()}, Python {platform.python_version()}, numpy {np.__version__}"
          + (f", gensim {__import__('gensim').__version__}" if gensim else ""))
    for title, writes in (("load", False), ("write", True)):
        rows = {(fmt, job.partition(":")[2] if writes else job): rs for (fmt, job), rs in results.items()
                if job.startswith("write:") == writes}
        if not rows:
            continue
        what = "written as" if writes else "file"
        print(f"\n| {what} | {'writer' if writes else 'loader'} | {title} time (s) | vs gensim | "
              f"peak extra RSS (MiB) | peak / matrix |")
        print("|---|---|---:|---:|---:|---:|")
        for (fmt, name), rs in rows.items():
            seconds = statistics.median(r["seconds"] for r in rs)
            peak = statistics.median(r["peak_extra"] for r in rs) / 2**20
            ref = rows.get((fmt, "gensim"))
            speedup = f"{statistics.median(r['seconds'] for r in ref) / seconds:.1f}x" if ref else "n/a"
            file = f".{fmt} (9 digits)" if writes and fmt == "vec" else f".{fmt} ({size_mb[fmt]:.0f} MiB)"
            print(f"| {file} | {name} | {seconds:.2f} | {speedup} | {peak:.0f} | {peak / matrix_mb:.2f} |")


if __name__ == "__main__":
    main()
