"""Sharded retrieval and dictionary induction over ``torch.distributed``.

The target (key) matrix is split by rows across the ranks of a process group;
every rank holds all the queries (sources) and one contiguous shard of keys,
rank 0 the first rows, rank 1 the next ones, and so on. Each rank scores the
queries against its shard with the ordinary single-process functions of
:mod:`xling.retrieval`, keeps its local top k (values and *global* key rows)
and its part of the CSLS neighbourhood terms, and the ranks merge those with
collectives: an ``all_gather`` of the k best per query (never of scores), of
per-query log-sum-exps, and of the per-key best matches.

Results equal the single-process ones: indices identical and scores within
float32 rounding of the matrix products (~1e-7). Ties between shards go to the
lower global row, as in the single-process dictionary induction; within a
shard they are broken by the single-process code itself.

When ``torch.distributed`` is not initialised, every ``sharded_*`` function
simply calls its single-process counterpart on the keys it is given.

Library code over a group
-------------------------
Inside :func:`scope` (which ``xling`` commands enter when torchrun started
them), :class:`~xling.map.SelfLearning` runs its induction step with the
targets split by rows over the ranks (:func:`split_best_matches`) and fits
its small closed-form map on the first rank, which sends it to the others
(:func:`on_root`; every rank then holds the very same map, whatever its
hardware); :func:`xling.evaluate.bli` scores sharded (:class:`ShardedScorer`);
:func:`xling.workflow.align` spreads several sources over the ranks
(:func:`align`). Every rank holds all the vectors; the score matrices, the
expensive part, are split. The results equal one process's: the same
dictionary and map (stochastic induction included, for the same seed), the
same BLI numbers.

Process groups
--------------
:func:`init_from_env` initialises the default group from torchrun's
environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and
does nothing without it. The backend follows the device (gloo for the CPU,
NCCL for CUDA; ``XLING_DIST_BACKEND`` or ``backend=`` overrides it) and every
collective times out after ``XLING_DIST_TIMEOUT`` seconds (default 300).

Failures
--------
Each function runs its local work inside one agreement step: afterwards the
ranks exchange an error flag together with their shard shapes (one small
``all_gather``). If any rank failed, every rank raises
:class:`DistributedError` with that rank's one-line message (which names the
file for reading errors); the failing rank chains its own exception, so a
programming error keeps its traceback there. A rank that dies makes the others'
next collective fail (gloo notices the closed connection at once; otherwise the
timeout fires), which also raises :class:`DistributedError`.

Steps that take different times on different ranks (reading files, a fit on
one rank, one rank's sources) meet in the rendezvous store instead
(``agree(..., patient=True)``): a waiting rank waits as long as the others'
heartbeats go on, and a rank whose heartbeat stops for the timeout is
reported dead, so a long fit is never mistaken for a lost rank and a killed
rank never hangs the others.

Cost
----
Per query and rank, a merge exchanges ``k`` float32 values and ``k`` int64
indices with every other rank (``12 k (W - 1)`` bytes received per query on ``W``
ranks); the per-key terms and best matches never leave their shard except for
the final gather of the backward matches of dictionary induction (``12`` bytes
per key). See :func:`record_communication` to measure it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist

from xling import _vector_io
from xling._utils import PathLike, open_binary, resolve_device
from xling.embeddings import Embeddings
from xling.exceptions import FormatError, InputError, NotEnoughDataError, XlingError
from xling.retrieval import (
    _DTYPE,
    _mask_key,
    _score_dtype,
    _tie_tolerance,
    DIRECTIONS,
    Matches,
    Scorer,
    best_matches,
    csls,
    csls_terms,
    inverted_softmax,
    induce_pairs,
    knn,
    topk_mean,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DistributedError",
    "CommStats",
    "Shard",
    "ShardedScorer",
    "init_from_env",
    "session",
    "launched",
    "is_root",
    "scope",
    "current_group",
    "agreed",
    "group_ranks",
    "local_rows",
    "backend_for",
    "rank_and_world",
    "shard_rows",
    "read_shard",
    "agree",
    "gather_rows",
    "record_communication",
    "sharded_knn",
    "sharded_topk_mean",
    "sharded_csls_terms",
    "sharded_csls",
    "sharded_inverted_softmax",
    "sharded_best_matches",
    "sharded_induce_pairs",
    "on_root",
    "fit",
    "split_best_matches",
    "scorer",
    "translate",
    "plan_sources",
    "align",
]

#: Seconds a collective may wait before it fails (overridden by XLING_DIST_TIMEOUT).
DEFAULT_TIMEOUT = 300.0
_BACKENDS = ("gloo", "nccl")


class DistributedError(XlingError):
    """One rank of a process group failed; raised on every rank with that rank's message.

    Attributes
    ----------
    rank : int or None
        The rank that failed first (None when the failure was a lost connection).
    """

    def __init__(self, message: str, rank: int | None = None):
        super().__init__(message)
        self.rank = rank


# ---------------------------------------------------------------------------
# process groups
# ---------------------------------------------------------------------------
def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_and_world(group=None) -> tuple[int, int]:
    """``(rank, world size)`` in ``group`` (None: the default group); ``(0, 1)`` without torch.distributed."""
    if not _active():
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def is_root() -> bool:
    """Whether this process is rank 0 of the default group (True without torch.distributed): the one that writes."""
    return rank_and_world()[0] == 0


def launched() -> bool:
    """Whether a launcher (torchrun) started this process as one rank of a group: ``RANK`` and ``WORLD_SIZE`` are set."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def backend_for(device=None) -> str:
    """The collective backend for ``device``: ``"nccl"`` for CUDA, ``"gloo"`` otherwise."""
    return "nccl" if resolve_device(device).type == "cuda" else "gloo"


def _timeout_seconds(timeout: float | None) -> float:
    if timeout is None:
        raw = os.environ.get("XLING_DIST_TIMEOUT", "")
        if not raw:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(raw)
        except ValueError:
            raise XlingError(f"Expected XLING_DIST_TIMEOUT to be a number of seconds, got {raw!r}") from None
    if not timeout > 0:
        raise XlingError(f"Expected a positive collective timeout in seconds, got {timeout}")
    return float(timeout)


@dataclass
class _Rendezvous:
    """What :func:`init_from_env` set up beside the process group."""

    #: the key-value store of the group, under xling's own prefix (None: the group was made elsewhere)
    store: object | None = None
    heartbeat: "_Heartbeat | None" = None
    timeout: float = DEFAULT_TIMEOUT


_RDV = _Rendezvous()


class _Heartbeat(threading.Thread):
    """Adds 1 to this rank's counter in the store every ``interval`` seconds, on a connection of its own.

    A rank that waits for others in :func:`agree` (``patient=True``) watches
    their counters: a rank that is busy (a long fit, a slow read) keeps
    counting and is waited for; one whose counter stops for the collective
    timeout is dead (killed, crashed, its machine gone), and the waiting
    ranks stop instead of hanging.
    """

    def __init__(self, host: str, port: int, rank: int, interval: float, timeout: float):
        super().__init__(name="xling-heartbeat", daemon=True)
        self._where = (host, port, datetime.timedelta(seconds=timeout))
        self._key, self._interval = f"beat/{rank}", interval
        self._stopped = threading.Event()

    def run(self) -> None:
        host, port, timeout = self._where
        try:
            store = dist.PrefixStore("xling", dist.TCPStore(host, port, is_master=False, timeout=timeout))
            while not self._stopped.is_set():
                store.add(self._key, 1)
                self._stopped.wait(self._interval)
        except Exception:  # the store is gone (its host stopped): the main thread finds out by itself
            return

    def stop(self) -> None:
        self._stopped.set()


def init_from_env(*, backend: str | None = None, device=None, timeout: float | None = None) -> bool:
    """Initialise the default process group from torchrun's environment, if there is one.

    Besides the group, the rendezvous store gets a heartbeat of this rank (see
    :func:`agree`), so that ranks waiting for a long step of another rank can
    tell a busy rank from a dead one.

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        Default: ``XLING_DIST_BACKEND``, else :func:`backend_for` ``(device)``.
    device : str or torch.device, optional
        The device the computation will use (None: CUDA when available).
    timeout : float, optional
        Seconds before a collective fails; default ``XLING_DIST_TIMEOUT`` or 300.

    Returns
    -------
    bool
        Whether a process group is initialised (False: no ``RANK``/``WORLD_SIZE``
        in the environment, a single-process run; nothing was done).

    Raises
    ------
    DistributedError
        The other ranks did not join within the timeout, or the rendezvous
        address (``MASTER_ADDR``, ``MASTER_PORT``) cannot be reached.
    """
    if _active():
        return True
    if not launched():
        return False
    backend = backend or os.environ.get("XLING_DIST_BACKEND") or backend_for(device)
    if backend not in _BACKENDS:
        raise XlingError(f"Expected a torch.distributed backend gloo or nccl, got {backend!r}")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    host, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not host or not port:
        raise XlingError("Expected MASTER_ADDR and MASTER_PORT beside RANK and WORLD_SIZE (torchrun sets them), "
                         f"got MASTER_ADDR={host!r} and MASTER_PORT={port!r}")
    if backend == "nccl":
        # one GPU per process: torchrun numbers the processes of a node with LOCAL_RANK
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    seconds = _timeout_seconds(timeout)
    delta = datetime.timedelta(seconds=seconds)
    # processes started by hand (or slow to import torch) reach the rendezvous seconds apart: joining
    # may take longer than one collective may
    join = max(seconds, DEFAULT_TIMEOUT)
    try:
        # the store torch's env:// rendezvous would make (torch.distributed.rendezvous._create_c10d_store),
        # made here so that xling keeps a handle on it: torchrun's agent hosts it, or else rank 0
        wait = datetime.timedelta(seconds=join)
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            store = dist.TCPStore(host, int(port), world, is_master=False, timeout=wait)
        else:
            store = dist.TCPStore(host, int(port), world, is_master=rank == 0, timeout=wait, multi_tenant=True)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=delta)
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(f"rank {rank} of {world}: could not join the process group at {host}:{port} "
                               f"within {join:.0f} s ({first})") from exc
    heartbeat = _Heartbeat(host, int(port), rank, min(2.0, seconds / 10), seconds)
    heartbeat.start()
    _RDV.store, _RDV.heartbeat, _RDV.timeout = dist.PrefixStore("xling", store), heartbeat, seconds
    logger.info("process group: rank %d of %d, backend %s, timeout %.0f s",
                dist.get_rank(), dist.get_world_size(), backend, seconds)
    return True


@contextlib.contextmanager
def session(*, backend: str | None = None, device=None, timeout: float | None = None) -> Iterator[bool]:
    """:func:`init_from_env` for the block, and destroy the group at its end if the block created it.

    Yields whether a process group is active. After a failure the group is
    left as it is (its peers may be gone) for the process to exit.
    """
    created = not _active() and init_from_env(backend=backend, device=device, timeout=timeout)
    yield _active()
    if created and _active():
        if _RDV.heartbeat is not None:
            _RDV.heartbeat.stop()
        _RDV.store = _RDV.heartbeat = None
        dist.destroy_process_group()


# ---------------------------------------------------------------------------
# scopes: which group library code shards its work over
# ---------------------------------------------------------------------------
#: groups set by scope(), innermost last; None entries mean "this process alone"
_SCOPES: list = []
_WORLD = object()


@contextlib.contextmanager
def scope(group=_WORLD) -> Iterator[None]:
    """Let library code run sharded over ``group`` inside the block.

    :class:`~xling.map.SelfLearning` (its induction step),
    :func:`xling.evaluate.bli`, :func:`xling.workflow.align` (its sources) and
    :func:`translate` shard their work over the group of the innermost scope,
    and run in this process alone outside any scope, so that a script that
    uses torch.distributed for something else never gets its ranks' data
    mixed. ``xling`` commands started by torchrun run in a scope of all ranks.

    Parameters
    ----------
    group : ProcessGroup or None, optional
        Default: all ranks (the default group). None: this process alone.

    Examples
    --------
    >>> with scope(None):
    ...     current_group() is None
    True
    """
    if group is _WORLD:
        group = dist.group.WORLD if _active() else None
    _SCOPES.append(group)
    try:
        yield
    finally:
        _SCOPES.pop()


def current_group():
    """The group of the innermost :func:`scope` (None: none, or a single-process scope)."""
    return _SCOPES[-1] if _SCOPES else None


def agreed(what: str, *, path: PathLike | None = None):
    """A patient :func:`agree` over the current scope's group (a plain block without one), for reading inputs."""
    group = current_group()
    if group is None:
        return contextlib.nullcontext(_Step())
    return agree(what, group=group, path=path, patient=True)


def group_ranks(group=None) -> list[int]:
    """Global ranks of ``group`` (None: the default group), in order; ``[0]`` without torch.distributed."""
    if not _active():
        return [0]
    return list(dist.get_process_group_ranks(group if group is not None else dist.group.WORLD))


def local_rows(n: int, group=None) -> slice:
    """This rank's rows of ``n`` in ``group`` (:func:`shard_rows` of its rank there)."""
    rank, world = rank_and_world(group)
    return shard_rows(n, rank, world)
# collectives: timing, byte counts, lost ranks
# ---------------------------------------------------------------------------
@dataclass
class CommStats:
    """What the collectives of a block cost on this rank.

    Attributes
    ----------
    calls : int
    bytes_sent : int
        Bytes this rank contributed (counted once per collective).
    bytes_received : int
        Bytes this rank received from the other ranks.
    seconds : float
        Wall time inside collectives, including waiting for slower ranks.
    """

    calls: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0


_RECORDERS: list[CommStats] = []


@contextlib.contextmanager
def record_communication() -> Iterator[CommStats]:
    """Count the collectives of this module run inside the block (nested blocks all count).

    Examples
    --------
    >>> with record_communication() as stats:
    ...     pass
    >>> stats.calls
    0
    """
    stats = CommStats()
    _RECORDERS.append(stats)
    try:
        yield stats
    finally:
        _RECORDERS.remove(stats)


def _comm_device(group) -> torch.device:
    # NCCL moves CUDA tensors only; gloo moves CPU tensors
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _lost(what: str, group, exc: BaseException) -> DistributedError:
    rank, world = rank_and_world(group)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DistributedError(
        f"rank {rank} of {world}: a collective failed while {what}: another rank stopped "
        f"(killed or crashed) or the collective timeout passed ({first})"
    )


def _all_gather(t: torch.Tensor, group, what: str) -> list[torch.Tensor]:
    """All ranks' copies of ``t`` (same shape and dtype everywhere), on the CPU, in rank order."""
    world = dist.get_world_size(group)
    dev = _comm_device(group)
    # a rank without rows sends float32 placeholders: every rank sends the dtype of the current precision
    t = t.to(dev, _score_dtype() if t.is_floating_point() else t.dtype).contiguous()
    out = [torch.empty_like(t) for _ in range(world)]
    start = time.perf_counter()
    try:
        dist.all_gather(out, t, group=group)
    except (RuntimeError, OSError) as exc:  # DistBackendError and gloo's connection errors are RuntimeErrors
        raise _lost(what, group, exc) from exc
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elapsed = time.perf_counter() - start
    nbytes = t.numel() * t.element_size()
    for stats in _RECORDERS:
        stats.calls += 1
        stats.bytes_sent += nbytes
        stats.bytes_received += nbytes * (world - 1)
        stats.seconds += elapsed
    return [o.cpu() for o in out]


def _gather_objects(obj, group, what: str) -> list:
    out: list = [None] * dist.get_world_size(group)
    try:
        dist.all_gather_object(out, obj, group=group)
    except (RuntimeError, OSError) as exc:
        raise _lost(what, group, exc) from exc
    return out


# ---------------------------------------------------------------------------
# agreement steps: one error, the same on every rank
# ---------------------------------------------------------------------------
@dataclass
class _Step:
    """Filled by the body of :func:`agree`: the local shapes every rank reports."""

    n_rows: int = 0
    n_queries: int = 0
    dim: int = 0
    #: the global row of this shard's first row as the caller claims it (-1: none claimed)
    offset: int = -1
    #: after the block: every rank's (n_rows, n_queries, dim, offset), in rank order
    layout: list[tuple[int, ...]] = dataclasses.field(default_factory=list)

    @property
    def offsets(self) -> list[int]:
        """First global row of each rank's shard, plus the total at the end."""
        return [0, *np.cumsum([r[0] for r in self.layout]).tolist()]


def _describe(exc: BaseException, path: PathLike | None) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, XlingError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if path is not None and str(path) not in text:
        text = f"{path}: {text}"
    return text


def _status(failure: BaseException | None, path: PathLike | None) -> list | None:
    """What a rank tells the others about its block: None (fine), or [message, origin rank, agreed already].

    A :class:`DistributedError` caught by an outer step (a rank stopped, or an
    inner step failed) travels as it is, so its message is not wrapped twice.
    """
    if failure is None:
        return None
    if isinstance(failure, DistributedError):
        return [str(failure), failure.rank, True]
    return [_describe(failure, path), dist.get_rank(), False]


def _agreed_error(statuses: list, members: list[int], what: str) -> DistributedError:
    """The one error every rank raises: the first rank's own failure, else the first passed-on one.

    Ranks that fail only because another stopped (a collective that lost its
    peer) come last: the failure that caused them is the one to report.
    """
    world = dist.get_world_size()
    failed = [(members[r], s) for r, s in enumerate(statuses) if s is not None]
    own = [(r, s) for r, s in failed if not s[2]]
    if own:
        first, (text, _, _) = own[0]
        rest = [r for r, _ in own[1:]]
        others = f" (ranks {', '.join(map(str, rest))} failed too)" if rest else ""
        return DistributedError(f"rank {first} of {world} failed while {what}: {text}{others}", first)
    agreed = [s for _, s in failed if s[1] is not None] or [s for _, s in failed]
    return DistributedError(agreed[0][0], agreed[0][1])


@contextlib.contextmanager
def agree(what: str, *, group=None, path: PathLike | None = None, patient: bool = False) -> Iterator[_Step]:
    """Run a block on every rank of ``group``; if it raises on any rank, raise on all.

    At the end of the block the ranks exchange an error flag and the shapes the
    block recorded on the yielded object (``n_rows``, ``n_queries``, ``dim``).
    If some rank failed, every rank raises :class:`DistributedError` with the
    message of the lowest failing rank (``"rank 1 of 3 failed while reading
    the shard: en.vec:1234: Expected ..."``); that rank chains its own
    exception. Without a process group the block just runs.

    Parameters
    ----------
    what : str
        What the block does, for the message ("reading the shard").
    group : ProcessGroup, optional
    path : path-like, optional
        The file the block reads, named in the message if the error does not name it.
    patient : bool
        For blocks whose length differs between ranks (reading files, a
        fit on one rank, a rank's own sources): the ranks meet in the
        rendezvous store instead of a collective, and wait for each other as
        long as the others' heartbeats go on; a rank whose heartbeat stops for
        the collective timeout is reported dead. A rank that fails also
        stops the ranks waiting in any other patient step. No shapes are
        exchanged (``layout`` stays empty).
    """
    step = _Step()
    failure: BaseException | None = None
    try:
        yield step
    except Exception as exc:  # every failure must reach the other ranks, or they would wait for this one
        if not _active():
            raise
        failure = exc
    if not _active():
        return
    members = group_ranks(group)
    if patient and _RDV.store is not None:
        statuses = _meet(_status(failure, path), members, what)
    else:
        mine = torch.tensor([int(failure is not None), step.n_rows, step.n_queries, step.dim, step.offset],
                            dtype=torch.int64)
        rows = [tuple(int(x) for x in r) for r in _all_gather(mine, group, what)]
        if not any(row[0] for row in rows):
            step.layout = [row[1:] for row in rows]
            return
        statuses = _gather_objects(_status(failure, path), group, what)
    if any(s is not None for s in statuses):
        error = _agreed_error(statuses, members, what)
        if failure is not None:
            raise error from failure
        raise error


#: patient meetings held so far, per group (its members): every member counts the same
_MEETINGS: dict[tuple[int, ...], int] = {}


def _store_op(what: str, op):
    try:
        return op()
    except (RuntimeError, OSError) as exc:  # DistStoreError: the store's host (rank 0 or the agent) is gone
        raise _lost(what, None, exc) from exc


def _meet(status, members: list[int], what: str) -> list:
    """Post this rank's status in the store and wait for every member's, watching their heartbeats."""
    store, timeout = _RDV.store, _RDV.timeout
    key = tuple(members)
    _MEETINGS[key] = _MEETINGS.get(key, 0) + 1
    tag = f"meet/{'.'.join(map(str, members))}/{_MEETINGS[key]}"
    me, world = dist.get_rank(), dist.get_world_size()
    start = time.perf_counter()
    _store_op(what, lambda: store.set(f"{tag}/{me}", json.dumps(status)))
    if status is not None:
        # A failed rank does not wait: the ranks of this meeting read its status, and those waiting in
        # any other patient step (ranks can be one step apart when the failure came mid-step) find
        # the first failure under "abort".
        if not status[2]:
            _store_op(what, lambda: store.compare_set("abort", "", json.dumps([status[0], me, what])))
        return [status if r == me else None for r in members]
    pending = [r for r in members if r != me]
    beats = {r: (None, time.monotonic()) for r in pending}
    delay = 0.001
    while pending:
        still = []
        for r in pending:
            if _store_op(what, lambda: store.check([f"{tag}/{r}"])):
                continue
            beat, now = _store_op(what, lambda: store.add(f"beat/{r}", 0)), time.monotonic()
            if beat != beats[r][0]:
                beats[r] = (beat, now)
            elif now - beats[r][1] > timeout:
                raise DistributedError(
                    f"rank {r} of {world} stopped (killed or crashed: no sign of life for {timeout:.0f} s) "
                    f"while rank {me} waited for it to finish {what}"
                )
            still.append(r)
        pending = still
        if pending and _store_op(what, lambda: store.check(["abort"])):
            text, rank, during = json.loads(_store_op(what, lambda: store.get("abort")))
            raise DistributedError(f"rank {rank} of {world} failed while {during}: {text}", rank)
        if pending:
            time.sleep(delay)
            delay = min(2 * delay, 0.2)
    statuses = [json.loads(_store_op(what, lambda r=r: store.get(f"{tag}/{r}"))) for r in members]
    elapsed = time.perf_counter() - start
    for stats in _RECORDERS:
        stats.calls += 1
        stats.seconds += elapsed
    return statuses


def _check_layout(step: _Step, group) -> tuple[int, int]:
    """This rank's first global row and the total number of rows.

    Decided from the layout every rank received, so a bad layout raises the
    same error on every rank.
    """
    rank, world = rank_and_world(group)
    dims = {row[2] for row in step.layout if row[0] > 0}
    queries = {row[1] for row in step.layout}
    if len(dims) > 1 or len(queries) > 1:
        shown = ", ".join(f"rank {r}: {row[1]} x {row[2]}" for r, row in enumerate(step.layout))
        raise DistributedError(
            f"Expected the same queries (rows x dim) and dimension on every rank, got {shown}"
        )
    offsets = step.offsets
    for r, row in enumerate(step.layout):
        if row[3] >= 0 and row[3] != offsets[r]:
            raise DistributedError(
                f"rank {r} of {world}: expected the shards in rank order, so its shard starts at row "
                f"{offsets[r]}, got offset={row[3]}", r
            )
    return offsets[rank], offsets[-1]


# merging
# ---------------------------------------------------------------------------
def _n_rows(A) -> int:
    return int(A.shape[0]) if hasattr(A, "shape") else len(A)


def _dim(A) -> int:
    shape = A.shape if hasattr(A, "shape") else np.shape(A)
    return int(shape[1]) if len(shape) == 2 else 0


def _padded(values: torch.Tensor, indices: torch.Tensor | None, n: int, k: int):
    """``(values, indices)`` widened to k columns with -inf and -1 (a shard with fewer than k rows)."""
    v = torch.full((n, k), -float("inf"), dtype=values.dtype)
    v[:, : values.shape[1]] = values
    if indices is None:
        return v, None
    i = torch.full((n, k), -1, dtype=torch.int64)
    i[:, : indices.shape[1]] = indices
    return v, i


def _merge_top(values: torch.Tensor, indices: torch.Tensor | None, k: int, group, what: str):
    """The k best of every rank's (n, k) lists, best first; ties go to the lower rank (lower global row).

    A stable sort of the lists concatenated in rank order keeps, among equal
    values, the earlier rank and, within a rank, the local order.
    """
    V = torch.cat(_all_gather(values, group, what), dim=1)
    order = V.argsort(dim=1, descending=True, stable=True)[:, :k]
    top = V.gather(1, order)
    if indices is None:
        return top, None
    return top, torch.cat(_all_gather(indices, group, what), dim=1).gather(1, order)


def _best_over_ranks(values: torch.Tensor, indices: torch.Tensor, group, what: str):
    """Per entry, the largest of every rank's ``values`` (n,) and its index; ties go to the lower rank."""
    V = torch.stack(_all_gather(values, group, what))
    I = torch.stack(_all_gather(indices, group, what))
    best, rank = V.max(dim=0)  # torch.max returns the first maximal entry
    return best, I.gather(0, rank.unsqueeze(0))[0]


def gather_rows(t: torch.Tensor, *, group=None, what: str = "gathering per-row results") -> torch.Tensor:
    """Concatenate every rank's ``t`` (n_r, ...) along rows, in rank order (shards of uneven size allowed).

    Without a process group ``t`` is returned. Meant for per-key vectors
    (``r_z``, best matches), never for score matrices.
    """
    if not _active():
        return t
    t = torch.as_tensor(t)
    sizes = [int(s[0]) for s in _all_gather(torch.tensor([t.shape[0]]), group, what)]
    longest = max(sizes)
    pad = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype)
    pad[: t.shape[0]] = t
    parts = _all_gather(pad, group, what)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


def _top_values(queries, keys, k: int, n_keys: int, opts) -> torch.Tensor:
    """The (n_q, k) largest cosines of each query within the shard, -inf padded."""
    n_q = _n_rows(queries)
    if n_keys == 0:
        return torch.full((n_q, k), -float("inf"))
    return _padded(knn(queries, keys, min(k, n_keys), **opts)[0], None, n_q, k)[0]


def _biased_top(queries, keys, k: int, scale: float, key_bias: torch.Tensor, opts):
    """Top-k keys of each query by ``scale * cos(q, y) - key_bias[y]``.

    This is :class:`~xling.retrieval.Scorer`'s inverted-softmax score with the
    given per-key terms in place of the normalisers: the same tiled pass, with
    CSLS's ``r_S`` (and ``scale=2``) or a normaliser over *all* shards.
    """
    return Scorer(queries, keys, method="isf", beta=scale, key_terms=key_bias, **opts).top(k)


def _opts(batch_size, tile_size, device) -> dict:
    return dict(batch_size=batch_size, tile_size=tile_size, device=device)


# ---------------------------------------------------------------------------
# sharded retrieval
# ---------------------------------------------------------------------------
def sharded_knn(
    queries,
    keys,
    k: int = 10,
    *,
    offset: int | None = None,
    metric: str = "cosine",
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`xling.retrieval.knn` against keys split by rows across the ranks.

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
        The same on every rank.
    keys : array-like or Tensor of shape (n_shard, d)
        This rank's rows of the key matrix (rank 0 the first rows, and so on;
        a shard may be empty).
    k : int
    offset : int, optional
        Global row of ``keys[0]``; checked against the shard sizes of the ranks
        before this one (None: taken from them).
    metric, batch_size, tile_size, device
        As in :func:`~xling.retrieval.knn`.
    group : ProcessGroup, optional
        None: the default group.

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_keys)), float32, CPU
        The same on every rank; ``n_keys`` is the total over the ranks.
    indices : Tensor of shape (n_q, min(k, n_keys)), int64, CPU
        Global key rows.
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return knn(queries, keys, k, metric=metric, **opts)
    with agree("scoring the queries against the key shard (knn)", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(keys), _n_rows(queries), _dim(keys)
        step.offset = -1 if offset is None else int(offset)
        if step.n_rows:
            v, i = knn(queries, keys, min(k, step.n_rows), metric=metric, **opts)
        else:
            v, i = torch.empty(step.n_queries, 0), torch.empty(step.n_queries, 0, dtype=torch.int64)
    start, total = _check_layout(step, group)
    v, i = _padded(v, i + start, step.n_queries, k)
    return _merge_top(v, i, min(k, total), group, "merging the top k (knn)")


def sharded_topk_mean(
    queries,
    keys,
    k: int = 10,
    *,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> torch.Tensor:
    """:func:`xling.retrieval.topk_mean` against sharded keys: the (n_q,) mean cosine to the k nearest keys.

    Only values travel: (n_q, k) float32 per rank. Parameters as in :func:`sharded_knn`.
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return topk_mean(queries, keys, k, **opts)
    with agree("scoring the queries against the key shard (topk_mean)", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(keys), _n_rows(queries), _dim(keys)
        step.offset = -1 if offset is None else int(offset)
        top = _top_values(queries, keys, k, step.n_rows, opts)
    _, total = _check_layout(step, group)
    return _merge_top(top, None, min(k, total), group, "merging the neighbourhood terms")[0].mean(dim=1)


def sharded_csls_terms(
    X,
    Z,
    knn_k: int = 10,
    *,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`xling.retrieval.csls_terms` with Z split by rows across the ranks.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        All source vectors, the same on every rank.
    Z : array-like or Tensor of shape (n_shard, d)
        This rank's rows of the target matrix.
    knn_k, offset, group, batch_size, tile_size, device
        As in :func:`sharded_knn`.

    Returns
    -------
    r_x : Tensor of shape (n_x,), float32, CPU
        Mean cosine of each x to its knn_k nearest rows of the whole Z; the same on every rank.
    r_z : Tensor of shape (n_shard,), float32, CPU
        Mean cosine of each z of this shard to its knn_k nearest rows of X
        (:func:`gather_rows` assembles the whole vector).
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return csls_terms(X, Z, knn_k, **opts)
    with agree("computing the CSLS terms of the shard", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(Z), _n_rows(X), _dim(Z)
        step.offset = -1 if offset is None else int(offset)
        r_z, top = _shard_terms(X, Z, knn_k, step.n_rows, opts)
    _, total = _check_layout(step, group)
    return _merged_mean(top, min(knn_k, total), group), r_z


def _shard_terms(X, Z, knn_k: int, n_rows: int, opts) -> tuple[torch.Tensor, torch.Tensor]:
    """``r_z`` of the shard (its rows against all of X) and its (n_x, knn_k) row top-k cosines, -inf padded.

    One pass, :func:`~xling.retrieval.csls_terms` on the shard: r_z needs only
    this shard against X, while r_x needs the knn_k best of every shard.
    """
    n_x = _n_rows(X)
    if n_rows == 0:
        return torch.empty(0), torch.full((n_x, knn_k), -float("inf"))
    _, r_z, top = csls_terms(X, Z, knn_k, return_top=True, **opts)
    return r_z, _padded(top, None, n_x, knn_k)[0]


def _merged_mean(top: torch.Tensor, k: int, group) -> torch.Tensor:
    """Mean of the k best of every rank's row top-k values: ``r_x`` over the whole Z."""
    # summed best first, as xling.retrieval sums its own sets, so that the terms equal one process's
    return _merge_top(top, None, k, group, "merging the CSLS terms")[0].mean(dim=1)


def sharded_csls(
    queries,
    keys,
    k: int = 1,
    *,
    knn_k: int = 10,
    sources=None,
    key_terms=None,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`xling.retrieval.csls` against keys split by rows across the ranks.

    ``r_S`` of this shard's keys is taken over ``sources`` (default: the
    queries), which every rank holds whole, so it stays local; ``r_T`` of each
    query merges the knn_k best cosines of every shard.

    Parameters
    ----------
    queries, keys, k, offset, group, batch_size, tile_size, device
        As in :func:`sharded_knn`.
    knn_k : int
    sources : array-like or Tensor of shape (n_s, d), optional
        The whole source space (the same on every rank).
    key_terms : array-like of shape (n_shard,), optional
        Precomputed ``r_S`` of this shard's keys (the ``r_z`` of :func:`sharded_csls_terms`).

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_keys)), float32, CPU
        Full CSLS values, descending; the same on every rank.
    indices : Tensor of shape (n_q, min(k, n_keys)), int64, CPU
        Global key rows.
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return csls(queries, keys, k, knn_k=knn_k, sources=sources, key_terms=key_terms, **opts)
    with agree("scoring the queries against the key shard (csls)", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(keys), _n_rows(queries), _dim(keys)
        step.offset = -1 if offset is None else int(offset)
        if step.n_rows:
            r_s = key_terms if key_terms is not None else \
                topk_mean(keys, queries if sources is None else sources, knn_k, **opts)
            # 2 cos - r_S ranks the keys of a query as CSLS does (r_T is constant along the row)
            v, i = _biased_top(queries, keys, min(k, step.n_rows), 2.0, r_s, opts)
            top = _top_values(queries, keys, knn_k, step.n_rows, opts)
        else:
            v, i = torch.empty(step.n_queries, 0), torch.empty(step.n_queries, 0, dtype=torch.int64)
            top = torch.full((step.n_queries, knn_k), -float("inf"))
    start, total = _check_layout(step, group)
    r_t = _merge_top(top, None, min(knn_k, total), group, "merging the CSLS terms")[0].mean(dim=1)
    v, i = _padded(v, i + start, step.n_queries, k)
    v, i = _merge_top(v, i, min(k, total), group, "merging the top k (csls)")
    return v - r_t[:, None], i


def sharded_inverted_softmax(
    queries,
    keys,
    k: int = 1,
    *,
    beta: float = 30.0,
    sources=None,
    key_terms=None,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`xling.retrieval.inverted_softmax` against keys split by rows across the ranks.

    Each key's normaliser runs over the sources, which every rank holds whole,
    so only the top k is merged. Parameters and returns as in :func:`sharded_csls`
    (``key_terms``: this shard's normalisers).
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return inverted_softmax(queries, keys, k, beta=beta, sources=sources, key_terms=key_terms, **opts)
    with agree("scoring the queries against the key shard (inverted softmax)", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(keys), _n_rows(queries), _dim(keys)
        step.offset = -1 if offset is None else int(offset)
        if step.n_rows:
            v, i = inverted_softmax(queries, keys, min(k, step.n_rows), beta=beta, sources=sources,
                                    key_terms=key_terms, **opts)
        else:
            v, i = torch.empty(step.n_queries, 0), torch.empty(step.n_queries, 0, dtype=torch.int64)
    start, total = _check_layout(step, group)
    v, i = _padded(v, i + start, step.n_queries, k)
    return _merge_top(v, i, min(k, total), group, "merging the top k (inverted softmax)")


# ---------------------------------------------------------------------------
# sharded dictionary induction
# ---------------------------------------------------------------------------
def _logsumexp_rows(Z, X, beta: float, opts) -> torch.Tensor:
    """``log sum_{z in shard} exp(beta cos(x, z))`` for every x: Scorer's normalisers of keys X over sources Z."""
    return Scorer(Z, X, method="isf", beta=beta, **opts).key_bias.cpu()


def sharded_best_matches(
    X,
    Z,
    *,
    method: str = "csls",
    knn_k: int = 10,
    beta: float = 30.0,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> Matches:
    """:func:`xling.retrieval.best_matches` with Z split by rows across the ranks.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        All source vectors, the same on every rank.
    Z : array-like or Tensor of shape (n_shard, d)
        This rank's rows of the target matrix.
    method : {"nn", "csls", "isf"}
    knn_k, beta
        As in :func:`~xling.retrieval.best_matches`.
    keep_prob, generator
        Stochastic dictionary induction as in :func:`~xling.retrieval.best_matches`.
        Every rank draws the mask's key from its own ``generator`` (seeded
        alike on every rank) and hashes its shard's global columns, so the
        matches equal one process's for the same seed.
    offset, group, batch_size, tile_size, device
        As in :func:`sharded_knn`.

    Returns
    -------
    Matches
        Over the whole problem (forward: (n_x,), backward: (n_z,) with n_z the
        total of the shards), the same on every rank, so ``.pairs(...)`` gives
        the single-process dictionary.

    Notes
    -----
    Each shard runs the passes of one process on its rows: "nn" one pass;
    "csls" one for the terms (its ``r_z`` and its share of ``r_x``, merged over
    the ranks) and one for both directions; "isf" two for the normalisers
    (``log sum exp`` over X stays local, over Z is merged) and one for both
    directions. Ties go to the lower row, within a shard as across shards.
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return best_matches(X, Z, method=method, knn_k=knn_k, beta=beta, keep_prob=keep_prob, generator=generator,
                            **opts)
    if method not in ("nn", "csls", "isf"):
        raise InputError(f"Expected method to be one of nn, csls, isf, got {method!r}")
    n_x = _n_rows(X)
    z_terms = lse = top = None
    with agree(f"computing the {method} terms of the shard", group=group) as step:
        step.n_rows, step.n_queries, step.dim = _n_rows(Z), n_x, _dim(Z)
        step.offset = -1 if offset is None else int(offset)
        local = step.n_rows > 0
        if method == "csls":
            z_terms, top = _shard_terms(X, Z, knn_k, step.n_rows, opts)
        elif method == "isf":
            # per z, its normaliser over all of X (local); per x, its part of the normaliser over Z
            z_terms = Scorer(X, Z, method="isf", beta=beta, **opts).key_bias.cpu() if local else torch.empty(0)
            lse = _logsumexp_rows(Z, X, beta, opts) if local else torch.full((n_x,), -float("inf"))
    start, total = _check_layout(step, group)
    terms = None
    if method == "csls":
        terms = (_merged_mean(top, min(knn_k, total), group), z_terms)
    elif method == "isf":
        terms = (torch.logsumexp(torch.stack(_all_gather(lse, group, "merging the normalisers")), dim=0), z_terms)
    with agree(f"finding the best {method} matches in the shard", group=group):
        if local:
            m = best_matches(X, Z, method=method, knn_k=knn_k, beta=beta, keep_prob=keep_prob, generator=generator,
                             terms=terms, column_offset=start, n_columns=total, **opts)
            fv, fi, bv, bi = m.forward_score, m.forward_index + start, m.backward_score, m.backward_index
        else:
            if keep_prob < 1.0:
                _mask_key(generator)  # an empty shard draws the key too, so its generator stays in step
            fv, fi = torch.full((n_x,), -float("inf")), torch.full((n_x,), -1, dtype=torch.int64)
            bv, bi = torch.empty(0), torch.empty(0, dtype=torch.int64)
    fv, fi = _best_over_ranks(fv, fi, group, "merging the forward matches")
    bv = gather_rows(bv, group=group, what="gathering the backward matches")
    bi = gather_rows(bi, group=group, what="gathering the backward matches")
    return Matches(fv, fi, bv, bi)


def sharded_induce_pairs(
    X,
    Z,
    *,
    method: str = "csls",
    direction: str = "forward",
    max_rank: int | None = None,
    threshold: float | None = None,
    knn_k: int = 10,
    beta: float = 30.0,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    offset: int | None = None,
    group=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> np.ndarray:
    """:func:`xling.retrieval.induce_pairs` with Z split by rows across the ranks.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        All source vectors, the same on every rank.
    Z : array-like or Tensor of shape (n_shard, d)
        This rank's rows of the target matrix.
    method, direction, max_rank, threshold, knn_k, beta, keep_prob, generator
        As in :func:`~xling.retrieval.induce_pairs`; ``max_rank`` counts global rows of Z
        (see :func:`sharded_best_matches` for the dropout mask).
    offset, group, batch_size, tile_size, device
        As in :func:`sharded_knn`.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        ``(row in X, global row in Z)``, sorted, no duplicates; the same on every rank.
    """
    opts = _opts(batch_size, tile_size, device)
    if not _active():
        return induce_pairs(X, Z, method=method, direction=direction, max_rank=max_rank, threshold=threshold,
                            knn_k=knn_k, beta=beta, keep_prob=keep_prob, generator=generator, **opts)
    if direction not in DIRECTIONS:
        raise InputError(f"Expected direction forward, backward, union or intersection, got {direction!r}")
    if max_rank is not None:
        if not isinstance(max_rank, (int, np.integer)) or isinstance(max_rank, bool) or max_rank < 1:
            raise InputError(f"Expected max_rank to be a positive integer, got {max_rank!r}")
        with agree("checking the shard layout", group=group) as step:
            step.n_rows, step.n_queries, step.dim = _n_rows(Z), _n_rows(X), _dim(Z)
            step.offset = -1 if offset is None else int(offset)
        start, _ = _check_layout(step, group)
        # the shard keeps its rows of the global prefix [0, max_rank); later shards become empty
        # (the trimmed shards stay contiguous, so their offsets follow from their sizes again)
        X, Z, offset = X[:max_rank], Z[: max(0, min(step.n_rows, int(max_rank) - start))], None
    matches = sharded_best_matches(X, Z, method=method, knn_k=knn_k, beta=beta, keep_prob=keep_prob,
                                   generator=generator, offset=offset, group=group, **opts)
    pairs = matches.pairs(direction, threshold)
    logger.info("induced %d pairs (%s, %s, max_rank=%s) over %d ranks", len(pairs), method, direction, max_rank,
                rank_and_world(group)[1])
    return pairs


# ---------------------------------------------------------------------------
# one rank computes, the others receive
# ---------------------------------------------------------------------------
def _send_bytes(payload: bytes | None, src: int, group, what: str) -> bytes:
    """``payload`` of global rank ``src`` on every rank of ``group`` (two broadcasts: its length, its bytes)."""
    dev = _comm_device(group)
    mine = dist.get_rank() == src
    start = time.perf_counter()
    try:
        size = torch.tensor([len(payload) if mine else 0], dtype=torch.int64, device=dev)
        dist.broadcast(size, src=src, group=group)
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(dev) if mine else \
            torch.empty(int(size.item()), dtype=torch.uint8, device=dev)
        dist.broadcast(data, src=src, group=group)
    except (RuntimeError, OSError) as exc:
        raise _lost(what, group, exc) from exc
    elapsed = time.perf_counter() - start
    n = int(size.item())
    for stats in _RECORDERS:
        stats.calls += 2
        stats.seconds += elapsed
        if mine:
            stats.bytes_sent += n + 8
        else:
            stats.bytes_received += n + 8
    return payload if mine else data.cpu().numpy().tobytes()


def on_root(fn, *, group, what: str):
    """``fn()`` on the first rank of ``group``, its result sent to the other ranks (None: just ``fn()``).

    For small results that every rank needs, computed once so that every rank
    holds the very same numbers (a fitted map, an initial dictionary) whatever
    its hardware and thread count. The others wait patiently (see
    :func:`agree`); a failure of ``fn`` stops every rank with its message.

    Parameters
    ----------
    fn : callable
        Takes no argument; its result must pickle.
    group : ProcessGroup or None
    what : str
        For messages ("fitting the map").
    """
    if group is None:
        return fn()
    root = group_ranks(group)[0]
    payload = None
    with agree(what, group=group, patient=True):
        if dist.get_rank() == root:
            payload = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
    return pickle.loads(_send_bytes(payload, root, group, f"receiving the result of {what}"))


def fit(mapper, X, Z, pairs=None, *, group=None, **fit_params):
    """``mapper.fit(X, Z, pairs, **fit_params)`` over ``group``, the same fitted state on every rank.

    A mapper whose class sets ``fits_sharded = True`` (self-learning) shards its
    own work: every rank fits, inside :func:`scope` ``(group)``. Any other
    mapper is fitted on the group's first rank, and its learned attributes
    (those ending in ``_``) are copied to the others. None: just ``mapper.fit``.

    Returns
    -------
    mapper
        The same object, fitted.
    """
    if group is None:
        return mapper.fit(X, Z, pairs, **fit_params)
    name = type(mapper).__name__
    if getattr(mapper, "fits_sharded", False):
        with scope(group):
            return mapper.fit(X, Z, pairs, **fit_params)

    def learned():
        mapper.fit(X, Z, pairs, **fit_params)
        return {key: value for key, value in vars(mapper).items() if key.endswith("_") and not key.startswith("_")}

    vars(mapper).update(on_root(learned, group=group, what=f"fitting {name}"))
    return mapper


# ---------------------------------------------------------------------------
# whole matrices, rows of Z split over a group
# ---------------------------------------------------------------------------
def split_best_matches(X, Z, *, group=None, **kwargs) -> Matches:
    """:func:`xling.retrieval.best_matches` of whole X and Z, each rank of ``group`` scoring its rows of Z.

    Every rank holds all of X and Z (self-learning needs them whole to fit);
    the (n_x, n_z) scores, the expensive part, are split. None: one process.
    ``kwargs`` as in :func:`sharded_best_matches`.
    """
    if group is None:
        return best_matches(X, Z, **kwargs)
    return sharded_best_matches(X, Z[local_rows(_n_rows(Z), group)], group=group, **kwargs)


class ShardedScorer:
    """:class:`~xling.retrieval.Scorer` with the keys split by rows across the ranks of ``group``.

    The same methods with global key rows: :meth:`top` merges the k best of
    every shard, :meth:`best_rank` takes the best candidate score over the
    shards and adds up the shards' counts of keys above it. Per-key terms
    (CSLS's ``r_S``, the inverted-softmax normalisers) are local to a shard,
    since every rank holds all the sources; CSLS's ``r_T`` merges the ``knn_k``
    best cosines of every shard.

    Parameters
    ----------
    queries : array-like of shape (n_q, d)
        The same on every rank.
    keys : array-like of shape (n_shard, d)
        This rank's rows of the keys (rank order; :func:`local_rows`).
    method, knn_k, beta, sources, batch_size, tile_size, device
        As in :class:`~xling.retrieval.Scorer`.
    offset, group
        As in :func:`sharded_knn`.
    """

    def __init__(self, queries, keys, *, method: str = "csls", knn_k: int = 10, beta: float = 30.0, sources=None,
                 offset: int | None = None, group=None, batch_size: int | None = None, tile_size: int | None = None,
                 device=None):
        opts = _opts(batch_size, tile_size, device)
        self.method, self.group = method, group
        self._local: Scorer | None = None
        cos_top = None
        with agree(f"scoring the queries against the key shard ({method})", group=group) as step:
            step.n_rows, step.n_queries, step.dim = _n_rows(keys), _n_rows(queries), _dim(keys)
            step.offset = -1 if offset is None else int(offset)
            if method not in ("nn", "csls", "isf"):
                raise InputError(f"Expected method to be one of nn, csls, isf, got {method!r}")
            if step.n_rows and method == "csls":
                # scores 2 cos - r_S ranked within the shard; r_T, constant along a query's row, comes after the merge
                r_s = topk_mean(keys, queries if sources is None else sources, knn_k, **opts)
                self._local = Scorer(queries, keys, method="isf", beta=2.0, key_terms=r_s, **opts)
            elif step.n_rows:
                self._local = Scorer(queries, keys, method=method, beta=beta, sources=sources, **opts)
            if method == "csls":
                cos_top = _top_values(queries, keys, knn_k, step.n_rows, opts)
        self.start, self.n_keys = _check_layout(step, group)
        self.n_rows, self.n_queries = step.n_rows, step.n_queries
        self.r_t = None if cos_top is None else _merged_mean(cos_top, min(knn_k, self.n_keys), group)
        self.scale = {"nn": 1.0, "csls": 2.0}.get(method, float(beta))
        self._dtype = _DTYPE.get()

    @property
    def tolerance(self) -> float:
        """As :attr:`xling.retrieval.Scorer.tolerance`."""
        return _tie_tolerance(self._dtype, self.scale)

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best keys of every query: (n_q, min(k, n_keys)) scores and global rows, the same on every rank."""
        with agree(f"ranking the keys of the shard ({self.method})", group=self.group):
            if self._local is not None:
                v, i = self._local.top(min(k, self.n_rows))
                i = i + self.start
            else:
                v, i = torch.empty(self.n_queries, 0), torch.empty(self.n_queries, 0, dtype=torch.int64)
        v, i = _padded(v, i, self.n_queries, k)
        v, i = _merge_top(v, i, min(k, self.n_keys), self.group, f"merging the top k ({self.method})")
        return (v - self.r_t[:, None] if self.r_t is not None else v), i

    def best_rank(self, candidates, rows=None) -> torch.Tensor:
        """:meth:`xling.retrieval.Scorer.best_rank` with ``candidates`` as global key rows (-1 pads)."""
        cand = torch.as_tensor(candidates, dtype=torch.int64)
        n = len(cand) if rows is None else len(rows)
        inside = (cand >= self.start) & (cand < self.start + self.n_rows)
        with agree("scoring the candidates in the shard", group=self.group):
            best = self._local.best_score(torch.where(inside, cand - self.start, -1), rows) \
                if self._local is not None else torch.full((n,), -float("inf"))
        best = torch.stack(_all_gather(best, self.group, "merging the candidate scores")).amax(dim=0)
        with agree("counting the keys above the candidates", group=self.group):
            counts = self._local.count_above(best + self.tolerance, rows) \
                if self._local is not None else torch.zeros(n, dtype=torch.int64)
        return 1 + torch.stack(_all_gather(counts, self.group, "adding up the counts")).sum(dim=0)


def scorer(queries, keys, *, group=None, **kwargs):
    """A :class:`~xling.retrieval.Scorer` of whole ``keys``, or with ``group`` a :class:`ShardedScorer` of this rank's rows.

    Every rank holds all the keys; only its rows are scored. ``kwargs`` as in
    :class:`~xling.retrieval.Scorer`.
    """
    if group is None:
        return Scorer(queries, keys, **kwargs)
    return ShardedScorer(queries, keys[local_rows(_n_rows(keys), group)], group=group, **kwargs)


def translate(src_emb: Embeddings, tgt_emb: Embeddings, words, k: int = 5, *, method: str = "csls", knn_k: int = 10,
              beta: float = 30.0, group=None, batch_size: int | None = None, tile_size: int | None = None,
              device=None, precision: str | None = None) -> list[list[tuple[str, float]]]:
    """:func:`xling.retrieval.translate`, each rank of ``group`` scoring its rows of the target vocabulary.

    Every rank holds both vocabularies whole and gets the same result. None: one process.
    """
    from xling import retrieval

    if group is None:
        return retrieval.translate(src_emb, tgt_emb, words, k, method=method, knn_k=knn_k, beta=beta,
                                   batch_size=batch_size, tile_size=tile_size, device=device, precision=precision)
    rows = retrieval.translation_rows(src_emb, words)
    if not len(rows):
        return []
    with retrieval.at_precision(precision):
        found = scorer(src_emb.vectors[rows], tgt_emb.vectors, group=group, method=method, knn_k=knn_k, beta=beta,
                       sources=src_emb.vectors, batch_size=batch_size, tile_size=tile_size, device=device).top(k)
    return retrieval.translations(tgt_emb, *found)


# ---------------------------------------------------------------------------
# many languages: the sources over the ranks
# ---------------------------------------------------------------------------
_SPLITTING: list[bool] = []


def splitting_sources() -> bool:
    """Whether :func:`align` is running one source's alignment (so :func:`xling.workflow.align` runs it as it is)."""
    return bool(_SPLITTING)


def plan_sources(sources, members) -> dict[str, tuple[int, ...]]:
    """The ranks that align each source: one rank per source, or several sharding one source.

    With at least as many sources as ranks, source i goes to rank ``i % W``;
    with fewer, the ranks are dealt out ``r % K`` so that every source gets
    about ``W / K`` ranks, which shard its self-learning and evaluation.

    Examples
    --------
    >>> plan_sources(["de", "en", "fr"], [0, 1])
    {'de': (0,), 'en': (1,), 'fr': (0,)}
    >>> plan_sources(["en"], [0, 1, 2])
    {'en': (0, 1, 2)}
    """
    sources, members = list(sources), list(members)
    K, W = len(sources), len(members)
    if K >= W:
        return {lang: (members[i % W],) for i, lang in enumerate(sources)}
    return {lang: tuple(members[r] for r in range(W) if r % K == i) for i, lang in enumerate(sources)}


def align(spaces, target, lexicons=None, *, evals=None, limit: int | None = None, read_options=None, progress=None,
          group=None, **kwargs):
    """:func:`xling.workflow.align` with the sources spread over the ranks of ``group``.

    Each rank reads the target, then aligns its sources (:func:`plan_sources`)
    against it, alone or sharded with the other ranks of that source; the
    ranks then hand their results to the first rank, which checks that the
    hub space is the same for every source, as one process does.

    Parameters
    ----------
    spaces, target, lexicons, evals, limit, read_options, progress, kwargs
        As in :func:`xling.workflow.align`.
    group : ProcessGroup, optional
        Default: the current :func:`scope`'s.

    Returns
    -------
    AlignResult
        On the group's first rank, the whole result (what one process
        returns, timings aside). On the others, the result of the sources
        they aligned (its report lists only those).

    Raises
    ------
    DistributedError
        A rank failed (every rank raises the message of the first one that did).
    """
    from xling import workflow

    group = current_group() if group is None else group
    if group is None:
        return workflow.align(spaces, target, lexicons, evals=evals, limit=limit, read_options=read_options,
                              progress=progress, **kwargs)
    members, me = group_ranks(group), dist.get_rank()
    lexicons, evals = dict(lexicons or {}), dict(evals or {})
    sources = [lang for lang in spaces if lang != target]
    plan = plan_sources(sources, members)
    groups = {}
    for lang in sources:  # every rank makes every subgroup, in the same order
        ranks = plan[lang]
        groups[lang] = None if len(ranks) == 1 else group if len(ranks) == len(members) else dist.new_group(list(ranks))

    def read(lang):
        return workflow.read_vectors(spaces[lang], limit=limit, read_options=read_options, progress=progress) \
            if not isinstance(spaces[lang], Embeddings) else spaces[lang]

    path = None if isinstance(spaces[target], Embeddings) else spaces[target]
    with agree("reading the target vectors", group=group, path=path, patient=True):
        tgt = read(target)
    done = {}
    with agree("aligning its sources", group=group, patient=True):
        for lang in sources:
            if me not in plan[lang]:
                continue
            sub, path = groups[lang], None if isinstance(spaces[lang], Embeddings) else spaces[lang]
            # a file that fails on one rank of a source must stop that source's other ranks before they shard
            with agree(f"reading the vectors of {lang}", group=sub, path=path, patient=True) if sub is not None \
                    else contextlib.nullcontext():
                src = read(lang)
            _SPLITTING.append(True)
            try:
                with scope(sub):
                    one = workflow.align({lang: src, target: tgt}, target,
                                         {lang: lexicons[lang]} if lang in lexicons else None,
                                         evals={lang: evals[lang]} if lang in evals else None, progress=progress,
                                         **kwargs)
            finally:
                _SPLITTING.pop()
            entry = one.report["sources"][lang]
            entry["source"] = workflow._where(spaces, lang)
            entry["ranks"] = list(plan[lang])
            done[lang] = (entry, one.alignments[lang], one.mappers[lang], one.embeddings[lang], one.report)
        logger.info("rank %d finished its sources (%s); waiting for the other ranks", me, ", ".join(done) or "none")
    root = members[0]
    # each source's first rank hands it over (its other ranks hold the same result)
    mine = {lang: part for lang, part in done.items() if plan[lang][0] == me}
    try:
        parts: list | None = [None] * len(members) if me == root else None
        dist.gather_object(mine, parts, dst=root, group=group)
    except (RuntimeError, OSError) as exc:
        raise _lost("gathering the aligned sources", group, exc) from exc
    result = None
    with agree("merging the aligned sources", group=group, patient=True):
        if me == root:
            merged = {lang: part for p in parts for lang, part in p.items()}
            result = _merge_aligned(merged, sources, spaces, target, tgt)
    if me == root:
        return result
    report = dict(next(iter(done.values()))[4]) if done else {}
    report["sources"] = {lang: part[0] for lang, part in done.items()}
    return workflow.AlignResult(target=target, alignments={lang: p[1] for lang, p in done.items()},
                                mappers={lang: p[2] for lang, p in done.items()},
                                embeddings={lang: p[3] for lang, p in done.items()}, report=report)


def _merge_aligned(merged: dict, sources: list, spaces, target: str, tgt: Embeddings):
    """One AlignResult from the sources' parts, in the order of ``spaces``; the hub checked as in one process."""
    from xling import workflow

    first = merged[sources[0]]
    report = dict(first[4])
    tgt_mapped = first[1].apply_target(tgt)
    for lang in sources[1:]:
        workflow.check_same_hub(report.get("method"), lang, merged[lang][1].apply_target(tgt), tgt_mapped)
    report["target"] = workflow._where(spaces, target)
    report["sources"] = {lang: merged[lang][0] for lang in sources}
    embeddings = {lang: tgt_mapped if lang == target else merged[lang][3] for lang in spaces}
    return workflow.AlignResult(target=target, alignments={lang: merged[lang][1] for lang in sources},
                                mappers={lang: merged[lang][2] for lang in sources}, embeddings=embeddings,
                                report=report)


# ---------------------------------------------------------------------------
# reading one shard of a vector file
# ---------------------------------------------------------------------------
def shard_rows(n: int, rank: int, world: int) -> slice:
    """The rows of ``n`` that rank ``rank`` of ``world`` holds: contiguous, sizes differ by at most one.

    The first ``n % world`` ranks hold one row more.

    Examples
    --------
    >>> [shard_rows(10, r, 3) for r in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    for name, value, low in (("n", n, 0), ("world", world, 1), ("rank", rank, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputError(f"Expected {name} to be an integer >= {low}, got {value!r}")
    if rank >= world:
        raise InputError(f"Expected rank < world ({world}), got {rank}")
    base, extra = divmod(int(n), int(world))
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


@dataclass(frozen=True)
class Shard:
    """One rank's rows of a vector file.

    Attributes
    ----------
    embeddings : Embeddings
        The words and vectors of ``rows`` (row 0 is global row ``rows.start``).
    rows : slice
        Global rows held.
    n_total : int
        Rows in the whole file (after ``limit``).
    """

    embeddings: Embeddings
    rows: slice
    n_total: int


class _Prefixed:
    """A byte stream that first returns ``head`` (bytes already read past a skipped region), then ``fh``."""

    def __init__(self, head: bytes, fh):
        self._head, self._fh = head, fh

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                out, self._head = self._head + self._fh.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._fh.read(size)


def _skip_lines(fh, n: int, path, first_line: int) -> bytes:
    """Read past ``n`` lines without parsing them; returns the bytes read beyond them."""
    buf = b""
    while n > 0:
        chunk = fh.read(_vector_io.CHUNK_BYTES)
        if not chunk:
            raise FormatError("Expected more vectors as the header says, got the end of the file "
                              "(truncated file?)", str(path), first_line)
        count = chunk.count(b"\n")
        if count < n:
            n -= count
            first_line += count
            continue
        pos = -1
        for _ in range(n):
            pos = chunk.index(b"\n", pos + 1)
        buf, n = chunk[pos + 1:], 0
    return buf


def _read_records(fh, path, n: int, dim: int, rows: slice, encoding: str):
    """Words and vectors of ``rows`` of a word2vec binary file, read past its header.

    The records before the shard are stepped over by their lengths (word up to
    its space, then ``4 * dim`` bytes, then an optional newline), without
    decoding; the shard's records are cut out and gathered in blocks by the
    binary reader's own :func:`xling._vector_io._flush_records`.
    """
    record = 4 * dim
    count = rows.stop - rows.start
    out = _vector_io._Rows(count, dim, count)
    words: list[str] = []
    raw_words: list[bytes] = []
    offsets: list[int] = []

    def flush() -> None:
        try:
            _vector_io._flush_records(buf, raw_words, offsets, words, out, path, encoding)
        except FormatError as exc:  # its record numbers count from the shard's first record
            raise FormatError(exc.message, str(path), None if exc.line is None else exc.line + rows.start) from None

    buf, pos, eof, seen = b"", 0, False, 0
    while seen < rows.stop:
        if pos < len(buf) and buf[pos] == 10:
            pos += 1
        space = buf.find(b" ", pos)
        if space < 0 or space + 1 + record > len(buf):
            if eof:
                raise FormatError(f"Expected {n} vectors of {dim} float32 values as the header says, got {seen} "
                                  f"complete records and {len(buf) - pos} bytes (truncated file?)", str(path), seen + 1)
            if offsets:
                flush()
            chunk = fh.read(_vector_io.CHUNK_BYTES)
            eof = not chunk
            buf, pos = buf[pos:] + chunk, 0
            continue
        if seen >= rows.start:
            raw_words.append(buf[pos:space])
            offsets.append(space + 1)
        pos = space + 1 + record
        seen += 1
    if offsets:
        flush()
    # the last shard checks, as the whole-file reader does, that the header did not undercount
    if rows.stop == n and (buf[pos:].strip() or fh.read(1 << 16).strip()):
        raise FormatError(f"Expected {n} vectors as the header says, got more bytes after record {n} "
                          f"(header count wrong?)", str(path), n + 1)
    return words, out.finish()


def read_shard(
    path: PathLike,
    rank: int | None = None,
    world: int | None = None,
    *,
    format: str = "auto",
    limit: int | None = None,
    encoding: str = "utf-8",
    group=None,
) -> Shard:
    """Read only this rank's rows of a ``.vec`` (word2vec text) or ``.bin`` (word2vec binary) file.

    The rows are split by :func:`shard_rows` over the header's count (or
    ``limit``). Text lines before the shard are counted, not parsed; binary
    records before it are skipped by their lengths (a word's length is only
    known by reading it, so they cannot be seeked to). The shard is parsed by
    the same code as :meth:`Embeddings.read`, with the same errors and line
    numbers of the whole file; the rank holding the last rows also checks that
    the file ends there.

    Parameters
    ----------
    path : str or path-like
        ``.vec``/``.bin``, optionally ``.gz``/``.xz``/``.bz2`` compressed
        (compressed files are decompressed up to the shard's end).
    rank, world : int, optional
        Default: this process's place in ``group`` (``0, 1`` without torch.distributed).
    format : {"auto", "vec", "bin"}
        Headerless GloVe text has no row count to split by.
    limit : int, optional
        Split only the first ``limit`` rows.
    encoding : str
    group : ProcessGroup, optional
        With rank and world taken from the group, a reading error on any rank
        stops every rank with one :class:`DistributedError` naming the rank and
        the file.

    Returns
    -------
    Shard

    Raises
    ------
    FormatError
        As :meth:`Embeddings.read` (or :class:`DistributedError` carrying it, in a group).
    NotEnoughDataError
        Fewer rows than ranks.

    Notes
    -----
    A word repeated inside the shard is an error; one repeated in two
    different shards is not seen.
    """
    in_group = rank is None and world is None and _active()
    if rank is None or world is None:
        rank, world = rank_and_world(group)
    ctx = agree("reading its shard", group=group, path=path) if in_group else contextlib.nullcontext(_Step())
    with ctx as step:
        shard = _read_shard(path, rank, world, format, limit, encoding)
        step.n_rows, step.dim = shard.rows.stop - shard.rows.start, shard.embeddings.dim
    return shard


def _read_shard(path, rank: int, world: int, format: str, limit: int | None, encoding: str) -> Shard:
    if limit is not None and limit < 1:
        raise InputError(f"Expected limit >= 1 or None, got {limit}")
    fmt = _vector_io.detect_format(path, format)
    if fmt == "glove":
        raise FormatError("Expected a vector file with an 'N_WORDS DIM' header (.vec or .bin) to split into "
                          "shards, got headerless GloVe text (write it as .vec first)", str(path))
    with open_binary(path, skip_bom=fmt == "vec") as fh:
        if fmt == "bin" and fh.read(4) == _vector_io._FASTTEXT_MAGIC:
            raise FormatError("Expected word2vec binary vectors, got a fastText model (.bin with subword "
                              "n-grams); use the .vec file fastText writes beside it", str(path))
        if fmt == "bin":
            fh.seek(0)
        header = fh.readline()
        if not header.strip():
            raise FormatError("Expected a header 'N_WORDS DIM', got an empty file", str(path), 1)
        n, dim = _vector_io._parse_header(header, path)
        want = n if limit is None else min(n, limit)
        if want < world:
            raise NotEnoughDataError(f"Expected at least one vector per rank, got {want} vectors for {world} ranks "
                                     f"in {path}")
        rows = shard_rows(want, rank, world)
        count = rows.stop - rows.start
        if fmt == "vec":
            first = 2 + rows.start
            stream = _Prefixed(_skip_lines(fh, rows.start, path, 2), fh)
            words, vectors, rest = _vector_io._read_text(stream, path, dim=dim, first_line=first, want=count,
                                                         encoding=encoding)
            if len(words) < count:
                raise FormatError(f"Expected {n} vectors as the header says, got {rows.start + len(words)} "
                                  f"(truncated file?)", str(path), first + len(words))
            if rows.stop == n and (rest.strip() or stream.read(1 << 16).strip()):
                raise FormatError(f"Expected {n} vectors as the header says, got more (header count wrong?)",
                                  str(path), n + 2)
        else:
            first = 1 + rows.start
            words, vectors = _read_records(fh, path, n, dim, rows, encoding)
    words, vectors, index = _vector_io.handle_duplicates(words, vectors, path, "error", first)
    logger.info("read rows %d:%d of %d (dim %d) from %s", rows.start, rows.stop, want, dim, path)
    return Shard(Embeddings._trusted(words, vectors, index), rows, want)
