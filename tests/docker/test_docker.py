"""The production stack's files: Dockerfiles lint clean, compose is structurally sound.

No Docker engine runs here, so nothing is built or started; README says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_COMPONENTS = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


@pytest.mark.parametrize("dockerfile", sorted(DOCKER.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path):
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_use_the_pinned_official_bases():
    pins = dict(line.split("==") for line in (DOCKER.parent / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert f"FROM apache/airflow:{pins['apache-airflow']}-python3.11" in (DOCKER / "airflow.Dockerfile").read_text()
    assert f"FROM rayproject/ray:{pins['ray']}-py311-gpu" in (DOCKER / "ray.Dockerfile").read_text()


def test_the_ray_image_installs_riskcast_without_airflow_and_airflow_with_its_extra():
    lock = (DOCKER / "lock.sh").read_text()
    airflow_line, ray_line = (next(line for line in lock.splitlines() if f"requirements/{n}.txt" in line) for n in ("airflow", "ray"))
    assert "--extra airflow" in lock.split("airflow.txt")[0] and "--extra" not in ray_line + lock.split("airflow.txt")[1]
    assert airflow_line and ray_line and "--constraint constraints.txt" in lock and "--generate-hashes" in lock


@pytest.mark.parametrize("image", ["airflow", "ray"])
def test_images_install_only_hash_checked_wheels_at_the_constraints_versions(image):
    dockerfile = (DOCKER / f"{image}.Dockerfile").read_text()
    installs = [line for line in dockerfile.replace("\\\n", " ").splitlines() if "pip install" in line]
    for part in " ".join(installs).split("pip install")[1:]:
        part = part.split("&&")[0]
        # every install: the hashed lock (binaries only), or riskcast's own source without dependencies
        assert (f"--require-hashes --only-binary=:all: -r requirements/{image}.txt" in part
                or "--no-deps --no-build-isolation ." in part), part
    lock = DOCKER / "requirements" / f"{image}.txt"
    assert lock.exists(), f"{lock.relative_to(DOCKER.parent)} is missing: run docker/lock.sh"
    pins = {_pep503(line.split("==")[0]): line.split("==")[1].strip()
            for line in (DOCKER.parent / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    extra = []
    for requirement in " ".join(lock.read_text().split("\\\n")).splitlines():
        if not requirement.strip() or requirement.startswith(("#", "--")):
            continue
        name, _, rest = requirement.partition("==")
        assert "--hash=sha256:" in rest, requirement
        version = rest.split()[0].split("+")[0]
        if _pep503(name) not in pins:
            extra.append(_pep503(name))
            continue
        assert pins[_pep503(name)] == version, requirement
    # constraints.txt is the CPU install; only the Ray (GPU) image adds torch's CUDA runtime
    cuda_runtime = [n for n in extra if n.startswith(("nvidia-", "cuda-")) or n == "triton"]
    assert extra == (cuda_runtime if image == "ray" else []), extra
    assert image == "airflow" or "nvidia-cudnn-cu13" in cuda_runtime


def _pep503(name: str) -> str:
    """A distribution name as indexes compare it: runs of -, _ and . are one -."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def test_the_cluster_and_the_store_grant_each_service_only_its_role():
    services = _compose()["services"]
    assert "ports" not in services["ray-head"], "the Ray dashboard / Jobs API must stay on the internal network"
    for name in ("ray-head", "ray-worker", "airflow-scheduler", "airflow-triggerer"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and services[name]["secrets"] == ["ray_token"], name
        assert env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_token", name
    for name in ("airflow-apiserver", "airflow-dag-processor", "postgres", "minio"):
        assert "ray_token" not in str(services[name].get("secrets")), name
    keys = {name: str(svc.get("environment", {})) for name, svc in services.items()}
    assert "${S3_INGEST_KEY" in keys["airflow-scheduler"] and "${S3_API_KEY" in keys["airflow-apiserver"]
    assert all("${S3_TRAIN_KEY" in keys[n] for n in ("ray-head", "ray-worker"))
    for name, text in keys.items():
        if name not in {"minio", "minio-init"}:
            assert "MINIO_ROOT" not in text, f"{name} holds the object store's root key"
    for name in ("airflow-dag-processor", "airflow-triggerer", "airflow-init"):
        assert "S3_" not in keys[name], f"{name} needs no object-store key"
    policies = {p.stem: p.read_text() for p in (DOCKER / "s3-policies").glob("*.json")}
    assert set(policies) == {"ingest", "train", "api"}
    assert [role for role, text in policies.items() if "riskcast-landing" in text] == ["ingest"]
    assert "lake/models/*" in policies["train"] and "lake/bronze" not in policies["train"]
    assert "PutObject" not in policies["api"]


def test_airflow_waits_for_its_init_and_the_roles_and_secrets_reach_only_their_users():
    services = _compose()["services"]
    for name in AIRFLOW_COMPONENTS:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["reserves-init"]["condition"] == "service_completed_successfully", name
    assert "databases.py" in services["reserves-init"]["command"]  # migrates, then roles.sql
    for name, svc in services.items():
        env = svc.get("environment", {})
        text = str(env)
        if name != "airflow-scheduler":
            assert "RISKCAST_PII_KEY" not in text, f"{name} does not need the PII key"
        if name not in {"airflow-scheduler", "postgres"}:
            assert "RISKCAST_PUBLISHER_PASSWORD" not in text, f"{name} does not publish"
    for name in ("ray-head", "ray-worker"):
        assert not any(k.startswith(("AIRFLOW", "RISKCAST_RESERVES")) for k in services[name]["environment"])
    init = (DOCKER / "postgres-init.sh").read_text()
    assert "riskcast_publisher_svc LOGIN" in init and "CREATE ROLE riskcast_publisher LOGIN" not in init


def test_compose_runs_the_commands_make_stack_runs():
    # up.sh with the scripts it runs (lib.sh, airflow_up.sh: soak.sh restarts Airflow alone)
    up = "\n".join(p.read_text() for p in sorted((DOCKER / "stack").glob("*.sh")))
    services = _compose()["services"]
    for name in AIRFLOW_COMPONENTS | {"airflow-init"}:
        command = services[name]["command"]
        assert f"airflow {command}" in up.replace("python -m airflow", "airflow"), command
    assert "ray.scripts.scripts start --head --block" in up and "start --block" in up
    assert "databases.py" in up


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_every_component_of_the_stack():
    services = _compose()["services"]
    assert {"postgres", "minio", "ray-head", "ray-worker"} | AIRFLOW_COMPONENTS <= set(services)
    for name in AIRFLOW_COMPONENTS:
        assert services[name]["image"] == "riskcast-airflow:latest"
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["RISKCAST_LAKE_URI"].startswith("s3://")
    reserves = services["airflow-scheduler"]["environment"]["RISKCAST_RESERVES_URL"]
    assert reserves.startswith("postgresql+psycopg://riskcast_publisher_svc:")
    gpu = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]


def test_compose_dependencies_and_volumes_resolve():
    compose = _compose()
    services, volumes = compose["services"], set(compose.get("volumes", {}))
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, (list, dict)) else []:
            assert dep in services, f"{name} depends on unknown service {dep}"
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("."):
                assert (DOCKER / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in volumes, f"{name} mounts undeclared volume {src}"
        for key in ("build",):
            if key in svc:
                assert (DOCKER.parent / svc[key]["dockerfile"]).exists()


def test_no_secret_is_written_in_compose():
    def env_items(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    yield str(key), value
                else:
                    yield from env_items(value)
        elif isinstance(node, list):
            for item in node:
                yield from env_items(item)

    secrets = [(k, v) for k, v in env_items(_compose()) if any(w in k for w in ("PASSWORD", "SECRET", "PII_KEY"))]
    assert secrets, "expected secret-bearing variables in compose"
    for key, value in secrets:
        assert "${" in value, f"{key} holds a literal secret; take it from docker/.env"
