"""An Airflow task validating a day logs no GX internals (the "Skipping registering" flood)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
import airflow.sdk  # as in a task: Airflow sets the root logger to INFO
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)
from forecasting.core.config import load_settings
from forecasting.core.lake import Lake
from forecasting.stages import run_validate
from tests.support.validation_frames import DAY, write_day
root = sys.argv[1]
settings = load_settings(None, lake_uri=root + "/lake", landing_uri=root + "/landing")
write_day(Lake.from_settings(settings), DAY)
run_validate(settings, DAY)
print("validated")
"""


def test_validation_under_airflow_logging_prints_no_gx_internals(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=env)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "validated" in out, out[-3000:]
    assert "great_expectations" not in out, [line for line in out.splitlines() if "great_expectations" in line][:5]
