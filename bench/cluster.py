"""Run riskcast commands on a two-node Ray cluster started on this machine, timed.

    python bench/cluster.py [--cpus 1] [--count IntakeWorker] -- riskcast backtest --workers 2 ...

Starts ``ray start --head`` and a second ``ray start --address`` node (``cpus`` CPUs each;
``tests.support.ray_cluster``), runs the command after ``--`` with ``RAY_ADDRESS`` set to
the head (what ``ray.address`` / ``RAY_ADDRESS`` do in production), and prints its wall
seconds, exit code and, for each ``--count`` name (an actor class or task function), how
many nodes ran it. The cluster's start-up is timed apart. Compare with the same command
without the cluster (``--workers 1`` in process, or a local Ray) run beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from tests.support.ray_cluster import two_node_cluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--cpus", type=int, default=1, help="CPUs per node")
    ap.add_argument("--count", action="append", default=[], help="actor class / task function to locate")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    t0 = time.perf_counter()
    with two_node_cluster(cpus=args.cpus) as cluster:
        started = time.perf_counter() - t0
        env = {**os.environ, "RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "disabled"}
        t = time.perf_counter()
        done = subprocess.run(command, env=env)
        wall = time.perf_counter() - t
        nodes = {name: len(cluster.nodes_that_ran(name)) for name in args.count}
    print(json.dumps({"command": " ".join(command), "exit_code": done.returncode, "wall_s": round(wall, 1),
                      "cluster_start_s": round(started, 1), "nodes_that_ran": nodes}, indent=2))


if __name__ == "__main__":
    main()
