"""Alert routes: JSON Lines outbox, SMTP e-mail, Slack-compatible webhook, AWS SNS.

Each route is ``deliver(settings, alert) -> None`` and raises on failure (the caller,
``alerts.send_alert``, collects failures). Secrets (SMTP password, webhook URL) are
SecretStr settings from env; error messages never include them.

SMTP speaks TLS with a verified certificate (``ssl.create_default_context``: the system's
CAs or ``alerts.smtp_ca_file``, the host name checked): SMTPS (``smtp_ssl``) or STARTTLS
(``smtp_starttls``), which must succeed before anything else is said. A plaintext session
that would send a password, or that leaves this machine, is refused unless
``alerts.smtp_insecure`` is set (a local test server).
"""

from __future__ import annotations

import ipaddress
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING

from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError
from forecasting.core.lake import Lake

if TYPE_CHECKING:
    from forecasting.alerts.alert import Alert


def outbox_uri(settings: Settings) -> str:
    """``alerts.outbox_path`` or ``<lake>/alerts/outbox.jsonl``."""
    return settings.alerts.outbox_path or Lake.from_settings(settings).outbox


def deliver_file(settings: Settings, alert: Alert) -> None:
    """Append one JSON line (``alert.to_dict()``, sorted keys) to the outbox."""
    uri = outbox_uri(settings)
    parent = uri.rsplit("/", 1)[0] if "/" in uri else "."
    Lake(parent, settings.aws_conn_id).append_line(uri, json.dumps(alert.to_dict(), sort_keys=True))


def deliver_smtp(settings: Settings, alert: Alert) -> None:
    """A multipart (text + HTML) e-mail to ``alerts.smtp_to`` through ``smtp_host:smtp_port``."""
    cfg = settings.alerts
    if not cfg.smtp_to:
        raise ConfigError(
            "alerts.routes has 'smtp' but alerts.smtp_to is empty: set RISKCAST_ALERTS__SMTP_TO"
        )
    msg = EmailMessage()
    msg["Subject"] = _one_line(alert.subject, 200)
    msg["From"] = cfg.smtp_from
    msg["To"] = ", ".join(cfg.smtp_to)
    msg["X-Riskcast-Alert-Id"] = alert.alert_id
    msg.set_content(alert.render_text())
    msg.add_alternative(alert.render_html(), subtype="html")
    _refuse_plaintext(settings)
    context = smtp_tls_context(settings)
    if cfg.smtp_ssl:
        session = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s, context=context)
    else:
        session = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
    with session as smtp:
        if cfg.smtp_starttls and not cfg.smtp_ssl:
            smtp.starttls(context=context)  # raises unless the certificate verifies
        if cfg.smtp_user:
            password = cfg.smtp_password.get_secret_value() if cfg.smtp_password else ""
            smtp.login(cfg.smtp_user, password)
        smtp.send_message(msg)


def smtp_tls_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate and host name."""
    try:
        return ssl.create_default_context(cafile=settings.alerts.smtp_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"alerts.smtp_ca_file {settings.alerts.smtp_ca_file!r} cannot be read as PEM "
            f"certificates ({type(exc).__name__}): fix the path"
        ) from None


def _refuse_plaintext(settings: Settings) -> None:
    """ConfigError before connecting when the session would be plaintext and either log in
    or leave this machine, unless ``alerts.smtp_insecure`` says that is meant."""
    cfg = settings.alerts
    if cfg.smtp_ssl or cfg.smtp_starttls or cfg.smtp_insecure:
        return
    if cfg.smtp_user:
        raise ConfigError(
            "alerts.smtp_user is set but the SMTP session would be plaintext: the password would "
            "cross the network in clear; set alerts.smtp_starttls or alerts.smtp_ssl (the "
            "certificate is verified), or alerts.smtp_insecure for a local test server"
        )
    if not _loopback(cfg.smtp_host):
        raise ConfigError(
            f"alerts.smtp_host {cfg.smtp_host} is another machine and the SMTP session would be "
            "plaintext; set alerts.smtp_starttls or alerts.smtp_ssl (the certificate is "
            "verified), or alerts.smtp_insecure for a test server"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deliver_webhook(settings: Settings, alert: Alert) -> None:
    """POST the Slack-compatible payload (``{"text", "blocks"}``) as JSON; 2xx or raise."""
    if settings.alerts.webhook_url is None:
        raise ConfigError(
            "alerts.routes has 'webhook' but no URL: set RISKCAST_ALERTS__WEBHOOK_URL"
        )
    url = settings.alerts.webhook_url.get_secret_value()
    body = json.dumps(alert.render_slack()).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.alerts.timeout_s) as response:  # noqa: S310 - URL is an operator setting
            status = response.status
    except urllib.error.HTTPError as exc:  # the URL is a secret: report the status only
        raise ConnectionError(f"webhook answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise ConnectionError(f"webhook unreachable: {exc.reason}") from None
    if not 200 <= status < 300:
        raise ConnectionError(f"webhook answered HTTP {status}")


def deliver_sns(settings: Settings, alert: Alert) -> None:
    """Publish the text rendering to ``alerts.sns_topic_arn`` with the Amazon provider's SnsHook."""
    if not settings.alerts.sns_topic_arn:
        raise ConfigError("alerts.routes has 'sns' but alerts.sns_topic_arn is not set")
    try:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook
    except ImportError as exc:
        raise ConfigError(
            "alerts.routes has 'sns', which publishes through the Amazon provider for Airflow; "
            f"it is not installed here ({exc}): install riskcast[airflow] or drop the route"
        ) from exc

    SnsHook(aws_conn_id=settings.alerts.aws_conn_id).publish_to_target(
        target_arn=settings.alerts.sns_topic_arn,
        message=alert.render_text(),
        subject=_one_line(alert.subject, 100),  # SNS: at most 100 printable ASCII characters
        message_attributes={
            "kind": alert.kind,
            "severity": alert.severity,
            "alert_id": alert.alert_id,
        },
    )


def _one_line(text: str, limit: int) -> str:
    ascii_only = text.encode("ascii", "replace").decode("ascii")
    return " ".join(ascii_only.split())[:limit]


ROUTES: dict[str, Callable[[Settings, Alert], None]] = {
    "file": deliver_file,
    "smtp": deliver_smtp,
    "webhook": deliver_webhook,
    "sns": deliver_sns,
}
