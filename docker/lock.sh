#!/usr/bin/env bash
# docker/requirements/{airflow,ray}.txt: every dependency of each image at its constraints.txt
# version with the sha256 of its wheels, for pip's hash-checking mode (--require-hashes) in
# docker/*.Dockerfile. Run it after changing constraints.txt, on a machine that reaches PyPI
# (and PyTorch's CPU wheel index for the Airflow image): it resolves every pinned package.
# Needs uv (pip install uv). tests/docker/test_docker.py checks the files match constraints.txt.
# Where PyTorch's index is out of reach, TORCH_WHEELS=<folder> takes the CPU torch wheel from a
# folder holding the official file instead (its sha256 is the same; the build still fetches it
# from PyTorch's index and checks that hash). --python-version: the images are Python 3.11.x,
# x >= 5, and some pins need 3.11.5 (soupsieve).
set -euo pipefail
cd "$(dirname "$0")/.."
torch_cpu=(--extra-index-url https://download.pytorch.org/whl/cpu)
if [[ -n "${TORCH_WHEELS:-}" ]]; then torch_cpu=(--find-links "$TORCH_WHEELS"); fi
common=(--generate-hashes --constraint constraints.txt --python-version 3.11.7
        --python-platform x86_64-manylinux_2_28 --only-binary :all: --no-header --no-annotate)
# the Airflow image: riskcast[airflow] with CPU torch
uv pip compile pyproject.toml --extra airflow "${common[@]}" \
  "${torch_cpu[@]}" --index-strategy unsafe-best-match \
  --output-file docker/requirements/airflow.txt
# the Ray image: riskcast without Airflow, CUDA torch from PyPI
uv pip compile pyproject.toml "${common[@]}" --output-file docker/requirements/ray.txt
