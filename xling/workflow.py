"""The alignment workflow: read, fit, check, diagnose, evaluate — one function.

:func:`align` is what ``xling align`` and ``xling demo`` run, available to
library users: it maps every source language onto one target (hub) language
and returns the fitted :class:`~xling.Alignment` of each source, every
language's vectors in the shared space, and the report that ``xling align``
writes as ``report.json``. Any two languages can then be compared through the
hub space (Heyman et al. 2019; Kementchedjhieva et al. 2018).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Mapping, Sequence

import numpy as np
from sklearn.base import clone

from xling._settings import coerce_setting
from xling._utils import PathLike, jsonable, settings_of, staged_outputs, write_json
from xling.alignment import Alignment
from xling.embeddings import Embeddings
from xling.evaluate import evaluate_many
from xling.exceptions import NotEnoughDataError, XlingError
from xling.lexicon import Lexicon
from xling.retrieval import METHODS, check_precision, current_precision

logger = logging.getLogger(__name__)

__all__ = ["align", "AlignResult", "build_mapper", "read_lexicon", "read_vectors", "train", "train_joint",
           "check_joint_inputs", "demo", "example_translations",
           "train_multilingual", "MultilingualResult"]

# A progress factory: called with a label, returns a context manager that
# yields a callback receiving the iterative mappers' events.
Progress = Callable[[str], ContextManager[Callable[[dict], None]]]


@dataclass
class AlignResult:
    """What :func:`align` returns.

    Attributes
    ----------
    target : str
        The hub language.
    alignments : dict str -> Alignment
        For each source language, its fitted map into the shared space.
    mappers : dict str -> BaseMapper
        The fitted mapper of each source (history, diagnosis, solver details).
    embeddings : dict str -> Embeddings
        Every language (the target included) in the shared space.
    report : dict
        JSON-serialisable: method, seed, target and per source the settings,
        seed-lexicon coverage, timings, history, diagnosis and BLI.
    """

    target: str
    alignments: dict[str, Alignment]
    mappers: dict
    embeddings: dict[str, Embeddings]
    report: dict = field(default_factory=dict)

    def save(self, out_dir: PathLike) -> list[str]:
        """Write every space, every alignment and ``report.json`` into ``out_dir`` as one set.

        Files: ``<lang>.mapped.vec`` for every language, ``<src>-<target>.map.npz``
        for every source (:meth:`Alignment.save`) and ``report.json`` (its
        ``"files"`` lists them). They are written to a staging folder and moved
        into place only when all were written, so after a failure or Ctrl-C the
        folder holds exactly the files it held before.

        Returns
        -------
        list of str
            The file names written.
        """
        files = [f"{lang}.mapped.vec" for lang in self.embeddings]
        files += [f"{lang}-{self.target}.map.npz" for lang in self.alignments]
        self.report["files"] = files + ["report.json"]
        with staged_outputs(out_dir) as stage:
            for lang, emb in self.embeddings.items():
                emb.write(stage / f"{lang}.mapped.vec")
            for lang, alignment in self.alignments.items():
                alignment.save(stage / f"{lang}-{self.target}.map.npz")
            write_json(stage / "report.json", self.report)
        return self.report["files"]

    def pair(self, src: str, tgt: str) -> tuple[Embeddings, Embeddings]:
        """The vectors of any two aligned languages, in the shared space.

        Raises
        ------
        KeyError
            A language that was not aligned.
        """
        for lang in (src, tgt):
            if lang not in self.embeddings:
                raise KeyError(f"Expected a language among {sorted(self.embeddings)}, got {lang!r}")
        return self.embeddings[src], self.embeddings[tgt]


def build_mapper(method, params: Mapping | None = None):
    """A mapper from a registry name (with ``params``) or a mapper instance (cloned).

    Every key of ``params`` must be a setting of the method and every value
    is checked against the type of the setting's default, so a typo or a
    wrong type is an error naming the setting, never silently ignored.

    Raises
    ------
    XlingError
        Unknown method or setting, or a value of the wrong type.
    """
    from xling.map import MAPPERS, BaseMapper

    params = dict(params or {})
    if isinstance(method, BaseMapper):
        if params:
            raise XlingError(f"Expected no extra settings with a mapper instance, got {sorted(params)}")
        return clone(method)
    if method not in MAPPERS:
        raise XlingError(f"Unknown method {method!r}; choose from: {', '.join(sorted(MAPPERS))}")
    cls = MAPPERS[method]
    defaults = cls().get_params(deep=False)
    for key, value in params.items():
        if key not in defaults:
            raise XlingError(f"Method {method!r} has no setting {key!r}; it accepts: {', '.join(sorted(defaults))}")
        params[key] = _coerce(method, key, value, defaults[key])
    return cls(**params)


def _coerce(method: str, key: str, value, default):
    """A mapper setting checked by type; self-learning's inner solver may be given by registry name."""
    from xling.map import MAPPERS

    if key == "final_mapper" and value in ("auto", "none"):
        return None if value == "none" else value
    if key in ("mapper", "final_mapper") and isinstance(value, str):
        if value not in MAPPERS:
            names = sorted(MAPPERS) + (["auto", "none"] if key == "final_mapper" else [])
            raise XlingError(f"Method {method!r}: unknown mapper {value!r} for setting {key!r}; choose from: {', '.join(names)}")
        inner = MAPPERS[value]()
        if not inner.supervised:
            raise XlingError(f"Method {method!r}: setting {key!r} needs a supervised solver, got {value!r}")
        return inner
    return coerce_setting(method, key, value, default)


def read_lexicon(path: PathLike, src: Embeddings, tgt: Embeddings, case: str = "auto") -> Lexicon:
    """Read a lexicon and match its case to the vectors.

    Parameters
    ----------
    case : {"auto", "lower", "keep"}
        ``auto`` lower-cases the lexicon when neither vocabulary holds an
        upper-case word (vectors trained on lower-cased text), and says so
        with a warning when that changed any entry.
    """
    if case not in ("auto", "lower", "keep"):
        raise XlingError(f"Expected lexicon case 'auto', 'lower' or 'keep', got {case!r}")
    lexicon = Lexicon.read(path)
    if case == "lower" or (case == "auto" and not _has_upper(src) and not _has_upper(tgt)):
        changed = sum(s != s.lower() or t != t.lower() for s, t in lexicon)
        if case == "auto" and changed:
            logger.warning("%s: lower-cased %d entries because the vectors hold no upper-case word "
                           "(--lexicon-case keep to disable)", path, changed)
        lexicon = lexicon.lower()
    return lexicon


def _has_upper(emb: Embeddings, sample: int = 20000) -> bool:
    return any(w != w.lower() for w in emb.words[:sample])


def _where(spaces: Mapping, lang: str) -> str:
    """How to name a language's vectors in a message: its file, or the language."""
    return lang if isinstance(spaces[lang], Embeddings) else str(spaces[lang])


# Files at least this large show a progress bar while they are read (a 100k x 300 text file is ~300 MB).
_READ_PROGRESS_BYTES = 64 << 20


def read_vectors(path: PathLike, *, limit: int | None = None, read_options: Mapping | None = None,
                 progress: Progress | None = None) -> Embeddings:
    """:meth:`Embeddings.read`, with a progress bar (``progress``, see :func:`align`) for large files.

    ``path`` may be ``-``: standard input (text formats; ``format="bin"`` for binary), spooled to a
    temporary file first because the readers look at the first line before they parse.
    """
    read_options = dict(read_options or {})
    if str(path) == "-":
        import shutil
        import sys
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="xling-stdin-", suffix=".vec") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.flush()
            emb = Embeddings.read(spool.name, limit=limit, **read_options)
        return emb
    if progress is None or Path(path).stat().st_size < _READ_PROGRESS_BYTES:
        return Embeddings.read(path, limit=limit, **read_options)
    with progress(f"reading {Path(path).name}") as callback:
        return Embeddings.read(path, limit=limit, callbacks=(callback,), **read_options)


def _as_embeddings(space, limit: int | None, read_options: Mapping, progress: Progress | None = None) -> Embeddings:
    return space if isinstance(space, Embeddings) else read_vectors(space, limit=limit, read_options=read_options,
                                                                      progress=progress)


def _as_lexicon(lexicon, src: Embeddings, tgt: Embeddings, case: str) -> tuple[Lexicon, str]:
    if isinstance(lexicon, Lexicon):
        return lexicon, "lexicon"
    return read_lexicon(lexicon, src, tgt, case), str(lexicon)


def align(
    spaces: Mapping[str, Embeddings | PathLike],
    target: str,
    lexicons: Mapping[str, Lexicon | PathLike] | None = None,
    *,
    method="procrustes",
    params: Mapping | None = None,
    evals: Mapping[str, Lexicon | PathLike] | None = None,
    retrieval: Sequence[str] = ("nn", "csls"),
    oov: str = "exclude",
    validation: Mapping[str, Lexicon | PathLike] | None = None,
    seed: int | None = 0,
    device=None,
    precision: str | None = None,
    limit: int | None = None,
    lexicon_case: str = "auto",
    read_options: Mapping | None = None,
    progress: Progress | None = None,
) -> AlignResult:
    """Map every language of ``spaces`` except ``target`` onto ``target``.

    For each source: read its vectors, turn its seed lexicon into row pairs
    (with coverage), fit a fresh mapper, check that the target side stays the
    same for every source (a hub needs that), record the mapper's history and
    dictionary-free diagnosis, and evaluate BLI on the test lexicon.

    Parameters
    ----------
    spaces : mapping str -> Embeddings or path
        One vector space per language, the target included. Rows sorted by
        frequency (as in .vec files).
    target : str
        The key of the target (hub) language.
    lexicons : mapping str -> Lexicon or path, optional
        ``lexicons[src]`` translates ``src`` words into target words. Needed
        for every source by supervised methods; unsupervised ones (adversarial,
        unsupervised, self-learning seeded by identical strings or numerals)
        take none.
    method : str or BaseMapper
        A name in :data:`xling.map.MAPPERS` or a mapper instance (cloned).
    params : mapping, optional
        Settings of the named method (checked by :func:`build_mapper`).
        ``random_state`` and ``device`` default to ``seed`` and ``device`` for
        methods that have them.
    evals : mapping str -> Lexicon or path, optional
        Test lexicon per source: BLI for each of ``retrieval`` goes into the
        report.
    retrieval : sequence of {"nn", "csls", "isf", "invnn"}
    oov : {"exclude", "wrong"}
        Test words without vectors: excluded (MUSE, VecMap) or wrong (RCSLS).
    validation : mapping str -> Lexicon or path, optional
        Held-out lexicon per source (VecMap's ``--validation``): iterative
        methods record its P@1 by NN and CSLS after every iteration in the
        history (report.json and the HTML report plot it); the others ignore
        it, with a warning.
    seed : int, optional
    device : str, optional
        Where the solvers and retrieval run (None: CUDA when present).
    precision : {"fp16", "fp32", "fp64"}, optional
        Floating-point precision of the BLI evaluation (see
        :func:`xling.retrieval.precision`) and, for a method named by string
        that has a ``precision`` setting (self-learning and the
        ``artetxe2018-*`` recipes), of its dictionary induction unless
        ``params`` set it; None: the current one (fp32 by default). The other
        fits keep their own precision.
    limit : int, optional
        Read only the first ``limit`` vectors of each file.
    lexicon_case : {"auto", "lower", "keep"}
        See :func:`read_lexicon`.
    read_options : mapping, optional
        Passed to :meth:`Embeddings.read` (``format``, ``encoding``, ``duplicates``).
    progress : callable, optional
        ``progress(label)`` returns a context manager yielding a callback for
        the events of iterative mappers (the CLI draws a progress bar).

    Returns
    -------
    AlignResult

    Raises
    ------
    XlingError
        Unknown method or setting, a missing or superfluous lexicon, a method
        that moves the target side per source, too few usable pairs.
    FormatError
        A bad vector or lexicon file (naming it).

    Examples
    --------
    >>> import numpy as np
    >>> from xling import Embeddings, Lexicon
    >>> rng = np.random.default_rng(0)
    >>> words = [f"w{i}" for i in range(50)]
    >>> H = rng.normal(size=(50, 4)); Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    >>> spaces = {"en": Embeddings(words, H), "xx": Embeddings([w + "x" for w in words], H @ Q)}
    >>> result = align(spaces, "en", {"xx": Lexicon((w + "x", w) for w in words)})
    >>> sorted(result.embeddings), result.alignments["xx"].dim
    (['en', 'xx'], 4)
    """
    from xling import __version__

    if target not in spaces:
        raise XlingError(f"Expected the target among the languages {sorted(spaces)}, got {target!r}")
    if len(spaces) < 2:
        raise XlingError(f"Expected at least two languages, got {sorted(spaces)}")
    bad = [r for r in retrieval if r not in METHODS]
    if bad or not retrieval:
        raise XlingError(f"Expected retrieval methods from {', '.join(METHODS)}, got {list(retrieval)}")
    if precision is not None:
        check_precision(precision)  # before any fit: the evaluation is the last step
    lexicons, evals, validation = dict(lexicons or {}), dict(evals or {}), dict(validation or {})
    sources = [lang for lang in spaces if lang != target]
    from xling import distributed

    checked = [("lexicon", lexicons), ("test lexicon", evals)]
    if not distributed.splitting_sources():  # one source of a split sees every source's validation lexicon
        checked.append(("validation lexicon", validation))
    for name, given in checked:
        unknown = sorted(set(given) - set(sources))
        if unknown:
            raise XlingError(f"Expected {name}s keyed by source languages {sources}, got {unknown}")
    template = _template(method, params, seed, device, precision)
    method_name = method if isinstance(method, str) else type(method).__name__
    if len(sources) > 1 and template.get_params(deep=False).get("final_mapper") == "auto":
        # the sources share the target as their hub, and a multi-step final map would move it for each
        logger.info("%d sources into one hub: %s keeps the last iteration's map (final_mapper=None)", len(sources),
                    method_name)
        template.set_params(final_mapper=None)
        if isinstance(method, str):
            params = {**(params or {}), "final_mapper": "none"}
        else:
            method = clone(method).set_params(final_mapper=None)
    if template.supervised:
        missing = [lang for lang in sources if lang not in lexicons]
        if missing:
            raise XlingError(f"Method {method_name!r} needs a seed lexicon for every source; none for {missing}")
    read_options = dict(read_options or {})
    from xling import distributed

    if distributed.current_group() is not None and not distributed.splitting_sources():
        # inside xling.distributed.scope(group) (e.g. under torchrun): the sources are spread over the ranks
        return distributed.align(spaces, target, lexicons, method=method, params=params, evals=evals,
                                 retrieval=retrieval, oov=oov, validation=validation, seed=seed, device=device,
                                 precision=precision, limit=limit,
                                 lexicon_case=lexicon_case, read_options=read_options, progress=progress)
    tgt = _as_embeddings(spaces[target], limit, read_options, progress)
    report = {
        "kind": "align", "xling_version": __version__, "method": method_name, "seed": seed,
        "precision": precision or current_precision(),
        "target": _where(spaces, target),
        "target_lang": target, "sources": {},
    }
    alignments, mappers, mapped = {}, {}, {}
    for lang in sources:
        src = _as_embeddings(spaces[lang], limit, read_options, progress)
        mapper = clone(template)
        if mapper.same_dim and src.dim != tgt.dim:
            raise XlingError(
                f"Expected vectors of the same dimension for {method_name!r}, got {src.dim} in {_where(spaces, lang)} "
                f"and {tgt.dim} in {_where(spaces, target)}"
            )
        entry = {
            "source": _where(spaces, lang),
            "settings": jsonable(settings_of(mapper)),
            "n_src_words": len(src), "n_tgt_words": len(tgt),
        }
        pairs = None
        if lang in lexicons:
            if not mapper.supervised and getattr(mapper, "seed", None) is None:
                raise XlingError(f"Method {method_name!r} uses no seed lexicon, got one for {lang!r}")
            lexicon, name = _as_lexicon(lexicons[lang], src, tgt, lexicon_case)
            pairs, coverage = lexicon.to_pairs(src, tgt, min_pairs=mapper.min_pairs, name=name)
            entry.update(lexicon=name, pairs_used=int(len(pairs)), lexicon_coverage=coverage.as_dict())
            _warn_if_underdetermined(entry, name, pairs, src.dim, method_name)
        fit_params = {}
        if lang in validation:
            val_lexicon, name = _as_lexicon(validation[lang], src, tgt, lexicon_case)
            fit_params["validation"], coverage = val_lexicon.to_pairs(src, tgt, name=name)
            entry.update(validation_lexicon=name, validation_coverage=coverage.as_dict())
            if not mapper.uses_validation:
                message = (f"{name}: method {method_name!r} has no iterations to validate; the validation lexicon "
                           "is not used (iterative methods: selflearning, rcsls, maxmargin, adversarial, ...)")
                logger.warning(message)
                entry.setdefault("warnings", []).append(message)
        start = time.perf_counter()
        logger.info("mapping %s (%d words) onto %s (%d words) with %s", lang, len(src), target, len(tgt), method_name)
        with _progress_for(mapper, progress, f"aligning {lang}→{target} ({method_name})"):
            distributed.fit(mapper, src.vectors, tgt.vectors, pairs, src_words=src.words, tgt_words=tgt.words,
                            group=distributed.current_group(), **fit_params)
        entry["fit_seconds"] = round(time.perf_counter() - start, 3)
        entry["n_iter"] = int(getattr(mapper, "n_iter_", 0))
        if getattr(mapper, "history_", None):
            entry["history"] = jsonable(mapper.history_)
        if getattr(mapper, "diagnosis_", None):
            entry["diagnosis"] = jsonable(mapper.diagnosis_)
        alignment = mapper.to_alignment(lang, target, method_name)
        tgt_mapped = alignment.apply_target(tgt)
        if target in mapped:
            check_same_hub(method_name, lang, tgt_mapped, mapped[target])
        mapped.setdefault(target, tgt_mapped)
        mapped[lang] = alignment.apply(src)
        alignments[lang], mappers[lang] = alignment, mapper
        if lang in evals:
            test, name = _as_lexicon(evals[lang], src, tgt, lexicon_case)
            start = time.perf_counter()
            try:
                with progress(f"evaluating {lang}→{target}") if progress else contextlib.nullcontext() as callback:
                    entry["bli"] = evaluate_many(mapped[lang], mapped[target], test, retrieval, oov=oov, device=device,
                                                 precision=precision, callbacks=(callback,) if callback else ())
            except NotEnoughDataError as exc:
                raise NotEnoughDataError(f"{name}: {exc}") from None
            entry["eval_lexicon"] = name
            entry["eval_seconds"] = round(time.perf_counter() - start, 3)
        report["sources"][lang] = entry
    embeddings = {lang: mapped[lang] for lang in spaces}
    return AlignResult(target=target, alignments=alignments, mappers=mappers, embeddings=embeddings, report=report)


def check_same_hub(method: str, lang: str, tgt_mapped: Embeddings, hub: Embeddings) -> None:
    """Raise unless source ``lang``'s map leaves the target where the first source's map put it (the hub)."""
    if not np.allclose(tgt_mapped.vectors, hub.vectors, atol=1e-4):
        raise XlingError(
            f"Method {method!r} moves the target space differently for each source ({lang}); "
            "use a one-sided method (e.g. procrustes, lstsq, rcsls) to align several sources to one hub"
        )


def _warn_if_underdetermined(entry: dict, name: str, pairs: np.ndarray, dim: int, method: str) -> None:
    """Warn (stderr and the report) when the seed words cannot determine a dim-dimensional map.

    With fewer distinct source words than dimensions the pairs span only a
    subspace: least squares is underdetermined and an orthogonal map is free
    on the rest of the space, so the map is mostly arbitrary (P@1 near 0).
    """
    distinct = int(len(np.unique(pairs[:, 0])))
    if distinct >= dim:
        return
    message = (f"{name}: only {distinct} distinct seed words ({len(pairs)} pairs) for {dim}-dimensional vectors; "
               f"the {method!r} map is underdetermined (expect P@1 near 0): give at least {dim} seed words, "
               "a few thousand for a useful map")
    logger.warning(message)
    entry.setdefault("warnings", []).append(message)


def _template(method, params, seed, device, precision=None):
    """The configured mapper; seed, device and precision travel to the methods that take them.

    A method with a ``precision`` of its own (self-learning's dictionary
    induction) runs at the run's precision unless ``params`` set it.
    """
    from xling.map import BaseMapper

    params = dict(params or {})
    if not isinstance(method, BaseMapper):
        from xling.map import MAPPERS

        accepted = MAPPERS[method]().get_params(deep=False) if method in MAPPERS else {}
        if "random_state" in accepted:
            params.setdefault("random_state", seed)
        if "device" in accepted:
            params.setdefault("device", device)
        if "precision" in accepted and precision is not None:
            params.setdefault("precision", precision)
    return build_mapper(method, params)


def _progress_for(mapper, progress: Progress | None, label: str):
    """Attach a progress callback to iterative mappers for the duration of their fit."""
    if progress is None or "callbacks" not in mapper.get_params(deep=False):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def attached():
        with progress(label) as callback:
            mapper.set_params(callbacks=(*mapper.callbacks, callback))
            try:
                yield
            finally:
                mapper.set_params(callbacks=tuple(c for c in mapper.callbacks if c is not callback))

    return attached()


def stem(path: PathLike) -> str:
    """A language name from a file name: ``en.vec.gz`` -> ``en``."""
    name = Path(path).name
    for suffix in (".gz", ".xz", ".bz2", ".vec", ".txt", ".bin", ".emb", ".mapped"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def train(trainer, corpus, *, lowercase: bool = True, max_lines: int | None = None,
          progress: Progress | None = None) -> tuple[object, dict]:
    """Fit a monolingual trainer on a corpus file; returns the fitted trainer (``embeddings_``) and its report.

    Parameters
    ----------
    trainer : a trainer of :data:`xling.train.TRAINERS` (configured, unfitted)
    corpus : path
        One sentence or paragraph per line (.txt, .gz, .xz, .bz2).
    lowercase, max_lines
        As in :class:`xling.LineCorpus`.
    progress : callable, optional
        See :func:`align`.

    Returns
    -------
    trainer, report
        The report is JSON-serialisable: method, corpus, settings, seconds and history.
    """
    from xling import __version__
    from xling.corpus import LineCorpus

    text = LineCorpus(corpus, lowercase=lowercase, max_lines=max_lines)
    start = time.perf_counter()
    with _progress_for(trainer, progress, f"training {type(trainer).__name__} on {Path(corpus).name}"):
        trainer.fit(text)
    report = {"kind": "train", "xling_version": __version__, "method": type(trainer).__name__, "corpus": str(corpus),
              "settings": jsonable(settings_of(trainer)), "seconds": round(time.perf_counter() - start, 1),
              "history": jsonable(getattr(trainer, "history_", []))}
    return trainer, report


def train_joint(trainer, src_mono=None, tgt_mono=None, *, parallel=None, documents=None, lexicon=None,
                lowercase: bool = True, lexicon_case: str = "auto", progress: Progress | None = None) -> dict:
    """Fit a joint trainer of :data:`xling.train.JOINT_TRAINERS` on files; returns its report.

    Parameters
    ----------
    trainer : BaseJointTrainer (configured, unfitted)
    src_mono, tgt_mono : path, optional
        Monolingual text of each language; required unless the class has
        ``uses_monolingual = False`` (then they must be left out).
    parallel : (path, path), optional
        Line-aligned sentences (the supervision of ``supervision_kind == "parallel"``).
    documents : (path, path), optional
        Line-aligned documents: the supervision of ``supervision_kind == "documents"``,
        or PseudoBilingual's optional documents to mix.
    lexicon : path, optional
        Translations (the supervision of ``supervision_kind == "lexicon"``),
        lower-cased with ``lowercase`` text unless ``lexicon_case="keep"``.

    Returns
    -------
    dict
        JSON-serialisable: method, inputs, settings, seconds and history.

    Raises
    ------
    XlingError
        Inputs the method does not take, or missing ones it needs.
    """
    from xling import __version__
    from xling.corpus import LineCorpus, ParallelCorpus

    cls = type(trainer)
    check_joint_inputs(cls, src_mono=src_mono is not None, tgt_mono=tgt_mono is not None, parallel=parallel is not None,
                       documents=documents is not None, lexicon=lexicon is not None)
    if cls.uses_monolingual:
        src, tgt = LineCorpus(src_mono, lowercase=lowercase), LineCorpus(tgt_mono, lowercase=lowercase)
    else:
        src = tgt = None
    report = {"kind": "train-joint", "xling_version": __version__, "method": cls.__name__,
              "src_mono": None if src_mono is None else str(src_mono),
              "tgt_mono": None if tgt_mono is None else str(tgt_mono),
              "settings": jsonable(settings_of(trainer))}
    start = time.perf_counter()
    with _progress_for(trainer, progress, f"training {cls.__name__}"):
        if cls.supervision_kind == "lexicon":
            lex = Lexicon.read(lexicon)
            if lexicon_case == "lower" or (lexicon_case == "auto" and lowercase):
                lex = lex.lower()
            docs = ParallelCorpus(*documents, lowercase=lowercase) if documents else None
            trainer.fit(src, tgt, lex, **({"documents": docs} if docs is not None else {}))
            report.update(lexicon=str(lexicon), documents=[str(d) for d in documents] if documents else None)
        else:
            files = parallel if cls.supervision_kind == "parallel" else documents
            pairs = ParallelCorpus(*files, lowercase=lowercase)
            trainer.fit(src, tgt, pairs)
            report.update({cls.supervision_kind: [str(p) for p in files],
                           f"{cls.supervision_kind}_pairs_skipped": pairs.n_skipped,
                           f"{cls.supervision_kind}_lines": len(pairs)})
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["history"] = jsonable(getattr(trainer, "history_", []))
    return report


def check_joint_inputs(cls, *, src_mono: bool, tgt_mono: bool, parallel: bool, documents: bool, lexicon: bool) -> None:
    """Raise :class:`XlingError` unless these inputs are the ones joint trainer class ``cls`` takes.

    The one statement of which files each ``supervision_kind`` needs, shared
    by :func:`train_joint` and the CLI (which checks before reading anything).
    """
    name, kind = cls.__name__, cls.supervision_kind
    if cls.uses_monolingual and not (src_mono and tgt_mono):
        raise XlingError(f"{name} needs monolingual text of both languages (--src-mono and --tgt-mono)")
    if not cls.uses_monolingual and (src_mono or tgt_mono):
        what = "parallel sentences" if kind == "parallel" else kind
        raise XlingError(f"{name} learns from its {what} alone and takes no monolingual text (--src-mono, --tgt-mono)")
    if kind == "parallel" and (not parallel or lexicon or documents):
        raise XlingError(f"{name} takes parallel sentences (--parallel), and no lexicon or documents")
    if kind == "documents" and (not documents or lexicon or parallel):
        raise XlingError(f"{name} takes aligned documents (--documents), and no lexicon or parallel sentences")
    if kind == "lexicon" and (parallel or not lexicon):
        raise XlingError(f"{name} takes a lexicon (--lexicon; optionally --documents), not parallel sentences")


@dataclass
class MultilingualResult:
    """What :func:`train_multilingual` returns.

    Attributes
    ----------
    trainer : BaseMultilingualTrainer
        The fitted trainer.
    embeddings : dict str -> Embeddings
        Every language in the shared space.
    report : dict
        JSON-serialisable: method, inputs, settings, seconds, history (and the clusters of multiCluster).
    """

    trainer: object
    embeddings: dict[str, Embeddings]
    report: dict = field(default_factory=dict)

    def save(self, out_dir: PathLike) -> list[str]:
        """Write ``<lang>.vec`` for every language and ``report.json`` into ``out_dir`` as one set.

        Staged as in :meth:`AlignResult.save`: after a failure or Ctrl-C the
        folder holds exactly the files it held before. Returns the file names.
        """
        self.report["files"] = [f"{lang}.vec" for lang in self.embeddings] + ["report.json"]
        with staged_outputs(out_dir) as stage:
            for lang, emb in self.embeddings.items():
                emb.write(stage / f"{lang}.vec")
            write_json(stage / "report.json", self.report)
        return self.report["files"]


def train_multilingual(trainer, corpora: Mapping[str, PathLike], lexicons: Mapping[tuple[str, str], PathLike], *,
                       lowercase: bool = True, max_lines: int | None = None, lexicon_case: str = "auto",
                       out_dir: PathLike | None = None, progress: Progress | None = None) -> MultilingualResult:
    """Fit a multilingual trainer of :data:`xling.train.MULTILINGUAL_TRAINERS` on files.

    Parameters
    ----------
    trainer : BaseMultilingualTrainer (configured, unfitted)
    corpora : mapping str -> path
        Each language's monolingual text (one sentence or paragraph per line).
    lexicons : mapping (str, str) -> path
        ``lexicons[(a, b)]``: translations of ``a`` words into ``b`` words;
        lower-cased with ``lowercase`` text unless ``lexicon_case="keep"``.
    lowercase, max_lines
        As in :class:`xling.LineCorpus` (``max_lines`` per corpus).
    lexicon_case : {"auto", "lower", "keep"}
    out_dir : path, optional
        Checked before anything is read and written at the end (:meth:`MultilingualResult.save`).
    progress : callable, optional
        See :func:`align`.

    Returns
    -------
    MultilingualResult

    Raises
    ------
    XlingError
        A lexicon naming a language with no corpus (before any file is read),
        an unwritable ``out_dir``, or the trainer's own input errors.
    """
    from xling import __version__
    from xling._utils import check_output_dir, check_output_file
    from xling.corpus import LineCorpus
    from xling.train._base import check_multilingual_inputs

    if lexicon_case not in ("auto", "lower", "keep"):
        raise XlingError(f"Expected lexicon case 'auto', 'lower' or 'keep', got {lexicon_case!r}")
    # the language names alone first, so a typo fails before any file is read
    check_multilingual_inputs({lang: [] for lang in corpora}, {key: Lexicon() for key in lexicons})
    if out_dir is not None:
        check_output_dir(out_dir)
        for name in [f"{lang}.vec" for lang in corpora] + ["report.json"]:
            check_output_file(Path(out_dir) / name)
    texts = {lang: LineCorpus(path, lowercase=lowercase, max_lines=max_lines) for lang, path in corpora.items()}
    lower = lexicon_case == "lower" or (lexicon_case == "auto" and lowercase)
    lexs = {key: (Lexicon.read(path).lower() if lower else Lexicon.read(path)) for key, path in lexicons.items()}
    from xling.train import MULTILINGUAL_TRAINERS

    cls = type(trainer)
    name = next((key for key, value in MULTILINGUAL_TRAINERS.items() if value is cls), cls.__name__)
    report = {"kind": "train-multi", "xling_version": __version__, "method": name,
              "corpora": {lang: str(path) for lang, path in corpora.items()},
              "lexicons": {f"{a}-{b}": str(path) for (a, b), path in lexicons.items()},
              "settings": jsonable(settings_of(trainer))}
    start = time.perf_counter()
    with _progress_for(trainer, progress, f"training {cls.__name__} ({', '.join(corpora)})"):
        trainer.fit(texts, lexs)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["n_words"] = {lang: len(emb) for lang, emb in trainer.embeddings_.items()}
    if getattr(trainer, "clusters_", None) is not None:
        report["clusters"] = jsonable(trainer.clusters_.summary())
    report["history"] = jsonable(getattr(trainer, "history_", []))
    result = MultilingualResult(trainer, dict(trainer.embeddings_), report)
    if out_dir is not None:
        result.save(out_dir)
    return result


DEMO_SEED_LEXICON = "en-es/en-es.0-5000.tsv"
DEMO_TEST_LEXICON = "en-es/en-es.5000-6500.tsv"


def demo(out_dir: PathLike, *, method: str = "ppmi-svd", dim: int = 100, epochs: int | None = None, seed: int = 0,
         progress: Progress | None = None, on_vectors: Callable[[str, Path, object], None] | None = None) -> AlignResult:
    """The pipeline of ``xling demo`` on the shipped data; returns the en→es alignment result.

    Trains en and es vectors (``method``: "ppmi-svd", the best of the recipes
    measured on this little text, or "sgns") on the shipped novel samples,
    writes them to ``out_dir/{en,es}.vec``, and aligns en onto es with the
    multi-step recipe (artetxe2018-supervised) on the shipped seed lexicon,
    with BLI on the held-out test lexicon. ``on_vectors(lang, path, trainer)``
    is called after each language is written.
    """
    from xling.resources import demo_corpus_path, lexicon_path
    from xling.train import TRAINERS

    if method not in ("ppmi-svd", "sgns"):
        raise XlingError(f"Expected demo method 'ppmi-svd' or 'sgns', got {method!r}")
    if epochs is not None and method != "sgns":
        raise XlingError(f"Expected no epochs for {method} (it trains in one pass); use method 'sgns' with epochs")
    out = Path(out_dir)
    paths = {}
    for lang in ("en", "es"):
        params = {"vector_size": dim, "random_state": seed, **({"epochs": epochs or 10} if method == "sgns" else {})}
        trainer, _ = train(TRAINERS[method](**params), demo_corpus_path(lang), progress=progress)
        paths[lang] = out / f"{lang}.vec"
        trainer.embeddings_.write(paths[lang])
        if on_vectors is not None:
            on_vectors(lang, paths[lang], trainer)
    return align(paths, "es", {"en": lexicon_path(DEMO_SEED_LEXICON)}, method="artetxe2018-supervised",
                 evals={"en": lexicon_path(DEMO_TEST_LEXICON)}, seed=seed, progress=progress)


def example_translations(result: AlignResult, src: str, test: Lexicon | PathLike, *, n: int = 4, k: int = 3,
                         method: str = "csls") -> dict:
    """Test words with their top-k translations: the first ``n`` right at rank 1 and the first ``n`` wrong.

    Returns
    -------
    dict
        ``{"right": [(word, [(translation, score, gold?), ...]), ...], "wrong": [...],
        "n_right": int, "n_evaluable": int}``.
    """
    from xling.retrieval import translate

    src_emb, tgt_emb = result.pair(src, result.target)
    lexicon = test if isinstance(test, Lexicon) else read_lexicon(test, src_emb, tgt_emb)
    # the evaluable words of BLI: a source vector and at least one gold translation with a vector
    words = [w for w in lexicon.sources if w in src_emb and any(t in tgt_emb for t in lexicon[w])]
    found = translate(src_emb, tgt_emb, words, k=k, method=method)
    rows = [(w, [(t, s, t in lexicon[w]) for t, s in cands]) for w, cands in zip(words, found)]
    right = [row for row in rows if row[1][0][2]]
    wrong = [row for row in rows if not row[1][0][2]]
    return {"right": right[:n], "wrong": wrong[:n], "n_right": len(right), "n_evaluable": len(words)}
