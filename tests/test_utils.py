"""File helpers shared by every writer."""

from __future__ import annotations

import os
import stat

import pytest

from xling._utils import atomic_output


def test_atomic_output_gives_normal_permissions(tmp_path):
    """mkstemp makes 0600 files; outputs must follow the umask like any other file."""
    umask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_atomic_output_interrupted_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target, "w") as fh:
            fh.write("new, half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
