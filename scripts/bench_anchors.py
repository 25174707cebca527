"""xling side by side with VecMap, MUSE and fastText's RCSLS on the same vectors and dictionaries.

For every (row, pair) it runs the reference tool ("anchor") and the matching
``xling align ... --eval`` in fresh processes, one after the other, and records

* P@1 and P@10 by NN and CSLS from **xling's evaluator** (``xling eval`` on the
  anchor's written vectors; the report of ``xling align`` for xling), the test
  words evaluable, and the anchor's **own** P@1 as it prints it (VecMap's
  ``eval_translation.py``; MUSE's log; fastText's ``align.py`` + ``eval.py``,
  which count out-of-vocabulary test words as wrong);
* wall seconds of map + CSLS evaluation (the anchor's mapping command plus
  its own CSLS evaluation; ``xling align --eval --retrieval csls`` for xling:
  both read the text vectors and write the mapped ones), and the peak resident
  memory of the largest process (``wait4``'s ``ru_maxrss``).

The anchors are local checkouts given by path; nothing of their code is copied
here. Run with (upstream commits checked by the script and written to the JSON)::

    artetxem/vecmap                          b82246f6c249633039f67fa6156e51d852bd73a3
    facebookresearch/MUSE                    3159355b93f5c3c4883808ba785ba9d18d7f5e81
    facebookresearch/fastText (alignment/)   1142dc4c4ecbc19cc16eee5cdd28472e689267e6

Runtime shim: none for VecMap and fastText (numpy only). MUSE runs with
``--cuda False``, without faiss (its own torch fallback for the neighbours)
and with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in its environment: it saves
its best map as a pickled numpy array, which ``torch.load`` refuses since
PyTorch 2.6 unless told so; and with a ``sitecustomize.py`` on its
``PYTHONPATH`` that defines ``inspect.getargspec`` as ``inspect.getfullargspec``
(removed in Python 3.11; MUSE's optimiser parser reads only the argument
names: its adversarial run needs it). MUSE's ``unsupervised.py`` also gets
``--dis_most_frequent`` the smaller vocabulary's size when that is below its
default 75,000, which it asserts (the English vectors here have 33,774
words). Nothing else is changed.

Rows (``--rows``; the anchor command, then the xling method):

==================  ===========================================  ==========================================
row                 anchor                                       xling
==================  ===========================================  ==========================================
procrustes          VecMap ``--orthogonal --normalize unit       ``-m procrustes`` (default: unit, center,
                    center unit``                                unit)
muse-procrustes     MUSE ``supervised.py --n_refinement 0``      ``-m procrustes -p normalize=none``
muse-refine         MUSE ``supervised.py`` (5 refinements)       ``-m selflearning`` with MUSE's refinement
multistep           VecMap ``--supervised``                      ``-m artetxe2018-supervised``
semi-supervised     VecMap ``--semi_supervised``                 ``-m artetxe2018-semi-supervised``
selflearning-       (the semi-supervised row's; ``--sides        ``-m selflearning`` (its defaults)
default             xling``)
selflearning-       (the same)                                   ``-m selflearning -p final_mapper=none``
procrustes
selflearning-final- (the same)                                   ``-m selflearning -p final_mapper=
multistep                                                        artetxe2018-supervised``
selflearning-       (the same)                                   ``-m selflearning -p
multistep                                                        mapper=artetxe2018-supervised``
identical           VecMap ``--identical``                       ``-m artetxe2018-identical``
unsupervised        VecMap ``--unsupervised``                    ``-m artetxe2018-unsupervised``
muse-adversarial    MUSE ``unsupervised.py``                     ``-m adversarial``
muse-adversarial-   MUSE ``unsupervised.py --n_epochs 1          ``-m adversarial -p n_epochs=1 -p
short               --epoch_size 100000 --n_refinement 1``       epoch_size=100000 -p n_refinement=1``
rcsls               fastText ``align.py`` (its defaults)         ``-m rcsls`` (its defaults)
==================  ===========================================  ==========================================

Example (one pair; every row; results appended to a JSON-lines file, then the
table of everything in it)::

    python scripts/bench_anchors.py --vectors runs/vectors/xling-sgns --vecmap /tmp/anchors/vecmap \\
        --muse /tmp/anchors/MUSE --fasttext /tmp/anchors/fastText --pairs en-es --json runs/anchors/rows.jsonl
    python scripts/bench_anchors.py --table runs/anchors/rows.jsonl

``--timeout S`` stops a command after S seconds; its row then says so.
``--vocabulary-cutoff N`` sets the words per side that take part in dictionary
induction on both sides of the self-learning rows (VecMap ``--vocabulary_cutoff``,
xling ``-p vocabulary_cutoff=N``; the recipes' own is 20,000), for runs that
would otherwise not finish here; the table names it in the row. Those rows
also record the iterations each side ran (VecMap runs with ``--verbose`` for
that: it only prints).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from xling.resources import bli_split

UPSTREAM = {"vecmap": "b82246f6c249633039f67fa6156e51d852bd73a3", "muse": "3159355b93f5c3c4883808ba785ba9d18d7f5e81",
            "fasttext": "1142dc4c4ecbc19cc16eee5cdd28472e689267e6"}

# MUSE's refinement as self-learning: Procrustes (xling's default normalisation: unit, center, unit; MUSE's
# is none), CSLS pairs found in both directions (S2T&T2S) among the 10,000 most frequent words, the seed
# dictionary then 5 induced ones (tol -1: all 6 fits, as MUSE).
MUSE_REFINE = ["-m", "selflearning", "-p", "mapper=procrustes", "-p", "direction=intersection", "-p", "vocabulary_cutoff=10000",
               "-p", "max_iter=6", "-p", "tol=-1"]
ROWS = {
    "procrustes": ("vecmap", ["--orthogonal", "--normalize", "unit", "center", "unit", "-d", "{train}"], ["-m", "procrustes"]),
    "muse-procrustes": ("muse", ["supervised.py", "--n_refinement", "0", "--dico_train", "{train}"],
                        ["-m", "procrustes", "-p", "normalize=none"]),
    "muse-refine": ("muse", ["supervised.py", "--dico_train", "{train}"], MUSE_REFINE),
    "multistep": ("vecmap", ["--supervised", "{train}"], ["-m", "artetxe2018-supervised"]),
    "semi-supervised": ("vecmap", ["--semi_supervised", "{train}"], ["-m", "artetxe2018-semi-supervised"]),
    # xling's own self-learning default against the same VecMap recipe (run it with --sides xling: its
    # anchor is the semi-supervised row's), then variants: the Procrustes loop alone (the default before
    # final_mapper="auto"), VecMap's multi-step map fitted once at the end, or iterated
    "selflearning-default": ("vecmap", ["--semi_supervised", "{train}"], ["-m", "selflearning"]),
    "selflearning-procrustes": ("vecmap", ["--semi_supervised", "{train}"], ["-m", "selflearning", "-p", "final_mapper=none"]),
    "selflearning-final-multistep": ("vecmap", ["--semi_supervised", "{train}"],
                                     ["-m", "selflearning", "-p", "final_mapper=artetxe2018-supervised"]),
    "selflearning-multistep": ("vecmap", ["--semi_supervised", "{train}"],
                               ["-m", "selflearning", "-p", "mapper=artetxe2018-supervised"]),
    "identical": ("vecmap", ["--identical"], ["-m", "artetxe2018-identical"]),
    "unsupervised": ("vecmap", ["--unsupervised"], ["-m", "artetxe2018-unsupervised"]),
    "muse-adversarial": ("muse", ["unsupervised.py"], ["-m", "adversarial"]),
    # the same on a schedule a CPU affords (MUSE's 5 epochs of 10^6 samples take ~3 h here, and each of
    # its refinements ~4 min): one epoch of 100,000 samples and one refinement for both tools, every other
    # setting their defaults
    "muse-adversarial-short": ("muse", ["unsupervised.py", "--n_epochs", "1", "--epoch_size", "100000",
                                        "--n_refinement", "1"],
                               ["-m", "adversarial", "-p", "n_epochs=1", "-p", "epoch_size=100000",
                                "-p", "n_refinement=1"]),
    "rcsls": ("fasttext", [], ["-m", "rcsls"]),
}
# Rows whose xling method learns from no dictionary (the lexicon is then given only for evaluation).
NO_TRAIN_LEXICON = {"identical", "unsupervised", "muse-adversarial", "muse-adversarial-short"}
# Rows that run VecMap's self-learning loop on the anchor side and SelfLearning on xling's.
SELF_LEARNING_ROWS = {"semi-supervised", "selflearning-default", "selflearning-procrustes", "selflearning-final-multistep",
                      "selflearning-multistep", "identical", "unsupervised"}


def run_measured(cmd: list, *, cwd=None, timeout: float | None = None, log: Path | None = None, env=None) -> dict:
    """Run ``cmd``; wall and CPU seconds, peak RSS (MiB), exit status, output (also to ``log``).

    CPU seconds (user + system, all threads of the child) stay comparable when
    the run shares the machine or is paused; wall seconds do not.
    """
    start = time.perf_counter()
    with open(log or os.devnull, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
        deadline = None if timeout is None else start + timeout
        while True:  # wait4 gives this child's own peak memory (getrusage would give the max over all children)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return {"seconds": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
                        "peak_mib": usage.ru_maxrss / 1024, "timed_out": True, "rc": None,
                        "output": log.read_text() if log else ""}
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mib": usage.ru_maxrss / 1024, "timed_out": False, "rc": proc.returncode,
            "output": log.read_text() if log else ""}


def lowered_dictionary(src: Path, dst: Path) -> Path:
    """``src`` as lower-cased ``source target`` lines (the format all three anchors read)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    lines = (line.split() for line in src.read_text(encoding="utf-8").lower().splitlines())
    dst.write_text("".join(f"{p[0]} {p[1]}\n" for p in lines if len(p) == 2), encoding="utf-8")
    return dst


def xling_eval(src: Path, tgt: Path, test: Path) -> dict:
    """xling's evaluator (NN and CSLS, OOV excluded) on two files already in one space."""
    out = subprocess.run([sys.executable, "-m", "xling", "eval", str(src), str(tgt), str(test), "--retrieval", "nn,csls",
                          "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def scores(bli: dict) -> dict:
    """P@1/P@10 (in %) by NN and CSLS and the evaluable test words, from xling's BLI results."""
    row = {f"{m}_p@{k}": round(100 * bli[m][f"p@{k}"], 1) for m in ("nn", "csls") for k in (1, 10)}
    row["evaluable"] = f"{bli['csls']['n_queries']}/{bli['csls']['n_test_words']}"
    return row


def run_anchor(tool: str, args: list, paths: dict, work: Path, timeout) -> tuple[dict, dict, tuple]:
    """One anchor run: its measurement, its own P@1, and the two files of its output space."""
    src_lang, tgt_lang = paths["pair"].split("-")
    own: dict = {}
    if tool == "vecmap":
        src_out, tgt_out = work / f"{src_lang}.mapped.vec", work / f"{tgt_lang}.mapped.vec"
        cmd = [sys.executable, "map_embeddings.py", *[a.format(**paths) for a in args], str(paths["src"]), str(paths["tgt"]),
               str(src_out), str(tgt_out)]
        m = run_measured(cmd, cwd=paths["vecmap"], timeout=timeout, log=work / "map.log")
        if "--verbose" in args:
            m["iterations"] = len(re.findall(r"^ITERATION \d+", m["output"], flags=re.M))
        if m["rc"] == 0:  # VecMap's own evaluation, CSLS (counted in the time) then NN (not counted)
            for retrieval in ("csls", "nn"):
                e = run_measured([sys.executable, "eval_translation.py", str(src_out), str(tgt_out), "-d", str(paths["test"]),
                                  "--retrieval", retrieval], cwd=paths["vecmap"], log=work / f"eval-{retrieval}.log")
                hit = re.search(r"Coverage:\s*([\d.]+)%\s+Accuracy:\s*([\d.]+)%", e["output"])
                own[f"{retrieval}_p@1"] = float(hit.group(2)) if hit else None
                if retrieval == "csls":
                    m["seconds"] += e["seconds"]
                    m["cpu_s"] += e["cpu_s"]
                    m["peak_mib"] = max(m["peak_mib"], e["peak_mib"])
    elif tool == "muse":
        exp = work / "muse"
        cmd = [sys.executable, *[a.format(**paths) for a in args], "--src_lang", src_lang, "--tgt_lang", tgt_lang,
               "--src_emb", str(paths["src"]), "--tgt_emb", str(paths["tgt"]), "--dico_eval", str(paths["test"]),
               "--cuda", "False", "--exp_path", str(exp), "--exp_name", "bench", "--exp_id", "run", "--export", "txt"]
        if args[0] == "unsupervised.py":
            smaller = min(vocabulary_size(paths["src"]), vocabulary_size(paths["tgt"]))
            cmd += ["--dis_most_frequent", str(min(75_000, smaller))]
        m = run_measured(cmd, cwd=paths["muse"], timeout=timeout, log=work / "map.log",
                         env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONPATH": str(muse_shim(work))})
        src_out, tgt_out = exp / "bench" / "run" / f"vectors-{src_lang}.txt", exp / "bench" / "run" / f"vectors-{tgt_lang}.txt"
        own = muse_own_scores(m["output"]) if m["rc"] == 0 else {}
    else:  # fastText's RCSLS: align.py with its defaults, then its eval.py for CSLS
        src_out, tgt_out = work / f"{src_lang}.mapped.vec", paths["tgt"]
        cmd = [sys.executable, "align.py", "--src_emb", str(paths["src"]), "--tgt_emb", str(paths["tgt"]), "--dico_train",
               str(paths["train"]), "--dico_test", str(paths["test"]), "--output", str(src_out)]
        m = run_measured(cmd, cwd=paths["fasttext"], timeout=timeout, log=work / "map.log")
        if m["rc"] == 0:
            e = run_measured([sys.executable, "eval.py", "--src_emb", str(src_out), "--tgt_emb", str(paths["tgt"]),
                              "--dico_test", str(paths["test"])], cwd=paths["fasttext"], log=work / "eval.log")
            hit = re.search(r"NN = ([\d.]+) - CSLS = ([\d.]+) - Coverage = ([\d.]+)", e["output"])
            if hit:
                own = {"nn_p@1": round(100 * float(hit.group(1)), 1), "csls_p@1": round(100 * float(hit.group(2)), 1)}
            m["seconds"] += e["seconds"]
            m["cpu_s"] += e["cpu_s"]
            m["peak_mib"] = max(m["peak_mib"], e["peak_mib"])
    return m, own, (src_out, tgt_out)


def vocabulary_size(vec: Path) -> int:
    """The word count of a .vec file's header line."""
    with open(vec, encoding="utf-8") as fh:
        return int(fh.readline().split()[0])


def muse_shim(work: Path) -> Path:
    """A folder with the ``sitecustomize.py`` that gives MUSE ``inspect.getargspec`` on Python >= 3.11."""
    shim = work / "muse-shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(
        "import inspect\n"
        "if not hasattr(inspect, 'getargspec'):  # removed in Python 3.11; MUSE reads only the argument names\n"
        "    inspect.getargspec = inspect.getfullargspec\n")
    return shim


def muse_own_scores(log: str) -> dict:
    """MUSE's P@1 (NN, CSLS) of the iteration it keeps (the best ``precision_at_1-csls_knn_10``, or for
    unsupervised runs the best ``mean_cosine-csls_knn_10-S2T-10000``), from its ``__log__`` lines."""
    entries = [json.loads(line.split("__log__:", 1)[1]) for line in log.splitlines() if "__log__:" in line]
    if not entries:
        return {}
    metric = "precision_at_1-csls_knn_10" if "n_epoch" not in entries[0] else "mean_cosine-csls_knn_10-S2T-10000"
    best = entries[0]
    for entry in entries[1:]:  # strictly better replaces (MUSE saves on ">")
        if entry.get(metric, -1) > best.get(metric, -1):
            best = entry
    return {"nn_p@1": best.get("precision_at_1-nn"), "csls_p@1": best.get("precision_at_1-csls_knn_10")}


def run_xling(row: str, xling_args: list, paths: dict, work: Path, timeout) -> tuple[dict, dict]:
    """``xling align --eval`` (the map and the CSLS evaluation, timed), then NN from its written vectors."""
    lexicon = [] if row in NO_TRAIN_LEXICON else ["--lexicon", str(paths["train"])]
    cmd = [sys.executable, "-m", "xling", "align", str(paths["src"]), str(paths["tgt"]), *lexicon, "--eval",
           str(paths["test"]), "--retrieval", "csls", *xling_args, "--seed", "0", "--device", "cpu", "--out-dir",
           str(work / "out")]
    m = run_measured(cmd, timeout=timeout, log=work / "xling.log")
    if m["rc"] != 0:
        return m, {}
    src_lang, tgt_lang = paths["pair"].split("-")
    out = work / "out"
    if row in SELF_LEARNING_ROWS:
        m["iterations"] = json.loads((out / "report.json").read_text())["sources"][src_lang]["n_iter"]
    return m, scores(xling_eval(out / f"{src_lang}.mapped.vec", out / f"{tgt_lang}.mapped.vec", paths["test"]))


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path`` (MUSE refuses an existing experiment folder; old outputs would mislead)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def check_commit(path: Path, tool: str) -> str:
    commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if commit != UPSTREAM[tool]:
        print(f"note: {path} is at {commit or 'an unknown commit'}, the table was made with {UPSTREAM[tool]}", file=sys.stderr)
    return commit


def failure(m: dict) -> str:
    if m["timed_out"]:
        return f"stopped after {m['seconds']:.0f} s (--timeout)"
    last = [line for line in m["output"].splitlines() if line.strip()][-1:] or ["no output"]
    return f"exit {m['rc']}: {last[0][:160]}"


def bench(args) -> None:
    anchors = {"vecmap": args.vecmap, "muse": args.muse, "fasttext": args.fasttext and args.fasttext / "alignment"}
    commits = {tool: check_commit(path, tool) for tool, path in anchors.items() if path is not None}
    xling_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain", "xling"], capture_output=True, text=True).stdout.strip():
        xling_commit += "+changes"  # the package differs from the commit: the record says so
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for pair in args.pairs.split(","):
        src_lang, tgt_lang = pair.split("-")
        train, test = bli_split(pair)
        work_pair = args.work / pair
        paths = {"pair": pair, "src": args.vectors / f"{src_lang}.vec", "tgt": args.vectors / f"{tgt_lang}.vec",
                 "train": lowered_dictionary(train, work_pair / "train.txt"),
                 "test": lowered_dictionary(test, work_pair / "test.txt"), **anchors}
        for row in args.rows.split(","):
            tool, anchor_args, xling_args = ROWS[row]
            cutoff = {}
            if row in SELF_LEARNING_ROWS:
                anchor_args = [*anchor_args, "--verbose"]
                if args.vocabulary_cutoff:
                    anchor_args += ["--vocabulary_cutoff", str(args.vocabulary_cutoff)]
                    xling_args = [*xling_args, "-p", f"vocabulary_cutoff={args.vocabulary_cutoff}"]
                    cutoff = {"vocabulary_cutoff": args.vocabulary_cutoff}
            for side in args.sides.split(","):
                record = {"pair": pair, "row": row, "side": side, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          **cutoff}
                if side == "anchor":
                    record.update(tool=tool, commit=commits.get(tool), **anchor_side(row, tool, anchor_args, paths, work_pair, args))
                else:
                    record.update(tool="xling", commit=xling_commit, **xling_side(row, xling_args, paths, work_pair, args))
                record["load"] = os.getloadavg()[0]  # 1-minute load average at the end of the run
                print(json.dumps(record), flush=True)
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(record) + "\n")


def anchor_side(row: str, tool: str, anchor_args: list, paths: dict, work_pair: Path, args) -> dict:
    if paths[tool] is None:
        return {"error": f"no --{tool} checkout given"}
    m, own, (src_out, tgt_out) = run_anchor(tool, anchor_args, paths, fresh_dir(work_pair / row / "anchor"), args.timeout)
    result = {"seconds": round(m["seconds"], 1), "cpu_s": round(m["cpu_s"], 1), "peak_mib": round(m["peak_mib"]), "own": own,
              "iterations": m.get("iterations")}
    if m["rc"] != 0:
        return {**result, "error": failure(m)}
    return {**result, **scores(xling_eval(src_out, tgt_out, paths["test"]))}


def xling_side(row: str, xling_args: list, paths: dict, work_pair: Path, args) -> dict:
    m, xs = run_xling(row, xling_args, paths, fresh_dir(work_pair / row / "xling"), args.timeout)
    result = {"seconds": round(m["seconds"], 1), "cpu_s": round(m["cpu_s"], 1), "peak_mib": round(m["peak_mib"]),
              "iterations": m.get("iterations"), **xs}
    return {**result, "error": failure(m)} if m["rc"] != 0 else result


def table(path: Path) -> str:
    """One markdown table of every record in the JSON-lines file (a later record of a (pair, row, side) wins)."""
    records: dict = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        row = f"{r['row']} (cutoff {r['vocabulary_cutoff']})" if r.get("vocabulary_cutoff") else r["row"]
        records.setdefault((r["pair"], row), {})[r["side"]] = r
    head = ("| pair | row | tool | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | own NN / CSLS P@1 | evaluable | "
            "map + CSLS eval s | CPU s | iterations | peak MiB | load | xling speed-up |")
    lines = [head, "|" + "---|" * 15]
    for (pair, row), sides in sorted(records.items(), key=lambda item: item[0][0]):  # by pair, rows as run
        a, x = sides.get("anchor", {}), sides.get("xling", {})
        both = all(side and "error" not in side for side in (a, x))
        speed = f"{a['seconds'] / x['seconds']:.1f}×" if both else ""
        for name in ("anchor", "xling"):
            side = sides.get(name)
            if side is None:
                continue
            if "error" in side:
                lines.append(f"| {pair} | {row} | {side['tool']} | {side['error']} |" + " |" * 11)
                continue
            own = side.get("own") or {}
            own_text = " / ".join("–" if own.get(k) is None else f"{own[k]:.1f}" for k in ("nn_p@1", "csls_p@1")) if own else ""
            lines.append(f"| {pair} | {row} | {side['tool']} | {side['nn_p@1']} | {side['nn_p@10']} | {side['csls_p@1']} | "
                         f"{side['csls_p@10']} | {own_text} | {side['evaluable']} | {side['seconds']} | {side.get('cpu_s', '')} | "
                         f"{side.get('iterations') if side['row'] in SELF_LEARNING_ROWS else ''} | "
                         f"{side['peak_mib']} | "
                         f"{side['load']:.1f} | {speed if name == 'xling' else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=Path, help="folder with <lang>.vec for every language of --pairs")
    parser.add_argument("--vecmap", type=Path, help="checkout of artetxem/vecmap")
    parser.add_argument("--muse", type=Path, help="checkout of facebookresearch/MUSE")
    parser.add_argument("--fasttext", type=Path, help="checkout of facebookresearch/fastText")
    parser.add_argument("--pairs", default="en-es,en-de,en-fr,en-it")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--work", type=Path, default=Path("runs/anchors"), help="outputs of every run (large)")
    parser.add_argument("--json", type=Path, default=Path("runs/anchors/rows.jsonl"), help="results, appended")
    parser.add_argument("--sides", default="anchor,xling", help="run the anchors, xling, or both (in that order per row)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed to one command")
    parser.add_argument("--vocabulary-cutoff", type=int, default=None,
                        help="words per side in dictionary induction for the self-learning rows, both sides")
    parser.add_argument("--table", type=Path, help="print the table of this JSON-lines file and exit")
    args = parser.parse_args()
    if args.table is not None:
        print(table(args.table))
        return
    if args.vectors is None:
        parser.error("--vectors is required (or --table)")
    # the anchors run in their own folders: every path they get must be absolute
    args.vectors, args.work = args.vectors.resolve(), args.work.resolve()
    for tool in ("vecmap", "muse", "fasttext"):
        if getattr(args, tool) is not None:
            setattr(args, tool, getattr(args, tool).resolve())
    unknown = set(args.rows.split(",")) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    bench(args)


if __name__ == "__main__":
    main()
