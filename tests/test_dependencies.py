"""Known vulnerabilities: pyproject's lower bounds and constraints.txt's pins sit at or above the
release that fixed each known CVE (the manual review of docs/security.md, "Dependencies":
pip-audit needs the vulnerability database over the network, which this project cannot reach).
A new advisory goes into FIXED here and into that table."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
# package -> (first fixed release, advisory): direct dependencies must not admit less
DIRECT = {
    "torch": ("2.6.0", "CVE-2025-32434 torch.load(weights_only=True) remote code execution"),
    "pyarrow": ("14.0.1", "CVE-2023-47248 deserialisation of untrusted data"),
    "lightning": ("2.3.3", "CVE-2024-5452 remote code execution via deepdiff"),
    "apache-airflow": ("3.1.7", "GHSA-5g2w-9f8g-g5q7 / GHSA-pm44-x5x7-24c4"),
    "setuptools": ("78.1.1", "CVE-2024-6345, CVE-2025-47273 (build requirement)"),
}
# the pinned set, transitive dependencies included (constraints.txt)
PINNED = {
    **{k: v for k, v in DIRECT.items() if k != "setuptools"},
    "jinja2": ("3.1.6", "CVE-2024-56201, CVE-2024-56326, CVE-2025-27516 sandbox escapes"),
    "requests": ("2.32.4", "CVE-2024-35195, CVE-2024-47081"),
    "urllib3": ("2.5.0", "CVE-2025-50181, CVE-2025-50182"),
    "cryptography": ("44.0.1", "CVE-2024-12797"),
    "aiohttp": ("3.12.14", "CVE-2024-23334, CVE-2024-52304, CVE-2025-53643"),
    "starlette": ("0.47.2", "CVE-2024-47874, CVE-2025-54121"),
    "h11": ("0.16.0", "CVE-2025-43859"),
    "werkzeug": ("3.0.6", "CVE-2024-34069, CVE-2024-49766, CVE-2024-49767"),
    "pillow": ("10.3.0", "CVE-2023-50447, CVE-2024-28219"),
    "pyjwt": ("2.10.1", "CVE-2024-53861"),
    "idna": ("3.7", "CVE-2024-3651"),
    "zipp": ("3.19.1", "CVE-2024-5569"),
    "python-multipart": ("0.0.18", "CVE-2024-24762, CVE-2024-53981"),
    "virtualenv": ("20.26.6", "CVE-2024-53899"),
    "scikit-learn": ("1.5.0", "CVE-2024-5206"),
    "mako": ("1.2.2", "CVE-2022-40023"),
    "pygments": ("2.15.0", "CVE-2022-40896"),
    "certifi": ("2024.7.4", "CVE-2024-39689"),
    "pyyaml": ("5.4", "CVE-2020-14343"),
    "markdown-it-py": ("2.2.0", "CVE-2023-26303"),
}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _lowest(requirement: Requirement) -> Version | None:
    lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return max(lows) if lows else None


def test_direct_dependencies_admit_no_release_with_a_known_cve():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = [*project["build-system"]["requires"], *project["project"]["dependencies"],
                    *(r for extra in project["project"]["optional-dependencies"].values() for r in extra)]  # fmt: skip
    found = {_norm(Requirement(r).name): Requirement(r) for r in requirements}
    for name, (fixed, advisory) in DIRECT.items():
        low = _lowest(found[name])
        assert low is not None and low >= Version(fixed), f"{name} admits {low} < {fixed} ({advisory})"


def test_the_pinned_set_holds_no_release_with_a_known_cve():
    pins = {_norm(k): v for k, v in (line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
                                    if "==" in line and not line.startswith("#"))}  # fmt: skip
    for name, (fixed, advisory) in PINNED.items():
        if name in pins:
            assert Version(pins[name].split("+")[0]) >= Version(fixed), f"{name}=={pins[name]} < {fixed} ({advisory})"
    assert {"torch", "pyarrow", "jinja2", "cryptography"} <= set(pins)
