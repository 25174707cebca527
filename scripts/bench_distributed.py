"""1 process against W gloo processes: CSLS terms and one CSLS induction step, compute vs communication.

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
    args = vars(parser.parse_args())
    args["threads"] = args["world"]
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
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
