"""Helpers for tests/stack: the settings of `make stack` (docker/stack/env.sh), its metadata
database, its Airflow CLI (the wheel's venv) and waiting for DAG runs the scheduler makes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
ENV_SH = REPO / "docker" / "stack" / "env.sh"


def stack_env() -> dict[str, str]:
    """os.environ plus every variable docker/stack/env.sh exports."""
    out = subprocess.run(["bash", "-c", f"source {ENV_SH} && env -0"], capture_output=True, check=True)
    env = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return {**os.environ, **env}


def run(env: dict[str, str], *args: str, timeout: float = 300, extra: dict | None = None) -> str:
    """Run a command of the stack's venv (``airflow`` -> ``python -m airflow``), outside the checkout."""
    venv = Path(env["STACK_VENV"]) / "bin"
    cmd = [str(venv / "python"), "-m", "airflow", *args[1:]] if args[0] == "airflow" else [str(venv / args[0]), *args[1:]]
    done = subprocess.run(cmd, cwd=Path(env["STACK"]) / "run", env={**env, **(extra or {}), "PATH": f"{venv}:{env['PATH']}"},
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def metadata(env: dict[str, str]) -> sa.Engine:
    return sa.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])


def runs(engine: sa.Engine, dag_id: str) -> list[dict]:
    """The DAG's runs, oldest first, each with its task instances' states."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT run_id, run_type, state, logical_date, run_after, end_date FROM dag_run WHERE dag_id = :d ORDER BY id"
        ), {"d": dag_id}).mappings().all()
        out = []
        for r in rows:
            tis = conn.execute(sa.text(
                "SELECT task_id, state FROM task_instance WHERE dag_id = :d AND run_id = :r"
            ), {"d": dag_id, "r": r["run_id"]}).all()
            out.append({**r, "tasks": {t: s for t, s in tis}})
    return out


def wait_for_runs(engine: sa.Engine, env: dict[str, str], dag_id: str, count: int, timeout: float) -> list[dict]:
    """Wait until ``count`` runs of ``dag_id`` succeeded; fail at once when one failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = runs(engine, dag_id)
        failed = [r for r in found if r["state"] == "failed"]
        assert not failed, f"{dag_id} run failed: {failed[-1]['tasks']}; logs under {env['AIRFLOW_HOME']}/logs"
        done = [r for r in found if r["state"] == "success"]
        if len(done) >= count:
            return done
        time.sleep(5)
    raise AssertionError(f"{dag_id}: fewer than {count} successful runs within {timeout:.0f} s: {runs(engine, dag_id)}")
