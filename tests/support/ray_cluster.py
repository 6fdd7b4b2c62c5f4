"""A real two-node Ray cluster on this machine: ``ray start --head`` plus ``ray start --address``.

Each node runs in its own process group with its own free ports and is stopped by killing
that group only (``ray stop`` would stop every Ray on the machine, the test session's too).
Each node offers ``cpus`` CPUs, so N one-CPU actors or tasks beyond one node's CPUs must
land on the other node: the resource arithmetic proves the work was spread.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORT_FLAGS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
              "runtime-env-agent-port", "node-manager-port", "object-manager-port", "ray-client-server-port")


@dataclass(frozen=True)
class Cluster:
    """``address``: what ``RAY_ADDRESS`` / ``ray.address`` take; ``dashboard``: the head's
    HTTP address, for the state API (which node ran what)."""

    address: str
    dashboard: str

    def nodes_that_ran(self, name: str) -> set[str]:
        """Node ids of the actors (class ``name``) or tasks (function ``name``) run so far."""
        from ray.util.state import list_actors, list_tasks

        actors = list_actors(address=self.dashboard, filters=[("class_name", "=", name)], limit=1000)
        tasks = list_tasks(address=self.dashboard, filters=[("func_or_class_name", "=", name)], limit=1000)
        return {a.node_id for a in actors if a.node_id} | {t.node_id for t in tasks if t.node_id}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    ray = str(Path(sys.executable).parent / "ray")
    ports = [f"--{flag}={free_port()}" for flag in PORT_FLAGS]
    cmd = [ray, "start", "--block", "--node-ip-address=127.0.0.1", "--num-gpus=0",
           f"--object-store-memory={200 * 1024**2}", "--disable-usage-stats", *ports, *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def alive_nodes(address: str) -> int:
    """Alive nodes of the cluster at ``address``, asked from a fresh process."""
    probe = "import ray; ray.init(address='%s', logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    done = subprocess.run([sys.executable, "-c", probe % address], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    lines = done.stdout.strip().splitlines()
    return int(lines[-1]) if done.returncode == 0 and lines and lines[-1].isdigit() else 0


@contextmanager
def two_node_cluster(cpus: int = 1, timeout: float = 240) -> Iterator[Cluster]:
    """Yield a head and a worker node, ``cpus`` CPUs each (the head has the dashboard)."""
    port, dash = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_agent_register_timeout_ms": "300000", "RAY_raylet_start_wait_time_s": "300",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    temp = tempfile.mkdtemp(prefix="ray2n-")
    procs = [_node(["--head", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--temp-dir={temp}"], env)]
    try:
        deadline = time.monotonic() + timeout
        procs.append(_node([f"--address={address}", f"--num-cpus={cpus}"], env))
        while alive_nodes(address) < 2:
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"ray start exited {p.returncode}: {p.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the two-node Ray cluster at {address} did not come up in {timeout:g} s")
            time.sleep(2)
        yield Cluster(address, f"http://127.0.0.1:{dash}")
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
