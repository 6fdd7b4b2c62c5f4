"""Expectation suites (``expectations/<suite>.json``) and running one on a data frame with GX.

A suite file is GX 1.x JSON that a data owner edits without touching Python::

    {"name": "security_reports", "meta": {...}, "expectations": [
      {"type": "expect_column_values_to_be_in_set",
       "kwargs": {"column": "severity", "value_set": ["SEV1", "SEV2", "SEV3", "SEV4"]},
       "meta": {"severity": "warning"}}, ...]}

Every expectation carries ``meta.severity``: ``critical`` (the whole batch fails: schema,
volume, empty day) or ``warning`` (offending rows are quarantined). Values known only at run
time are GX suite parameters, ``{"$PARAMETER": "max_timestamp"}``, passed to
``validate_frame(..., params)``; a parameter passed as ``None`` skips the expectations that
use it (e.g. no volume history yet). An expectation's name, used as the quarantine reason,
is ``type(column)``, ``type(col_a,col_b)`` or ``type(label)`` with ``meta.label``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import forecasting
from forecasting.core.errors import ConfigError
from forecasting.validation.gx.suite_results import (
    CRITICAL,
    WARNING,
    ExpectationResult,
    SuiteResult,
)

SUITES_DIR_ENV = "RISKCAST_EXPECTATIONS_DIR"
SEVERITY_LEVELS = (CRITICAL, WARNING)
PARAMETER = "$PARAMETER"
_ID_NAMESPACE = uuid.UUID("6f1c3f7e-4a53-5d7b-9a61-2f1d6c0e9b11")
# COMPLETE gives every offending row's pandas index; the query string GX would also build
# (one literal per bad row) is dropped because nobody reads it.
_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}


def default_suites_dir() -> Path:
    """``$RISKCAST_EXPECTATIONS_DIR``, else the checkout's ``expectations/`` folder, else the
    copy an installed wheel ships (``<prefix>/share/riskcast/expectations``)."""
    env = os.environ.get(SUITES_DIR_ENV)
    if env:
        return Path(env)
    checkout = Path(forecasting.__file__).resolve().parent.parent / "expectations"
    installed = Path(sys.prefix) / "share" / "riskcast" / "expectations"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


def suite_names(suites_dir: str | Path | None = None) -> list[str]:
    """Names of every suite file in ``suites_dir``, sorted."""
    return sorted(p.stem for p in Path(suites_dir or default_suites_dir()).glob("*.json"))


def load_suite(name: str, suites_dir: str | Path | None = None) -> dict[str, Any]:
    """Read and check ``<suites_dir>/<name>.json``; raise ConfigError naming file and entry."""
    path = Path(suites_dir or default_suites_dir()) / f"{name}.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no expectation suite {path}: add it or check {SUITES_DIR_ENV} "
            f"(available: {suite_names(path.parent)})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    if doc.get("name") != name or not isinstance(doc.get("expectations"), list):
        raise ConfigError(f"{path} must hold {{'name': '{name}', 'expectations': [...]}}")
    for i, exp in enumerate(doc["expectations"]):
        sev = (exp.get("meta") or {}).get("severity")
        if (
            not exp.get("type")
            or not isinstance(exp.get("kwargs"), dict)
            or sev not in SEVERITY_LEVELS
        ):
            raise ConfigError(
                f"{path}: expectation #{i} ({exp.get('type')!r}) needs 'type', 'kwargs' and "
                f"meta.severity in {SEVERITY_LEVELS} (got {sev!r})"
            )
    names = [expectation_name(e) for e in doc["expectations"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"{path}: expectation names {dupes} repeat: give each a distinct meta.label"
        )
    return doc


def expectation_name(exp: dict[str, Any]) -> str:
    """``type(column)`` / ``type(a,b)`` / ``type(meta.label)``: the reason written to quarantine."""
    label = (exp.get("meta") or {}).get("label")
    kw = exp.get("kwargs", {})
    cols = (
        [kw["column"]] if "column" in kw else [kw[k] for k in ("column_A", "column_B") if k in kw]
    )
    cols = cols or list(kw.get("column_list", []))
    arg = label or ",".join(str(c) for c in cols)
    return f"{exp['type']}({arg})" if arg else exp["type"]


def suite_parameters(exp: dict[str, Any]) -> list[str]:
    """Names of the ``$PARAMETER`` placeholders an expectation uses."""
    found: list[str] = []

    def _walk(v: Any) -> None:
        if isinstance(v, dict):
            if PARAMETER in v:
                found.append(v[PARAMETER])
            for x in v.values():
                _walk(x)
        elif isinstance(v, list):
            for x in v:
                _walk(x)

    _walk(exp.get("kwargs", {}))
    return found


def validate_frame(
    df: pd.DataFrame,
    suite_name: str,
    params: dict[str, Any] | None = None,
    *,
    suites_dir: str | Path | None = None,
    only: Callable[[dict[str, Any]], bool] | None = None,
) -> SuiteResult:
    """Run suite ``suite_name`` on ``df`` with GX (ephemeral context); never raises for data.

    ``params`` fills the suite's ``$PARAMETER`` placeholders (a ``None`` value skips the
    expectations that use it, with a note). Row positions in the result refer to
    ``df.reset_index(drop=True)``. ``only``: run (and report) just the suite entries it
    accepts (a streamed day runs its blocks and its row count apart). Raises ConfigError
    for a missing suite or parameter.
    """
    doc = load_suite(suite_name, suites_dir)
    params = dict(params or {})
    active, results, notes, used = _plan(doc, suite_name, params, only)
    silence_gx()  # the first GX import logs ~200 INFO lines once Airflow set the root to INFO
    from great_expectations.core import ExpectationSuite

    gx_suite = ExpectationSuite(
        name=suite_name, id=_uuid(suite_name), expectations=active, meta=doc.get("meta") or {}
    )
    view = _validation_view(df)
    batch = _batch_definition(suite_name).get_batch(batch_parameters={"dataframe": view})
    gx_result = batch.validate(
        gx_suite,
        result_format=_RESULT_FORMAT,
        expectation_parameters={k: _gx_param(params[k]) for k in sorted(used)},
    )
    by_id = {str(r.expectation_config.id): r for r in gx_result.results}
    for exp in active:
        results.append(_result(exp, by_id.get(exp["id"])))
    order = {expectation_name(e): i for i, e in enumerate(doc["expectations"])}
    results.sort(key=lambda r: order[r.name])
    return SuiteResult(suite_name, len(view), results, notes, gx_result, gx_suite)


def passed_result(suite_name: str, params: dict[str, Any], row_count: int) -> SuiteResult:
    """The result ``validate_frame`` gives a frame of ``row_count`` rows on which every
    expectation that runs with ``params`` passes (skipped ones noted as it notes them).

    For a day a batched run already cleared (``validation_batch``): no GX run, no
    ``gx_result`` (Data Docs are built only for days that go through ``validate_frame``).
    """
    doc = load_suite(suite_name)
    active, results, notes, _ = _plan(doc, suite_name, dict(params))
    for exp in active:
        results.append(ExpectationResult(expectation_name(exp), exp["type"], exp["meta"]["severity"], True))
    order = {expectation_name(e): i for i, e in enumerate(doc["expectations"])}
    results.sort(key=lambda r: order[r.name])
    return SuiteResult(suite_name, row_count, results, notes)


def _plan(
    doc: dict[str, Any], suite_name: str, params: dict[str, Any], only: Any = None
) -> tuple[list[dict[str, Any]], list[ExpectationResult], list[str], set[str]]:
    """(GX expectations to run, results of the skipped ones, notes, parameter names used)."""
    active, results, notes, used = [], [], [], set()
    for i, exp in enumerate(doc["expectations"]):
        if only is not None and not only(exp):
            continue
        needed = suite_parameters(exp)
        missing = [p for p in needed if p not in params]
        if missing:
            raise ConfigError(
                f"suite '{suite_name}' expectation {expectation_name(exp)} needs parameter(s) "
                f"{missing}: pass them in params (None skips the expectation)"
            )
        if any(params[p] is None for p in needed):
            note = f"skipped: no value for {[p for p in needed if params[p] is None]}"
            results.append(_skipped(exp, note))
            notes.append(f"{expectation_name(exp)} {note}")
            continue
        used.update(needed)
        active.append(gx_expectation(suite_name, i, exp))
    return active, results, notes, used


# --------------------------------------------------------------------------- GX plumbing
def silence_gx() -> None:
    """GX logs every registered expectation at INFO once Airflow sets the root logger to INFO."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


@cache
def _context() -> Any:
    """One in-memory GX context per process (creating one costs more than a small batch)."""
    silence_gx()
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as engine
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # GX fingerprints each in-memory batch by hashing every cell (over 1 s per million rows,
    # several with Arrow strings) only to store it as a batch marker; riskcast identifies
    # batches by source, date and the bronze file's sha256 instead.
    engine.HASH_THRESHOLD = 0
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.data_sources.add_pandas("riskcast")
    return context


def warm_up(suites_dir: str | Path | None = None) -> None:
    """Build this process's GX context and a batch definition per suite now (a long-lived
    worker pays it once, not on its first partition)."""
    for name in suite_names(suites_dir):
        _batch_definition(name)


@cache
def _batch_definition(suite_name: str) -> Any:
    asset = _context().data_sources.get("riskcast").add_dataframe_asset(suite_name)
    return asset.add_batch_definition_whole_dataframe("whole")


def _validation_view(df: pd.DataFrame) -> pd.DataFrame:
    """The frame GX checks: positional index, Arrow-backed strings, numpy ints without NA.

    Same values and logical types; only faster storage (GX falls back to a Python loop per
    cell for nullable integers and compares Python strings one by one).
    """
    view = df.reset_index(drop=True)
    changes = {}
    for col, dtype in view.dtypes.items():
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "python":
            changes[col] = "string[pyarrow]"
        elif isinstance(dtype, pd.Int64Dtype) and not view[col].hasnans:
            changes[col] = "int64"
    return view.astype(changes) if changes else view


def gx_expectation(suite_name: str, i: int, exp: dict[str, Any]) -> dict[str, Any]:
    """Expectation ``i`` of a suite file as GX takes it, with a stable id (reruns give
    identical results and Data Docs pages)."""
    body = json.dumps([exp["type"], exp["kwargs"]], sort_keys=True, default=str)
    out = {k: v for k, v in exp.items() if k in ("type", "kwargs", "meta", "notes", "description")}
    # GX has its own severity field (default critical): keep it equal to ours for Data Docs
    return {**out, "severity": exp["meta"]["severity"], "id": _uuid(f"{suite_name}/{i}/{body}")}


def _uuid(text: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, text))


def _gx_param(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    if isinstance(value, datetime):
        return pd.Timestamp(value)
    if isinstance(value, date):
        return pd.Timestamp(value)
    return value


def _skipped(exp: dict[str, Any], note: str) -> ExpectationResult:
    return ExpectationResult(
        expectation_name(exp), exp["type"], exp["meta"]["severity"], True, skipped=True, note=note
    )


def _result(exp: dict[str, Any], gx: Any) -> ExpectationResult:
    name, sev = expectation_name(exp), exp["meta"]["severity"]
    if gx is None:  # GX dropped it: treat as not evaluated
        return ExpectationResult(name, exp["type"], sev, False, error="GX returned no result")
    info = gx.exception_info or {}
    if "raised_exception" not in info:  # suite-level errors are keyed by metric id
        info = next(
            (v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")), {}
        )
    error = info.get("exception_message") if info.get("raised_exception") else None
    res = gx.result or {}
    rows = res.get("unexpected_index_list")
    return ExpectationResult(
        name=name,
        type=exp["type"],
        severity=sev,
        success=bool(gx.success) and error is None,
        unexpected_count=res.get("unexpected_count"),
        element_count=res.get("element_count"),
        observed_value=res.get("observed_value"),
        error=str(error)[:500] if error else None,
        rows=None if rows is None else np.asarray(rows, dtype=np.int64),
    )
