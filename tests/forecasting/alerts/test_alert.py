"""Alerts: what they say (text, HTML, Slack payload, no PII) and delivery on every route to
real local servers: the JSON Lines outbox, SMTP (aiosmtpd), a webhook (http.server) and
SNS (moto's standalone server, through the Amazon provider's SnsHook)."""

from __future__ import annotations

import email
import json
import socket
import threading
from datetime import date
from email import policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from forecasting.alerts.alert import (
    Alert,
    contract_alert,
    data_quality_alert,
    offending_rows,
    task_failure_alert,
)
from forecasting.alerts.send import send_alert
from forecasting.core import schema as s
from forecasting.core.errors import AlertError, ConfigError

DAY = date(2024, 3, 4)


def _alert() -> Alert:
    rows = pd.DataFrame(
        {
            s.REPORT_ID: ["SR-1", "SR-2"],
            s.WAREHOUSE_ID: ["WH-DE-999", "WH-DE-001"],
            s.SEVERITY: ["SEV3", "SEV9"],
            s.REPORTER_ID: ["EMP-1", "EMP-2"],  # raw PII: must never reach an alert
            s.NOTES: ["called Anna at home", None],  # free text: idem
            s.REASON: [
                "expect_column_values_to_be_in_set(warehouse_id)",
                "expect_column_values_to_be_in_set(severity)",
            ],
            s.INCIDENT_AT: pd.to_datetime(["2024-03-04T10:00Z", "2024-03-04T11:00Z"], utc=True),
        }
    )
    return data_quality_alert(
        "security_reports",
        DAY,
        severity="warning",
        summary="2 rows held back",
        failed=[
            {
                "name": "expect_column_values_to_be_in_set(severity)",
                "severity": "warning",
                "unexpected_count": 1,
            }
        ],
        counts={"validation quarantined": 2},
        rows=rows,
        links={"data docs": "/lake/data_docs/index.html"},
    )


def test_alert_renders_rows_without_pii():
    alert = _alert()
    data = alert.to_dict()
    assert data["kind"] == "data_quality" and data["date"] == "2024-03-04"
    assert [r[s.REPORT_ID] for r in data["rows"]] == ["SR-1", "SR-2"]
    assert all(s.REPORTER_ID not in r and s.NOTES not in r for r in data["rows"])
    assert data["rows"][0][s.INCIDENT_AT] == "2024-03-04T10:00:00+00:00"
    json.dumps(data)  # JSON-able
    for text in (alert.render_text(), alert.render_html(), json.dumps(alert.render_slack())):
        assert "SR-2" in text and "SEV9" in text and "index.html" in text
        assert "EMP-1" not in text and "Anna" not in text
    slack = alert.render_slack()
    assert slack["text"].startswith(
        "[riskcast warning] data quality warning: security_reports 2024-03-04"
    )
    assert [b["type"] for b in slack["blocks"]] == ["header", "context", "section", "section", "context"]
    assert "<script>" not in Alert("contract", "critical", "<script>x</script>", DAY).render_html()


def test_offending_rows_keeps_only_safe_requested_columns():
    frame = pd.DataFrame(
        {s.REPORT_ID: ["a", "b", "c"], s.NOTES: ["x", "y", "z"], "other": [1, 2, 3]}
    )
    assert offending_rows(frame, [s.REPORT_ID, s.NOTES, "missing"], 2) == [
        {s.REPORT_ID: "a"},
        {s.REPORT_ID: "b"},
    ]


def test_builders():
    alert = contract_alert("reconciliation_logs", DAY, "required column 'reason_code' is missing.")
    assert alert.severity == "critical" and "Nothing of reconciliation_logs" in alert.summary
    failure = task_failure_alert(
        "infrastructure", "riskcast_ingest", "validate", DAY, ValueError("disk full"), try_number=2
    )
    assert failure.title == "infrastructure: riskcast_ingest.validate failed"
    assert failure.summary == "ValueError: disk full" and failure.details["try_number"] == 2
    assert (
        failure.alert_id
        == task_failure_alert("infrastructure", "riskcast_ingest", "validate", DAY, "x").alert_id
    )
    with pytest.raises(ValueError, match="kind"):
        Alert("nonsense", "critical", "t", DAY)


def test_file_route_appends_json_lines(settings_factory, tmp_path):
    settings = settings_factory()
    assert send_alert(settings, _alert()) == ["file"]
    assert send_alert(settings, contract_alert("events", DAY, "bad.")) == ["file"]
    lines = (tmp_path / "lake" / "alerts" / "outbox.jsonl").read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["data_quality", "contract"]
    custom = tmp_path / "elsewhere" / "box.jsonl"
    send_alert(settings_factory(alerts={"outbox_path": str(custom)}), _alert())
    assert json.loads(custom.read_text())["rows"][0][s.REPORT_ID] == "SR-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def _auth(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"riskcast" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False
    )
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.mark.timeout(60)
def test_smtp_route_delivers_text_and_html(settings_factory, smtp_server, monkeypatch):
    inbox, port = smtp_server
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", "s3cret")
    settings = settings_factory(
        alerts={
            "routes": ["smtp"],
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_to": ["soc@example.com", "loss-prevention@example.com"],
            "smtp_user": "riskcast",
            "smtp_insecure": True,  # aiosmtpd without TLS (TLS: tests/forecasting/alerts/test_routes.py)
        }
    )
    assert send_alert(settings, _alert()) == ["smtp"]
    (msg,) = inbox.messages
    assert inbox.envelopes[0].rcpt_tos == ["soc@example.com", "loss-prevention@example.com"]
    assert msg["Subject"] == "[riskcast warning] data quality warning: security_reports 2024-03-04"
    assert msg["X-Riskcast-Alert-Id"] == _alert().alert_id
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "SR-2" in text and "<table" in html and "EMP-1" not in text + html


@pytest.mark.timeout(60)
def test_an_unreachable_smtp_server_fails_only_its_route(settings_factory, monkeypatch):
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", "s3cret")
    settings = settings_factory(
        alerts={"routes": ["file", "smtp"], "smtp_host": "127.0.0.1", "smtp_port": _free_port(),
                "smtp_to": ["soc@example.com"], "smtp_user": "riskcast", "smtp_insecure": True}
    )  # fmt: skip
    with pytest.raises(AlertError, match="smtp: ConnectionRefusedError") as err:
        send_alert(settings, _alert())
    assert err.value.delivered == ["file"]  # the other route still delivered
    assert "s3cret" not in str(err.value)


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(60)
def test_webhook_route_posts_a_slack_payload(settings_factory, webhook_server, monkeypatch):
    handler, base = webhook_server
    monkeypatch.setenv("RISKCAST_ALERTS__WEBHOOK_URL", f"{base}/services/T000/B000/secret-token")
    settings = settings_factory(alerts={"routes": ["file", "webhook"]})
    assert send_alert(settings, _alert()) == ["file", "webhook"]
    ((path, ctype, payload),) = handler.received
    assert path == "/services/T000/B000/secret-token" and ctype == "application/json"
    assert payload["text"].startswith("[riskcast warning]")
    assert "SR-2" in json.dumps(payload["blocks"])


@pytest.mark.timeout(60)
def test_webhook_failure_names_the_status_not_the_secret_url(
    settings_factory, webhook_server, monkeypatch
):
    handler, base = webhook_server
    handler.status = 500
    monkeypatch.setenv("RISKCAST_ALERTS__WEBHOOK_URL", f"{base}/secret-token")
    settings = settings_factory(alerts={"routes": ["webhook", "file"]})
    with pytest.raises(AlertError, match="HTTP 500") as err:
        send_alert(settings, _alert())
    assert "secret-token" not in str(err.value) and err.value.delivered == ["file"]
    refused = settings_factory(alerts={"routes": ["webhook"], "webhook_url": None})
    monkeypatch.delenv("RISKCAST_ALERTS__WEBHOOK_URL")
    with pytest.raises(AlertError, match="WEBHOOK_URL"):
        send_alert(settings_factory(alerts={"routes": ["webhook"]}), _alert())
    assert refused.alerts.webhook_url is None


def test_route_settings_are_checked(settings_factory):
    with pytest.raises(AlertError, match="smtp_to is empty"):
        send_alert(settings_factory(alerts={"routes": ["smtp"]}), _alert())
    with pytest.raises(AlertError, match="sns_topic_arn"):
        send_alert(settings_factory(alerts={"routes": ["sns"]}), _alert())
    with pytest.raises(ConfigError):
        settings_factory(alerts={"routes": ["pager"]})


@pytest.fixture
def sns_topic(monkeypatch):
    """A moto SNS topic with an SQS subscriber, and an Airflow AWS connection pointing at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"region_name": "eu-west-1", "endpoint_url": url}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_RISKCAST_ALERTS_TEST", json.dumps(conn))
    kw = {"region_name": "eu-west-1", "endpoint_url": url,
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
    sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
    topic = sns.create_topic(Name="riskcast-security")["TopicArn"]
    queue = sqs.create_queue(QueueName="soc")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    yield topic, lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    server.stop()


@pytest.mark.timeout(120)
def test_sns_route_publishes_through_the_amazon_provider(settings_factory, sns_topic):
    topic, receive = sns_topic
    settings = settings_factory(
        alerts={"routes": ["sns"], "sns_topic_arn": topic, "aws_conn_id": "riskcast_alerts_test"}
    )
    assert send_alert(settings, _alert()) == ["sns"]
    (message,) = receive()
    body = json.loads(message["Body"])
    assert body["Subject"] == "[riskcast warning] data quality warning: security_reports 2024-03-04"
    assert "SR-2" in body["Message"] and "EMP-1" not in body["Message"]
    assert body["MessageAttributes"]["severity"]["Value"] == "warning"


def test_outbox_lines_are_json_per_alert(settings_factory, tmp_path):
    settings = settings_factory()
    for _ in range(3):
        send_alert(settings, _alert())
    lines = Path(tmp_path / "lake" / "alerts" / "outbox.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len({json.loads(x)["id"] for x in lines}) == 1  # same event id
