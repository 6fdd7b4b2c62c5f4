"""The DeepAR (negative binomial) configuration: one flat JSON dict, and the estimator it builds.

The same dict drives the in-process fit, every Ray Train worker and the registry, so a
model is always rebuilt with exactly the network it was trained with. Nothing here forks
GluonTS: the estimator's ``create_*`` hooks build transformation, module and loaders.
"""

from __future__ import annotations

from typing import Any

from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec, freq_alias
from forecasting.model.dataset import Encoders
from forecasting.model.quiet import quiet

TFT = "tft"  # config["family"] of the temporal fusion transformer (DeepAR: absent or "deepar")
# the levels the TFT is trained at: the evaluated ones, the interval's ends and a grid between
TFT_QUANTILES = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)


def gluonts_freq(panel_freq: str) -> str:
    """Panel offset alias -> the period frequency GluonTS indexes by.

    ``W-MON`` labels weeks by their Monday, which as a pandas Period is the week ending
    Sunday (``W``); ``MS`` month starts are the period ``M``.
    """
    alias = freq_alias(panel_freq)
    if alias.startswith("W"):
        return "W"
    return {"MS": "M", "QS": "Q", "YS": "Y", "AS": "Y"}.get(alias, alias)


def model_config(
    settings: Settings,
    spec: PanelSpec,
    encoders: Encoders,
    *,
    horizon: int | None = None,
    longest_series: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The flat, JSON-able config of one DeepAR model.

    ``horizon`` defaults to ``settings.horizon``; lags longer than ``longest_series`` are
    dropped (they would only ever see padding).
    """
    from gluonts.time_feature import get_lags_for_frequency


    m = settings.model
    freq = gluonts_freq(spec.freq)
    prediction_length = horizon or settings.horizon
    with quiet():
        lags = get_lags_for_frequency(freq)
    if longest_series:
        lags = [lag for lag in lags if lag < longest_series] or lags[:1]
    return {
        "panel_freq": freq_alias(spec.freq),
        "freq": freq,
        "prediction_length": prediction_length,
        "context_length": m.context_length or max(12, 4 * prediction_length),
        "num_layers": m.num_layers,
        "hidden_size": m.hidden_size,
        "dropout_rate": m.dropout_rate,
        "lr": m.lr,
        "weight_decay": m.weight_decay,
        "batch_size": m.batch_size,
        "num_batches_per_epoch": m.batches_per_epoch,
        "max_epochs": m.max_epochs,
        "patience": m.patience,
        "early_stop": True,  # a refit runs a fixed number of epochs (False)
        "gradient_clip_val": m.gradient_clip_val,
        "num_samples": m.num_samples,
        "seed": m.seed if seed is None else seed,
        "num_threads": m.num_threads,
        "num_feat_static_real": len(spec.static_real),
        "num_feat_static_cat": len(spec.static_cat),
        "cardinality": encoders.cardinality(spec),
        "num_feat_dynamic_real": len(spec.dynamic_real),
        "lags_seq": lags,
        "default_scale": encoders.default_scale,
    }


def build_estimator(config: dict[str, Any], num_batches_per_epoch: int | None = None):
    """A GluonTS torch ``DeepAREstimator`` with ``NegativeBinomialOutput`` from ``config``
    (or, ``config["family"] == "tft"``, a temporal fusion transformer: ``tft_estimator``).

    ``num_batches_per_epoch`` overrides the config (a Ray worker runs its share).
    """
    if config.get("family") == TFT:
        return tft_estimator(config, num_batches_per_epoch)
    from gluonts.torch.distributions import NegativeBinomialOutput
    from gluonts.torch.model.deepar import DeepAREstimator


    with quiet():  # GluonTS parses period aliases pandas deprecates
        return DeepAREstimator(
            freq=config["freq"],
            prediction_length=config["prediction_length"],
            context_length=config["context_length"],
            num_layers=config["num_layers"],
            hidden_size=config["hidden_size"],
            dropout_rate=config["dropout_rate"],
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            # the LR scheduler must get to act before early stopping ends the fit
            patience=max(1, config["patience"] // 2),
            num_feat_static_real=config["num_feat_static_real"],
            num_feat_static_cat=config["num_feat_static_cat"],
            cardinality=config["cardinality"] or None,
            num_feat_dynamic_real=config["num_feat_dynamic_real"],
            distr_output=NegativeBinomialOutput(),
            scaling=True,
            # cold-start and all-zero contexts get the network's typical level, not the
            # batch mean (which would make a forecast depend on its batch neighbours)
            default_scale=config["default_scale"],
            lags_seq=config["lags_seq"],
            num_parallel_samples=config["num_samples"],
            batch_size=config["batch_size"],
            num_batches_per_epoch=num_batches_per_epoch or config["num_batches_per_epoch"],
            trainer_kwargs={
                "max_epochs": config["max_epochs"],
                "gradient_clip_val": config["gradient_clip_val"],
            },
            nonnegative_pred_samples=True,
        )


def tft_estimator(config: dict[str, Any], num_batches_per_epoch: int | None = None):
    """GluonTS torch's ``TemporalFusionTransformerEstimator``: direct multi-quantile forecasts
    (pinball loss at ``config["quantiles"]``) from the same entries, covariates and budget as
    DeepAR; its hooks (``create_*``) are the ones the DeepAR fit uses."""
    from gluonts.torch.model.tft import TemporalFusionTransformerEstimator

    with quiet():
        return TemporalFusionTransformerEstimator(
            freq=config["freq"],
            prediction_length=config["prediction_length"],
            context_length=config["context_length"],
            quantiles=list(config["quantiles"]),
            dropout_rate=config["dropout_rate"],
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            patience=max(1, config["patience"] // 2),
            static_dims=[1] * config["num_feat_static_real"],
            dynamic_dims=[1] * config["num_feat_dynamic_real"],
            static_cardinalities=list(config["cardinality"] or []),
            batch_size=config["batch_size"],
            num_batches_per_epoch=num_batches_per_epoch or config["num_batches_per_epoch"],
            trainer_kwargs={"max_epochs": config["max_epochs"], "gradient_clip_val": config["gradient_clip_val"]},
        )
