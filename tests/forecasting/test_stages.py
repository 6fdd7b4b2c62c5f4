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


def test_every_stage_is_reached_by_a_command_that_shows_its_help():
    """Every stage of the table, the ingest DAG's included, is run by a command whose help
    shows the stage's help: its own command (``validate_panel``: ``validate-panel``), and
    ``riskcast ingest`` for the ingest DAG's stages it runs."""
    runner = CliRunner()
    helps = {}
    for c in app.registered_commands:
        name = c.name or c.callback.__name__.replace("_", "-")
        out = runner.invoke(app, [name, "--help"], env={"COLUMNS": "300"})
        assert out.exit_code == 0, out.output
        helps[name] = " ".join(out.output.replace("│", " ").split())
    for s in STAGES:
        shown = [name for name, text in helps.items() if " ".join(s.help.split()) in text]
        assert shown, f"no riskcast command shows the help of stage {s.name!r}"
        assert s.name.replace("_", "-") in shown or (s.dag == "riskcast_ingest" and "ingest" in shown), (s.name, shown)


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
