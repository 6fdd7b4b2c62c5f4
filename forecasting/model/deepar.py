"""A trained DeepAR: GluonTS predictor + encoders + config, forecasting straight from a panel.

On disk (``save``/``load``, any lake URI)::

    predictor/       GluonTS serialisation of the PyTorchPredictor
    members/<i>/     further networks of the same config whose paths are pooled (refit: the holdout run's)
    encoders.json    categorical value -> index (0 = unseen), real-covariate statistics
    model.json       the flat model config, the panel spec and training metrics

Reading (``from_files``) takes bytes the registry has checked against their recorded
digests and uses none of GluonTS' own deserialisation (which imports the class a stored
``gluonts-config.json`` names): the networks are rebuilt from ``model.json`` by our
estimator factory, and only their weights (``prediction-net-state.pt``) are read, with
``torch.load(weights_only=True)``: tensors, never a pickled object.
"""

from __future__ import annotations

import io
import json
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.errors import ModelError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import ENCODERS_FILE, MODEL_FILE, WEIGHTS_FILE
from forecasting.core.layout import MEMBERS_DIR as MEMBERS
from forecasting.core.layout import PREDICTOR_DIR as PREDICTOR
from forecasting.core.panel_spec import PanelSpec
from forecasting.model.dataset import Encoders, check_panel, prediction_entries
from forecasting.model.estimator import build_estimator
from forecasting.model.quiet import quiet
from forecasting.model.samples import ForecastSamples
from forecasting.model.shards import ShardPlan, sample, sharded

# Sample values above CAP_FACTOR x max(largest observed value of the series, 1) are cut
# to that bound and counted in ``ForecastSamples.capped``; if a series' median exceeds
# it the model has diverged and predict raises ModelError. Series without history use
# the training panel's largest value.
CAP_FACTOR = 50.0


@dataclass
class FittedModel:
    """A trained model: ``predictor`` is the GluonTS ``PyTorchPredictor``.

    ``members``: further predictors of the same network config (a pooled ensemble): a
    forecast draws its sample paths from every network in turn, so its quantiles are
    those of the equal-weight mixture.
    """

    config: dict[str, Any]
    spec: PanelSpec
    encoders: Encoders
    predictor: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    members: tuple[Any, ...] = ()

    @property
    def horizon(self) -> int:
        return int(self.config["prediction_length"])

    @property
    def predictors(self) -> tuple[Any, ...]:
        return (self.predictor, *self.members)

    @classmethod
    def from_state_dict(
        cls,
        config: dict,
        spec: PanelSpec,
        encoders: Encoders,
        state_dict: dict,
        metrics: dict,
        members: tuple[dict, ...] = (),
    ) -> FittedModel:
        """Rebuild the network from ``config`` and load trained weights into it.

        ``members``: weights of further networks of the same config, pooled at forecast time.
        """
        estimator = build_estimator(config)

        def predictor(weights: dict):
            module = estimator.create_lightning_module()
            module.load_state_dict(weights)
            return estimator.create_predictor(estimator.create_transformation(), module)

        return cls(config, spec, encoders, predictor(state_dict), dict(metrics),
                   tuple(predictor(w) for w in members))

    def warm_state(self) -> list[dict]:
        """CPU copies of every network's weights (``predictors`` order): what a later fit
        starts from (``fit_model(init=...)``)."""
        return [{k: v.detach().cpu().clone() for k, v in p.prediction_net.state_dict().items()}
                for p in self.predictors]

    def predict(
        self,
        df: pd.DataFrame,
        num_samples: int | None = None,
        *,
        future_df: pd.DataFrame | None = None,
        seed: int | None = None,
        shards: ShardPlan | None = None,
    ) -> ForecastSamples:
        """Sample ``num_samples`` paths over the horizon after each series' last history row.

        With ``members`` the paths are split as evenly as possible between the networks
        (the first gets the remainder) and stacked, network by network.

        ``df`` is a panel (history rows, plus ``is_future`` rows carrying the horizon's
        dynamic features); ``future_df`` adds covariate rows when ``df`` has none. Series
        with no observed target (cold start) forecast from their static features. Seeded
        (``seed``, else the config's), so the same inputs give the same paths. ``shards``: a
        panel of more series samples in shards (``model.shards``: the same paths whatever
        runs them).
        """
        check_panel(df, self.spec, "forecast input")
        n = int(num_samples or self.config["num_samples"])
        entries, starts, maxima, closed = prediction_entries(
            df, self.spec, self.encoders, self.config["freq"], self.horizon,
            self.config["context_length"], future_df,
        )
        k = len(self.predictors)
        if n < k:
            raise ModelError(f"num_samples={n} is fewer than the model's {k} pooled networks: raise it")
        shares = [n // k + (i < n % k) for i in range(k)]
        ids = [e["item_id"] for e in entries]
        base = self.config["seed"] if seed is None else seed
        threads = self.config.get("num_threads", 1)
        if shards is not None and len(entries) > shards.series:
            parts = sharded(self.predictors, shares, entries, base, threads, shards)
        else:  # one pass per network, seeded seed + i
            parts = [sample(p, entries, share, base + i, threads)
                     for i, (p, share) in enumerate(zip(self.predictors, shares, strict=True))]  # fmt: skip
        samples = np.concatenate(parts, axis=1).astype("float32")
        samples, capped = _bounded(samples, ids, maxima, self.encoders.y_max)
        for i in np.flatnonzero(closed):  # a site opening inside the horizon: nothing before
            samples[i, :, : closed[i]] = 0.0
        cold = tuple(i for i, m in zip(ids, maxima, strict=True) if np.isnan(m))
        return ForecastSamples(ids, starts, samples, self.config["panel_freq"], capped, cold)

    # ------------------------------------------------------------------ storage
    def save(self, lake: Lake, uri: str) -> str:
        """Write ``predictor/``, ``members/<i>/predictor/``, ``encoders.json`` and ``model.json`` under ``uri``."""

        lake.remove(join(uri, PREDICTOR))
        lake.remove(join(uri, MEMBERS))
        for i, predictor in enumerate(self.predictors):
            base = _predictor_uri(uri, i)
            with quiet(), tempfile.TemporaryDirectory(prefix="riskcast-predictor-") as tmp:
                predictor.serialize(Path(tmp))
                for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
                    lake.write_bytes(join(base, path.relative_to(tmp).as_posix()), path.read_bytes())
        lake.write_json(join(uri, ENCODERS_FILE), self.encoders.to_dict())
        lake.write_json(
            join(uri, MODEL_FILE),
            {"config": self.config, "spec": self.spec.to_dict(), "metrics": self.metrics},
        )
        return uri

    @classmethod
    def from_files(cls, files: dict[str, bytes], uri: str) -> FittedModel:
        """The model written by ``save``, from its files' bytes (path under the version's folder
        -> bytes; verified by the caller); ModelError if a part is missing or unreadable."""
        try:
            meta = json.loads(files[MODEL_FILE])
            encoders = Encoders.from_dict(json.loads(files[ENCODERS_FILE]))
            members = sorted({int(p.split("/")[1]) for p in files if p.startswith(MEMBERS + "/")})
            weights = [_weights(files, _predictor_path(i), uri) for i in (0, *members)]
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(
                f"model at {uri} cannot be loaded ({type(exc).__name__}: {exc}): "
                "retrain it with `riskcast train`"
            ) from exc
        return cls.from_state_dict(meta["config"], PanelSpec.from_dict(meta["spec"]), encoders,
                                   weights[0], meta.get("metrics", {}), tuple(weights[1:]))  # fmt: skip


def _predictor_uri(uri: str, i: int) -> str:
    """Where network ``i`` of a model lives: 0 is ``predictor/``, members ``members/<i>/predictor/``."""
    return join(uri, _predictor_path(i))


def _predictor_path(i: int) -> str:
    return PREDICTOR if i == 0 else f"{MEMBERS}/{i}/{PREDICTOR}"


def _weights(files: dict[str, bytes], predictor: str, uri: str) -> dict:
    """The state dict of a stored network: tensors only (``weights_only``), on the CPU."""
    import torch

    data = files[f"{predictor}/{WEIGHTS_FILE}"]
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"model at {uri}: {predictor}/{WEIGHTS_FILE} is not a file of weights (tensors only) "
            f"and was not loaded ({type(exc).__name__}: {reason}); retrain with `riskcast train --force`"
        ) from None
    if not isinstance(state, dict):
        raise ModelError(f"model at {uri}: {predictor}/{WEIGHTS_FILE} holds no state dict; retrain it")
    return state


def _bounded(
    samples: np.ndarray, ids: list[str], maxima: np.ndarray, y_max: float
) -> tuple[np.ndarray, int]:
    """Check forecasts are finite and sane; cut stray samples to the bound (see CAP_FACTOR)."""
    if not np.isfinite(samples).all():
        bad = ids[int(np.argwhere(~np.isfinite(samples))[0][0])]
        raise ModelError(
            f"forecast for series {bad!r} holds NaN/inf samples: the model diverged; "
            "retrain (lower model.lr, longer model.context_length) before publishing"
        )
    scale = np.where(np.isnan(maxima), y_max, maxima)
    bound = (CAP_FACTOR * np.maximum(scale, 1.0)).astype("float32")[:, None, None]
    median = np.median(samples, axis=1)
    over = median > bound[:, :, 0]
    if over.any():
        i = int(np.argwhere(over)[0][0])
        raise ModelError(
            f"forecast for series {ids[i]!r} has a median of {float(median[i].max()):.3g}, over "
            f"{CAP_FACTOR:g}x its largest observed value ({float(scale[i]):.3g}): the model "
            "diverged; retrain (lower model.lr, longer model.context_length) before publishing"
        )
    capped = int((samples > bound).sum())
    return np.minimum(samples, bound), capped
