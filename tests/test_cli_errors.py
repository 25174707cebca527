"""Every failure a user can cause ends in one line, exit 1 (2 for usage), and an output folder as it was."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xling import Embeddings, Lexicon
from xling.cli import cli

COMPRESSORS = {".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}
KINDS = {".gz": "gzip", ".xz": "xz", ".bz2": "bzip2"}


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, input=input)


def one_line_error(result, code: int = 1) -> str:
    """The single error line of a failed command (no traceback)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


@pytest.fixture
def pair(tmp_path):
    """Two 16-d spaces, a rotation apart, with train and test lexicons, and one good run in aligned/."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 16)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    Embeddings([f"x{i}" for i in range(300)], base).write(tmp_path / "xx.vec")
    Embeddings([f"z{i}" for i in range(300)], base @ q).write(tmp_path / "zz.vec")
    Lexicon((f"x{i}", f"z{i}") for i in range(200)).write(tmp_path / "train.tsv")
    Lexicon((f"x{i}", f"z{i}") for i in range(200, 300)).write(tmp_path / "test.tsv")
    out = tmp_path / "aligned"
    result = run("align", tmp_path / "xx.vec", tmp_path / "zz.vec", "--lexicon", tmp_path / "train.tsv", "--out-dir", out)
    assert result.exit_code == 0, result.output
    return tmp_path, out


def align_args(root: Path, *extra):
    return ["align", root / "xx.vec", root / "zz.vec", "--lexicon", root / "train.tsv", *extra]


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_truncated_and_mislabelled_compressed_vectors(pair, suffix):
    root, out = pair
    before = snapshot(out)
    full = COMPRESSORS[suffix]((root / "xx.vec").read_bytes())
    truncated = root / f"trunc.vec{suffix}"
    truncated.write_bytes(full[: len(full) // 2])
    line = one_line_error(run("align", truncated, root / "zz.vec", "--lexicon", root / "train.tsv", "--out-dir", out))
    assert line == f"Error: {truncated}: Expected a complete {KINDS[suffix]} stream, got one that ends early (truncated file?)"
    plain = root / f"plain.vec{suffix}"
    plain.write_bytes((root / "xx.vec").read_bytes())
    line = one_line_error(run("eval", plain, root / "zz.vec", root / "test.tsv"))
    assert line == (f"Error: {plain}: Expected {KINDS[suffix]}-compressed data (the name ends in {suffix}), "
                    f"got a file that is not {KINDS[suffix]}-compressed")
    assert snapshot(out) == before


def test_truncated_compressed_corpus(tmp_path):
    text = "".join(f"w{i % 50} w{(i * 7) % 50} w{(i * 3) % 50}\n" for i in range(20000)).encode()
    corpus = tmp_path / "corpus.txt.gz"
    full = gzip.compress(text)
    corpus.write_bytes(full[: len(full) // 2])
    line = one_line_error(run("train", corpus, "-o", tmp_path / "v.vec", "--min-count", 1, "--epochs", 1))
    assert line == f"Error: {corpus}: Expected a complete gzip stream, got one that ends early (truncated file?)"
    assert not (tmp_path / "v.vec").exists()


def test_an_output_path_that_is_a_folder_fails_before_any_work(pair):
    root, out = pair
    (root / "adir").mkdir()
    for args in (["translate", root / "xx.vec", root / "zz.vec", "x1"], ["apply", out / "xx-zz.map.npz", root / "xx.vec"]):
        line = one_line_error(run(*args, "-o", root / "adir"), code=2)  # a usage error: the option's value
        assert line == f"Error: Invalid value for '-o' / '--out': File '{root / 'adir'}' is a directory."
    line = one_line_error(run(*align_args(root, "--out-dir", root / "train.tsv")), code=2)
    assert line == f"Error: Invalid value for '--out-dir': Directory '{root / 'train.tsv'}' is a file."
    # a file of the new set whose name is taken by a folder: nothing of the old set is replaced
    (out / "report.json").unlink()
    (out / "report.json").mkdir()
    kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    line = one_line_error(run(*align_args(root, "--out-dir", out, "--normalize", "unit")))
    assert line == f"Error: {out / 'report.json'}: Expected an output file, got a folder"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == kept


def test_a_read_only_output_folder_is_refused_before_any_work(pair, monkeypatch):
    root, out = pair
    before = snapshot(out)
    os.chmod(out, 0o555)
    try:
        if os.geteuid() == 0:  # root may write anywhere: let the folder report itself read-only, as it does to users
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda path, mode: real_access(path, mode) and not (Path(path) == out and mode & os.W_OK))
        line = one_line_error(run(*align_args(root, "--out-dir", out)))
    finally:
        os.chmod(out, 0o755)
    assert line == f"Error: {out}: Expected a writable folder for the outputs, got a read-only one"
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "tpu"], "Invalid value for '--device': Expected cpu, cuda, cuda:N or auto, got 'tpu'"),
        (["-m", "rcsls", "-p", "lr=fast"], "Error: Method 'rcsls': expected a number for setting 'lr', got 'fast'"),
        (["-m", "selflearning", "-p", "mapper=nope"],
         "Error: Method 'selflearning': unknown mapper 'nope' for setting 'mapper'; choose from:"),
        (["-m", "procrustes", "-p", "n_iter=3"], "Error: Method 'procrustes' has no setting 'n_iter'; it accepts: normalize"),
        (["--normalize", "unit", "-p", "normalize=center"],
         "Error: Give the normalisation once: --normalize or -p normalize=..., not both"),
        (["--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
        (["--retrieval", "nn,bogus"], "Invalid value for --retrieval: Expected methods from nn, csls, isf, invnn, got 'nn,bogus'"),
        (["--encoding", "klingon"], "Invalid value for --encoding: Expected a known text encoding, got 'klingon'"),
    ],
)
def test_options_that_cannot_work_are_named(pair, args, message):
    root, out = pair
    before = snapshot(out)
    result = run(*align_args(root, "--out-dir", out, *args))
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert message in result.output
    assert snapshot(out) == before


def test_device_cpu_works_with_a_method_without_a_device_setting(pair):
    root, out = pair
    result = run(*align_args(root, "--out-dir", out, "--device", "cpu", "--eval", root / "test.tsv"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["sources"]["xx"]["bli"]["csls"]["p@1"] > 0.99


def test_self_learning_inner_solver_by_name(pair):
    root, out = pair
    result = run(*align_args(root, "--out-dir", out, "-m", "selflearning", "-p", "mapper=artetxe2018-supervised",
                             "-p", "max_iter=2", "--eval", root / "test.tsv"))
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "report.json").read_text())["sources"]["xx"]["settings"]
    assert settings["mapper"].startswith("Artetxe2018Supervised(")


def test_too_few_seed_words_warn_on_stderr_and_in_the_report(pair):
    root, out = pair
    few = root / "few.tsv"
    few.write_text("x1\tz1\nx1\tz2\nx2\tz2\nx3\tz3\nx3\tz1\n")  # 5 pairs, 3 distinct source words, 16 dimensions
    result = CliRunner().invoke(cli, [str(a) for a in ["align", root / "xx.vec", root / "zz.vec", "--lexicon", few,
                                                        "--out-dir", out, "-m", "lstsq"]])
    assert result.exit_code == 0, result.output
    expected = (f"{few}: only 3 distinct seed words (5 pairs) for 16-dimensional vectors; the 'lstsq' map is "
                "underdetermined (expect P@1 near 0)")
    assert expected in result.stderr
    warnings = json.loads((out / "report.json").read_text())["sources"]["xx"]["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith(expected)


def test_an_all_oov_test_lexicon_is_named(pair):
    root, out = pair
    oov = root / "oov.tsv"
    oov.write_text("cat\tgato\ndog\tperro\n")
    line = one_line_error(run("eval", out / "xx.mapped.vec", out / "zz.mapped.vec", oov))
    assert line.startswith(f"Error: {oov}: Expected test words with vectors on both sides")


def test_bom_glove_named_vec_and_fasttext_models(tmp_path):
    bom = tmp_path / "bom.vec"
    bom.write_bytes(b"\xef\xbb\xbf2 2\na 1 0\nb 0 1\n")
    assert Embeddings.read(bom).words == ["a", "b"]
    glove = tmp_path / "glove.vec"  # xling's own --format glove output keeps the name it was given
    Embeddings(["a", "b"], np.eye(2)).write(glove, format="glove")
    assert Embeddings.read(glove).words == ["a", "b"]
    model = tmp_path / "cc.en.300.bin"
    model.write_bytes((793712314).to_bytes(4, "little") + (12).to_bytes(4, "little") + bytes(range(256)))
    line = one_line_error(run("eval", model, model, bom))
    assert line.startswith(f"Error: {model}: Expected word2vec binary vectors, got a fastText model")


def test_verbosity_after_the_subcommand_and_standard_streams(pair):
    root, out = pair
    quiet = CliRunner().invoke(cli, ["methods", "-q"])
    assert quiet.exit_code == 0
    result = CliRunner().invoke(cli, ["translate", str(out / "xx.mapped.vec"), str(out / "zz.mapped.vec"), "--file", "-",
                                      "-k", "1", "-o", "-", "-v"], input="x250\nx251\n")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t")[:3] for line in result.stdout.strip().splitlines()]
    assert rows == [["x250", "1", "z250"], ["x251", "1", "z251"]]
    assert not (Path.cwd() / "-").exists()
    # a test lexicon from standard input gives the numbers of the file
    test = (root / "test.tsv").read_text()
    piped = CliRunner().invoke(cli, ["eval", str(out / "xx.mapped.vec"), str(out / "zz.mapped.vec"), "-", "--json"], input=test)
    direct = run("eval", out / "xx.mapped.vec", out / "zz.mapped.vec", root / "test.tsv", "--json")
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout) == json.loads(direct.stdout)
    # vectors from standard input, mapped vectors to standard output: the bytes of the file-to-file run
    run("apply", out / "xx-zz.map.npz", root / "xx.vec", "-o", root / "applied.vec")
    streamed = CliRunner().invoke(cli, ["apply", str(out / "xx-zz.map.npz"), "-", "-o", "-"],
                                  input=(root / "xx.vec").read_bytes())
    assert streamed.exit_code == 0, streamed.output
    assert streamed.stdout_bytes == (root / "applied.vec").read_bytes()


def test_ctrl_c_while_writing_keeps_exactly_the_old_set(tmp_path):
    """SIGINT arrives while the outputs of the new run are being written: the folder keeps the old run's files."""
    rng = np.random.default_rng(0)
    n, d = 120_000, 40  # big enough that writing the mapped vectors takes a few seconds in Python
    base = rng.normal(size=(n, d)).astype(np.float32)
    Embeddings([f"x{i}" for i in range(n)], base).write(tmp_path / "xx.bin")
    Embeddings([f"z{i}" for i in range(n)], base[:, ::-1]).write(tmp_path / "zz.bin")
    Lexicon((f"x{i}", f"z{i}") for i in range(500)).write(tmp_path / "train.tsv")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "xling", "align", str(tmp_path / "xx.bin"), str(tmp_path / "zz.bin"),
            "--lexicon", str(tmp_path / "train.tsv"), "--out-dir", str(out)]
    subprocess.run(args, check=True, capture_output=True)
    before = snapshot(out)
    # Python's formatting (no compiled writer) keeps the write phase at a few seconds, long enough to be interrupted
    env = {**os.environ, "XLING_NO_KERNEL": "1"}
    proc = subprocess.Popen([*args, "--normalize", "unit"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the controlled point: the first new output exists in the staging folder
        if any(stage.is_dir() and any(stage.iterdir()) for stage in out.glob(".xling-staging-*")):
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("the run never reached its write phase")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Interrupted; no output was changed" in stderr and "Traceback" not in stderr
    assert snapshot(out) == before


def test_a_full_disk_is_one_line_and_keeps_the_old_set(pair, monkeypatch):
    import errno

    from xling import Alignment

    root, out = pair
    before = snapshot(out)

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Alignment, "save", full)
    line = one_line_error(run(*align_args(root, "--out-dir", out, "--normalize", "unit")))
    assert line == "Error: Cannot write the outputs: No space left on device; previous outputs were kept"
    assert snapshot(out) == before


def test_reading_a_large_file_reports_progress(tmp_path):
    rows = np.random.default_rng(0).normal(size=(200000, 16)).astype(np.float32)  # more than one 8 MB read block
    Embeddings([f"w{i}" for i in range(200000)], rows).write(tmp_path / "big.vec")
    events = []
    emb = Embeddings.read(tmp_path / "big.vec", callbacks=[events.append])
    fractions = [e["progress"] for e in events]
    assert len(emb) == 200000 and len(events) >= 2
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and events[-1]["rows"] == 200000
    assert all(e["event"] == "progress" and e["phase"] == "read" for e in events)


SUPERVISED = sorted(name for name, cls in __import__("xling.map", fromlist=["MAPPERS"]).MAPPERS.items() if cls().supervised)


# max-margin's 50 epochs from a random start, fitted twice, take ~8 s here
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "maxmargin" else n for n in SUPERVISED])
def test_self_learning_takes_every_supervised_solver_by_name(pair, name):
    root, out = pair
    result = run(*align_args(root, "--out-dir", out, "-m", "selflearning", "-p", f"mapper={name}", "-p", "max_iter=1",
                             "-p", "vocabulary_cutoff=300", "--eval", root / "test.tsv"))
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "report.json").read_text())["sources"]["xx"]
    cls = __import__("xling.map", fromlist=["MAPPERS"]).MAPPERS[name]
    assert entry["settings"]["mapper"].startswith(cls.__name__ + "(")
    assert entry["bli"]["nn"]["p@1"] > 0.5  # the spaces are a rotation apart: every solver finds most of it


def test_self_learning_takes_its_final_solver_by_name(pair):
    root, out = pair
    result = run(*align_args(root, "--out-dir", out, "-m", "selflearning", "-p", "final_mapper=artetxe2018-supervised",
                             "-p", "max_iter=2", "-p", "vocabulary_cutoff=300", "--eval", root / "test.tsv"))
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "report.json").read_text())["sources"]["xx"]
    assert entry["settings"]["final_mapper"].startswith("Artetxe2018Supervised(")
    assert entry["settings"]["mapper"] is None and entry["bli"]["nn"]["p@1"] > 0.5


@pytest.mark.parametrize("key", ["mapper", "final_mapper"])
@pytest.mark.parametrize("name", ["adversarial", "unsupervised", "nope"])
def test_self_learning_refuses_other_solver_names_in_one_line(pair, name, key):
    root, out = pair
    before = snapshot(out)
    line = one_line_error(run(*align_args(root, "--out-dir", out, "-m", "selflearning", "-p", f"{key}={name}")))
    expected = "needs a supervised solver" if name != "nope" else f"unknown mapper 'nope' for setting '{key}'; choose from:"
    assert line.startswith("Error: Method 'selflearning': ") and expected in line
    assert snapshot(out) == before
