"""riskcast: batch forecasting of theft and loss risk in a logistics network.

Stages, in data-flow order (one module each): demo_data -> ingest -> validation ->
audit -> panel -> model/train -> forecast -> backtest (metrics, baselines, calibration)
-> reserves -> publish -> alerts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("riskcast")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
