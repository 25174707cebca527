"""Small helpers shared across xling: files, devices, random state, batching."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

import numpy as np
import torch

from xling.exceptions import FormatError

PathLike = Union[str, os.PathLike]

_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def open_binary(path: PathLike, mode: str = "rb") -> IO[bytes]:
    """Open ``path`` as a byte stream, decompressing ``.gz``, ``.xz`` and ``.bz2``.

    Raises
    ------
    FileNotFoundError
        With the path in the message.
    """
    path = Path(path)
    opener = _OPENERS.get(path.suffix.lower())
    if "r" in mode and not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    if opener is None:
        return open(path, mode)
    return opener(path, mode)


def open_text(path: PathLike, mode: str = "r", encoding: str = "utf-8") -> IO[str]:
    """Open ``path`` as text (UTF-8 by default), decompressing by extension.

    Decoding errors are raised strictly; use :func:`decode_line` to turn them
    into a :class:`FormatError` that names the line.
    """
    raw = open_binary(path, mode.replace("t", "").replace("b", "") + "b")
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline=None)


def iter_lines(path: PathLike, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a possibly compressed file.

    Line numbers start at 1; the trailing newline is removed. Undecodable bytes
    raise a :class:`FormatError` naming the line instead of a bare
    ``UnicodeDecodeError``.
    """
    with open_binary(path) as fh:
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


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`; ``None`` picks CUDA when present."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Expected an available device, got {device!s} but CUDA is not available")
    return device


def check_random_state(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Turn ``seed`` (None, int or Generator) into a :class:`numpy.random.Generator`."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"Expected random_state to be None, an int or a numpy Generator, got {type(seed).__name__}")


def torch_generator(rng: np.random.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """Derive a seeded :class:`torch.Generator` on ``device`` from a numpy generator."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return gen


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """Yield consecutive slices that cover ``range(n)`` in steps of ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def to_numpy(x) -> np.ndarray:
    """Return a float32 numpy array (CPU) from an ndarray or tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=np.float32)


def check_matrix(X, name: str) -> np.ndarray:
    """Validate an embedding matrix: 2-D, non-empty, finite. Returns float32."""
    arr = np.asarray(X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X)
    if arr.ndim != 2:
        raise ValueError(f"Expected {name} to be a 2-D matrix (n_words, dim), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"Expected {name} to be non-empty, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"Expected finite values in {name}, got NaN or inf in row {bad}")
    return arr
