"""Small helpers shared across xling: files, outputs, devices, random state, validation."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import tempfile
import zlib
from pathlib import Path
from typing import IO, Iterator, Union

import numpy as np
import torch

from xling.exceptions import FormatError, InputError, InputTypeError, XlingError

PathLike = Union[str, os.PathLike]

_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


# What a compressed file must start with, and what its decompressor raises on bad data.
_MAGIC = {".gz": (b"\x1f\x8b", "gzip"), ".xz": (b"\xfd7zXZ\x00", "xz"), ".bz2": (b"BZh", "bzip2")}
_DECOMPRESSION_ERRORS = (EOFError, gzip.BadGzipFile, lzma.LZMAError, zlib.error, OSError)


_BOM = b"\xef\xbb\xbf"


def open_binary(path: PathLike, mode: str = "rb", *, skip_bom: bool = False) -> IO[bytes]:
    """Open ``path`` as a byte stream, decompressing ``.gz``, ``.xz`` and ``.bz2``.

    With ``skip_bom`` (text files), a UTF-8 byte-order mark at the start is
    skipped, as editors on Windows write one.

    A compressed name on a file that is not compressed that way, and a
    truncated or corrupt compressed stream, raise :class:`FormatError` naming
    the file (at open, or at the read that meets the damage) instead of the
    decompressor's own exception.

    Raises
    ------
    FileNotFoundError
        With the path in the message.
    FormatError
    """
    path = Path(path)
    suffix = path.suffix.lower()
    opener = _OPENERS.get(suffix)
    if "r" in mode and not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    if opener is None:
        fh = open(path, mode)
    elif "r" not in mode:
        return opener(path, mode)
    else:
        magic, kind = _MAGIC[suffix]
        with open(path, "rb") as raw:
            start = raw.read(len(magic))
        if start != magic:
            what = "an empty file" if not start else "a file that is not " + kind + "-compressed"
            raise FormatError(f"Expected {kind}-compressed data (the name ends in {suffix}), got {what}", str(path))
        fh = _CheckedStream(opener(path, mode), path, kind)
    if skip_bom and "r" in mode and fh.read(len(_BOM)) != _BOM:
        fh.seek(0)
    return fh


class _CheckedStream:
    """A decompressing reader whose decompression errors become one-line :class:`FormatError`."""

    def __init__(self, stream, path: Path, kind: str):
        self._stream, self._path, self._kind = stream, path, kind

    def _fail(self, exc: BaseException):
        reason = "one that ends early (truncated file?)" if isinstance(exc, EOFError) else f"corrupt data ({exc})"
        raise FormatError(f"Expected a complete {self._kind} stream, got {reason}", str(self._path)) from None

    def _call(self, name: str, *args):
        try:
            return getattr(self._stream, name)(*args)
        except _DECOMPRESSION_ERRORS as exc:
            self._fail(exc)

    def read(self, *args):
        return self._call("read", *args)

    def read1(self, *args):
        return self._call("read1", *args)

    def readline(self, *args):
        return self._call("readline", *args)

    def readlines(self, *args):
        return self._call("readlines", *args)

    def readinto(self, buffer):
        return self._call("readinto", buffer)

    def peek(self, *args):
        return self._call("peek", *args)

    def seek(self, *args):
        return self._call("seek", *args)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stream.close()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def iter_lines(path: PathLike, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a possibly compressed file (``-``: standard input).

    Line numbers start at 1; the trailing newline is removed. Undecodable bytes
    raise a :class:`FormatError` naming the line instead of a bare
    ``UnicodeDecodeError``.
    """
    import sys

    stdin = str(path) == "-"  # standard input, read once
    with (contextlib.nullcontext(sys.stdin.buffer) if stdin else open_binary(path, skip_bom=True)) as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"Expected {encoding} text, got undecodable byte "
                    f"0x{raw[exc.start]:02x} at column {exc.start + 1}",
                    str(path),
                    number,
                ) from None
            yield number, text.rstrip("\r\n")


@contextlib.contextmanager
def atomic_output(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    If the block raises (bad input, Ctrl-C), the temporary file is removed and
    any existing file at ``path`` is left untouched. Compression follows the
    extension of ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        opener = _OPENERS.get(path.suffix.lower())
        binary = "b" in mode
        if opener is None:
            fh = open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"}))
        else:
            fh = opener(tmp, "wb" if binary else "wt", **({} if binary else {"encoding": "utf-8", "newline": "\n"}))
        with fh:
            yield fh
        # mkstemp creates the file 0600; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_file(path: PathLike) -> None:
    """Fail before any work when ``path`` cannot be written: a folder, or a read-only place.

    Raises
    ------
    XlingError
        Naming the path and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise XlingError(f"{path}: Expected an output file, got a folder")
    _check_writable_folder(path.parent)


def check_output_dir(path: PathLike) -> None:
    """Fail before any work when the output folder ``path`` cannot be written (see :func:`check_output_file`)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise XlingError(f"{path}: Expected an output folder, got a file")
    _check_writable_folder(path)


def _check_writable_folder(folder: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the folder is created later; its nearest existing ancestor must be writable
    if not existing.is_dir():
        raise XlingError(f"{existing}: Expected a folder to write outputs in, got a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise XlingError(f"{existing}: Expected a writable folder for the outputs, got a read-only one")


@contextlib.contextmanager
def staged_outputs(out_dir: PathLike) -> Iterator[Path]:
    """Write several outputs as one set: into a staging folder, moved into ``out_dir`` on success.

    Yields the staging folder (inside ``out_dir``, so the final moves are
    renames on one file system). When the block raises (bad input, Ctrl-C),
    the staging folder is removed and ``out_dir`` keeps exactly its previous
    files. The folder must be writable before any work is done, so this is
    checked first.
    """
    import shutil

    out = Path(out_dir)
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".xling-staging-", dir=out))
    try:
        yield stage
        names = sorted(p.name for p in stage.iterdir())
        for name in names:
            check_output_file(out / name)
        # Ctrl-C is held back during the renames (microseconds), so the set is never half-replaced.
        with _sigint_deferred():
            for name in names:
                os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Block SIGINT in this thread for the block; a Ctrl-C pressed meanwhile is delivered after it."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`; ``None`` picks CUDA when present."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Expected an available device, got {device!s} but CUDA is not available")
    return device


def check_random_state(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Turn ``seed`` (None, int or Generator) into a :class:`numpy.random.Generator`."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise InputTypeError(f"Expected random_state to be None, an int or a numpy Generator, got {type(seed).__name__}")


def torch_generator(rng: np.random.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """Derive a seeded :class:`torch.Generator` on ``device`` from a numpy generator."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return gen


def jsonable(obj):
    """``obj`` with numpy scalars and arrays made JSON-serialisable, other objects by their repr."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


def settings_of(estimator) -> dict:
    """An estimator's hyperparameters as recorded in reports and alignments (callbacks left out)."""
    return {k: v for k, v in estimator.get_params(deep=False).items() if k != "callbacks"}


def write_json(path: PathLike, data) -> None:
    """Write ``data`` (made :func:`jsonable`) as indented UTF-8 JSON, atomically."""
    import json

    with atomic_output(path, "w") as fh:
        json.dump(jsonable(data), fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def check_matrix(X, name: str) -> np.ndarray:
    """Validate an embedding matrix: 2-D, non-empty, finite. Returns float32."""
    arr = np.asarray(X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X)
    if arr.ndim != 2:
        raise InputError(f"Expected {name} to be a 2-D matrix (n_words, dim), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"Expected {name} to be non-empty, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InputError(f"Expected finite values in {name}, got NaN or inf in row {bad}")
    return arr
