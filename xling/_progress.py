"""The one event schema of every iterative estimator (trainers and mappers).

An iterative ``fit`` reports its run as events, plain dicts built by
:func:`make_event`:

``"event"`` : {"step", "progress"}
    ``"step"``: a finished step (an epoch, an iteration, a phase). It is
    appended to the estimator's ``history_`` *and* passed to its callbacks,
    so ``history_`` is exactly the list of step events the callbacks saw,
    the same dict objects in the same order.
    ``"progress"``: a report from inside a step that is still running (the
    word2vec trainers send one about every 1% of an epoch, so a progress bar
    moves during long epochs). Passed to the callbacks only, never recorded.
``"phase"`` : str
    What the step does: ``"train"`` for the epochs of a trainer, the phase
    name for multi-phase fits (``"vocabulary"``, ``"cooccurrence"``, ...,
    ``"adversarial"``, ``"refinement"``, ``"diagnosis"``).
``"step"`` : int
    1-based number of the step in the run (the epoch, the iteration); a
    progress event carries the number of the step it is inside.
``"total"`` : int or None
    The number of steps planned for the run, when known (``epochs``,
    ``n_iter``; an upper bound for runs that may stop early), else None.
``"progress"`` : float
    Fraction of the whole run done, in [0, 1], non-decreasing over the events
    of one fit.

Every other key is a metric of the step: numbers (``"loss"``,
``"words_per_sec"``, ``"seconds"``, ``"mono_loss"``, ``"cross_loss"``, ...)
and a few labels (``"backend"``, a diagnosis ``"message"``). Numpy scalars are
turned into Python numbers, so a history is JSON-serialisable as it is.

A callback is any callable taking one event dict; an exception it raises
(e.g. ``KeyboardInterrupt`` to stop a run) propagates out of ``fit``.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["EVENT_KEYS", "make_event", "emit"]

EVENT_KEYS = ("event", "phase", "step", "total", "progress")
_KINDS = ("step", "progress")


def make_event(phase: str, step: int, total: int | None, progress: float, *, partial: bool = False,
               **metrics) -> dict:
    """One event of the schema above.

    Parameters
    ----------
    phase : str
    step : int
        1-based.
    total : int or None
    progress : float
        In [0, 1].
    partial : bool
        True for a progress report inside a running step (``"event": "progress"``),
        False for a finished step (``"event": "step"``).
    **metrics
        Metrics of the step; they must not reuse the names of :data:`EVENT_KEYS`.

    Returns
    -------
    dict
        ``{"event", "phase", "step", "total", "progress", **metrics}``.

    Examples
    --------
    >>> make_event("train", 2, 5, 0.4, loss=1.5)
    {'event': 'step', 'phase': 'train', 'step': 2, 'total': 5, 'progress': 0.4, 'loss': 1.5}
    """
    # Wrong values here are bugs of the estimator that sends them, so they raise with their traceback.
    if not isinstance(phase, str) or not phase:
        raise TypeError(f"Expected phase to be a non-empty str, got {phase!r}")
    if not isinstance(step, numbers.Integral) or isinstance(step, bool) or step < 1:
        raise ValueError(f"Expected step to be an integer >= 1, got {step!r}")
    if total is not None and (not isinstance(total, numbers.Integral) or isinstance(total, bool) or total < 1):
        raise ValueError(f"Expected total to be an integer >= 1 or None, got {total!r}")
    progress = float(progress)
    # A little rounding past 1 (sums of fractions) is clipped; anything else is a bug.
    if not -1e-9 <= progress <= 1 + 1e-9:
        raise ValueError(f"Expected progress in [0, 1], got {progress!r}")
    clash = set(metrics) & set(EVENT_KEYS)
    if clash:
        raise ValueError(f"Expected metric names other than {EVENT_KEYS}, got {sorted(clash)}")
    event = {"event": "progress" if partial else "step", "phase": phase, "step": int(step),
             "total": None if total is None else int(total), "progress": min(max(progress, 0.0), 1.0)}
    event.update({k: v.item() if isinstance(v, np.generic) else v for k, v in metrics.items()})
    return event


def emit(estimator, event: dict) -> None:
    """Record a step event in ``estimator.history_`` and pass any event to ``estimator.callbacks``.

    ``fit`` sets ``history_`` (a list) before its first event. The step is
    recorded before the callbacks run, so a callback that stops the run
    leaves ``history_`` holding every finished step.
    """
    if event.get("event") not in _KINDS:
        raise ValueError(f"Expected an event from make_event with 'event' in {_KINDS}, got {event.get('event')!r}")
    if event["event"] == "step":
        estimator.history_.append(event)
    for callback in getattr(estimator, "callbacks", None) or ():
        callback(event)
