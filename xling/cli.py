"""The ``xling`` command: a thin layer over the library (no maths here).

Commands: ``train``, ``train-joint``, ``train-multi``, ``align``, ``eval``, ``translate``,
``demo``, ``methods``. Every
error caused by input is printed as one line naming the file (and line) and
exits with status 1; outputs are written atomically.
"""

from __future__ import annotations

import ast
import errno
import functools
import json
import logging
import sys
import warnings
from pathlib import Path

import click

from xling import __version__
from xling._utils import atomic_output, check_output_dir, check_output_file, jsonable, staged_outputs, write_json
from xling.alignment import Alignment
from xling.embeddings import Embeddings
from xling.exceptions import NotEnoughDataError, XlingError
from xling.retrieval import METHODS, PRECISIONS
from xling.workflow import stem

logger = logging.getLogger("xling.cli")


# -- shared plumbing ----------------------------------------------------------
def _friendly_errors(func):
    """Turn input errors into one clean message and exit status 1 (no traceback).

    Caught: xling's input errors (:class:`XlingError` and its subclasses,
    which include the settings checks' :class:`InputError`), missing files,
    files that cannot be written (read-only places, folders, a full disk), a
    diverged fit, and Ctrl-C (exit 130). Every other exception (a bare
    ``ValueError`` too) is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (XlingError, FloatingPointError) as exc:
            raise click.ClickException(str(exc)) from exc
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc) if not exc.filename else f"{exc.filename}: No such file or folder") from exc
        except OSError as exc:  # PermissionError, IsADirectoryError, ENOSPC ... while writing
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and exc.filename is None:
                raise click.ClickException(f"Cannot write the outputs: {exc.strerror}; previous outputs were kept") from exc
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.filename}: Cannot write: {exc.strerror}; previous outputs were kept") from exc
        except KeyboardInterrupt:
            click.echo("\nInterrupted; no output was changed (files of an earlier run are as they were).", err=True)
            sys.exit(130)

    return wrapper


def _distributed(func):
    """Under torchrun (``RANK``/``WORLD_SIZE`` set), run the command as one rank of a process group.

    The ranks split the work (xling.distributed: sharded self-learning and
    BLI, the sources of ``align`` spread over the ranks); only rank 0 prints
    results and writes files, and every rank's log lines start with its rank.
    An error every rank agreed on is printed by rank 0 alone; the others exit
    with status 1. Without torchrun's variables the command runs as it is.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from xling import distributed

        if not distributed.launched():
            return func(*args, **kwargs)
        with distributed.session(device=_device(kwargs.get("device") or "cpu")):
            rank, world = distributed.rank_and_world()
            for handler in logging.getLogger().handlers:
                if isinstance(handler, _StderrHandler):
                    handler.setFormatter(logging.Formatter(f"[rank {rank}/{world}] %(levelname)s %(name)s: %(message)s"))
            with distributed.scope():
                try:
                    return func(*args, **kwargs)
                except distributed.DistributedError as exc:
                    if exc.rank is not None and rank != 0:
                        sys.exit(1)  # rank 0 prints the message every rank agreed on
                    raise

    return wrapper


def _is_root() -> bool:
    """Whether this process prints and writes: always, except on the ranks other than 0 under torchrun."""
    from xling import distributed

    return distributed.is_root()


def _progress():
    """The progress factory of this process: bars on rank 0 only (under torchrun the others draw none)."""
    return _ProgressBar if _is_root() else None


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
    silently ignored. ``extra`` (from ``-p``) must all exist, are checked by
    type, and may not repeat a setting given by its own option.
    """
    from xling._settings import coerce_setting

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
        if key in explicit:
            raise click.UsageError(f"Setting {key!r} given twice, by its option and by -p {key}=...; give it once")
        kwargs[key] = coerce_setting(name, key, value, accepted[key])
    return cls(**kwargs)


def _explicit(ctx: click.Context, mapping: dict) -> set:
    """Hyperparameter names whose CLI option the user typed (not defaults)."""
    source = click.core.ParameterSource
    return {hp for opt, hp in mapping.items() if ctx.get_parameter_source(opt) not in (source.DEFAULT, None)}


class _ProgressBar:
    """A progress factory for the library (``progress=_ProgressBar``): a click bar fed by progress events."""

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
        # Events follow xling._progress: phase, step (1-based), total (or None), progress.
        target = int(round(1000 * min(max(event.get("progress", 0.0), 0.0), 1.0)))
        info = []
        total = event.get("total")
        if event.get("step") is not None and total != 1:  # a one-step phase (reading a file) has no step count
            info.append(f"{event.get('phase', 'step')} {event['step']}" + (f"/{total}" if total else ""))
        if event.get("rows"):
            info.append(f"{event['rows']:,} rows")
        if event.get("words_per_sec"):
            info.append(f"{event['words_per_sec'] / 1000:.0f}k words/s")
        if event.get("loss") is not None:
            info.append(f"loss {event['loss']:.4f}")
        self._bar.update(max(target - self._done, 0), ", ".join(info))
        self._done = max(self._done, target)


seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Random seed: every random choice derives from it. Training with more than one thread "
                                "is Hogwild (as in word2vec and gensim): use --threads 1 for bit-identical runs.")


def _check_device(ctx, param, value: str) -> str:
    """cpu, cuda, cuda:N or auto; a CUDA device on a machine without one is refused here."""
    import re

    import torch

    if value == "auto" or value == "cpu":
        return value
    if not re.fullmatch(r"cuda(:[0-9]+)?", value):
        raise click.BadParameter(f"Expected cpu, cuda, cuda:N or auto, got {value!r}")
    if not torch.cuda.is_available():
        raise click.BadParameter(f"Expected a CUDA device for {value!r}, but torch sees none (use --device cpu or auto)")
    return value


device_option = click.option("--device", default="auto", show_default=True, callback=_check_device,
                             help="cpu, cuda, cuda:N, or auto (CUDA when present); works with every method.")
precision_option = click.option("--precision", type=click.Choice(list(PRECISIONS)), default="fp32", show_default=True,
                                help="Floating-point precision of the retrieval (in align also of self-learning's dictionary "
                                     "induction): fp64 for reference scores, fp16 to halve "
                                     "the memory on a GPU (slower than fp32 on a CPU).")
param_option = click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Method-specific setting, repeatable (e.g. -p n_iter=10).")
limit_option = click.option("--limit", type=click.IntRange(min=1), default=None, help="Read only the first N vectors of each file (200,000 is customary).")
case_option = click.option(
    "--lexicon-case",
    type=click.Choice(["auto", "lower", "keep"]),
    default="auto",
    show_default=True,
    help="Lower-case lexicons (auto: when the vectors have no upper-case word).",
)


report_option = click.option("--report", "make_report", is_flag=True,
                              help="Also write report.html with tables and plots (see `xling report`).")


def reader_options(func):
    """--format, --encoding, --duplicates: how vector files are read (see Embeddings.read)."""
    func = click.option("--duplicates", type=click.Choice(["error", "first"]), default="error", show_default=True,
                        help="A word seen twice in a vector file: an error, or keep its first vector.")(func)
    func = click.option("--encoding", default="utf-8", show_default=True, help="Encoding of the words in vector files.")(func)
    func = click.option("--format", "in_format", type=click.Choice(["auto", "vec", "glove", "bin"]), default="auto",
                        show_default=True, help="Format of the vector files read (auto: from the name and first line).")(func)
    return func


def _read_options(in_format: str, encoding: str, duplicates: str) -> dict:
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.BadParameter(f"Expected a known text encoding, got {encoding!r}", param_hint="--encoding") from None
    return {"format": in_format, "encoding": encoding, "duplicates": duplicates}


def _set_verbosity(ctx, param, value):
    """-v / -q, accepted before or after the subcommand: the last one given wins."""
    if not value:
        return value
    level = {"verbose": logging.INFO if value == 1 else logging.DEBUG, "quiet": logging.ERROR}[param.name]
    _configure_logging()
    logging.getLogger().setLevel(level)
    return value


def _device(value: str):
    return None if value == "auto" else value


def _add_verbosity(command: click.Command) -> click.Command:
    for option in (click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_set_verbosity,
                                help="-v: progress and sizes; -vv: debug."),
                   click.Option(["-q", "--quiet"], count=True, expose_value=False, callback=_set_verbosity,
                                help="Only errors on stderr.")):
        command.params.append(option)
    return command


class _Group(click.Group):
    def add_command(self, cmd, name=None):
        super().add_command(_add_verbosity(cmd), name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xling")
@click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity, is_eager=True,
              help="-v: progress and sizes; -vv: debug.")
@click.option("-q", "--quiet", count=True, expose_value=False, callback=_set_verbosity, is_eager=True,
              help="Only errors on stderr.")
def cli() -> None:
    """xling: cross-lingual word embeddings — train, align, evaluate, translate."""
    _configure_logging()
    warnings.formatwarning = _format_warning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line for people (no source line): ``ConvergenceWarning: ...``."""
    return f"{category.__name__}: {message}\n"


class _StderrHandler(logging.Handler):
    """Log records as lines on the current stderr (looked up per record, so redirections are followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # logging must never break the command
            self.handleError(record)


def _configure_logging() -> None:
    """One stderr handler on the root logger; the level (WARNING unless -v/-q) is left as set."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


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
    # 0 is a value (checked by the method), not "unset"; flags that are off stay unset
    hyper = {hp: options[opt] for opt, hp in mapping.items() if options[opt] is not None and options[opt] is not False}
    hyper["device"] = _device(options["device"])
    return hyper


def _note_hogwild(trainer) -> None:
    """Say once that multi-threaded training under a seed is not bit-reproducible."""
    workers = trainer.get_params(deep=False).get("workers")
    if workers is not None and workers > 1:
        click.echo(f"note: training with {workers} threads is Hogwild, so runs with the same --seed differ slightly; "
                   "--threads 1 gives bit-identical runs", err=True)


def train_vectors(corpus_path, out, *, method="sgns", lowercase=True, max_lines=None, hyper=None, explicit=(), extra=None, fmt="auto"):
    """Build the trainer from the options, train it on one corpus file (the library does) and write the vectors.

    Returns the fitted trainer and the library's report of the run.
    """
    from xling.train import TRAINERS
    from xling.workflow import train as train_workflow

    if method not in TRAINERS:
        raise click.UsageError(f"Unknown method {method!r}; choose from: {', '.join(sorted(TRAINERS))}")
    check_output_file(out)
    trainer = _build(TRAINERS[method], method, hyper or {}, set(explicit), extra or {})
    _note_hogwild(trainer)
    trainer, report = train_workflow(trainer, corpus_path, lowercase=lowercase, max_lines=max_lines,
                                     progress=_ProgressBar)
    trainer.embeddings_.write(out, format=fmt)
    _wrote_vectors(out, trainer, report["seconds"])
    return trainer, report


def _wrote_vectors(path, trainer, seconds: float | None = None) -> None:
    took = "" if seconds is None else f" in {seconds:.1f} s"
    click.echo(f"wrote {len(trainer.embeddings_)} vectors of dim {trainer.embeddings_.dim} to {path}{took}", err=True)


@cli.command()
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output vectors (.vec, .vec.gz, .bin).")
@click.option("-m", "--method", default="sgns", show_default=True, help="sgns, cbow, spectral, ppmi-svd.")
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
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Also write DIR/report.json and DIR/report.html (the training history).")
@param_option
@click.pass_context
@_friendly_errors
def train(ctx, corpus, out, method, lowercase, max_lines, fmt, report_dir, params, **options):
    """Train monolingual word vectors on CORPUS (.txt/.gz/.xz, one sentence or paragraph per line).

    Tokens are runs of Unicode letters and digits, lower-cased by default.
    """
    if options["resume"] and not options["checkpoint_dir"]:
        raise click.UsageError("--resume needs --checkpoint-dir")
    if report_dir is not None:
        check_output_dir(report_dir)
    hyper = _hyperparameters(options, _TRAIN_OPTIONS)
    _, report = train_vectors(
        corpus, out, method=method, lowercase=lowercase, max_lines=max_lines, hyper=hyper,
        explicit=_explicit(ctx, _TRAIN_OPTIONS), extra=_parse_params(params), fmt=fmt,
    )
    if report_dir is not None:
        report.update(method=method, files=[str(Path(out).resolve())])
        write_json(Path(report_dir) / "report.json", report)
        _write_html_report(report_dir)


# -- train-joint --------------------------------------------------------------
_JOINT_OPTIONS = {**_TRAIN_OPTIONS, "cross_weight": "cross_weight"}


def _joint_method_names() -> list[str]:
    from xling.train import JOINT_TRAINERS

    return sorted(JOINT_TRAINERS)


@cli.command(name="train-joint")
@click.option("--method", "-m", type=click.Choice(_joint_method_names()), required=True,
              help="A joint or cross-lingual trainer; `xling methods` lists each with its paper and settings.")
@click.option("--src-mono", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Source-language text (methods that use monolingual text).")
@click.option("--tgt-mono", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Target-language text (methods that use monolingual text).")
@click.option("--parallel", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None, metavar="SRC TGT",
              help="Line-aligned sentence files (methods trained on parallel sentences).")
@click.option("--documents", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None, metavar="SRC TGT",
              help="Line-aligned document files (document-based methods; pseudo mixes them, Vulić & Moens 2016).")
@click.option("--lexicon", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Translations (lexicon-based methods, e.g. pseudo).")
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
@click.option("--cross-weight", "--lambda", "cross_weight", type=float, default=None, help="Weight λ of the cross-lingual term (bilbowa, transgram; default: the method's).")
@click.option("--threads", type=int, default=None, help="Default: the method's own.")
@seed_option
@device_option
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None, help="Write a checkpoint after each epoch here.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --checkpoint-dir.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True)
@case_option
@param_option
@report_option
@click.pass_context
@_friendly_errors
def train_joint(ctx, method, src_mono, tgt_mono, parallel, documents, lexicon, out_dir, langs, lowercase, lexicon_case,
                params, make_report, **options):
    """Train both languages at once from monolingual text plus parallel sentences or a lexicon.

    Writes DIR/<src>.vec, DIR/<tgt>.vec (one shared space) and DIR/report.json.
    """
    from xling.train import JOINT_TRAINERS
    from xling.workflow import check_joint_inputs
    from xling.workflow import train_joint as train_joint_workflow

    if options["resume"] and not options["checkpoint_dir"]:
        raise click.UsageError("--resume needs --checkpoint-dir")
    try:
        check_joint_inputs(JOINT_TRAINERS[method], src_mono=src_mono is not None, tgt_mono=tgt_mono is not None,
                           parallel=parallel is not None, documents=documents is not None, lexicon=lexicon is not None)
    except XlingError as exc:
        raise click.UsageError(f"--method {method}: {exc}") from None
    inputs = [src_mono, tgt_mono] if JOINT_TRAINERS[method].uses_monolingual else list(parallel or documents)
    names = langs.split(",") if langs else [stem(inputs[0]), stem(inputs[1])]
    if len(names) != 2 or names[0] == names[1]:
        raise click.UsageError(f"Expected two distinct names in --langs SRC,TGT, got {langs or names!r}")
    check_output_dir(out_dir)
    for name in (f"{names[0]}.vec", f"{names[1]}.vec", "report.json"):
        check_output_file(Path(out_dir) / name)

    hyper = _hyperparameters(options, _JOINT_OPTIONS)
    trainer = _build(JOINT_TRAINERS[method], method, hyper, _explicit(ctx, _JOINT_OPTIONS), _parse_params(params))
    _note_hogwild(trainer)
    report = train_joint_workflow(trainer, src_mono, tgt_mono, parallel=parallel, documents=documents, lexicon=lexicon,
                                  lowercase=lowercase, lexicon_case=lexicon_case, progress=_ProgressBar)
    report["method"] = method
    out = Path(out_dir)
    report["files"] = [f"{names[0]}.vec", f"{names[1]}.vec", "report.json"]
    with staged_outputs(out) as stage:  # the three files replace an earlier run's together, or not at all
        trainer.src_embeddings_.write(stage / f"{names[0]}.vec")
        trainer.tgt_embeddings_.write(stage / f"{names[1]}.vec")
        write_json(stage / "report.json", report)
    click.echo(f"wrote {out / names[0]}.vec, {out / names[1]}.vec and report.json in {report['seconds']} s", err=True)
    if make_report:
        _write_html_report(out)  # BLI sections need a test lexicon: `xling report DIR --lexicon TEST`


# -- train-multi --------------------------------------------------------------
def _multilingual_method_names() -> list[str]:
    from xling.train import MULTILINGUAL_TRAINERS

    return sorted(MULTILINGUAL_TRAINERS)


def _keyed_paths(items: tuple[str, ...], option: str, pair: bool) -> dict:
    """``("en=a.txt",)`` -> ``{"en": "a.txt"}``; with ``pair``, ``("en-de=x.tsv",)`` -> ``{("en", "de"): "x.tsv"}``."""
    form = "SRC-TGT=PATH" if pair else "LANG=PATH"
    out: dict = {}
    for item in items:
        key, sep, path = item.partition("=")
        parts = key.split("-") if pair else [key]
        if not sep or not path or not all(parts) or len(parts) != (2 if pair else 1):
            raise click.BadParameter(f"Expected {form}, got {item!r}", param_hint=option)
        if not Path(path).is_file():
            raise click.BadParameter(f"{path}: No such file", param_hint=option)
        key = tuple(parts) if pair else key
        if key in out:
            raise click.BadParameter(f"{key if not pair else '-'.join(key)!s} given twice", param_hint=option)
        out[key] = path
    return out


@cli.command(name="train-multi")
@click.option("--method", "-m", type=click.Choice(_multilingual_method_names()), required=True,
              help="A multilingual trainer; `xling methods` lists each with its paper and settings.")
@click.option("--mono", "monos", multiple=True, required=True, metavar="LANG=PATH",
              help="Monolingual text of one language, repeatable (two or more languages).")
@click.option("--lexicon", "lexicons", multiple=True, required=True, metavar="SRC-TGT=PATH",
              help="Translations of SRC words into TGT words, repeatable; both languages need --mono.")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Gets <lang>.vec per language and report.json.")
@click.option("--dim", type=int, default=None, help="Vector size. Default: the method's own.")
@click.option("--window", type=int, default=None, help="Default: the method's own.")
@click.option("--min-count", type=int, default=None, help="Default: the method's own.")
@click.option("--max-vocab", type=int, default=None, help="Keep only the N most frequent words per language.")
@click.option("--epochs", type=int, default=None, help="Default: the method's own.")
@click.option("--negative", type=int, default=None, help="Default: the method's own.")
@click.option("--sample", type=float, default=None, help="Default: the method's own.")
@click.option("--alpha", type=float, default=None, help="Default: the method's own.")
@click.option("--threads", type=int, default=None, help="Default: the method's own.")
@seed_option
@device_option
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None, help="Write a checkpoint after each epoch here.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --checkpoint-dir.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True)
@click.option("--max-lines", type=click.IntRange(min=1), default=None, help="Read only the first N lines of each corpus.")
@case_option
@param_option
@click.pass_context
@_friendly_errors
def train_multi(ctx, method, monos, lexicons, out_dir, lowercase, max_lines, lexicon_case, params, **options):
    """Train many languages at once into one space from monolingual text plus bilingual lexicons.

    \b
        xling train-multi -m multicluster --mono en=en.txt --mono de=de.txt --mono fr=fr.txt \\
            --lexicon en-de=en-de.tsv --lexicon en-fr=en-fr.tsv --out-dir multi

    Writes DIR/<lang>.vec for every language (one shared space) and DIR/report.json, replaced together.
    """
    from xling.train import MULTILINGUAL_TRAINERS
    from xling.workflow import train_multilingual

    if options["resume"] and not options["checkpoint_dir"]:
        raise click.UsageError("--resume needs --checkpoint-dir")
    corpora, lexicon_paths = _keyed_paths(monos, "--mono", pair=False), _keyed_paths(lexicons, "--lexicon", pair=True)
    hyper = _hyperparameters(options, _TRAIN_OPTIONS)
    trainer = _build(MULTILINGUAL_TRAINERS[method], method, hyper, _explicit(ctx, _TRAIN_OPTIONS), _parse_params(params))
    _note_hogwild(trainer)
    result = train_multilingual(trainer, corpora, lexicon_paths, lowercase=lowercase, max_lines=max_lines,
                                lexicon_case=lexicon_case, out_dir=out_dir, progress=_ProgressBar)
    click.echo(f"wrote {', '.join(result.report['files'])} to {out_dir} in {result.report['seconds']} s", err=True)


# -- align --------------------------------------------------------------------
def _bli_rows(report: dict) -> dict:
    """{"en→es csls": bli-dict, ...} for printing."""
    rows = {}
    target = report.get("target_lang") or stem(report["target"])
    for name, entry in report["sources"].items():
        for method, result in entry.get("bli", {}).items():
            rows[f"{name}→{target} {method}"] = result
    return rows


def _names(paths) -> list[str]:
    names = [stem(p) for p in paths]
    if len(set(names)) != len(names):
        raise click.UsageError(f"Expected vector files with distinct names, got {names}")
    return names


@cli.command()
@click.argument("vectors", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--lexicon", "lexicons", multiple=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Seed lexicon (one per source; - reads standard input).")
@click.option("-m", "--method", default="procrustes", show_default=True, help="Mapping solver (see `xling methods`).")
@click.option("--normalize", default=None, help="Ordered steps from unit, center, unit_dim, center_emb, none (default: the method's own; unit,center,unit for procrustes).")
@click.option("--eval", "evals", multiple=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Test lexicon (one per source; - reads standard input): BLI goes into the report.")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Where the mapped vectors, maps and report go.")
@click.option("--retrieval", default="nn,csls", show_default=True, help="Retrieval methods for --eval: nn, csls, isf, invnn.")
@click.option("--oov", type=click.Choice(["exclude", "wrong"]), default="exclude", show_default=True, help="Test words without vectors: excluded (MUSE, VecMap) or wrong (RCSLS).")
@click.option("--validation", "validations", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Held-out lexicon (one per source): iterative methods log its P@1 (NN, CSLS) per iteration.")
@limit_option
@case_option
@seed_option
@device_option
@precision_option
@param_option
@reader_options
@report_option
@_friendly_errors
@_distributed
def align(vectors, lexicons, method, normalize, evals, out_dir, retrieval, oov, validations, limit, lexicon_case, seed,
          device, precision, params, in_format, encoding, duplicates, make_report):
    """Map SRC.vec [SRC2.vec ...] onto TGT.vec (the last file) so translations become neighbours.

    Writes DIR/<name>.mapped.vec for every input, DIR/<src>-<tgt>.map.npz (the
    fitted alignment; `xling apply` applies it to any vector file) and
    DIR/report.json, all replaced together only when everything succeeded.
    """
    from xling.evaluate import format_table
    from xling.workflow import align as align_workflow

    if len(vectors) < 2:
        raise click.UsageError("Expected at least two vector files: SRC.vec ... TGT.vec")
    check_output_dir(out_dir)
    names = _names(vectors)
    sources, target = names[:-1], names[-1]
    for name in [f"{n}.mapped.vec" for n in names] + [f"{n}-{target}.map.npz" for n in sources] + ["report.json"]:
        check_output_file(Path(out_dir) / name)
    if lexicons and len(lexicons) != len(sources):
        raise click.UsageError(f"Expected one --lexicon per source ({len(sources)}), got {len(lexicons)}")
    if evals and len(evals) != len(sources):
        raise click.UsageError(f"Expected one --eval per source ({len(sources)}), got {len(evals)}")
    if validations and len(validations) != len(sources):
        raise click.UsageError(f"Expected one --validation per source ({len(sources)}), got {len(validations)}")
    extra = _parse_params(params)
    if normalize is not None:
        if "normalize" in extra:
            raise click.UsageError("Give the normalisation once: --normalize or -p normalize=..., not both")
        extra["normalize"] = normalize
    result = align_workflow(
        dict(zip(names, vectors)), target, dict(zip(sources, lexicons)), method=method, params=extra,
        evals=dict(zip(sources, evals)), retrieval=_split_methods(retrieval), oov=oov,
        validation=dict(zip(sources, validations)), seed=seed,
        device=_device(device), precision=precision, limit=limit, lexicon_case=lexicon_case, progress=_progress(),
        read_options=_read_options(in_format, encoding, duplicates),
    )
    if not _is_root():
        return
    result.save(out_dir)
    rows = _bli_rows(result.report)
    if rows:
        click.echo(format_table(rows))
    click.echo(f"wrote mapped vectors, alignments and report.json to {out_dir}", err=True)
    if make_report:
        _write_html_report(out_dir, vectors=result.embeddings, random_state=seed, device=_device(device))


def _write_html_report(run_dir, **kwargs) -> Path:
    from xling.report import write_report

    path = write_report(run_dir, **kwargs)
    click.echo(f"report: {path}", err=True)
    return path


def _split_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise click.BadParameter(f"Expected methods from {', '.join(METHODS)}, got {text!r}", param_hint="--retrieval")
    return methods


def _read_pair(src: str, tgt: str, alignment_path: str | None, limit: int | None, read_options: dict) -> tuple[Embeddings, Embeddings]:
    """SRC and TGT vectors in one space: as given, or mapped by a saved alignment."""
    from xling.workflow import read_vectors

    src_emb = read_vectors(src, limit=limit, read_options=read_options, progress=_progress())
    tgt_emb = read_vectors(tgt, limit=limit, read_options=read_options, progress=_progress())
    if alignment_path:
        alignment = Alignment.load(alignment_path)
        for emb, side, path in ((src_emb, alignment.source, src), (tgt_emb, alignment.target, tgt)):
            if emb.dim != side.d_in:
                raise XlingError(f"{path}: Expected vectors of dimension {side.d_in} for the alignment {alignment_path}, got {emb.dim}")
        src_emb, tgt_emb = alignment.apply(src_emb), alignment.apply_target(tgt_emb)
    if src_emb.dim != tgt_emb.dim:
        raise XlingError(f"Expected vectors in one space of one dimension, got {src_emb.dim} in {src} and {tgt_emb.dim} in {tgt} "
                         "(give --map ALIGNMENT.npz to map them first)")
    return src_emb, tgt_emb


map_option = click.option("--map", "alignment_path", type=click.Path(exists=True, dir_okay=False), default=None,
                          help="A saved alignment (.map.npz from `xling align`): SRC and TGT are the unmapped vectors.")


# -- apply --------------------------------------------------------------------
@cli.command()
@click.argument("alignment_path", metavar="MAP", type=click.Path(exists=True, dir_okay=False))
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Mapped vectors (.vec, .vec.gz, .bin; - writes .vec text to standard output).")
@click.option("--side", type=click.Choice(["source", "target"]), default="source", show_default=True,
              help="Which side of the alignment VECTORS belong to.")
@limit_option
@reader_options
@_friendly_errors
@_distributed
def apply(alignment_path, vectors, out, side, limit, in_format, encoding, duplicates):
    """Map VECTORS into the shared space of a saved alignment MAP (from `xling align`).

    Typical use: align the 200k most frequent words, then apply the map to the
    full vocabulary. Rows are mapped block by block while they are written.
    """
    if not _is_root():
        return  # one output, written by rank 0 (mapping is cheap next to writing it)
    if out != "-":
        check_output_file(out)
    alignment = Alignment.load(alignment_path)
    from xling.workflow import read_vectors

    emb = read_vectors(vectors, limit=limit, read_options=_read_options(in_format, encoding, duplicates),
                       progress=_ProgressBar)
    expected = alignment.source.d_in if side == "source" else alignment.target.d_in
    if emb.dim != expected:
        raise XlingError(f"{vectors}: Expected vectors of dimension {expected} for the {side} side of {alignment_path}, got {emb.dim}")
    if out == "-":
        alignment.write_applied(emb, click.get_binary_stream("stdout"), side=side)
    else:
        alignment.write_applied(emb, out, side=side)
    click.echo(f"wrote {len(emb)} mapped vectors of dim {alignment.dim} to {'standard output' if out == '-' else out}", err=True)


# -- eval ---------------------------------------------------------------------
@cli.command(name="eval")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("tgt", type=click.Path(exists=True, dir_okay=False))
@click.argument("test", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--retrieval", default="nn,csls", show_default=True, help="Comma-separated: nn, csls, isf, invnn.")
@click.option("--oov", type=click.Choice(["exclude", "wrong"]), default="exclude", show_default=True, help="Test words without vectors: excluded (MUSE, VecMap) or wrong (RCSLS).")
@click.option("--knn-k", type=click.IntRange(min=1), default=10, show_default=True, help="CSLS neighbourhood size.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@map_option
@limit_option
@case_option
@device_option
@precision_option
@reader_options
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Also write DIR/report.json and DIR/report.html with tables and plots.")
@_friendly_errors
@_distributed
def eval_(src, tgt, test, retrieval, oov, knn_k, as_json, alignment_path, limit, lexicon_case, device, precision,
          in_format, encoding, duplicates, report_dir):
    """Bilingual lexicon induction: P@1/5/10, MRR and coverage of SRC→TGT on the TEST lexicon (- reads standard input).

    SRC and TGT must already share one space (e.g. outputs of `xling align`),
    or be the original vectors with --map the saved alignment.
    """
    from xling import distributed
    from xling.evaluate import evaluate_many, format_table
    from xling.workflow import read_lexicon

    methods = _split_methods(retrieval)
    if report_dir is not None:
        check_output_dir(report_dir)
    with distributed.agreed("reading the vectors and the test lexicon"):
        src_emb, tgt_emb = _read_pair(src, tgt, alignment_path, limit, _read_options(in_format, encoding, duplicates))
        lexicon = read_lexicon(test, src_emb, tgt_emb, lexicon_case)
    try:
        results = evaluate_many(src_emb, tgt_emb, lexicon, methods, knn_k=knn_k, oov=oov, device=_device(device),
                                precision=precision)
    except NotEnoughDataError as exc:
        raise NotEnoughDataError(f"{test}: {exc}") from None
    if not _is_root():
        return
    if as_json:
        click.echo(json.dumps(jsonable(results), indent=2))
    else:
        click.echo(format_table(results))
    if report_dir is not None:
        from xling import __version__

        report = {"kind": "eval", "xling_version": __version__, "src": str(src), "tgt": str(tgt), "map": alignment_path,
                  "eval_lexicon": str(test), "precision": precision, "bli": results}
        write_json(Path(report_dir) / "report.json", report)
        _write_html_report(report_dir, vectors={stem(src): src_emb, stem(tgt): tgt_emb}, device=_device(device))


# -- eval-mono, eval-xsim -----------------------------------------------------
def _print_mono(results: dict, as_json: bool) -> None:
    from xling.evaluate_mono import format_mono_table

    click.echo(json.dumps(jsonable(results), indent=2, ensure_ascii=False) if as_json else format_mono_table(results))


@cli.command(name="eval-mono")
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--similarity", "similarity_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Word pairs with gold scores (word1<TAB>word2<TAB>score; WordSim-353, SimLex-999), repeatable.")
@click.option("--analogies", "analogy_file", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              type=click.Path(dir_okay=False),
              help="Analogy questions (': section' lines, then 'a b c d'); alone: the shipped questions-words.txt.")
@click.option("--restrict-vocab", type=click.IntRange(min=1), default=300_000, show_default=True,
              help="Analogies use only the N most frequent words (as gensim).")
@click.option("--analogy-methods", default="3cosadd,3cosmul", show_default=True, help="Comma-separated: 3cosadd, 3cosmul.")
@click.option("--case", type=click.Choice(["auto", "lower", "keep"]), default="auto", show_default=True,
              help="Lower-case the test words (auto: when the vectors have no upper-case word).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@limit_option
@device_option
@reader_options
@_friendly_errors
def eval_mono(vectors, similarity_files, analogy_file, restrict_vocab, analogy_methods, case, as_json, limit, device,
              in_format, encoding, duplicates):
    """Monolingual evaluation of VECTORS: word similarity (Spearman ρ) and analogies (3CosAdd, 3CosMul).

    Coverage (pairs or questions with vectors / all) is reported with every
    score; out-of-vocabulary pairs are left out and counted.
    """
    from xling.evaluate_mono import analogies, word_similarity
    from xling.workflow import read_vectors

    if not similarity_files and analogy_file is None:
        raise click.UsageError("Give at least one --similarity FILE or --analogies [FILE]")
    if analogy_file and not Path(analogy_file).is_file():
        raise click.BadParameter(f"{analogy_file}: No such file", param_hint="--analogies")
    emb = read_vectors(vectors, limit=limit, read_options=_read_options(in_format, encoding, duplicates),
                       progress=_progress())
    results: dict = {"vectors": str(vectors), "n_words": len(emb)}
    results["similarity"] = [word_similarity(emb, path, case=case) for path in similarity_files]
    if analogy_file is not None:
        methods = [m.strip() for m in analogy_methods.split(",") if m.strip()]
        with _ProgressBar("analogies") as bar:
            results["analogies"] = [analogies(emb, analogy_file or None, methods=methods, restrict_vocab=restrict_vocab,
                                              case=case, device=_device(device), callbacks=(bar,))]
    _print_mono(results, as_json)


@cli.command(name="eval-xsim")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("tgt", type=click.Path(exists=True, dir_okay=False))
@click.argument("similarity_files", metavar="FILE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("--case", type=click.Choice(["auto", "lower", "keep"]), default="auto", show_default=True,
              help="Lower-case the test words (auto: per side, when its vectors have no upper-case word).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@map_option
@limit_option
@reader_options
@_friendly_errors
def eval_xsim(src, tgt, similarity_files, case, as_json, alignment_path, limit, in_format, encoding, duplicates):
    """Cross-lingual word similarity: Spearman ρ of SRC-word TGT-word pairs (FILE: src<TAB>tgt<TAB>score).

    E.g. SemEval-2017 Task 2 subtask 2 (scripts/fetch_eval_data.py). SRC and
    TGT must share one space, or be the original vectors with --map.
    """
    from xling.evaluate_mono import cross_lingual_similarity

    src_emb, tgt_emb = _read_pair(src, tgt, alignment_path, limit, _read_options(in_format, encoding, duplicates))
    results = {"src": str(src), "tgt": str(tgt), "map": alignment_path,
               "similarity": [cross_lingual_similarity(src_emb, tgt_emb, path, case=case) for path in similarity_files]}
    _print_mono(results, as_json)


# -- translate ----------------------------------------------------------------
@cli.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("tgt", type=click.Path(exists=True, dir_okay=False))
@click.argument("words", nargs=-1)
@click.option("--file", "words_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Words to translate, one per line (- reads standard input).")
@click.option("-k", "--top", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Translations per word.")
@click.option("--retrieval", type=click.Choice(METHODS), default="csls", show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Write the TSV here (- is standard output).")
@map_option
@limit_option
@device_option
@precision_option
@reader_options
@_friendly_errors
@_distributed
def translate(src, tgt, words, words_file, k, retrieval, out, alignment_path, limit, device, precision, in_format,
              encoding, duplicates):
    """Top-k translations of WORDS (or --file) from SRC into TGT, as TSV: word, rank, translation, score.

    Words without a vector are reported on stderr and skipped.
    """
    from xling import distributed
    from xling._utils import iter_lines

    if out != "-":
        check_output_file(out)
    words = list(words)
    if words_file == "-":
        words += [line.strip() for line in click.get_text_stream("stdin") if line.strip()]
    elif words_file:
        words += [line.strip() for _, line in iter_lines(words_file) if line.strip()]
    if not words:
        raise click.UsageError("Give words to translate, or --file")
    with distributed.agreed("reading the vectors"):
        src_emb, tgt_emb = _read_pair(src, tgt, alignment_path, limit, _read_options(in_format, encoding, duplicates))
    known = [w for w in words if w in src_emb]
    missing = [w for w in words if w not in src_emb]
    if missing and _is_root():
        click.echo(f"no vector for {len(missing)} word(s): {', '.join(missing[:10])}", err=True)
    if not known:
        raise XlingError(f"None of the {len(words)} words has a vector in {src}")
    # under torchrun each rank scores its rows of TGT
    results = distributed.translate(src_emb, tgt_emb, known, k=k, method=retrieval, device=_device(device),
                                    precision=precision, group=distributed.current_group())
    if not _is_root():
        return
    lines = [f"{w}\t{rank}\t{t}\t{score:.4f}\n" for w, cands in zip(known, results) for rank, (t, score) in enumerate(cands, 1)]
    if out == "-":
        click.echo("".join(lines), nl=False)
    else:
        with atomic_output(out, "w") as fh:
            fh.writelines(lines)


# -- demo ---------------------------------------------------------------------


@cli.command()
@click.option("--out-dir", default="xling-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("-m", "--method", type=click.Choice(["ppmi-svd", "sgns"]), default="ppmi-svd", show_default=True,
              help="How the vectors are trained (PPMI-SVD is the strongest on this little text; BENCHMARKS.md).")
@click.option("--dim", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs of sgns (default 10); ppmi-svd has none.")
@seed_option
@_friendly_errors
def demo(out_dir, method, dim, epochs, seed):
    """The whole pipeline on shipped data: train en and es vectors, align, evaluate, report.

    Trains vectors (PPMI-SVD by default) on the shipped novel samples
    (xling/data), maps English onto Spanish with the multi-step recipe of
    Artetxe et al. (2018) on lexicons/en-es/en-es.0-5000.tsv, prints BLI on the
    held-out en-es.5000-6500.tsv with example translations, and writes
    report.html.
    """
    from xling.evaluate import format_table
    from xling.resources import lexicon_path
    from xling.workflow import DEMO_TEST_LEXICON, demo as demo_workflow, example_translations

    if epochs is not None and method != "sgns":
        raise click.UsageError(f"--epochs is a setting of sgns ({method} trains in one pass): use --method sgns --epochs N")
    check_output_dir(out_dir)
    out = Path(out_dir)
    result = demo_workflow(out, method=method, dim=dim, epochs=epochs, seed=seed, progress=_ProgressBar,
                           on_vectors=lambda lang, path, trainer: _wrote_vectors(path, trainer))
    result.save(out)
    click.echo(f"\nBLI en→es on {lexicon_path(DEMO_TEST_LEXICON).name} (vectors in {out}):")
    click.echo(format_table(_bli_rows(result.report)))
    examples = example_translations(result, "en", lexicon_path(DEMO_TEST_LEXICON))
    click.echo(f"\nexample translations (CSLS top 3; * = in the test lexicon): {examples['n_right']} of the "
               f"{examples['n_evaluable']} evaluable test words are right at rank 1; the first 4 of them and the first 4 others:")
    for word, candidates in examples["right"] + examples["wrong"]:
        click.echo(f"  {word:<14} " + ", ".join(f"{t}{'*' if gold else ''}" for t, _, gold in candidates))
    _write_html_report(out, vectors=result.embeddings, random_state=seed)


# -- info ---------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_friendly_errors
def info(as_json: bool) -> None:
    """Show xling's version, the kernels' code path, torch's threads and the CUDA devices.

    \b
        xling info
        XLING_ISA=portable xling info --json
    """
    from xling.info import format_info, info as backend_info

    report = backend_info()
    click.echo(json.dumps(report, indent=2) if as_json else format_info(report))


# -- report -------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RUN_DIR/report.html; the PNGs go to report_files/ beside it).")
@click.option("--lexicon", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Test lexicon for runs that name none (train-joint).")
@seed_option
@device_option
@_friendly_errors
def report(run_dir, out, lexicon, seed, device):
    """Write RUN_DIR/report.html: tables and plots of an align, eval, train or train-joint run.

    One self-contained page (images embedded, no network; it opens from disk) plus its PNGs.
    """
    if out is not None:
        check_output_file(out)
    _write_html_report(run_dir, out=out, lexicon=lexicon, random_state=seed, device=_device(device))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def methods(as_json: bool) -> None:
    """List every method of train, train-joint, train-multi and align, with what each setting means."""
    from xling.catalogue import catalogue

    entries = catalogue()
    if as_json:
        click.echo(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    for command, registry in entries.items():
        click.echo(f"xling {command} --method NAME:")
        for name, entry in registry.items():
            click.echo(f"  {name} — {entry['summary']}")
            for key, setting in entry["settings"].items():
                click.echo(f"      {key}={setting['default']!r}: {setting['help']}")
        click.echo()
