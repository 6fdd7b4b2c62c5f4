"""The lake's file I/O over fsspec (local folders or ``s3://``); its paths are ``core.layout``'s.

Writes are atomic per file (temporary name, then rename) and deterministic, so a rerun
of the same logical date replaces its partition with byte-identical files.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from datetime import date, datetime, timedelta
from typing import Any

import fsspec
import pandas as pd
from fsspec.core import strip_protocol

from forecasting.core.errors import ConfigError, StorageError
from forecasting.core.layout import Layout, join, validate_identifier

__all__ = ["Lake", "check_storage", "filesystem", "join", "parse_date", "storage_options", "validate_identifier"]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_YEAR, MAX_YEAR = 1900, 2999


def parse_date(value: str | date | datetime, what: str = "date") -> date:
    """Parse exactly ``YYYY-MM-DD`` (or pass a date through); raise ConfigError naming ``what``.

    Strict: ``2024-04-20-garbage``, ``20240420`` or ``2024-04-20T10:00`` are refused, not
    read as their first ten characters. Years outside 1900..2999 are refused as typos.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as exc:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ConfigError(f"{what} {shown!r} is not a date: write it as YYYY-MM-DD") from exc
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ConfigError(
            f"{what} {text} is out of range: give a year between {MIN_YEAR} and {MAX_YEAR}"
        )
    return day


def day_range(first: date, last: date, max_days: int | None = None, what: str = "the range") -> list[date]:
    """``first`` .. ``last`` inclusive, one date per day; ConfigError (naming ``what``) when
    ``last`` is before ``first`` or the range has more than ``max_days`` days."""
    if last < first:
        raise ConfigError(f"{what}: {last} is before {first}")
    span = (last - first).days + 1
    if max_days is not None and span > max_days:
        raise ConfigError(
            f"{what} {first} .. {last} spans {span} days, more than max_backfill_days={max_days}: "
            "split the backfill or raise RISKCAST_MAX_BACKFILL_DAYS"
        )
    return [first + timedelta(days=i) for i in range(span)]


def storage_options(uri: str, aws_conn_id: str = "aws_default") -> dict[str, Any]:
    """fsspec options for ``uri``: S3 credentials from env, else the Airflow connection."""
    if not uri.startswith("s3://"):
        return {}
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["client_kwargs"] = {"endpoint_url": endpoint}
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        # explicit, so fsspec's instance cache (keyed by these options) never hands back a
        # filesystem that resolved other credentials, or none, earlier in this process
        opts.update(
            key=os.environ["AWS_ACCESS_KEY_ID"],
            secret=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            token=os.environ.get("AWS_SESSION_TOKEN"),
        )
        return opts
    if os.environ.get("AWS_PROFILE"):
        return opts
    try:  # inside Airflow: the connection named by the settings
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=aws_conn_id)
        creds = hook.get_credentials()
        opts.update(key=creds.access_key, secret=creds.secret_key, token=creds.token)
        url = hook.conn_config.endpoint_url
        if url:
            opts["client_kwargs"] = {"endpoint_url": url}
    except Exception:  # noqa: BLE001 - no Airflow, no connection: s3fs tries its own chain
        pass
    return opts


class Lake(Layout):
    """I/O under one lake root (local folder or ``s3://bucket/prefix``); paths from ``Layout``."""

    def __init__(self, uri: str, aws_conn_id: str = "aws_default") -> None:
        self.uri = uri.rstrip("/")
        self.aws_conn_id = aws_conn_id
        self._fs: fsspec.AbstractFileSystem | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Lake:
        """The lake of ``settings`` (``lake_uri``, credentials from ``aws_conn_id``)."""
        return cls(settings.lake_uri, settings.aws_conn_id)

    @classmethod
    def landing_from_settings(cls, settings: Any) -> Lake:
        """The landing area of ``settings`` (``landing_uri``, same credentials)."""
        return cls(settings.landing_uri, settings.aws_conn_id)

    def with_staged(self, partitions: Any) -> Lake:
        """This lake with the (source, day) ``partitions`` resolving under ``_staging/``
        (``Layout.staged``); it shares this lake's filesystem."""
        other = Lake(self.uri, self.aws_conn_id)
        other._fs = self._fs
        other.staged = frozenset(partitions)
        return other

    # ------------------------------------------------------------------ I/O
    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs = filesystem(self.uri, self.aws_conn_id)
        return self._fs

    def exists(self, uri: str) -> bool:
        # drop cached listings: files may have landed since (fsspec caches S3 listings)
        self.fs.invalidate_cache(uri)
        return _guard(uri, self.aws_conn_id, lambda: self.fs.exists(uri))

    def ls(self, uri: str) -> list[str]:
        """Names (not paths) directly under ``uri``, sorted; empty if it does not exist."""
        if not self.exists(uri):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(uri, detail=False))

    def remove(self, uri: str) -> None:
        """Delete ``uri`` (recursively). An object store reports a denied delete per key and
        s3fs does not raise for it: what is still there after the delete is an error."""
        if self.exists(uri):
            self.fs.rm(uri, recursive=True)
            self.fs.invalidate_cache(uri)
            left = self.fs.find(uri) if self.fs.isdir(uri) else ([uri] if self.fs.exists(uri) else [])
            if left:
                raise StorageError(f"{uri}: {len(left)} file(s) could not be deleted (first {left[0]}): "
                                   "the store refused the delete; check the role's DeleteObject right")

    def write_bytes(self, uri: str, data: bytes) -> str:
        """Write atomically where the filesystem allows it (local: temp file + rename)."""
        parent = uri.rsplit("/", 1)[0]
        _guard(uri, self.aws_conn_id, lambda: self.fs.makedirs(parent, exist_ok=True))
        if _is_local(uri):
            tmp = f"{uri}.tmp-{os.getpid()}"
            with open(_local(tmp), "wb") as fh:
                fh.write(data)
            os.replace(_local(tmp), _local(uri))
        else:
            _guard(uri, self.aws_conn_id, lambda: self.fs.pipe_file(uri, data))
        return uri

    def put_file(self, path: str, uri: str) -> str:
        """Copy the local file ``path`` to ``uri``, atomically where the filesystem allows it."""
        parent = uri.rsplit("/", 1)[0]
        _guard(uri, self.aws_conn_id, lambda: self.fs.makedirs(parent, exist_ok=True))
        if _is_local(uri):
            tmp = f"{uri}.tmp-{os.getpid()}"
            shutil.copyfile(path, _local(tmp))
            os.replace(_local(tmp), _local(uri))
        else:
            _guard(uri, self.aws_conn_id, lambda: self.fs.put_file(path, uri))
        return uri

    def copy(self, src: str, dst: str) -> str:
        """Copy ``src`` to ``dst`` in this lake: local, temp file + rename (atomic); an object
        store, a server-side copy (a PUT is atomic per object there)."""
        parent = dst.rsplit("/", 1)[0]
        _guard(dst, self.aws_conn_id, lambda: self.fs.makedirs(parent, exist_ok=True))
        if _is_local(dst):
            tmp = f"{dst}.tmp-{os.getpid()}"
            shutil.copyfile(_local(src), _local(tmp))
            os.replace(_local(tmp), _local(dst))
        else:
            _guard(dst, self.aws_conn_id, lambda: self.fs.copy(src, dst))
        return dst

    def files(self, uri: str) -> dict[str, dict[str, Any]]:
        """Every file under ``uri`` (recursive): path relative to ``uri`` (``/``-separated, in
        sorted order) -> ``{"size", "mtime"}`` (epoch seconds, None where the store gives none);
        {} if it does not exist or is itself a file."""
        if not self.exists(uri):
            return {}
        base = strip_protocol(uri).rstrip("/")
        found = _guard(uri, self.aws_conn_id, lambda: self.fs.find(uri, detail=True))
        return {path[len(base) + 1:]: {"size": int(info.get("size") or 0), "mtime": _mtime(info)}
                for path, info in sorted(found.items())
                if info.get("type", "file") == "file" and len(path) > len(base)}  # uri itself: a file

    def size(self, uri: str) -> int:
        """Bytes stored at ``uri``."""
        return int(_guard(uri, self.aws_conn_id, lambda: self.fs.size(uri)) or 0)

    def open(self, uri: str) -> Any:
        """A binary file object to read ``uri`` in pieces (close it: use ``with``)."""
        return _guard(uri, self.aws_conn_id, lambda: self.fs.open(uri, "rb"))

    def read_bytes(self, uri: str) -> bytes:
        return _guard(uri, self.aws_conn_id, lambda: self.fs.cat_file(uri))

    def write_parquet(self, df: pd.DataFrame, uri: str) -> str:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False, engine="pyarrow")
        return self.write_bytes(uri, buf.getvalue())

    def read_parquet(self, uri: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(uri)), engine="pyarrow")

    def write_text(self, uri: str, text: str) -> str:
        return self.write_bytes(uri, text.encode("utf-8"))

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def write_json(self, uri: str, obj: Any) -> str:
        return self.write_text(uri, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    def read_json(self, uri: str) -> Any:
        return json.loads(self.read_text(uri))

    def append_line(self, uri: str, line: str) -> None:
        """Append one line (JSON Lines outbox). Local: O_APPEND; remote: read-modify-write."""
        if _is_local(uri):
            os.makedirs(os.path.dirname(_local(uri)), exist_ok=True)
            with open(_local(uri), "a", encoding="utf-8") as fh:
                fh.write(line.rstrip("\n") + "\n")
            return
        old = self.read_text(uri) if self.exists(uri) else ""
        self.write_text(uri, old + line.rstrip("\n") + "\n")


def filesystem(uri: str, aws_conn_id: str = "aws_default") -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for ``uri`` (``file``, ``s3`` or any installed protocol)."""
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    try:
        return fsspec.filesystem(protocol, **storage_options(uri, aws_conn_id))
    except ImportError as exc:
        raise StorageError(f"no filesystem for {uri!r}: install the package for '{protocol}'") from exc
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise ConfigError(
            f"unknown storage protocol '{protocol}' in {uri!r}: use a local folder, file:// or s3://"
        ) from exc


STORAGE_SETTINGS = {"lake_uri": "RISKCAST_LAKE_URI", "landing_uri": "RISKCAST_LANDING_URI"}


def check_storage(settings: Any) -> None:
    """Raise one ConfigError (one line: the setting, its variable, the fix) when ``lake_uri``
    or ``landing_uri`` is no location riskcast can open: empty, a scheme other than
    ``file://`` and ``s3://`` (``ftp://x``), ``s3://`` without a bucket, a path that is a
    file. Called before any source runs (``stages.run_ingest``, each DAG task of the stage
    table), so a bad URI is one error, not one per source. The value is never shown (a URI
    may hold a credential), only its scheme."""
    problems = []
    for name, variable in STORAGE_SETTINGS.items():
        why = _unusable(str(getattr(settings, name) or ""))
        if why:
            problems.append(f"setting '{name}' ({variable}) {why}")
    if problems:
        raise ConfigError("; ".join(problems) + ": set it to a local folder, file:///path or s3://bucket/prefix")


def _unusable(uri: str) -> str | None:
    """Why ``uri`` is no lake or landing location, or None."""
    if not uri.strip():
        return "is empty"
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    if scheme == "s3":
        return None if uri[len("s3://"):].split("/", 1)[0] else "names no bucket (s3://<bucket>/...)"
    if scheme == "file":
        return "points at a file, not a folder" if os.path.isfile(_local(uri)) else None
    return f"uses the scheme '{scheme}://', which riskcast does not read or write"


def _mtime(info: dict[str, Any]) -> float | None:
    """Modification time of an fsspec listing entry (local ``mtime``, S3 ``LastModified``)."""
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, int | float) else None


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _guard(uri: str, aws_conn_id: str, fn: Any) -> Any:
    """Run ``fn``; turn missing S3 credentials into an error naming the connection."""
    try:
        return fn()
    except Exception as exc:
        name = type(exc).__name__
        if name in {"NoCredentialsError", "PartialCredentialsError"} or (
            uri.startswith("s3://") and "credentials" in str(exc).lower()
        ):
            raise StorageError(
                f"no S3 credentials for {uri}: configure the Airflow connection '{aws_conn_id}' "
                "(or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, and AWS_ENDPOINT_URL for a "
                "non-AWS store)"
            ) from exc
        raise
