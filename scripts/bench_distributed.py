"""1 process against W gloo processes: CSLS terms, a CSLS induction step, a self-learning run; compute vs communication.

Each configuration runs in fresh processes on 127.0.0.1 (the single-process
baseline too, with as many threads as the sharded run has processes, so both
use the same cores). The sharded runs split the targets by rows; every rank
times its call and the collectives inside it (xling.distributed.record_communication).

Usage::

    python scripts/bench_distributed.py --n-src 20000 --n-tgt 20000 --queries 4000 --world 2

Prints one JSON line per run: seconds (slowest rank), seconds in collectives
(includes waiting for the slower rank), for the CSLS terms the time of the same
all_gather after a barrier (the transfer alone), bytes received per rank, and
whether the sharded result equals the single-process one.

Self-learning (``--self-learning``) on real vectors: SelfLearning (Procrustes,
CSLS, union) seeded by a lexicon, in 1 process and in W processes started as
torchrun would (``xling.distributed.init_from_env`` + ``scope``), each rank
holding both vocabularies and scoring its rows of the induction step::

    python scripts/bench_distributed.py --self-learning --src runs/vectors/xling-sgns/en.vec \
        --tgt runs/vectors/xling-sgns/es.vec --lexicon lexicons/en-es/en-es.0-5000.tsv --cutoff 20000 --iterations 6

Prints per run the seconds per iteration (median of the iterations after the
first), the seconds of the whole fit, the collectives' calls, bytes and
seconds (including waits, e.g. for rank 0's fit), and whether the final
dictionary and map equal the single-process ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _data(n_src: int, n_tgt: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_src, dim)).astype(np.float32)
    Z = rng.normal(size=(n_tgt, dim)).astype(np.float32)
    return X, Z


def _run(rank: int, world: int, port: int, args: dict, out: str) -> None:
    import torch.distributed as dist

    from xling.distributed import record_communication, shard_rows, sharded_csls_terms, sharded_induce_pairs
    from xling.retrieval import csls_terms, induce_pairs

    threads = args["threads"] if world == 1 else 1
    torch.set_num_threads(threads)
    X, Z = _data(args["n_src"], args["n_tgt"], args["dim"], args["seed"])
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=600))
        Zs = Z[shard_rows(len(Z), rank, world)]
    rows = {}
    for name in ("csls_terms", "induction"):
        with record_communication() as stats:
            start = time.perf_counter()
            if name == "csls_terms":
                if world == 1:
                    result = csls_terms(X, Z, 10)
                else:
                    r_x, r_z = sharded_csls_terms(X, Zs, 10)
                    result = (r_x, r_z)
            else:
                Q = X[: args["queries"]]
                if world == 1:
                    result = induce_pairs(Q, Z, method="csls", direction="forward")
                else:
                    result = sharded_induce_pairs(Q, Zs, method="csls", direction="forward")
            seconds = time.perf_counter() - start
        rows[name] = dict(seconds=seconds, comm_seconds=stats.seconds, bytes_received=stats.bytes_received,
                          bytes_sent=stats.bytes_sent, calls=stats.calls)
        torch.save(result, Path(out) / f"{name}.{world}.{rank}.pt")
    if world > 1:
        # the same bytes as the CSLS-terms merge, moved after a barrier: transfer alone, without waiting
        dist.barrier()
        payload = torch.zeros(args["n_src"], 10)
        start = time.perf_counter()
        dist.all_gather([torch.empty_like(payload) for _ in range(world)], payload)
        rows["csls_terms"]["transfer_seconds"] = time.perf_counter() - start
        dist.destroy_process_group()
    Path(out, f"times.{world}.{rank}.json").write_text(json.dumps(rows))


def _learn(rank: int, world: int, port: int, args: dict, out: str) -> None:
    """One process of the self-learning comparison (world 1: the single-process baseline)."""
    import warnings

    import numpy as np

    from xling import Embeddings, Lexicon, distributed
    from xling.map import SelfLearning

    torch.set_num_threads(args["threads"] if world == 1 else 1)
    if world > 1:  # what torchrun sets
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                          XLING_DIST_TIMEOUT="900")
        distributed.init_from_env(device="cpu")
    start = time.perf_counter()
    src, tgt = Embeddings.read(args["src"]), Embeddings.read(args["tgt"])
    pairs, _ = Lexicon.read(args["lexicon"]).to_pairs(src, tgt)
    read_seconds = time.perf_counter() - start
    stamps: list[float] = []
    model = SelfLearning(vocabulary_cutoff=args["cutoff"], max_iter=args["iterations"], random_state=0, device="cpu",
                         stochastic_initial=args["keep_prob"], callbacks=(lambda event: stamps.append(time.perf_counter()),))
    with distributed.scope() if world > 1 else distributed.scope(None), \
            distributed.record_communication() as stats, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose
        start = time.perf_counter()
        model.fit(src.vectors, tgt.vectors, pairs)
        seconds = time.perf_counter() - start
    steps = np.diff([start, *stamps[: model.n_iter_]])
    row = dict(seconds=seconds, read_seconds=read_seconds, iterations=int(model.n_iter_),
               first_iteration=float(steps[0]), per_iteration=float(np.median(steps[1:])) if len(steps) > 1 else None,
               comm_seconds=stats.seconds, calls=stats.calls, bytes_sent=stats.bytes_sent,
               bytes_received=stats.bytes_received, n_pairs=int(len(model.pairs_)), n_seed=int(len(pairs)),
               n_src=len(src), n_tgt=len(tgt), dim=src.dim)
    torch.save((model.pairs_, model.x_map_), Path(out) / f"learn.{world}.{rank}.pt")
    Path(out, f"learn.{world}.{rank}.json").write_text(json.dumps(row))
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


def _self_learning(args: dict) -> None:
    import numpy as np

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as out:
        for world in (1, args["world"]):
            port = _free_port()
            procs = [ctx.Process(target=_learn, args=(r, world, port, args, out)) for r in range(world)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
                if p.exitcode != 0:
                    raise SystemExit(f"rank failed with exit code {p.exitcode}")
        pairs1, map1 = torch.load(Path(out) / "learn.1.0.pt", weights_only=False)
        for world in (1, args["world"]):
            rows = [json.loads(Path(out, f"learn.{world}.{r}.json").read_text()) for r in range(world)]
            results = [torch.load(Path(out) / f"learn.{world}.{r}.pt", weights_only=False) for r in range(world)]
            slowest = max(rows, key=lambda r: r["seconds"])
            print(json.dumps(dict(
                run="self-learning", processes=world, threads_per_process=args["threads"] if world == 1 else 1,
                n_src=slowest["n_src"], n_tgt=slowest["n_tgt"], dim=slowest["dim"], cutoff=args["cutoff"],
                keep_prob=args["keep_prob"], seed_pairs=slowest["n_seed"], iterations=slowest["iterations"],
                seconds=round(slowest["seconds"], 2), first_iteration=round(slowest["first_iteration"], 2),
                per_iteration=round(slowest["per_iteration"], 2) if slowest["per_iteration"] else None,
                read_seconds=round(slowest["read_seconds"], 1),
                comm_seconds=[round(r["comm_seconds"], 3) for r in rows], collectives=slowest["calls"],
                bytes_sent=[r["bytes_sent"] for r in rows], bytes_received=[r["bytes_received"] for r in rows],
                final_pairs=slowest["n_pairs"],
                same_dictionary=all(np.array_equal(p, pairs1) for p, _ in results),
                max_map_difference=float(max(np.abs(m - map1).max() for _, m in results)),
                date=datetime.date.today().isoformat(), load=round(os.getloadavg()[0], 1),
            )))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-src", type=int, default=20000)
    parser.add_argument("--n-tgt", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=4000, help="sources of the induction step")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--self-learning", action="store_true", help="compare a self-learning run instead")
    parser.add_argument("--src", help="source vectors (self-learning)")
    parser.add_argument("--tgt", help="target vectors (self-learning)")
    parser.add_argument("--lexicon", help="seed lexicon (self-learning)")
    parser.add_argument("--cutoff", type=int, default=20000, help="vocabulary_cutoff of self-learning")
    parser.add_argument("--iterations", type=int, default=6, help="max_iter of self-learning")
    parser.add_argument("--keep-prob", type=float, default=1.0, help="stochastic_initial of self-learning")
    args = vars(parser.parse_args())
    args["threads"] = args["world"]
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    if args["self_learning"]:
        if not (args["src"] and args["tgt"] and args["lexicon"]):
            parser.error("--self-learning needs --src, --tgt and --lexicon")
        _self_learning(args)
        return
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as out:
        for world in (1, args["world"]):
            port = _free_port()
            procs = [ctx.Process(target=_run, args=(r, world, port, args, out)) for r in range(world)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
                if p.exitcode != 0:
                    raise SystemExit(f"rank failed with exit code {p.exitcode}")
        for name in ("csls_terms", "induction"):
            single = torch.load(Path(out) / f"{name}.1.0.pt", weights_only=False)
            parts = [torch.load(Path(out) / f"{name}.{args['world']}.{r}.pt", weights_only=False)
                     for r in range(args["world"])]
            if name == "csls_terms":
                r_z = torch.cat([p[1] for p in parts])
                agree = bool(torch.allclose(parts[0][0], single[0], atol=1e-6)
                             and torch.allclose(r_z, single[1], atol=1e-6))
            else:
                agree = bool(np.array_equal(parts[0], single))
            for world in (1, args["world"]):
                times = [json.loads(Path(out, f"times.{world}.{r}.json").read_text())[name] for r in range(world)]
                slowest = max(times, key=lambda t: t["seconds"])
                print(json.dumps(dict(
                    run=name, processes=world, threads_per_process=args["threads"] if world == 1 else 1,
                    n_src=args["queries"] if name == "induction" else args["n_src"], n_tgt=args["n_tgt"],
                    dim=args["dim"], seconds=round(slowest["seconds"], 3),
                    comm_seconds=round(max(t["comm_seconds"] for t in times), 4),
                    transfer_seconds=round(max(t.get("transfer_seconds", 0.0) for t in times), 4),
                    bytes_received_per_rank=slowest["bytes_received"], collectives=slowest["calls"],
                    equal_to_single=agree if world > 1 else None,
                    date=datetime.date.today().isoformat(), load=round(os.getloadavg()[0], 1),
                )))


if __name__ == "__main__":
    main()
