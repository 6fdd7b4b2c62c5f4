"""The stack's object store, one user per role: ``make stack`` runs this against moto's server.

Creates the landing bucket and the lake bucket, then one IAM user per role with the policy
of ``docker/s3-policies/<role>.json`` (the same files compose's minio-init loads into MinIO)
and an access key, writes every key to ``$STACK/s3-keys.sh`` (mode 600, sourced by env.sh),
and finally switches moto's IAM enforcement on (``/moto-api/reset-auth``): from then on each
S3 request must be signed by one of these users and is allowed only what its policy allows.

Roles: ``ingest`` (Airflow's workers: landing read, lake read/write), ``train`` (Ray nodes:
panel read, models and Ray Train checkpoints written, no landing), ``api`` (the API server's
riskcast pages: reports read), ``admin`` (this script, tests and the landing writer: all).

What moto enforces, precisely: the Allow statements of identity policies, matched on action
and resource ARN (prefixes with ``*``) for object reads and writes and listing. Two quirks
are adapted here (``for_moto``), not in the shared files: moto names a bucket HEAD
``s3:HeadBucket`` (S3 and MinIO: ``s3:ListBucket``), and it authorizes a bulk delete
(``DeleteObjects``) against the bucket ARN alone, so on moto a role that may delete some
objects of a bucket may bulk-delete any of them; S3 and MinIO check each key's prefix.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import boto3

POLICIES = Path(__file__).resolve().parents[1] / "s3-policies"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}


def for_moto(policy: dict) -> dict:
    """``policy`` with moto's names for what S3 allows (see the module doc)."""
    statements = []
    for st in policy["Statement"]:
        actions = list(st["Action"])
        if "s3:ListBucket" in actions:
            actions.append("s3:HeadBucket")
        statements.append({**st, "Action": actions})
        objects = [r.split(":::", 1)[1] for r in st["Resource"] if ":::" in r]
        buckets = sorted({r.split("/")[0] for r in objects})
        if "s3:DeleteObject" in actions and any("/" in r for r in objects):
            statements.append({"Effect": "Allow", "Action": ["s3:DeleteObject"],
                               "Resource": [f"arn:aws:s3:::{b}" for b in buckets]})  # fmt: skip
    return {**policy, "Statement": statements}


def main(endpoint: str, buckets: list[str], keys_file: Path) -> None:
    boot = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "bootstrap",
            "aws_secret_access_key": "bootstrap"}  # fmt: skip
    s3, iam = boto3.client("s3", **boot), boto3.client("iam", **boot)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    lines = []
    roles = {p.stem: json.loads(p.read_text()) for p in sorted(POLICIES.glob("*.json"))} | {"admin": ADMIN}
    for role, policy in roles.items():
        user = f"riskcast-{role}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=f"riskcast-{role}", PolicyDocument=json.dumps(for_moto(policy)))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        lines += [f"export STACK_S3_{role.upper()}_KEY={key['AccessKeyId']}",
                  f"export STACK_S3_{role.upper()}_SECRET={key['SecretAccessKey']}"]  # fmt: skip
    keys_file.write_text("\n".join(lines) + "\n")
    keys_file.chmod(0o600)
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})  # a form body would be parsed away
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - the local moto server
        assert resp.status == 200
    print(f"buckets {', '.join(buckets)}; users {', '.join(roles)}; IAM enforced; keys in {keys_file}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), Path(os.environ["STACK"]) / "s3-keys.sh")
