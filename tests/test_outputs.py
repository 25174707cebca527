"""Outputs are written atomically, alone and as a set, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from xling import Alignment, Embeddings, Lexicon, align


def test_written_files_follow_the_umask(tmp_path):
    """Temporary files are made 0600; outputs must follow the umask like any other file."""
    umask = os.umask(0o022)
    try:
        Embeddings(["a", "b"], np.eye(2)).write(tmp_path / "out.vec")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.vec").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.vec"
    Embeddings(["old"], np.ones((1, 2))).write(target)
    before = target.read_bytes()
    words = [f"w{i}" for i in range(20000)]
    words[19000] = "two words"  # found only after the first blocks were written
    with pytest.raises(ValueError, match="without whitespace"):
        Embeddings(words, np.ones((20000, 2))).write(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.vec"]


def test_an_interrupted_set_keeps_the_old_set(tmp_path, monkeypatch):
    """A run interrupted while writing its outputs leaves exactly the files of the run before."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    spaces = {"xx": Embeddings([f"x{i}" for i in range(50)], X), "zz": Embeddings([f"z{i}" for i in range(50)], X)}
    lexicon = {"xx": Lexicon((f"x{i}", f"z{i}") for i in range(40))}
    out = tmp_path / "out"
    align(spaces, "zz", lexicon).save(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    real_save = Alignment.save

    def interrupted(self, path):
        real_save(self, path)
        raise KeyboardInterrupt  # after the vectors and the map of the new run were written

    monkeypatch.setattr(Alignment, "save", interrupted)
    spaces["xx"] = spaces["xx"].with_vectors(X + 1)
    with pytest.raises(KeyboardInterrupt):
        align(spaces, "zz", lexicon).save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
