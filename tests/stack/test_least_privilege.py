"""`make stack-test`: least privilege on the cluster and the store, on the running stack.

Ray asks who is calling: the Jobs API refuses a submission without the cluster's token (and
with a wrong one). The object store has one user per role and moto enforces their policies:
a Ray worker (train role) cannot read a landing file, Airflow's workers (ingest role) can,
the API server (api role) reads reports and nothing else. Needs only the stack, not the
DAG scenario, so it runs first and fast.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.stack import stack_env

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
LANDING_KEY, PANEL_KEY = "landing/security_reports/date=2000-01-01/probe.csv", "lake/panel/as_of=2000-01-01/probe.json"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return stack_env()


def _client(env: dict[str, str], role: str):
    import boto3

    return boto3.client("s3", endpoint_url=env["STACK_S3"], region_name="us-east-1",
                        aws_access_key_id=env[f"STACK_S3_{role}_KEY"],
                        aws_secret_access_key=env[f"STACK_S3_{role}_SECRET"])  # fmt: skip


def _can(call) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
        return True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in {"AccessDenied", "403"}, exc.response["Error"]
        return False


@pytest.fixture(scope="module")
def probes(env):
    """A landing file with a (fake) name in it and a panel file, written by the admin user."""
    admin = _client(env, "ADMIN")
    admin.put_object(Bucket=env["STACK_LANDING_BUCKET"], Key=LANDING_KEY, Body=b"reporter_id\nEMP-70001\n")
    admin.put_object(Bucket=env["STACK_BUCKET"], Key=PANEL_KEY, Body=b'{"snapshot_id": "probe"}')
    yield env
    for bucket, prefix in ((env["STACK_LANDING_BUCKET"], "landing/security_reports/date=2000-01-01/"),
                           (env["STACK_BUCKET"], "lake/")):  # fmt: skip
        for item in admin.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            if "2000-01-01" in item["Key"] or "probe" in item["Key"]:
                admin.delete_object(Bucket=bucket, Key=item["Key"])


def _ray_job(env: dict[str, str], code: str) -> dict:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(env["RISKCAST_RAY__JOBS_ADDRESS"])  # the token from RAY_AUTH_TOKEN_PATH
    job = client.submit_job(entrypoint=f"python -c '{code}'", submission_id=f"probe-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + 300
    while str(client.get_job_status(job).value) not in {"SUCCEEDED", "FAILED", "STOPPED"}:
        assert time.monotonic() < deadline, "the probe job did not finish"
        time.sleep(1)
    logs = client.get_job_logs(job)
    assert str(client.get_job_status(job).value) == "SUCCEEDED", logs[-2000:]
    return json.loads(logs.strip().splitlines()[-1])


def test_a_job_submission_without_the_token_is_refused(env):
    jobs = env["RISKCAST_RAY__JOBS_ADDRESS"] + "/api/jobs/"
    body = json.dumps({"entrypoint": "echo should-not-run"}).encode()
    for headers, status in (({}, 401), ({"Authorization": "Bearer not-the-token"}, 403)):
        request = urllib.request.Request(jobs, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == status, refused.value.read()[:200]
    token = Path(env["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
    listed = urllib.request.Request(jobs, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(listed, timeout=30) as resp:
        assert resp.status == 200 and "should-not-run" not in resp.read().decode()
    print(f"Jobs API without the token: 401; with a wrong one: 403 ({jobs})")


def test_a_ray_worker_cannot_read_landing_but_reads_the_panel_and_writes_models(probes):
    env = probes
    code = (
        "import boto3, json; from botocore.exceptions import ClientError\n"
        "s3 = boto3.client(\"s3\")  # the credentials of the node: the train role\n"
        "def can(f):\n"
        "    try: f(); return True\n"
        "    except ClientError as e: return e.response[\"Error\"][\"Code\"]\n"
        f"print(json.dumps({{\"landing\": can(lambda: s3.get_object(Bucket=\"{env['STACK_LANDING_BUCKET']}\", Key=\"{LANDING_KEY}\")),"
        f" \"panel\": can(lambda: s3.get_object(Bucket=\"{env['STACK_BUCKET']}\", Key=\"{PANEL_KEY}\")),"
        f" \"bronze\": can(lambda: s3.put_object(Bucket=\"{env['STACK_BUCKET']}\", Key=\"lake/bronze/probe-x\", Body=b\"x\")),"
        f" \"models\": can(lambda: s3.put_object(Bucket=\"{env['STACK_BUCKET']}\", Key=\"lake/models/probe/x\", Body=b\"x\"))}}))"
    )
    seen = _ray_job(env, code)
    print(f"a Ray job with the node's credentials: {seen}")
    assert seen == {"landing": "AccessDenied", "panel": True, "bronze": "AccessDenied", "models": True}


def test_each_role_holds_only_its_rights(probes):
    env, lake, landing = probes, probes["STACK_BUCKET"], probes["STACK_LANDING_BUCKET"]
    read_landing = {r: _can(lambda r=r: _client(env, r).get_object(Bucket=landing, Key=LANDING_KEY))
                    for r in ("INGEST", "TRAIN", "API", "ADMIN")}  # fmt: skip
    assert read_landing == {"INGEST": True, "TRAIN": False, "API": False, "ADMIN": True}
    api = _client(env, "API")
    admin = _client(env, "ADMIN")
    admin.put_object(Bucket=lake, Key="lake/reports/as_of=2000-01-01/reserves.html", Body=b"<p>x</p>")
    admin.put_object(Bucket=lake, Key="lake/bronze/probe-2000-01-01", Body=b"x")
    assert _can(lambda: api.get_object(Bucket=lake, Key="lake/reports/as_of=2000-01-01/reserves.html"))
    assert not _can(lambda: api.get_object(Bucket=lake, Key="lake/bronze/probe-2000-01-01"))
    assert not _can(lambda: api.put_object(Bucket=lake, Key="lake/reports/x.html", Body=b"x"))
    ingest = _client(env, "INGEST")
    assert _can(lambda: ingest.put_object(Bucket=lake, Key="lake/bronze/probe", Body=b"x"))
    assert not _can(lambda: ingest.put_object(Bucket=landing, Key="landing/x.csv", Body=b"x"))
    # retention (purge_landing) deletes landing files past their time; it never writes one
    admin.put_object(Bucket=landing, Key="landing/security_reports/date=2000-01-02/old.csv", Body=b"x")
    assert _can(lambda: ingest.delete_object(Bucket=landing, Key="landing/security_reports/date=2000-01-02/old.csv"))
    assert not _can(lambda: api.delete_object(Bucket=landing, Key=LANDING_KEY))
    bogus = {**env, "STACK_S3_BOGUS_KEY": "AKIANOTAUSER00000000", "STACK_S3_BOGUS_SECRET": "x"}
    with pytest.raises(Exception, match="InvalidAccessKeyId|AccessDenied|403"):
        _client(bogus, "BOGUS").get_object(Bucket=lake, Key=PANEL_KEY)
    print(f"landing readable by: {[r for r, ok in read_landing.items() if ok]}", file=sys.stderr)
