"""`riskcast show`: reading the reserves never creates a database and never ends in a
traceback; a missing driver, a missing file or an empty database each get one line."""

from __future__ import annotations

import sqlite3

from typer.testing import CliRunner

from forecasting.cli import app


def _show(tmp_path, url: str):
    env = {"RISKCAST_CONFIG": "", "RISKCAST_RESERVES_URL": url, "RISKCAST_LAKE_URI": str(tmp_path / "lake")}
    return CliRunner().invoke(app, ["show", "--as-of", "2024-03-01"], env=env)


def test_show_of_a_missing_sqlite_file_says_nothing_was_published(tmp_path):
    db = tmp_path / "nowhere" / "reserves.db"
    result = _show(tmp_path, f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    assert "no reserves database" in result.output and "riskcast publish" in result.output
    assert "Traceback" not in result.output
    assert not db.exists() and not db.parent.exists()  # reading created nothing


def test_show_with_a_driver_that_is_not_installed_names_it(tmp_path):
    result = _show(tmp_path, "postgresql+nosuchdriver://u:secret@127.0.0.1:5432/x")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    assert "database driver is not installed" in result.output and "nosuchdriver" in result.output


def test_show_of_an_empty_database_points_at_publish(tmp_path):
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    result = _show(tmp_path, f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    assert "cannot read reserves_latest" in result.output and "riskcast publish" in result.output
