"""A real Ray head with the Jobs server on loopback, for the launcher tests.

Started with ``ray start --head --block`` in its own process group and stopped by killing
that group only (``ray stop`` would kill every Ray on the machine).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_head():
    """Yield the Jobs API address (http://127.0.0.1:PORT) of a fresh local Ray head."""
    port, dash = _free_port(), _free_port()
    # every fixed default port is taken if another Ray runs here: pick each one free
    extra_ports = [
        f"--{name}={_free_port()}"
        for name in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "ray-client-server-port",
            "node-manager-port",
            "object-manager-port",
        )
    ]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "RAY_AUTH_MODE": "disabled"}
    temp_dir = tempfile.mkdtemp(prefix="rayhead-")
    cmd = [
        f"{bin_dir}/ray", "start", "--head", "--block", f"--port={port}",
        "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
        "--include-dashboard=true", "--num-cpus=2", f"--temp-dir={temp_dir}",
        f"--object-store-memory={300 * 1024**2}", "--disable-usage-stats", *extra_ports,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ray start exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the Ray head's Jobs API did not come up within 180 s")
    yield address
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def airflow_ui(tmp_path_factory):
    """Airflow's API server app (with the riskcast plugin) on loopback, over a lake holding
    every served page. Yields ``(base_url, token, lake)``: ``token`` is a valid Airflow JWT."""
    import threading

    import uvicorn

    from tests.support.served_lake import build_served_lake

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lake = build_served_lake(tmp_path_factory.mktemp("served"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKCAST_LAKE_URI", lake.uri)
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        app = create_app("core")
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started, "the Airflow API app did not start"
        yield f"http://127.0.0.1:{port}", token, lake
        server.should_exit = True
        thread.join(timeout=15)


ROLE_USERS = {  # who -> (username, SimpleAuthManager role, teams): the roles riskcast's pages know
    "admin": ("admin", "admin", []),
    "finance": ("fin", "viewer", ["finance"]),
    "security": ("sec", "viewer", ["security"]),
    "engineer": ("eng", "op", ["data_engineer"]),
    "viewer": ("vic", "viewer", []),
}


@pytest.fixture(scope="session")
def role_tokens(airflow_ui):
    """A valid Airflow JWT per kind of user (ROLE_USERS), from the running API server's auth manager."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = get_auth_manager()
    return {who: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role, teams=teams))
            for who, (name, role, teams) in ROLE_USERS.items()}  # fmt: skip
