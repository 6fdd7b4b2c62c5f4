"""Exception types. Messages name the file, row, column and the fix."""


class RiskcastError(Exception):
    """Base of every error riskcast raises on purpose; the CLI prints it and exits 2."""

    exit_code = 2


class ConfigError(RiskcastError):
    """Invalid or missing settings."""


class InputError(RiskcastError):
    """A landing file or user panel that cannot be read as its contract says."""


class StorageError(RiskcastError):
    """A lake or landing location that cannot be reached (credentials, missing path)."""


class DataContractError(RiskcastError):
    """A whole batch breaks its data contract (schema, volume, too many bad rows)."""


class ClusterError(RiskcastError):
    """A Ray worker or node was lost mid-run; what finished is whole, rerun to complete."""


class ModelError(RiskcastError):
    """Training diverged or a model cannot be loaded; nothing is published."""


class CalibrationGateError(RiskcastError):
    """The backtest shows the model's quantiles are miscalibrated; publishing is blocked."""


class PublishError(RiskcastError):
    """The reserves table refused the publish (bad values, unreachable database)."""


class AlertError(RiskcastError):
    """An alert route (outbox, SMTP, webhook, SNS) failed; ``delivered`` lists the routes that worked."""

    def __init__(self, message: str, delivered: list[str] | None = None) -> None:
        super().__init__(message)
        self.delivered = list(delivered or [])
