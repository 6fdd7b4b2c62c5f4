"""The stage table: one declaration per stage, read by the CLI, the DAGs and the docs."""

from __future__ import annotations

import inspect

from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.stages import DAY, DAYS, SOURCE_DAYS, STAGES, markdown_table, stage


def test_names_are_unique_and_each_stage_is_complete():
    assert len({s.name for s in STAGES}) == len(STAGES)
    assert len({(s.dag, s.task) for s in STAGES}) == len(STAGES)
    for s in STAGES:
        assert s.scope in (DAY, DAYS, SOURCE_DAYS)
        assert s.failure in ("data_quality", "gate", "infrastructure")
        assert s.help.endswith(".") and s.reads, s.name
        first = next(iter(inspect.signature(s.run).parameters))
        assert first == "settings", f"{s.function()} must take the settings first"


def test_a_stage_command_shows_the_stage_help():
    runner = CliRunner()
    commands = {c.name for c in app.registered_commands} | {c.callback.__name__ for c in app.registered_commands}
    for s in STAGES:
        if s.name not in commands or s.dag == "riskcast_ingest":
            # validate_panel: part of `riskcast panel`; the ingest DAG's stages have no
            # command of their own (`riskcast ingest` runs every source of a day)
            continue
        out = runner.invoke(app, [s.name, "--help"], env={"COLUMNS": "300"})
        assert out.exit_code == 0, out.output
        assert " ".join(s.help.split()) in " ".join(out.output.split()), s.name


def test_unknown_stage_names_the_stages():
    try:
        stage("nope")
    except KeyError as exc:
        assert "audit" in str(exc) and "publish" in str(exc)
    else:
        raise AssertionError("no KeyError")


def test_markdown_table_has_a_row_per_stage():
    rows = markdown_table().splitlines()[2:]
    assert len(rows) == len(STAGES)
    assert all(f"`{s.function()}`" in row for s, row in zip(STAGES, rows, strict=True))
