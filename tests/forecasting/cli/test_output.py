"""What the CLI shows people: --version, a short summary at a terminal, JSON with --json or
when piped (unchanged content), help on every option, dates as DATE, no library noise."""

from __future__ import annotations

import io
import json
import logging

import pytest
from rich.console import Console
from typer.testing import CliRunner

import forecasting
import forecasting.cli.common as common
from forecasting.cli import app
from forecasting.cli.summary import render
from forecasting.core.progress import quiet_libraries
from forecasting.overview import RunOverview

COMMANDS = ["demo-data", "ingest", "validate", "audit", "panel", "train", "forecast", "backtest",
            "reserves", "publish", "report", "escalate", "show"]  # fmt: skip


def _demo(tmp_path, *extra):
    args = [*extra, "demo-data", "--out", str(tmp_path / "landing"), "--warehouses", "2", "--days", "28"]
    return CliRunner().invoke(app, args, env={"RISKCAST_CONFIG": ""})


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"riskcast {forecasting.__version__}"


def test_json_is_the_same_with_the_flag_and_when_piped(tmp_path):
    flagged, piped = _demo(tmp_path / "a", "--json"), _demo(tmp_path / "b")
    assert flagged.exit_code == piped.exit_code == 0, flagged.output + piped.output
    a, b = json.loads(flagged.output.strip().splitlines()[-1]), json.loads(piped.output.strip().splitlines()[-1])
    assert a.keys() == b.keys() and a["warehouses"] == 2


def test_a_terminal_gets_a_short_readable_summary(tmp_path, monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(common, "out", Console(file=buf, force_terminal=True, width=120, color_system=None))
    monkeypatch.setitem(common.OUTPUT, "json", False)
    common.emit({"as_of": "2024-06-02", "warehouses": 60, "escalating_warehouses": ["WH-1", "WH-2"],
                 "uris": {"report": "/lake/reports/as_of=2024-06-02/reserves.html"}})  # fmt: skip
    text = buf.getvalue()
    assert "{" not in text and "warehouses" in text and "2: WH-1, WH-2" in text
    assert len(text.strip().splitlines()) <= 6


def test_a_list_of_results_is_one_row_each():
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(
        render([{"source": "events", "day": "2024-01-01", "exit_code": 0}] * 25)
    )
    assert "... 5 more (--json for all)" in buf.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_dates_read_date(command):
    import typer.main

    click_cmd = typer.main.get_command(app).commands[command]
    for param in click_cmd.params:
        if param.param_type_name != "option":
            continue
        assert param.help, f"{command} {param.opts} has no help"
        if any(o in ("--as-of", "--date", "--from", "--to", "--start") for o in param.opts):
            assert param.metavar == "DATE", f"{command} {param.opts}"


def test_show_says_when_the_day_has_no_publication():
    view = RunOverview(as_of="2024-06-09", reserves_rows=3, warehouses=3, latest=None, published_as_of=["2024-06-02"])
    assert "no publication for 2024-06-09" in view.notice() and "2024-06-02" in view.notice()
    same = RunOverview(as_of="2024-06-02", reserves_rows=3, warehouses=3, latest=None, published_as_of=["2024-06-02"])
    assert same.notice() == ""


def test_library_logs_go_to_the_debug_file_not_the_terminal(tmp_path, capsys):
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        log_file = quiet_libraries(tmp_path / "debug.log")
        added = [h for h in root.handlers if h not in before]
        logging.getLogger("great_expectations.data_context").warning("gx internals")
        # Ray's own level is ERROR once riskcast has started Ray (ray.init logging_level)
        logging.getLogger("ray.train").error("ray internals")
        logging.getLogger("forecasting.reserves").warning("a site lacks history")
        for h in added:
            h.flush()
        err = capsys.readouterr().err
        assert "gx internals" not in err and "ray internals" not in err and "a site lacks history" in err
        text = log_file.read_text()
        assert "gx internals" in text and "ray internals" in text
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
            h.close()
        logging.captureWarnings(False)


def test_isolated_library_logs_never_reach_the_task_log(tmp_path):
    """What an Airflow task does (riskcast_airflow.runtime.quiet_task_logs): the root logger's
    handlers (the task log) see riskcast's lines, not GX/Ray/Lightning's."""
    from forecasting.core.progress import NOISY_LOGGERS, isolate_libraries

    seen: list[str] = []
    task_log = logging.Handler()
    task_log.emit = lambda record: seen.append(record.name)
    root = logging.getLogger()
    root.addHandler(task_log)
    saved = {n: (logging.getLogger(n).propagate, list(logging.getLogger(n).handlers)) for n in NOISY_LOGGERS}
    try:
        log_file = isolate_libraries(tmp_path / "libs.log")
        logging.getLogger("lightning.pytorch.utilities").warning("GPU available: False")
        logging.getLogger("forecasting.train").warning("trained")
        assert seen == ["forecasting.train"]
        assert "GPU available" in log_file.read_text()
    finally:
        root.removeHandler(task_log)
        for name, (propagate, handlers) in saved.items():
            logging.getLogger(name).propagate, logging.getLogger(name).handlers = propagate, handlers
        logging.captureWarnings(False)


def test_riskcast_loggers_disabled_by_a_later_logging_config_come_back(tmp_path):
    """Airflow applies a dictConfig (disable_existing_loggers) after riskcast's modules were
    imported: isolating the libraries re-enables riskcast's own loggers."""
    import logging.config

    from forecasting.core.progress import isolate_libraries

    own = logging.getLogger("forecasting.reserves.compute")
    lib = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    state = [(lg, lg.disabled) for lg in loggers]
    root_handlers, root_level = list(logging.getLogger().handlers), logging.getLogger().level
    try:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})
        assert own.disabled and lib.disabled
        log_file = isolate_libraries(tmp_path / "libs.log")
        assert not own.disabled and not lib.disabled
        lib.warning("GPU available: False")
        assert "GPU available" in log_file.read_text()
    finally:
        for lg, disabled in state:
            lg.disabled = disabled
        logging.getLogger().handlers, logging.getLogger().level = root_handlers, root_level
        logging.captureWarnings(False)


def test_a_library_sub_logger_that_stops_propagation_still_writes_to_the_file(tmp_path, capsys):
    """Ray Train and Ray Data configure their own sub-loggers (propagate off, a stderr
    handler) once a trainer has run in the process: isolating afterwards still sends their
    records to the debug file and never to the terminal."""
    from forecasting.core.progress import isolate_libraries

    sub = logging.getLogger("ray.train.riskcast_test_sub")
    saved = (sub.propagate, list(sub.handlers))
    sub.propagate, sub.handlers = False, [logging.StreamHandler()]
    try:
        log_file = isolate_libraries(tmp_path / "libs.log")
        sub.error("controller internals")
        assert "controller internals" in log_file.read_text()
        assert "controller internals" not in capsys.readouterr().err
    finally:
        sub.propagate, sub.handlers = saved
        logging.captureWarnings(False)


def test_quieting_a_fit_leaves_the_library_log_levels_as_they_were():
    """A fit silences Lightning for its own duration only: a process-wide level left at
    ERROR hid Lightning's warnings from the debug file for every later run in the worker."""
    from forecasting.model.quiet import quiet

    lightning = logging.getLogger("lightning.pytorch")
    before = lightning.level
    with quiet(logging.ERROR, ("lightning.pytorch",)):
        assert lightning.level == logging.ERROR
    assert lightning.level == before
