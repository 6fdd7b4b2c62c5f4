"""GX Data Docs under the lake: ``<lake>/data_docs/index.html`` plus one page per validation.

Validation results are kept as GX JSON in ``<lake>/data_docs/_results/`` so the site index
lists past runs too (the newest ``INDEX_LIMIT``); every page a run writes is keyed by the
suite, logical date and batch label, never by wall-clock time, so a rerun rewrites the same
files. Both stores go through ``LakeStoreBackend``: the lake's fsspec filesystem (local
folder or ``s3://``), atomic writes, and no timestamps in the HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any

from forecasting.core.config import Settings
from forecasting.core.lake import Lake, join
from forecasting.core.layout import DATA_DOCS_INDEX
from forecasting.validation.gx.offline import make_offline
from forecasting.validation.gx.suites import (
    SuiteResult,
    default_suites_dir,
    gx_expectation,
    load_suite,
    silence_gx,
    suite_names,
)

SITE_NAME = "lake"
RESULTS_DIR = "_results"
INDEX_LIMIT = 40  # validation runs listed on the index page (newest logical dates first)
STORED_VALUES = 20  # offending values / row indices kept per expectation in stored results


@dataclass(frozen=True)
class DocsLinks:
    """Where a run's Data Docs are: the site index and the run's own page."""

    index: str
    page: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "page": self.page}


def publish_data_docs(
    settings: Settings, runs: list[tuple[SuiteResult, str]], day: date
) -> list[DocsLinks]:
    """Store each ``(result, batch)`` of ``day`` and rebuild the pages they touch, once.

    ``batch`` labels a page (e.g. ``security_reports-2024-01-05``); the logical date is the
    run time, so reruns of a day replace their pages instead of adding more.
    Returns the index and page URIs of each run, in order.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _docs_context(settings.lake_uri, settings.aws_conn_id, str(default_suites_dir()))
    run_id = RunIdentifier(run_name=str(day), run_time=datetime.combine(day, time(0), tzinfo=UTC))
    keys, suites = [], {}
    for result, batch in runs:
        suite_id = suites.setdefault(result.suite, ExpectationSuiteIdentifier(name=result.suite))
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=batch
        )
        context.validation_results_store.set(key, _stored_result(result, run_id, day))
        keys.append(key)
    # one build per day: each build re-reads the newest INDEX_LIMIT results for the index
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[*keys, *suites.values()])
    lake = Lake.from_settings(settings)
    docs = lake.data_docs
    index = join(docs, DATA_DOCS_INDEX)
    links = [
        DocsLinks(index, join(docs, "validations", *[str(p) for p in k.to_tuple()]) + ".html")
        for k in keys
    ]
    # the pages just built load Bootstrap & co. from CDNs: point them at vendored copies
    suite_pages = [join(docs, "expectations", f"{name}.html") for name in suites]
    make_offline(lake, docs, [index, *suite_pages, *(link.page for link in links)])
    return links


@cache
def _docs_context(lake_uri: str, aws_conn_id: str, suites_dir: str) -> Any:
    """A GX context whose results store and docs site live in the lake (one per lake)."""
    silence_gx()
    import great_expectations as gx
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    docs = Lake(lake_uri, aws_conn_id).data_docs
    memory = {"store_backend": {"class_name": "InMemoryStoreBackend"}}
    backend = {
        "module_name": "forecasting.validation.gx.store",
        "class_name": "LakeStoreBackend",
        "aws_conn_id": aws_conn_id,
    }
    config = DataContextConfig(
        stores={
            "expectations": {"class_name": "ExpectationsStore", **memory},
            "validation_results": {
                "class_name": "ValidationResultsStore",
                "store_backend": {**backend, "base_directory": join(docs, RESULTS_DIR)},
            },
            "checkpoints": {"class_name": "CheckpointStore", **memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", **memory},
        },
        expectations_store_name="expectations",
        validation_results_store_name="validation_results",
        checkpoint_store_name="checkpoints",
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {**backend, "base_directory": docs},
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": INDEX_LIMIT,
                },
            }
        },
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    # Every suite is registered: the index builder deletes pages of suites it does not know.
    for name in suite_names(suites_dir):
        doc = load_suite(name, suites_dir)
        exps = [gx_expectation(name, i, e) for i, e in enumerate(doc["expectations"])]
        context.suites.add(
            ExpectationSuite(name=name, expectations=exps, meta=doc.get("meta") or {})
        )
    return context


def escape_values(value: Any) -> Any:
    """``value`` with every string HTML-escaped, in lists, tuples and dicts too.

    GX writes offending values into Data Docs pages as given: a landing value such as
    ``<script>...`` would run in the browser of whoever opens the page (stored XSS). The
    stored results hold only escaped text, so every page built from them is safe.
    """
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, dict):
        return {escape_values(k): escape_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(escape_values(v) for v in value)
    return value


def _stored_result(result: SuiteResult, run_id: Any, day: date) -> Any:
    """The GX result with long offending-value lists cut and wall-clock markers replaced."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    gx = result.gx_result
    rows = []
    for r in gx.results:
        res = {
            k: escape_values(
                v[:STORED_VALUES]
                if isinstance(v, list) and k.startswith(("unexpected", "partial"))
                else v
            )
            for k, v in (r.result or {}).items()
        }
        rows.append(
            ExpectationValidationResult(
                success=r.success,
                expectation_config=r.expectation_config,
                result=res,
                meta=r.meta,
                exception_info=r.exception_info,
            )
        )
    meta = dict(gx.meta)
    meta["run_id"] = run_id
    meta["validation_time"] = run_id.run_time
    meta["batch_markers"] = {
        **meta.get("batch_markers", {}),
        "ge_load_time": f"{day:%Y%m%d}T000000.000000Z",
    }
    meta["riskcast"] = {"notes": escape_values(list(result.notes)), "row_count": result.row_count}
    return ExpectationSuiteValidationResult(
        success=gx.success,
        results=rows,
        suite_name=gx.suite_name,
        suite_parameters=gx.suite_parameters,
        statistics=gx.statistics,
        meta=meta,
    )
