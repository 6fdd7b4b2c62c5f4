"""The nested groups of riskcast's settings (``Settings.ray``, ``.model``, ``.alerts``,
``.validation``, ``.reserves``, ``.escalation``, ``.pii_screen``): plain pydantic models,
each with its defaults and bounds. ``forecasting.core.config`` holds ``Settings`` and how
settings are loaded.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field, SecretStr, field_validator

from forecasting.core.layout import ALERTS, OUTBOX_FILE


class RaySettings(BaseModel):
    """Ray Train scaling; ``address`` None starts local Ray, else joins that cluster."""

    address: str | None = None
    jobs_address: str | None = Field(
        None, description="Ray Jobs API (http://head:8265): train as a Ray Job there"
    )
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    max_failures: int = Field(2, ge=0)
    checkpoints_to_keep: int = Field(2, ge=1)
    job_timeout_s: int = Field(3600, ge=10)


class ModelSettings(BaseModel):
    """DeepAR (negative binomial) hyper-parameters."""

    context_length: int | None = Field(None, ge=1, description="None: 4 x horizon, at least 12")
    num_layers: int = Field(2, ge=1)
    hidden_size: int = Field(40, ge=4)
    dropout_rate: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-8, ge=0)
    max_epochs: int = Field(30, ge=1)
    batches_per_epoch: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(5, ge=1)
    validation: Literal["refit", "holdout", "in_sample"] = Field(
        "refit", description="refit: early-stop on each series' last horizon (left out of "
        "training), then train again on every period for the best epoch count; holdout: keep "
        "the early-stopped network only (it never sees the last window); in_sample: one run on "
        "every period, the last window only monitors it (overfits small networks). Measured in "
        "bench/README.md (## backtest)"
    )
    pool_holdout: bool = Field(
        True, description="with validation=refit, forecast from both networks (the refit and "
        "the early-stopped one), half of the sample paths each: a two-member ensemble at no "
        "extra training cost"
    )
    num_samples: int = Field(
        1000, ge=10, description="sample paths per series (split between pooled networks); quantiles "
        "of counts from 200 paths scored carparts 0.005 worse in mean_wQL (sampling noise)"
    )
    gradient_clip_val: float = Field(10.0, gt=0)
    seed: int = 0
    num_threads: int = Field(
        1, ge=1, description="torch CPU threads per fit/predict process or Ray worker; a small "
        "LSTM runs fastest on 1 (more threads mostly spin on a shared machine)"
    )


class AlertSettings(BaseModel):
    """Where alerts go. ``routes`` picks among file, smtp, webhook, sns."""

    routes: list[Literal["file", "smtp", "webhook", "sns"]] = ["file"]
    outbox_path: str | None = Field(None, description=f"None: <lake>/{ALERTS}/{OUTBOX_FILE}")
    max_rows: int = Field(20, ge=0)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "riskcast@localhost"
    smtp_to: list[str] = []
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False  # STARTTLS, certificate verified (smtp_ca_file or the system's CAs)
    smtp_ssl: bool = False  # SMTPS (port 465): TLS from the first byte, certificate verified
    smtp_ca_file: str | None = None  # PEM of the CA that signed the server's certificate
    # a plaintext session that logs in or leaves this machine: a local test server only
    smtp_insecure: bool = False
    webhook_url: SecretStr | None = None
    timeout_s: float = Field(15.0, gt=0, description="per-route network timeout (SMTP, webhook)")
    sns_topic_arn: str | None = None
    aws_conn_id: str = "aws_default"


class ValidationSettings(BaseModel):
    """Great Expectations run options."""

    max_bad_row_share: float = Field(0.2, ge=0, le=1)
    volume_window_days: int = Field(
        28, ge=1, description="earlier days (with a count) the volume band of a daily source is "
        "read from (validation.volume.count_band)"
    )
    volume_tail: float = Field(
        1e-6, gt=0, lt=0.5, description="a day's row count is out of bounds when a count as low "
        "(or as high) has a smaller chance than this under the law of the earlier days' counts "
        "(negative binomial); 1e-6: about one false alarm per 1,400 years of days and side"
    )
    silence_days: int = Field(
        7, ge=1, description="a site is judged silent from this many days without a row on"
    )
    silence_tail: float = Field(
        1e-4, gt=0, lt=1, description="a site's silence is alerted (warning) once a run that "
        "long has a smaller chance than this given its earlier days (validation.volume.silent_sites)"
    )
    silence_history_days: int = Field(
        28, ge=2, description="earlier days of a site (before its silence) its rate is read from"
    )
    max_row_age_days: int | None = Field(
        30, ge=0, description="rows dated (reported_at, count_date) more than this many days "
        "before the drop's day are held back as stale; None turns the check off"
    )
    sqft_min: float = 1_000
    sqft_max: float = 5_000_000
    batch_days: int = Field(
        60, ge=1, description="a backfill validates up to this many days of a source in one GX "
        "run (the fixed cost of a suite run is paid per batch); 1 validates day by day"
    )
    batch_rows: int = Field(500_000, ge=1, description="a batch stops growing at this many rows")
    block_rows: int = Field(
        500_000, ge=1, description="a day with more bronze rows is validated in blocks of about "
        "this many rows (bounded memory, the same files), when its suite can be split"
    )


class ReservesSettings(BaseModel):
    """Monte Carlo of compound losses (incident paths x empirical loss severity)."""

    draws_per_path: int = Field(4, ge=1, description="severity draws per incident sample path")
    seed: int = Field(0, description="mixed with the as-of date, so reruns are identical")
    min_region_losses: int = Field(30, ge=1, description="fewer: pool the network's losses")


class EscalationSettings(BaseModel):
    """Per-warehouse thresholds on a period's P95; absent sites default from their history."""

    incidents_p95: dict[str, float] = Field(default_factory=dict, description="warehouse -> count")
    loss_eur_p95: dict[str, float] = Field(default_factory=dict, description="warehouse -> EUR")
    history_margin: float = Field(
        1.25, ge=1, description="history default: margin x the history quantile, so noise does not escalate"
    )
    severe_factor: float = Field(2.0, gt=1, description="P95 above factor x threshold: severe")
    min_history_periods: int = Field(8, ge=1, description="fewer: no history default")


_UPPER, _LOWER = "[A-ZÀ-ÖØ-ÞĀ-ž]", "[a-zß-öø-ÿĀ-ž]"  # Latin Extended-A alternates the cases
# kind of personal data -> RE2 pattern searched anywhere in a text value (ingest.screen), tuned
# to miss the contract's own values (SKU-00123, WH-DE-001, dates, decimals, ISO timestamps);
# the first kind that matches names a value (an IBAN holds a "0044"). Few counted repeats and no \p{..} classes: the screen compiles the patterns
# at every search (about 0.3 ms, the cost of a small day's screen).
PII_PATTERNS = {
    "e-mail address": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z][A-Za-z]+",
    "IBAN": r"\b[A-Z][A-Z]\d\d(?: ?[A-Z0-9][A-Z0-9][A-Z0-9][A-Z0-9]){2,}(?: ?[A-Z0-9]+)?\b",
    # +49 170 1234567, 0049 (0)30 123456, +33.1.23.45.67.89; local 030 1234567, 0170-123 4567
    # an international 00 prefix only first or after a space, bracket or punctuation (no ^: the
    # screen adds (?m) for anchors): never inside an id
    # (RC-00100083, SR-00123456: a hyphen or a letter before the 00)
    "phone number": r"(?:\+|(?:\A|[\s(\[:;,.=/])00)[1-9]\d*[ ./-]?(?:\(0\)[ ./-]?)?\(?\d+\)?(?:[ ./-]?\d\d+)+"
                    r"|\b0\d\d+[ /-]\d\d\d+[ -]?\d\d+\b",
    "employee id": r"\bEMP-\d\d\d\d+\b",  # the reporter ids the contract pseudonymises
    # a name after a title, or after the words the reports' notes put before one (Łukasz Nowak)
    "person's name": rf"\b(?:Mr|Mrs|Ms|Dr|Herr|Frau|Mme)\.? {_UPPER}{_LOWER}"
                     rf"|\b(?:Witness|Reported by|Seen by|Called|Contact|Attn)[:.]? {_UPPER}{_LOWER}+ {_UPPER}",
}


class PiiScreenSettings(BaseModel):
    """The PII screen of ingest (``forecasting.ingest.screen``): personal data in a column
    not meant for it is hashed or held back, never stored raw."""

    enabled: bool = Field(True, description="screen every text value of every source at ingest")
    patterns: dict[str, str] = Field(
        default_factory=lambda: dict(PII_PATTERNS),
        description="kind of personal data -> RE2 pattern (searched anywhere in a value)",
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, v: dict[str, str]) -> dict[str, str]:
        for kind, pattern in v.items():
            try:
                pc.match_substring_regex(pa.array([""]), pattern)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise ValueError(f"pattern {kind!r} is not a valid RE2 regular expression") from None
        return v
