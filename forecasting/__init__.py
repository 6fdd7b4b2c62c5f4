"""riskcast: batch forecasting of theft and loss risk in a logistics network.

One subpackage per stage, in data-flow order (docs/architecture.md has the map):
``intake`` (ingest, GX validation, quarantine) -> ``panel`` (audit, panel) -> ``model``
(DeepAR NB, Ray Train) -> ``train`` / ``forecast`` (stage entry points) -> ``backtest``
(windows, baselines, calibration gate) -> ``reserves`` (compound losses, publish,
escalation); ``alerts`` and ``core`` (settings, schema, lake layout) below them all;
``demo`` (the sample network) beside them, imported by the CLI only.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("riskcast")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
