"""A fitted alignment as one object: apply it, save it, load it back.

Every mapper's fitted state reduces to the same affine recipe per side::

    mapped = (normalise(A) - mean) @ matrix

``normalise`` replays the fitted normalisation steps (:class:`xling.Normalizer`
with its learned statistics), ``mean`` is an optional shift applied after the
normalisation (CCA keeps the mean of the seed pairs there) and ``matrix`` has
shape (d_in, k). :class:`Alignment` holds that recipe for the source and the
target side plus what produced it (method, settings, languages, versions), so
a map fitted on the 200k most frequent words can be applied to a 2M-word file
later, on another machine, without the mapper class.

File format (version 1)
-----------------------
One ``.npz`` file (``numpy.savez``, no pickles) holding:

``meta``
    A 0-d unicode array with a JSON object: ``format`` ("xling-alignment"),
    ``format_version`` (1), ``xling_version``, ``method``, ``settings``,
    ``src_lang``, ``tgt_lang``, and per side (``source``, ``target``) the
    ``steps`` of the normalisation, ``d_in`` and ``d_out``.
``source_matrix``, ``target_matrix``
    float32 (d_in, d_out).
``source_mean``, ``target_mean``
    float32 (d_in,), present only when the side has a shift.
``source_stat_I``, ``target_stat_I``
    float32 statistic of normalisation step I (the mean row of ``center``, the
    column scales of ``unit_dim``), present only for the steps that have one.

A file written by a newer format version, or one that is not an xling
alignment, is refused with a :class:`~xling.exceptions.FormatError`.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xling._utils import PathLike, atomic_output, check_matrix, jsonable
from xling.exceptions import FormatError, InputError
from xling.preprocessing import STEPS, apply_steps

__all__ = ["Alignment", "AlignmentSide", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT = "xling-alignment"


@dataclass
class AlignmentSide:
    """The fitted map of one side: ``(normalise(A) - mean) @ matrix``.

    Attributes
    ----------
    steps : list of (str, ndarray or None)
        Normalisation steps in order with their fitted statistic (see
        :class:`xling.Normalizer`, ``stats_``).
    matrix : ndarray of shape (d_in, d_out), float32
    mean : ndarray of shape (d_in,) or None
        Shift subtracted after the normalisation.
    """

    steps: list
    matrix: np.ndarray
    mean: np.ndarray | None = None

    def __post_init__(self):
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2:
            raise InputError(f"Expected a 2-D matrix, got shape {self.matrix.shape}")
        if self.mean is not None:
            self.mean = np.ascontiguousarray(self.mean, dtype=np.float32).reshape(-1)
        self.steps = [(str(step), None if stat is None else np.asarray(stat, dtype=np.float32)) for step, stat in self.steps]

    @property
    def d_in(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def d_out(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, A, *, name: str = "vectors"):
        """Map rows, shape (n, d_in) -> (n, d_out) float32, of the same kind as ``A`` (ndarray or Tensor).

        Raises
        ------
        ValueError
            ``A`` is not (n, d_in).
        """
        is_tensor = isinstance(A, torch.Tensor)
        X = check_matrix(A, name).copy()
        if X.shape[1] != self.d_in:
            raise InputError(f"Expected {name} with {self.d_in} columns (the fitted dimension), got {X.shape[1]}")
        X = apply_steps(X, self.steps)
        if self.mean is not None:
            X -= self.mean
        out = np.ascontiguousarray(X @ self.matrix, dtype=np.float32)
        return torch.from_numpy(out).to(A.device) if is_tensor else out


class _MappedRows:
    """A lazily mapped matrix: ``shape`` and row slices, mapped when sliced."""

    def __init__(self, side: AlignmentSide, vectors: np.ndarray, name: str):
        if vectors.ndim != 2 or vectors.shape[1] != side.d_in:
            raise InputError(f"Expected {name} with {side.d_in} columns (the fitted dimension), got {vectors.shape[1]}")
        self._side, self._vectors, self._name = side, vectors, name
        self.shape = (len(vectors), side.d_out)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self._side.apply(self._vectors[rows], name=self._name)


@dataclass
class Alignment:
    """Two fitted sides in one shared space, and what produced them.

    Build one from a fitted mapper with :meth:`xling.map.BaseMapper.to_alignment`
    (or get it from :func:`xling.align`), then :meth:`apply` it to vectors,
    :meth:`save` it, and :meth:`load` it back.

    Attributes
    ----------
    source, target : AlignmentSide
    method : str
        Registry name or class name of the mapper.
    settings : dict
        Its hyperparameters (JSON-serialisable form).
    src_lang, tgt_lang : str or None
    xling_version : str

    Examples
    --------
    >>> import numpy as np
    >>> from xling.map import Procrustes
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    >>> al = Procrustes().fit(X, X @ Q).to_alignment("xx", "yy")
    >>> al.apply(X).shape, al.source.d_in
    ((200, 5), 5)
    """

    source: AlignmentSide
    target: AlignmentSide
    method: str = ""
    settings: dict = field(default_factory=dict)
    src_lang: str | None = None
    tgt_lang: str | None = None
    xling_version: str = ""

    def __post_init__(self):
        if self.source.d_out != self.target.d_out:
            raise InputError(
                f"Expected both sides to map into one space, got dimensions {self.source.d_out} and {self.target.d_out}"
            )
        if not self.xling_version:
            from xling import __version__

            self.xling_version = __version__

    @property
    def dim(self) -> int:
        """Dimension of the shared space."""
        return self.source.d_out

    def apply(self, data, side: str = "source"):
        """Map an array, a Tensor or :class:`~xling.Embeddings` of one side into the shared space.

        Parameters
        ----------
        data : ndarray or Tensor of shape (n, d_in), or Embeddings
        side : {"source", "target"}

        Returns
        -------
        Same kind as ``data``: (n, d_out) float32, or Embeddings with the same words.
        """
        from xling.embeddings import Embeddings

        fitted = self._side(side)
        if isinstance(data, Embeddings):
            return data.with_vectors(fitted.apply(data.vectors, name=f"{side} vectors"))
        return fitted.apply(data, name=f"{side} vectors")

    def apply_target(self, data):
        """:meth:`apply` with ``side="target"``."""
        return self.apply(data, side="target")

    def write_applied(self, emb, path: PathLike, *, side: str = "source", format: str = "auto",
                      precision: int | None = None) -> None:
        """Map ``emb`` (Embeddings of one side) and write the result to ``path``, atomically.

        Rows are mapped block by block as they are written, so memory stays near
        one copy of the input matrix however large the vocabulary (typical use:
        fit on the 200k most frequent words, apply to a 2M-word file). ``path``
        may also be an open binary stream, which gets word2vec text.
        """
        from xling import _vector_io

        rows = _MappedRows(self._side(side), emb.vectors, f"{side} vectors")
        if hasattr(path, "write"):  # an open binary stream (standard output): word2vec text, written as mapped
            _vector_io.write_text(path, emb.words, rows, header=True, precision=precision or 9)
            return
        _vector_io.write_vectors(path, emb.words, rows, format=format, precision=precision)

    def _side(self, side: str) -> AlignmentSide:
        if side not in ("source", "target"):
            raise InputError(f"Expected side 'source' or 'target', got {side!r}")
        return self.source if side == "source" else self.target

    # -- persistence ---------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Write the alignment to ``path`` (.npz; see the module docstring), atomically."""
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "format_version": FORMAT_VERSION,
            "xling_version": self.xling_version,
            "method": self.method,
            "settings": jsonable(self.settings),
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
        }
        arrays: dict[str, np.ndarray] = {}
        for name in ("source", "target"):
            side = self._side(name)
            meta[name] = {"steps": [step for step, _ in side.steps], "d_in": side.d_in, "d_out": side.d_out,
                          "mean": side.mean is not None}
            arrays[f"{name}_matrix"] = side.matrix
            if side.mean is not None:
                arrays[f"{name}_mean"] = side.mean
            for i, (_, stat) in enumerate(side.steps):
                if stat is not None:
                    arrays[f"{name}_stat_{i}"] = stat
        arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
        with atomic_output(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: PathLike) -> "Alignment":
        """Read an alignment written by :meth:`save`.

        Raises
        ------
        FormatError
            Not an xling alignment, a newer format version, or a corrupt file.
        FileNotFoundError
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No such file: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise FormatError(f"Expected an xling alignment (.npz written by `xling align`), got an unreadable file ({exc})", str(path)) from None
        if "meta" not in arrays:
            raise FormatError("Expected an xling alignment (.npz with 'meta'), got an .npz without it", str(path))
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise FormatError(f"Expected JSON metadata in the alignment, got invalid JSON ({exc})", str(path)) from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise FormatError(f"Expected an xling alignment (format {_FORMAT!r}), got format {meta.get('format') if isinstance(meta, dict) else None!r}", str(path))
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise FormatError(
                f"Expected alignment format version <= {FORMAT_VERSION}, got {version!r} "
                f"(written by xling {meta.get('xling_version')}; upgrade xling to read it)",
                str(path),
            )
        sides = {}
        for name in ("source", "target"):
            try:
                info = meta[name]
                steps = []
                for i, step in enumerate(info["steps"]):
                    if step not in STEPS:
                        raise FormatError(f"Expected normalisation steps from {STEPS}, got {step!r}", str(path))
                    steps.append((step, arrays.get(f"{name}_stat_{i}")))
                matrix = arrays[f"{name}_matrix"]
                mean = arrays.get(f"{name}_mean") if info.get("mean") else None
            except KeyError as exc:
                raise FormatError(f"Expected the {name} side's {exc.args[0]!r} in the alignment, got none (corrupt file?)", str(path)) from None
            if matrix.shape != (info["d_in"], info["d_out"]):
                raise FormatError(f"Expected a {name} matrix of shape ({info['d_in']}, {info['d_out']}), got {matrix.shape}", str(path))
            sides[name] = AlignmentSide(steps, matrix, mean)
        return cls(sides["source"], sides["target"], method=meta.get("method", ""), settings=meta.get("settings", {}),
                   src_lang=meta.get("src_lang"), tgt_lang=meta.get("tgt_lang"), xling_version=meta.get("xling_version", ""))

