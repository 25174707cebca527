"""The ``xling`` command: a thin layer over the library (no maths here).

Commands: ``train``, ``train-joint``, ``align``, ``eval``, ``translate``,
``demo``, ``methods``. Every
error caused by input is printed as one line naming the file (and line) and
exits with status 1; outputs are written atomically.
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import sys
import time
from pathlib import Path

import click
import numpy as np

from xling import __version__
from xling._utils import atomic_output
from xling.embeddings import Embeddings
from xling.exceptions import XlingError
from xling.lexicon import Lexicon

logger = logging.getLogger("xling.cli")

RETRIEVAL_METHODS = ("nn", "csls", "isf")


# -- shared plumbing ----------------------------------------------------------
def _friendly_errors(func):
    """Turn input errors into one clean message and exit status 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (XlingError, ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyError as exc:
            raise click.ClickException(exc.args[0] if exc.args else str(exc)) from exc
        except KeyboardInterrupt:
            click.echo("\nInterrupted; outputs already completed are intact, partial ones were removed.", err=True)
            sys.exit(130)

    return wrapper


def _parse_params(items: tuple[str, ...]) -> dict:
    """``("n_iter=10", "negatives=random")`` -> ``{"n_iter": 10, "negatives": "random"}``."""
    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"Expected KEY=VALUE, got {item!r}", param_hint="-p/--param")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare string such as negatives=random
        params[key.strip().replace("-", "_")] = value
    return params


def _build(cls, name: str, given: dict, explicit: set, extra: dict):
    """Instantiate ``cls`` with the hyperparameters it has.

    ``given`` maps hyperparameter names to option values; those the user set
    explicitly (``explicit``) must exist on the class, so no option is
    silently ignored. ``extra`` (from ``-p``) must all exist.
    """
    accepted = cls().get_params(deep=False)
    kwargs = {}
    for key, value in given.items():
        if key in accepted:
            kwargs[key] = value
        elif key in explicit:
            raise click.UsageError(f"Method {name!r} has no setting {key!r}; it accepts: {', '.join(sorted(accepted))}")
    for key, value in extra.items():
        if key not in accepted:
            raise click.UsageError(f"Method {name!r} has no setting {key!r}; it accepts: {', '.join(sorted(accepted))}")
        kwargs[key] = value
    return cls(**kwargs)


def _explicit(ctx: click.Context, mapping: dict) -> set:
    """Hyperparameter names whose CLI option the user typed (not defaults)."""
    source = click.core.ParameterSource
    return {hp for opt, hp in mapping.items() if ctx.get_parameter_source(opt) not in (source.DEFAULT, None)}


class _ProgressBar:
    """A trainer callback drawing a click progress bar from progress events."""

    def __init__(self, label: str):
        self.label = label
        self._bar = None
        self._done = 0

    def __enter__(self):
        self._bar = click.progressbar(
            length=1000, label=self.label, file=sys.stderr, show_eta=True, item_show_func=lambda s: s
        ).__enter__()
        return self

    def __exit__(self, *exc):
        self._bar.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        target = int(round(1000 * min(max(event.get("progress", 0.0), 0.0), 1.0)))
        info = []
        if event.get("epoch") is not None:
            info.append(f"epoch {event['epoch']}")
        if event.get("words_per_sec"):
            info.append(f"{event['words_per_sec'] / 1000:.0f}k words/s")
        if event.get("loss") is not None:
            info.append(f"loss {event['loss']:.4f}")
        self._bar.update(max(target - self._done, 0), ", ".join(info))
        self._done = max(self._done, target)


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".gz", ".xz", ".bz2", ".vec", ".txt", ".bin", ".emb"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _read_lexicon(path: str, src: Embeddings, tgt: Embeddings, case: str) -> Lexicon:
    """Read a lexicon and match its case to the vectors (``case``: auto, lower, keep)."""
    lexicon = Lexicon.read(path)
    if case == "lower" or (case == "auto" and not _has_upper(src) and not _has_upper(tgt)):
        if case == "auto" and any(s != s.lower() or t != t.lower() for s, t in lexicon):
            logger.info("%s: lower-cased the lexicon because the vectors hold no upper-case word", path)
        lexicon = lexicon.lower()
    return lexicon


def _has_upper(emb: Embeddings, sample: int = 20000) -> bool:
    return any(w != w.lower() for w in emb.words[:sample])


seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed (every random choice derives from it).")
device_option = click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto (CUDA when present).")
param_option = click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Method-specific setting, repeatable (e.g. -p n_iter=10).")
limit_option = click.option("--limit", type=int, default=None, help="Read only the first N vectors of each file (200,000 is customary).")
case_option = click.option(
    "--lexicon-case",
    type=click.Choice(["auto", "lower", "keep"]),
    default="auto",
    show_default=True,
    help="Lower-case lexicons (auto: when the vectors have no upper-case word).",
)


def _device(value: str):
    return None if value == "auto" else value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xling")
@click.option("-v", "--verbose", count=True, help="-v: progress and sizes; -vv: debug.")
def cli(verbose: int) -> None:
    """xling: cross-lingual word embeddings — train, align, evaluate, translate."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- train --------------------------------------------------------------------
_TRAIN_OPTIONS = {
    "dim": "vector_size",
    "window": "window",
    "min_count": "min_count",
    "max_vocab": "max_vocab_size",
    "epochs": "epochs",
    "negative": "negative",
    "sample": "sample",
    "alpha": "alpha",
    "threads": "workers",
    "seed": "random_state",
    "device": "device",
    "checkpoint_dir": "checkpoint_dir",
    "resume": "resume",
}


def _hyperparameters(options: dict, mapping: dict) -> dict:
    """Hyperparameters from the options the user set; unset ones keep the method's defaults.

    The seed and device always travel (to methods that take them), so runs are
    reproducible by default.
    """
    hyper = {hp: options[opt] for opt, hp in mapping.items() if options[opt] not in (None, False)}
    hyper["device"] = _device(options["device"])
    return hyper


def train_vectors(corpus_path, out, *, method="sgns", lowercase=True, max_lines=None, hyper=None, explicit=(), extra=None, fmt="auto", progress=True):
    """Train vectors on one corpus file and write them (used by ``train`` and ``demo``)."""
    from xling.corpus import LineCorpus
    from xling.train import TRAINERS

    if method not in TRAINERS:
        raise click.UsageError(f"Unknown method {method!r}; choose from: {', '.join(sorted(TRAINERS))}")
    trainer = _build(TRAINERS[method], method, hyper or {}, set(explicit), extra or {})
    corpus = LineCorpus(corpus_path, lowercase=lowercase, max_lines=max_lines)
    start = time.perf_counter()
    if progress and "callbacks" in trainer.get_params(deep=False):
        with _ProgressBar(f"training {method} on {Path(corpus_path).name}") as bar:
            trainer.set_params(callbacks=(bar,))
            trainer.fit(corpus)
    else:
        trainer.fit(corpus)
    trainer.embeddings_.write(out, format=fmt)
    elapsed = time.perf_counter() - start
    click.echo(f"wrote {len(trainer.embeddings_)} vectors of dim {trainer.embeddings_.dim} to {out} in {elapsed:.1f} s", err=True)
    return trainer


@cli.command()
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output vectors (.vec, .vec.gz, .bin).")
@click.option("--method", default="sgns", show_default=True, help="sgns, cbow, spectral, ppmi-svd.")
@click.option("--dim", type=int, default=None, help="Vector size. Default: the method's own.")
@click.option("--window", type=int, default=None, help="Default: the method's own.")
@click.option("--min-count", type=int, default=None, help="Default: the method's own.")
@click.option("--max-vocab", type=int, default=None, help="Keep only the N most frequent words.")
@click.option("--epochs", type=int, default=None, help="Default: the method's own.")
@click.option("--negative", type=int, default=None, help="Negative samples per positive pair. Default: the method's own.")
@click.option("--sample", type=float, default=None, help="Subsampling threshold of frequent words. Default: the method's own.")
@click.option("--alpha", type=float, default=None, help="Initial learning rate (decays linearly). Default: the method's own.")
@click.option("--threads", type=int, default=None, help="Default: the method's own.")
@seed_option
@device_option
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None, help="Write a checkpoint after each epoch here.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --checkpoint-dir.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="Lower-case tokens.")
@click.option("--max-lines", type=int, default=None, help="Read only the first N lines of the corpus.")
@click.option("--format", "fmt", type=click.Choice(["auto", "vec", "bin", "glove"]), default="auto", show_default=True)
@param_option
@click.pass_context
@_friendly_errors
def train(ctx, corpus, out, method, lowercase, max_lines, fmt, params, **options):
    """Train monolingual word vectors on CORPUS (.txt/.gz/.xz, one sentence or paragraph per line).

    Tokens are runs of Unicode letters and digits, lower-cased by default.
    """
    if options["resume"] and not options["checkpoint_dir"]:
        raise click.UsageError("--resume needs --checkpoint-dir")
    hyper = _hyperparameters(options, _TRAIN_OPTIONS)
    train_vectors(
        corpus, out, method=method, lowercase=lowercase, max_lines=max_lines, hyper=hyper,
        explicit=_explicit(ctx, _TRAIN_OPTIONS), extra=_parse_params(params), fmt=fmt,
    )


# -- train-joint --------------------------------------------------------------
_JOINT_OPTIONS = {**_TRAIN_OPTIONS, "lambda_": "lambda_"}


@cli.command(name="train-joint")
@click.option("--method", type=click.Choice(["bilbowa", "transgram", "pseudo"]), required=True,
              help="bilbowa (Gouws et al. 2015), transgram (Coulmance et al. 2015), pseudo (Gouws & Søgaard 2015).")
@click.option("--src-mono", required=True, type=click.Path(exists=True, dir_okay=False), help="Source-language text.")
@click.option("--tgt-mono", required=True, type=click.Path(exists=True, dir_okay=False), help="Target-language text.")
@click.option("--parallel", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None, metavar="SRC TGT",
              help="Line-aligned sentence files (bilbowa, transgram).")
@click.option("--documents", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None, metavar="SRC TGT",
              help="Line-aligned document files, merged and shuffled (pseudo; Vulić & Moens 2016).")
@click.option("--lexicon", type=click.Path(exists=True, dir_okay=False), default=None, help="Translations for pseudo-bilingual mixing (pseudo).")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Gets <src>.vec, <tgt>.vec and report.json.")
@click.option("--langs", default=None, metavar="SRC,TGT", help="Names of the two output files (default: from the corpus file names).")
@click.option("--dim", type=int, default=None, help="Vector size. Default: the method's own.")
@click.option("--window", type=int, default=None, help="Default: the method's own.")
@click.option("--min-count", type=int, default=None, help="Default: the method's own.")
@click.option("--max-vocab", type=int, default=None, help="Keep only the N most frequent words per language.")
@click.option("--epochs", type=int, default=None, help="Default: the method's own.")
@click.option("--negative", type=int, default=None, help="Default: the method's own.")
@click.option("--sample", type=float, default=None, help="Default: the method's own.")
@click.option("--alpha", type=float, default=None, help="Default: the method's own.")
@click.option("--lambda", "lambda_", type=float, default=None, help="Weight of the cross-lingual term (bilbowa, transgram; default: the method's).")
@click.option("--threads", type=int, default=None, help="Default: the method's own.")
@seed_option
@device_option
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None, help="Write a checkpoint after each epoch here.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --checkpoint-dir.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True)
@case_option
@param_option
@click.pass_context
@_friendly_errors
def train_joint(ctx, method, src_mono, tgt_mono, parallel, documents, lexicon, out_dir, langs, lowercase, lexicon_case, params, **options):
    """Train both languages at once from monolingual text plus parallel sentences or a lexicon.

    Writes DIR/<src>.vec, DIR/<tgt>.vec (one shared space) and DIR/report.json.
    """
    from xling.corpus import LineCorpus, ParallelCorpus
    from xling.train import JOINT_TRAINERS

    if options["resume"] and not options["checkpoint_dir"]:
        raise click.UsageError("--resume needs --checkpoint-dir")
    if method in ("bilbowa", "transgram") and (parallel is None or lexicon or documents):
        raise click.UsageError(f"Method {method!r} takes --parallel SRC TGT (and no --lexicon or --documents)")
    if method == "pseudo" and (parallel or lexicon is None):
        raise click.UsageError("Method 'pseudo' takes --lexicon (and optionally --documents), not --parallel")
    names = langs.split(",") if langs else [_stem(src_mono), _stem(tgt_mono)]
    if len(names) != 2 or names[0] == names[1]:
        raise click.UsageError(f"Expected two distinct names in --langs SRC,TGT, got {langs or names!r}")

    hyper = _hyperparameters(options, _JOINT_OPTIONS)
    trainer = _build(JOINT_TRAINERS[method], method, hyper, _explicit(ctx, _JOINT_OPTIONS), _parse_params(params))
    src, tgt = LineCorpus(src_mono, lowercase=lowercase), LineCorpus(tgt_mono, lowercase=lowercase)
    report = {"method": method, "src_mono": src_mono, "tgt_mono": tgt_mono, "settings": {
        k: v for k, v in trainer.get_params(deep=False).items() if k != "callbacks"}}
    start = time.perf_counter()
    with _ProgressBar(f"training {method}") as bar:
        trainer.set_params(callbacks=(bar,))
        if method == "pseudo":
            lex = Lexicon.read(lexicon)
            if lexicon_case == "lower" or (lexicon_case == "auto" and lowercase):
                lex = lex.lower()
            docs = ParallelCorpus(*documents, lowercase=lowercase) if documents else None
            trainer.fit(src, tgt, lex, documents=docs)
            report.update(lexicon=lexicon, documents=documents)
        else:
            pairs = ParallelCorpus(*parallel, lowercase=lowercase)
            trainer.fit(src, tgt, pairs)
            report.update(parallel=parallel, parallel_pairs_skipped=pairs.n_skipped, parallel_lines=len(pairs))
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["history"] = getattr(trainer, "history_", [])
    out = Path(out_dir)
    trainer.src_embeddings_.write(out / f"{names[0]}.vec")
    trainer.tgt_embeddings_.write(out / f"{names[1]}.vec")
    _write_json(out / "report.json", report)
    click.echo(f"wrote {out / names[0]}.vec, {out / names[1]}.vec and report.json in {report['seconds']} s", err=True)


# -- align --------------------------------------------------------------------
def align_spaces(sources, target, lexicons, *, method="procrustes", normalize=None, evals=(),
                 seed=0, device=None, extra=None, explicit=(), limit=None, case="auto", retrieval=("nn", "csls"),
                 oov="exclude"):
    """Map each source space onto the target (hub) space; returns (mapped dict, report dict).

    Used by ``xling align`` and ``xling demo``; ``sources``/``target`` are
    paths, ``lexicons``/``evals`` one path per source (lexicons may be empty
    for unsupervised methods).
    """
    from xling.evaluate import bli
    from xling.map import MAPPERS

    if method not in MAPPERS:
        raise click.UsageError(f"Unknown method {method!r}; choose from: {', '.join(sorted(MAPPERS))}")
    cls = MAPPERS[method]
    # normalize=None keeps the method's own steps (presets differ: xing2015 uses unit only).
    hyper = {"random_state": seed, "device": device, **({} if normalize is None else {"normalize": normalize})}
    # an instance, not the class: whether a lexicon is needed may depend on a setting (selflearning's seed)
    needs_lexicon = getattr(_build(cls, method, hyper, set(explicit), extra or {}), "supervised", True)
    if lexicons and len(lexicons) != len(sources):
        raise click.UsageError(f"Expected one --lexicon per source ({len(sources)}), got {len(lexicons)}")
    if not lexicons and needs_lexicon:
        raise click.UsageError(f"Method {method!r} needs a seed lexicon: give --lexicon")
    if evals and len(evals) != len(sources):
        raise click.UsageError(f"Expected one --eval per source ({len(sources)}), got {len(evals)}")
    stems = [_stem(p) for p in [*sources, target]]
    if len(set(stems)) != len(stems):
        raise click.UsageError(f"Expected vector files with distinct names, got {stems}")

    tgt = Embeddings.read(target, limit=limit)
    report = {"method": method, "target": str(target), "seed": seed, "sources": {}}
    mapped = {}
    for k, src_path in enumerate(sources):
        src = Embeddings.read(src_path, limit=limit)
        mapper = _build(cls, method, hyper, set(explicit), extra or {})
        if getattr(mapper, "same_dim", True) and src.dim != tgt.dim:
            raise ValueError(f"Expected vectors of the same dimension, got {src.dim} in {src_path} and {tgt.dim} in {target}")
        settings = {name: value for name, value in mapper.get_params(deep=False).items() if name != "callbacks"}
        entry = {"source": str(src_path), "settings": settings}
        pairs = None
        if lexicons:
            lexicon = _read_lexicon(lexicons[k], src, tgt, case)
            pairs, coverage = lexicon.to_pairs(src, tgt, min_pairs=getattr(mapper, "min_pairs", 1), name=str(lexicons[k]))
            entry["lexicon"] = str(lexicons[k])
            entry["pairs_used"] = int(len(pairs))
            entry["lexicon_coverage"] = coverage.as_dict()
        start = time.perf_counter()
        fit_kwargs = {}
        if "src_words" in _fit_signature(mapper):
            fit_kwargs = {"src_words": src.words, "tgt_words": tgt.words}
        mapper.fit(src.vectors, tgt.vectors, pairs, **fit_kwargs)
        entry["fit_seconds"] = round(time.perf_counter() - start, 3)
        entry["n_iter"] = int(getattr(mapper, "n_iter_", 0))
        if getattr(mapper, "history_", None):
            entry["history"] = _jsonable(mapper.history_)
        if getattr(mapper, "diagnosis_", None):
            entry["diagnosis"] = _jsonable(mapper.diagnosis_)
        src_m = src.with_vectors(mapper.transform(src.vectors))
        tgt_m = tgt.with_vectors(mapper.transform_target(tgt.vectors))
        if k > 0 and not np.allclose(tgt_m.vectors[:100], mapped[stems[-1]][1].vectors[:100], atol=1e-4):
            raise click.UsageError(f"Method {method!r} moves the target space differently per source; use a one-sided method (e.g. procrustes) to align several sources to one hub")
        mapped[stems[k]] = (mapper, src_m)
        mapped[stems[-1]] = (mapper, tgt_m)
        if evals:
            test = _read_lexicon(evals[k], src, tgt, case)
            entry["bli"] = {r: bli(src_m, tgt_m, test, method=r, oov=oov, device=device) for r in retrieval}
            entry["eval_lexicon"] = str(evals[k])
        report["sources"][stems[k]] = entry
    return mapped, report


def _fit_signature(mapper) -> set:
    import inspect

    return set(inspect.signature(mapper.fit).parameters)


def _jsonable(obj):
    """Make numpy scalars and arrays in a report JSON-serialisable."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _write_json(path: Path, data: dict) -> None:
    with atomic_output(path, "w") as fh:
        json.dump(_jsonable(data), fh, indent=2, ensure_ascii=False, default=repr)
        fh.write("\n")


def _bli_rows(report: dict) -> dict:
    """{"en→es csls": bli-dict, ...} for printing."""
    rows = {}
    target = _stem(report["target"])
    for stem, entry in report["sources"].items():
        for method, result in entry.get("bli", {}).items():
            rows[f"{stem}→{target} {method}"] = result
    return rows


@cli.command()
@click.argument("vectors", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--lexicon", "lexicons", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Seed lexicon (one per source).")
@click.option("--method", default="procrustes", show_default=True, help="Mapping solver (see `xling methods`).")
@click.option("--normalize", default=None, help="Ordered steps from unit, center, unit_dim, center_emb, none (default: the method's own; unit,center,unit for procrustes).")
@click.option("--eval", "evals", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Test lexicon (one per source): BLI goes into the report.")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Where the mapped vectors, maps and report go.")
@click.option("--retrieval", default="nn,csls", show_default=True, help="Retrieval methods for --eval: nn, csls, isf.")
@click.option("--oov", type=click.Choice(["exclude", "wrong"]), default="exclude", show_default=True, help="Test words without vectors: excluded (MUSE, VecMap) or wrong (RCSLS).")
@limit_option
@case_option
@seed_option
@device_option
@param_option
@click.pass_context
@_friendly_errors
def align(ctx, vectors, lexicons, method, normalize, evals, out_dir, retrieval, oov, limit, lexicon_case, seed, device, params):
    """Map SRC.vec [SRC2.vec ...] onto TGT.vec (the last file) so translations become neighbours.

    Writes DIR/<name>.mapped.vec for every input, DIR/<src>-<tgt>.map.npz (the
    learned matrices and normalisation) and DIR/report.json.
    """
    if len(vectors) < 2:
        raise click.UsageError("Expected at least two vector files: SRC.vec ... TGT.vec")
    retrieval_methods = _split_methods(retrieval)
    explicit = _explicit(ctx, {"normalize": "normalize", "seed": "random_state", "device": "device"})
    mapped, report = align_spaces(
        vectors[:-1], vectors[-1], lexicons, method=method, normalize=normalize, evals=evals, seed=seed,
        device=_device(device), extra=_parse_params(params), explicit=explicit, limit=limit, case=lexicon_case,
        retrieval=retrieval_methods, oov=oov,
    )
    out = Path(out_dir)
    target_stem = _stem(vectors[-1])
    for stem, (mapper, emb) in mapped.items():
        emb.write(out / f"{stem}.mapped.vec")
        if stem != target_stem:
            _save_mapper(out / f"{stem}-{target_stem}.map.npz", mapper)
    _write_json(out / "report.json", report)
    rows = _bli_rows(report)
    if rows:
        from xling.evaluate import format_table

        click.echo(format_table(rows))
    click.echo(f"wrote mapped vectors, maps and report.json to {out}", err=True)


def _save_mapper(path: Path, mapper) -> None:
    arrays = {"x_map": mapper.x_map_, "z_map": mapper.z_map_}
    for side in ("x", "z"):
        for i, (step, stat) in enumerate(getattr(mapper, f"{side}_normalizer_").stats_):
            arrays[f"{side}_norm_{i}_{step}"] = np.zeros(0, np.float32) if stat is None else stat
    with atomic_output(path, "wb") as fh:
        np.savez(fh, **arrays)


def _split_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in RETRIEVAL_METHODS]
    if bad or not methods:
        raise click.BadParameter(f"Expected methods from {', '.join(RETRIEVAL_METHODS)}, got {text!r}", param_hint="--retrieval")
    return methods


# -- eval ---------------------------------------------------------------------
@cli.command(name="eval")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("tgt", type=click.Path(exists=True, dir_okay=False))
@click.argument("test", type=click.Path(exists=True, dir_okay=False))
@click.option("--retrieval", default="nn,csls", show_default=True, help="Comma-separated: nn, csls, isf.")
@click.option("--oov", type=click.Choice(["exclude", "wrong"]), default="exclude", show_default=True, help="Test words without vectors: excluded (MUSE, VecMap) or wrong (RCSLS).")
@click.option("--knn-k", type=int, default=10, show_default=True, help="CSLS neighbourhood size.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@limit_option
@case_option
@device_option
@_friendly_errors
def eval_(src, tgt, test, retrieval, oov, knn_k, as_json, limit, lexicon_case, device):
    """Bilingual lexicon induction: P@1/5/10, MRR and coverage of SRC→TGT on the TEST lexicon.

    SRC and TGT must already share one space (e.g. outputs of `xling align`).
    """
    from xling.evaluate import bli, format_table

    methods = _split_methods(retrieval)
    src_emb, tgt_emb = Embeddings.read(src, limit=limit), Embeddings.read(tgt, limit=limit)
    if src_emb.dim != tgt_emb.dim:
        raise ValueError(f"Expected vectors in one space of one dimension, got {src_emb.dim} in {src} and {tgt_emb.dim} in {tgt}")
    lexicon = _read_lexicon(test, src_emb, tgt_emb, lexicon_case)
    results = {m: bli(src_emb, tgt_emb, lexicon, method=m, knn_k=knn_k, oov=oov, device=_device(device)) for m in methods}
    if as_json:
        click.echo(json.dumps(_jsonable(results), indent=2))
    else:
        click.echo(format_table(results))


# -- translate ----------------------------------------------------------------
@cli.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("tgt", type=click.Path(exists=True, dir_okay=False))
@click.argument("words", nargs=-1)
@click.option("--file", "words_file", type=click.Path(exists=True, dir_okay=False), help="Words to translate, one per line.")
@click.option("-k", "--top", "k", type=int, default=5, show_default=True, help="Translations per word.")
@click.option("--retrieval", type=click.Choice(RETRIEVAL_METHODS), default="csls", show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None, help="Write TSV here instead of stdout.")
@limit_option
@device_option
@_friendly_errors
def translate(src, tgt, words, words_file, k, retrieval, out, limit, device):
    """Top-k translations of WORDS (or --file) from SRC into TGT, as TSV: word, rank, translation, score.

    Words without a vector are reported on stderr and skipped.
    """
    from xling._utils import iter_lines
    from xling.retrieval import translate as translate_words

    words = list(words)
    if words_file:
        words += [line.strip() for _, line in iter_lines(words_file) if line.strip()]
    if not words:
        raise click.UsageError("Give words to translate, or --file")
    src_emb, tgt_emb = Embeddings.read(src, limit=limit), Embeddings.read(tgt, limit=limit)
    known = [w for w in words if w in src_emb]
    missing = [w for w in words if w not in src_emb]
    if missing:
        click.echo(f"no vector for {len(missing)} word(s): {', '.join(missing[:10])}", err=True)
    if not known:
        raise XlingError(f"None of the {len(words)} words has a vector in {src}")
    results = translate_words(src_emb, tgt_emb, known, k=k, method=retrieval, device=_device(device))
    lines = [f"{w}\t{rank}\t{t}\t{score:.4f}\n" for w, cands in zip(known, results) for rank, (t, score) in enumerate(cands, 1)]
    if out:
        with atomic_output(out, "w") as fh:
            fh.writelines(lines)
    else:
        click.echo("".join(lines), nl=False)


# -- demo ---------------------------------------------------------------------
@cli.command()
@click.option("--out-dir", default="xling-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--dim", type=int, default=100, show_default=True)
@click.option("--epochs", type=int, default=10, show_default=True)
@seed_option
@_friendly_errors
def demo(out_dir, dim, epochs, seed):
    """The whole pipeline on shipped data: train en and es vectors, align, evaluate.

    Trains skip-gram vectors on the shipped novel samples (xling/data), maps
    English onto Spanish with Procrustes on lexicons/en-es/en-es.0-5000.tsv and
    prints BLI on the held-out en-es.5000-6500.tsv.
    """
    from xling.evaluate import format_table
    from xling.resources import demo_corpus_path, lexicon_path

    out = Path(out_dir)
    paths = {}
    for lang in ("en", "es"):
        paths[lang] = out / f"{lang}.vec"
        hyper = {"vector_size": dim, "epochs": epochs, "random_state": seed}
        train_vectors(demo_corpus_path(lang), paths[lang], method="sgns", hyper=hyper)
    mapped, report = align_spaces(
        [paths["en"]], paths["es"], [lexicon_path("en-es/en-es.0-5000.tsv")], method="procrustes",
        evals=[lexicon_path("en-es/en-es.5000-6500.tsv")], seed=seed,
    )
    for stem, (_, emb) in mapped.items():
        emb.write(out / f"{stem}.mapped.vec")
    _write_json(out / "report.json", report)
    click.echo(f"\nBLI en→es on {lexicon_path('en-es/en-es.5000-6500.tsv').name} (vectors in {out}):")
    click.echo(format_table(_bli_rows(report)))


@cli.command()
def methods() -> None:
    """List the training and mapping methods and their settings."""
    from xling.map import MAPPERS
    from xling.train import TRAINERS

    for title, registry in (("train --method", TRAINERS), ("align --method", MAPPERS)):
        click.echo(f"{title}:")
        for name, cls in sorted(registry.items()):
            settings = ", ".join(f"{k}={v!r}" for k, v in cls().get_params(deep=False).items() if k != "callbacks")
            click.echo(f"  {name:<24} {settings}")
