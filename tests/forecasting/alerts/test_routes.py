"""SMTP never sends a password in clear: STARTTLS and SMTPS verify the server's certificate
(a server whose CA is not trusted gets nothing, not even the login), and a plaintext session
that would log in or leave the machine is refused before connecting unless
``alerts.smtp_insecure`` says it is a test server. Real aiosmtpd servers, real TLS."""

from __future__ import annotations

import socket
import ssl
from datetime import date

import pytest

from forecasting.alerts.alert import Alert
from forecasting.alerts.routes import deliver_smtp
from forecasting.core.errors import ConfigError
from tests.support.tls import make_tls

PASSWORD = "s3cret-smtp-password"


def _alert() -> Alert:
    return Alert(kind="data_quality", severity="warning", title="tls check", source="events",
                 date=date(2024, 3, 4), summary="one line")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """An aiosmtpd server that records logins (and whether they came over TLS) and mail."""

    def __init__(self, **tls) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.logins: list[tuple[bytes, bool]] = []
        self.mail: list[bytes] = []
        self.port = _free_port()

        def auth(server, session, envelope, mechanism, data):
            tls = server.transport.get_extra_info("ssl_object") is not None  # STARTTLS or SMTPS
            self.logins.append((data.password, tls))
            return AuthResult(success=data.password == PASSWORD.encode())

        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
                outer.mail.append(envelope.content)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=auth,
                                     auth_require_tls=False, **tls)  # fmt: skip

    def __enter__(self) -> _Server:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def _settings(settings_factory, monkeypatch, port: int, **alerts):
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", PASSWORD)
    return settings_factory(alerts={"routes": ["smtp"], "smtp_host": "127.0.0.1", "smtp_port": port,
                                    "smtp_to": ["soc@example.com"], "smtp_user": "riskcast", **alerts})  # fmt: skip


@pytest.mark.timeout(60)
def test_a_password_is_never_sent_over_plaintext(settings_factory, monkeypatch):
    with _Server() as server:
        settings = _settings(settings_factory, monkeypatch, server.port)
        with pytest.raises(ConfigError, match="plaintext.*smtp_starttls") as err:
            deliver_smtp(settings, _alert())
        assert PASSWORD not in str(err.value) and server.logins == [] and server.mail == []


def test_plaintext_to_another_machine_is_refused_before_connecting(settings_factory):
    settings = settings_factory(alerts={"routes": ["smtp"], "smtp_host": "smtp.invalid", "smtp_to": ["a@b.c"]})
    with pytest.raises(ConfigError, match="smtp.invalid is another machine"):
        deliver_smtp(settings, _alert())


@pytest.mark.timeout(60)
def test_starttls_with_an_untrusted_certificate_sends_nothing(settings_factory, monkeypatch, tmp_path):
    tls = make_tls(tmp_path / "server")
    with _Server(tls_context=tls.server_context(), require_starttls=True) as server:
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_starttls=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            deliver_smtp(settings, _alert())
        other_ca = make_tls(tmp_path / "other").ca  # a CA, but not the one that signed the server
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_starttls=True, smtp_ca_file=str(other_ca))
        with pytest.raises(ssl.SSLCertVerificationError):
            deliver_smtp(settings, _alert())
        assert server.logins == [] and server.mail == []


@pytest.mark.timeout(60)
def test_starttls_with_the_servers_ca_logs_in_over_tls(settings_factory, monkeypatch, tmp_path):
    tls = make_tls(tmp_path / "server")
    with _Server(tls_context=tls.server_context(), require_starttls=True) as server:
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_starttls=True, smtp_ca_file=str(tls.ca))
        deliver_smtp(settings, _alert())
        assert server.logins == [(PASSWORD.encode(), True)] and len(server.mail) == 1


@pytest.mark.timeout(60)
def test_smtps_verifies_the_certificate_too(settings_factory, monkeypatch, tmp_path):
    tls = make_tls(tmp_path / "server")
    with _Server(ssl_context=tls.server_context()) as server:
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_ssl=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            deliver_smtp(settings, _alert())
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_ssl=True, smtp_ca_file=str(tls.ca))
        deliver_smtp(settings, _alert())
        assert server.logins == [(PASSWORD.encode(), True)] and len(server.mail) == 1


@pytest.mark.timeout(60)
def test_smtp_insecure_is_the_one_way_to_log_in_over_plaintext(settings_factory, monkeypatch):
    with _Server() as server:
        settings = _settings(settings_factory, monkeypatch, server.port, smtp_insecure=True)
        deliver_smtp(settings, _alert())
        assert server.logins == [(PASSWORD.encode(), False)] and len(server.mail) == 1
