"""Checks on what feeds the settings: unknown keys, credentials in URLs, safe error text.

- A key in a config file that is no setting is an error naming the closest valid one
  (``alerts.smtp_pasword`` -> ``alerts.smtp_password``); nested sections included, which
  pydantic would otherwise ignore silently.
- A ``RISKCAST_*`` env var that is no setting is a warning with the closest name (env is
  shared with other tools, so it cannot be an error).
- A URL with a credential in it is a secret: a password in its userinfo
  (``postgresql://user:pw@host/db``) or a credential query parameter
  (``postgresql://svc@db/r?password=pw``, ``...?token=...``, ``X-Amz-Signature``: libpq,
  SQLAlchemy and pre-signed URLs accept them). Refused in a config file, masked wherever
  settings are shown (``mask_url``), stripped from what leaves the process (``strip_url``).
- Validation errors never quote the value, of any setting: they name the setting, where it
  came from, the type it expects and, for a setting that does not exist, the closest one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

# RISKCAST_* names read by other parts of riskcast, not by Settings
OTHER_ENV = (
    "RISKCAST_CONFIG",
    "RISKCAST_EXPECTATIONS_DIR",
    "RISKCAST_FORECAST_SCHEDULE",
    "RISKCAST_SCHEDULE_START",
    "RISKCAST_SCHEDULE_END",
    "RISKCAST_PUBLISHER_PASSWORD",
    "RISKCAST_FINANCE_PASSWORD",
    "RISKCAST_TEST_POSTGRES_URL",
)
MASK = "***"


def setting_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted names of every setting of ``model`` (sections and their fields)."""
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += setting_paths(sub, f"{prefix}{name}.")
    return out


def unknown_keys(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """``"path (did you mean 'x'?)"`` for every key of ``data`` that is no setting."""
    found = []
    for key, value in data.items():
        info = model.model_fields.get(str(key))
        if info is None:
            found.append(f"'{prefix}{key}'{_closest(str(key), list(model.model_fields), prefix)}")
            continue
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel) and isinstance(value, dict):
            found += unknown_keys(value, sub, f"{prefix}{key}.")
    return found


def unknown_env(environ: dict[str, str], model: type[BaseModel], prefix: str) -> list[str]:
    """Warnings for ``prefix``* env vars that name no setting (never their values)."""
    known = {prefix + p.replace(".", "__").upper() for p in setting_paths(model)}
    known |= set(OTHER_ENV)
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(prefix) or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"env var {name} is not a riskcast setting and is ignored{hint}")
    return warnings


# query parameters that carry a credential (lower case; a name ending in one of them counts too:
# sslpassword, access_token, x-amz-signature, ...)
CREDENTIAL_PARAMS = ("password", "passwd", "pwd", "pass", "token", "secret", "key", "signature",
                     "sig", "credential", "auth", "apikey", "api_key", "passfile")  # fmt: skip


def url_password(value: Any) -> bool:
    """Whether ``value`` is a URL carrying a credential: a password in its userinfo
    (``scheme://user:password@host``) or a credential query parameter (``?password=``)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    try:
        parts = urlsplit(value)
        has_password = bool(parts.password)
    except ValueError:
        return "@" in value.split("://", 1)[1]
    return has_password or any(_credential(k) for k, _ in _query(parts.query))


def mask_url(value: str) -> str:
    """``value`` with every credential of a URL (userinfo password, credential query
    parameters) replaced by ``***``; any other value as it is."""
    return _rewrite(value, MASK) if url_password(value) else value


def mask_urls(value: Any) -> Any:
    """``value`` (JSON-able) with every URL credential in it masked, however deeply nested."""
    if isinstance(value, dict):
        return {k: mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_urls(v) for v in value]
    return mask_url(value) if isinstance(value, str) else value


def strip_url(value: str) -> str:
    """``value`` with every credential of a URL removed (what may leave this process)."""
    return _rewrite(value, None) if url_password(value) else value


def _credential(name: str) -> bool:
    low = name.lower().replace("-", "_")
    return any(low == p or low.endswith(p) or low.endswith("_" + p) for p in CREDENTIAL_PARAMS)


def _query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _rewrite(value: str, replacement: str | None) -> str:
    try:
        parts = urlsplit(value)
        user = parts.username
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # unparseable: keep the scheme and what follows the last '@'
        scheme, rest = value.split("://", 1)
        host_part = rest.rpartition("@")[2]
        return f"{scheme}://{replacement}@{host_part}" if replacement else f"{scheme}://{host_part}"
    netloc = host if ":" not in host else f"[{host}]"
    netloc += f":{port}" if port is not None else ""
    if user is not None:
        secret = f":{replacement}" if replacement and parts.password else ""
        netloc = f"{quote(user, safe='')}{secret}@{netloc}"
    query = []
    for k, v in _query(parts.query):
        if not _credential(k):
            query.append(f"{quote(k, safe='')}={quote(v, safe='')}")
        elif replacement:
            query.append(f"{quote(k, safe='')}={replacement}")
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), parts.fragment))


def urls_with_passwords(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the values in ``data`` (nested) that are URLs with a password."""
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += urls_with_passwords(value, f"{prefix}{key}.")
        elif url_password(value):
            out.append(f"{prefix}{key}")
    return out


def describe(exc: ValidationError, model: type[BaseModel], origin: Callable[[str], str] | None = None) -> str:
    """One clause per error: the setting, where it came from (``origin(path)``, e.g. ``env
    RISKCAST_HORIZON``), the type it expects and why the value fails, or the closest valid name
    of a setting that does not exist. Never the value: "value hidden" for every field, since
    a secret pasted into the wrong setting is still a secret."""
    paths = setting_paths(model)
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        where = f" (from {origin(field)})" if origin is not None and origin(field) else ""
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field, paths, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"setting '{field}'{where} does not exist{hint} (value hidden)")
            continue
        why = err["msg"].replace("Input should be", "should be").replace("Value error, ", "")
        lines.append(f"setting '{field}'{where}: expects {expected_type(model, err['loc'])}, {why} (value hidden)")
    return "invalid settings: " + "; ".join(lines)


def expected_type(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The declared type of the setting at ``loc`` in words (``int``, ``list[str]``, ...)."""
    kind: Any = model
    for part in loc:
        fields = getattr(kind, "model_fields", None)
        if not isinstance(fields, dict) or str(part) not in fields:
            break  # an item of a list or mapping: the declared type of the container is shown
        kind = fields[str(part)].annotation
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return f"a {kind.__name__} section (a mapping)"
    text = kind.__name__ if isinstance(kind, type) else str(kind)
    return re.sub(r"\b(?:typing|pydantic(?:\.types)?)\.", "", text)


def _closest(key: str, names: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
