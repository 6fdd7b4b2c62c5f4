"""A user's own long-format panel read into the panel contract (``forecasting.panel.user.load_panel``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec
from forecasting.panel.user import load_panel

CARPARTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "carparts" / "carparts.csv.gz"


def _csv(tmp_path: Path, text: str, name: str = "panel.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_load_panel_reads_a_monthly_csv_and_keeps_missing_y(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "item,month,sales,size,shop,promo\n"
        "007,2024-01-01,3,1.5,north,0\n"
        "007,2024-02-01,,1.5,north,1\n"
        "007,2024-03-01,0,1.5,north,0\n"
        "9,2024-02-01,,2.0,south,0\n"
        "9,2024-03-01,,2.0,south,1\n"
        "9,2024-01-01,,2.0,south,0\n",
    )
    df, spec = load_panel(
        path,
        "item",
        "month",
        "sales",
        static_real=["size"],
        static_cat=["shop"],
        dynamic_real=["promo"],
    )
    assert spec == PanelSpec("MS", ("size",), ("shop",), ("promo",), "sales", {"source": path})
    assert list(df.columns) == [s.UNIQUE_ID, s.DS, s.Y, "size", "shop", "promo", s.IS_FUTURE]
    assert df[s.UNIQUE_ID].tolist() == ["007"] * 3 + ["9"] * 3  # ids stay text, rows sorted
    assert df[s.Y].isna().tolist() == [False, True, False, True, True, True]  # missing, not 0
    assert df[s.DS].dtype == "datetime64[ns]" and not df[s.IS_FUTURE].any()


def test_load_panel_infers_frequencies_and_labels_periods_by_their_start(tmp_path: Path) -> None:
    ends = "\n".join(f"a,{d.date()},1" for d in pd.date_range("2024-01-31", periods=4, freq="ME"))
    df, spec = load_panel(_csv(tmp_path, "unique_id,ds,y\n" + ends))
    assert spec.freq == "MS" and df[s.DS].dt.day.eq(1).all()
    weeks = "\n".join(
        f"a,{d.date()},1" for d in pd.date_range("2024-01-07", periods=4, freq="W-SUN")
    )
    assert load_panel(_csv(tmp_path, "unique_id,ds,y\n" + weeks))[1].freq == "W-SUN"
    days = "\n".join(f"a,{d.date()},1" for d in pd.date_range("2024-01-07", periods=5))
    assert load_panel(_csv(tmp_path, "unique_id,ds,y\n" + days), freq="D")[1].freq == "D"


def test_load_panel_fills_skipped_periods_with_missing_y(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,2\na,2024-03-01,3\nb,2024-01-01,4\nb,2024-03-01,5\n",
    )
    df, _ = load_panel(path)
    b = df.loc[df[s.UNIQUE_ID] == "b"]
    assert b[s.DS].dt.month.tolist() == [1, 2, 3] and b[s.Y].isna().tolist() == [False, True, False]


def test_load_panel_reads_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame(
        {
            "sid": [1, 1, 1],
            "t": pd.date_range("2024-01-01", periods=3, freq="W-MON"),
            "y": [0, 2, 1],
        }
    ).to_parquet(path)
    df, spec = load_panel(str(path), "sid", "t", "y")
    assert (
        spec.freq == "W-MON"
        and df[s.UNIQUE_ID].tolist() == ["1"] * 3
        and df[s.Y].dtype == "float64"
    )


@pytest.mark.parametrize(
    ("text", "kwargs", "needles"),
    [
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-01-01,2\na,2024-02-01,0\n",
            {},
            ["duplicate", "series a", "2024-01-01"],
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,-2\na,2024-03-01,0\n",
            {},
            ["negative", "series a", "2024-02-01", "'-2'"],
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1.5\na,2024-02-01,2\na,2024-03-01,0\n",
            {},
            ["non-integer", "series a", "2024-01-01"],
        ),
        (
            "unique_id,ds,y\na,2024-01-01,lots\na,2024-02-01,2\na,2024-03-01,0\n",
            {},
            ["not numeric", "'lots'", "data row 1"],
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\na,soon,2\na,2024-03-01,0\n",
            {},
            ["unparseable dates", "'soon'", "series a"],
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\n",
            {"target_col": "sales"},
            ["'sales'", "not found", "--target-col"],
        ),
        (
            "unique_id,ds,y,size\na,2024-01-01,1,1\na,2024-02-01,1,2\na,2024-03-01,1,1\n",
            {"static_real": ["size"]},
            ["'size'", "changes within series a"],
        ),
        (
            "unique_id,ds,y\na,2024-01-03,1\na,2024-01-10,1\na,2024-01-17,1\n",
            {"freq": "W"},
            ["not on the W-MON grid", "series a"],
        ),
        (
            "unique_id,ds,y,p\na,2024-01-01,1,0\na,2024-03-01,1,0\na,2024-04-01,1,0\n",
            {"dynamic_real": ["p"], "freq": "M"},
            ["skips period 2024-02-01", "dynamic covariates"],
        ),
    ],
)
def test_load_panel_errors_name_the_file_column_series_and_date(
    tmp_path: Path, text, kwargs, needles
) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_panel(path, **kwargs)
    assert path in str(err.value)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_load_panel_refuses_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_panel(str(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match="unknown file type"):
        load_panel(_csv(tmp_path, "x", name="panel.xlsx"))


@pytest.mark.slow
@pytest.mark.skipif(not CARPARTS.exists(), reason=f"carparts not found at {CARPARTS}")
def test_load_panel_reads_carparts() -> None:
    df, spec = load_panel(str(CARPARTS), id_col="series_id")
    assert spec.freq == "MS" and df[s.UNIQUE_ID].nunique() == 2674 and len(df) == 136_374
    assert int(df[s.Y].isna().sum()) == 6122  # the empty cells stay missing
