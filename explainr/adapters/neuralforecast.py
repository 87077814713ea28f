"""neuralforecast ``LSTM`` / ``GRU`` / ``DeepAR`` (alone or in a ``NeuralForecast``) as an
explainr `Adapter`.

``explainr.adapt(nf, df, model="DeepAR", unique_id="us", futr_df=..., static_df=...)`` gives
a module from windows of one series in original units to the model's own point forecast
``(batch, h)`` in original units, named ``"y t+1" … "y t+h"``. Inside, the adapter runs the
library's own steps: the window's scaler (``scaler_type``: statistics of each window's input
part, ``BaseModel._normalization``), ``_parse_windows`` (the recurrent models' one-step
shift), the network, ``loss.domain_map`` and the inverse scaling.

- A window ``x`` is ``(input_size, 1 + hist + futr)``: ``y``, the historic exogenous
  columns, then the future exogenous columns at the window's own times. The future
  exogenous values over the horizon (``"futr_exog"``, ``(h, futr)``) and the static ones
  (``"stat_exog"``) are the window's side inputs in `Windows.context`, held fixed while the
  window is attributed.
- neuralforecast's scaler modifies tensors it has saved for backward in place (it sets a
  zero std to 1); the adapter runs it with the saved tensors cloned
  (``torch.autograd.graph.saved_tensors_hooks``), so gradients flow through the library's
  own statistics.
- The default baseline is each column's training mean in original units (a window in the
  data's range; zeros in original units usually are not). Note that neuralforecast's
  scaler sets a zero std to 1, so at *any* constant window (zeros or the mean) the output
  is the window's level plus the network's output for an all-zero scaled input, not the
  limit of nearby windows: integrated gradients from a constant baseline miss completeness
  by that step (on US GDP: 0.2 on a change of 6000, about 4e-5; explainr reports the
  completeness error and warns when it is large).
- ``DeepAR`` (and recurrent ``LSTM`` / ``GRU``) forecast autoregressively: the encoder call
  (call 0 of ``net.hist_encoder``) runs over the window and is marked; each later call is
  one step. DeepAR is explained through its **mean**, computed deterministically, as
  neuralforecast's own recursion does: at each step the analytic mean of the loss's
  distribution (``loss.scale_decouple`` → ``loss.get_distribution(...).mean``), fed back as
  the next input. This is the library's ``"DeepAR"`` column of ``predict`` (its quantiles
  are sampled; they are never explained). For ``t+1`` it is the exact predictive mean; for
  later steps the mean of each step's distribution along the mean path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr._core.inputs import time_labels_of
from explainr._core.windows import Windows
from explainr.adapters._adapter import Adapter, pick_windows

MODELS = ("LSTM", "GRU", "DeepAR")
SCALERS = (None, "identity", "standard", "robust", "minmax", "minmax1", "revin")


class NeuralForecastAdapter(Adapter):
    """A fitted neuralforecast LSTM / GRU / DeepAR with one series of a long DataFrame.

    Args:
        model: the fitted model (``nf.models[i]``).
        df: long DataFrame with ``id_col``, ``time_col``, ``target_col`` and the model's
            exogenous columns, in original units.
        unique_id: the series to explain (needed when ``df`` holds several).
        futr_df: future exogenous values after ``df`` ends (as for ``nf.predict``), so the
            last window can be forecast; None: windows end where the future columns do.
        static_df: static exogenous values per series (as for ``nf.fit``).
        id_col, time_col, target_col: column names (``NeuralForecast``'s).
    """

    library = "neuralforecast"

    def __init__(
        self,
        model: Any,
        df: Any,
        *,
        unique_id: Any = None,
        futr_df: Any = None,
        static_df: Any = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
    ) -> None:
        super().__init__()
        _check_model(model)
        self.net = model  # module names: "net.hist_encoder", ...
        self.h = int(model.h)
        self.recurrent = bool(model.RECURRENT)
        # neuralforecast's predict runs recurrent models over inference_input_size steps
        self.steps = int(model.inference_input_size if self.recurrent else model.input_size)
        self.hist = list(model.hist_exog_list)
        self.futr = list(model.futr_exog_list)
        self.stat = list(model.stat_exog_list)
        cols = (id_col, time_col, target_col)
        series = _one_series(df, cols, unique_id, [*self.hist, *self.futr])
        self.times = pd.DatetimeIndex(series[time_col]) if _is_time(series[time_col]) else None
        self.labels = time_labels_of(pd.Index(series[time_col]))
        self.values = series[[target_col, *self.hist, *self.futr]].to_numpy(np.float64)
        self.future = _future(series, futr_df, cols, self.futr, unique_id=series[id_col].iloc[0])
        self.statics = _statics(static_df, id_col, series[id_col].iloc[0], self.stat)
        self.feature_names = [target_col, *self.hist, *self.futr]
        self.target_names = [f"{target_col} t+{k}" for k in range(1, self.h + 1)]
        self.distribution = bool(model.loss.is_distribution_output)
        self.point = "mean" if self.distribution else "point"
        self.context_names = tuple(
            name
            for name, used in (("futr_exog", bool(self.futr)), ("stat_exog", bool(self.stat)))
            if used
        )
        self.baseline = np.tile(self.values.mean(0), (self.steps, 1))
        self.baseline_note = (
            "the training mean of each column in original units (a constant window: "
            "neuralforecast's scaler sets its zero std to 1)"
        )
        self.encoder = {"net.hist_encoder": 0}
        if self.recurrent:
            self.time_note = (
                f"the recurrent encoder's step t reads {target_col} at t and the exogenous "
                "columns at t+1 (neuralforecast's one-step shift); later calls are "
                "one-step autoregressive steps"
            )
        self.ends = _window_ends(self)

    # -- windows ----------------------------------------------------------------------------

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        """The windows the model forecasts from, oldest first.

        Args:
            last: keep the most recent ``last`` windows (None: every window).
            stride: steps between the ends of consecutive windows.

        Returns:
            `Windows`: ``x`` ``(n, input_size, 1 + hist + futr)`` in original units, labelled
            by ``ds``; ``context["futr_exog"]`` ``(n, h, futr)`` the future exogenous values
            after each window, ``context["stat_exog"]`` ``(n, stat)``.
        """
        ends = [self.ends[i] for i in pick_windows(len(self.ends), last, stride)]
        x = np.stack([self.values[e - self.steps : e] for e in ends])
        context: dict[str, Tensor] = {}
        if self.futr:
            context["futr_exog"] = torch.tensor(
                np.stack([self.future[e : e + self.h] for e in ends]), dtype=torch.float32
            )
        if self.stat:
            context["stat_exog"] = torch.tensor(
                np.tile(self.statics, (len(ends), 1)), dtype=torch.float32
            )
        return Windows(
            x=torch.tensor(x, dtype=torch.float32),
            feature_names=list(self.feature_names),
            time_labels=[self.labels[e - self.steps : e] for e in ends],
            starts=np.asarray(ends) - self.steps,
            context=context,
        )

    # -- the model --------------------------------------------------------------------------

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        """The model's point forecast (its mean for DeepAR) ``(batch, h)``, original units."""
        net = self.net
        with _library_state(net, self.steps):
            windows = self._library_windows(x, context)
            with torch.autograd.graph.saved_tensors_hooks(_clone, _same):
                windows = net._normalization(windows=windows, y_idx=0)
            y_loc, y_scale = net._get_loc_scale(0)
            insample_y, insample_mask, _, _, hist, futr, stat = net._parse_windows(
                {"y_idx": 0}, windows
            )
            inputs = {"insample_y": insample_y, "insample_mask": insample_mask}
            inputs |= {"hist_exog": hist, "futr_exog": futr, "stat_exog": stat}
            if self.recurrent:
                out = self._recurrent(inputs, y_loc, y_scale)
            else:
                out = self._point(net.loss.domain_map(net(inputs)), y_loc, y_scale)
        return out.reshape(len(x), self.h)

    def _library_windows(self, x: Tensor, context: Mapping[str, Tensor]) -> dict[str, Any]:
        """The ``windows`` dict neuralforecast's ``_create_windows`` makes for predict."""
        batch, dtype = len(x), x.dtype
        after = torch.zeros(batch, self.h, x.shape[2], dtype=dtype, device=x.device)
        if self.futr:
            after = torch.cat(
                [after[..., : 1 + len(self.hist)], context["futr_exog"].to(after)], dim=2
            )
        available = torch.cat(
            [x.new_ones(batch, self.steps, 1), x.new_zeros(batch, self.h, 1)], dim=1
        )
        temporal = torch.cat([torch.cat([x, after], dim=1), available], dim=2)
        static = context["stat_exog"].to(dtype) if self.stat else None
        return {
            "temporal": temporal.unsqueeze(-1),  # (batch, steps + h, columns, 1 series)
            "temporal_cols": pd.Index(["y", *self.hist, *self.futr, "available_mask"]),
            "static": static,
            "static_cols": pd.Index(self.stat) if self.stat else None,
        }

    def _point(self, output: Any, y_loc: Tensor, y_scale: Tensor) -> Tensor:
        """Original units: the inverse scaling, or the distribution's analytic mean."""
        net = self.net
        if not self.distribution:
            return net.scaler.inverse_transform(z=output, x_scale=y_scale, x_shift=y_loc)
        args = net.loss.scale_decouple(output=output, loc=y_loc, scale=y_scale)
        return net.loss.get_distribution(distr_args=args, **net.loss.distribution_kwargs).mean

    def _recurrent(self, inputs: dict[str, Any], y_loc: Tensor, y_scale: Tensor) -> Tensor:
        """neuralforecast's recurrent predict loop, feeding back the mean, never a draw."""
        net, steps = self.net, self.steps
        net.rnn_state, net.maintain_state, net.h = None, True, 1
        y, hist, futr = inputs["insample_y"][:, :steps], inputs["hist_exog"], inputs["futr_exog"]
        mask = inputs["insample_mask"][:, :steps]
        outs = []
        for tau in range(self.h):
            rows = slice(0, steps) if tau == 0 else slice(steps + tau - 1, steps + tau)
            step = {
                "insample_y": y,
                "insample_mask": mask if tau == 0 else None,
                "hist_exog": hist[:, rows] if hist is not None else None,
                "futr_exog": futr[:, rows] if futr is not None else None,
                "stat_exog": inputs["stat_exog"],
            }
            output = net.loss.domain_map(net(step))
            point = self._point(output, y_loc, y_scale)  # (batch, 1, 1) original units
            y = net.scaler.scaler(point, y_loc, y_scale) if self.distribution else output
            outs.append(point.reshape(len(point), 1))
        return torch.cat(outs, dim=1)


def adapt(fitted: Any, data: Any = None, **options: Any) -> NeuralForecastAdapter:
    """A fitted neuralforecast model with its long DataFrame, explainable.

    Args:
        fitted: a fitted ``NeuralForecast`` (pick one of its models with ``model=``: an
            alias, a class name or an index) or its fitted ``LSTM`` / ``GRU`` / ``DeepAR``.
        data: long DataFrame ``unique_id, ds, y`` [+ exogenous columns], original units.
        **options: ``model``, ``unique_id``, ``futr_df``, ``static_df`` (see
            `NeuralForecastAdapter`).

    Returns:
        A `NeuralForecastAdapter`; ``ad.predict(ad.windows(last=1))`` equals the model's
        column of ``nf.predict(futr_df=...)``.

    >>> import numpy as np, pandas as pd, explainr
    >>> from neuralforecast import NeuralForecast
    >>> from neuralforecast.models import GRU
    >>> df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2020", periods=60, freq="D"),
    ...                    "y": np.sin(np.arange(60) / 4)})
    >>> nf = NeuralForecast([GRU(h=2, input_size=6, max_steps=2, enable_progress_bar=False,
    ...                          logger=False, enable_model_summary=False)], freq="D")
    >>> nf.fit(df)
    >>> ad = explainr.adapt(nf, df)
    >>> w = ad.windows(last=2)
    >>> tuple(w.x.shape), ad.target_names, ad.predict(w).shape
    ((2, 6, 1), ['y t+1', 'y t+2'], (2, 2))
    """
    if not isinstance(data, pd.DataFrame):
        raise ExplainrError(
            "explainr.adapt(nf, df): pass the long DataFrame (unique_id, ds, y, exogenous "
            f"columns) the model forecasts from, got {type(data).__name__}"
        )
    allowed = {"model", "unique_id", "futr_df", "static_df"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ExplainrError(
            f"explainr.adapt got unknown options {unknown} for a neuralforecast model; it "
            f"takes {sorted(allowed)}"
        )
    choice = options.pop("model", None)
    cols: dict[str, str] = {}
    if type(fitted).__name__ == "NeuralForecast":
        if not getattr(fitted, "_fitted", False):
            raise ExplainrError("the NeuralForecast is not fitted yet: call nf.fit(df) first")
        if getattr(fitted, "local_scaler_type", None) is not None:
            raise ExplainrError(
                f"this NeuralForecast scales each series outside its models "
                f"(local_scaler_type={fitted.local_scaler_type!r}); explainr's adapter "
                "takes NeuralForecast(local_scaler_type=None) (the models' own scaler_type "
                "is folded in)"
            )
        cols = {"id_col": fitted.id_col, "time_col": fitted.time_col}
        cols["target_col"] = fitted.target_col
        fitted = _pick(fitted, choice)
    elif choice is not None:
        raise ExplainrError("model= picks one model of a NeuralForecast; pass the model alone")
    return NeuralForecastAdapter(fitted, data, **options, **cols)


# -- checks -----------------------------------------------------------------------------------


def _pick(nf: Any, choice: Any) -> Any:
    models = list(nf.models)
    names = [str(m) for m in models]  # the alias, or the class name
    if choice is None:
        if len(models) == 1:
            return models[0]
        raise ExplainrError(
            f"this NeuralForecast holds {len(models)} models {names}: pass model=<name or index>"
        )
    if isinstance(choice, int) and not isinstance(choice, bool):
        if not -len(models) <= choice < len(models):
            raise ExplainrError(f"model={choice} is out of range for models {names}")
        return models[choice]
    if choice in names:
        return models[names.index(choice)]
    raise ExplainrError(f"model={choice!r} is not one of this NeuralForecast's models {names}")


def _check_model(model: Any) -> None:
    name = type(model).__name__
    if name not in MODELS or not isinstance(model, nn.Module):
        raise ExplainrError(
            f"explainr's neuralforecast adapter takes {', '.join(MODELS)}, got {name}"
        )
    if not all(hasattr(model, a) for a in ("RECURRENT", "_parse_windows", "_normalization")):
        raise ExplainrError(
            "explainr's neuralforecast adapter needs neuralforecast >= 3 (its unified "
            "BaseModel; tested with 3.3): pip install -U 'explainr[neuralforecast]'"
        )
    if getattr(model, "MULTIVARIATE", False) or getattr(model, "n_series", 1) != 1:
        raise ExplainrError(f"the {name} is multivariate; the adapter takes univariate models")
    cats = [*getattr(model, "hist_cat_exog_list", []), *getattr(model, "futr_cat_exog_list", [])]
    if cats or getattr(model, "stat_cat_exog_list", []):
        raise ExplainrError(
            f"the {name} embeds categorical exogenous columns; explainr attributes numeric "
            "columns only"
        )
    if model.scaler.scaler_type not in SCALERS:
        raise ExplainrError(
            f"scaler_type={model.scaler.scaler_type!r} is not supported; use one of "
            f"{[s for s in SCALERS if s]}"
        )
    loss = model.loss
    if not loss.is_distribution_output and getattr(loss, "outputsize_multiplier", 1) != 1:
        raise ExplainrError(
            f"the {name}'s loss {type(loss).__name__} gives {loss.outputsize_multiplier} "
            "outputs per step (quantiles); explainr explains point losses (MAE, MSE, ...) or "
            "a DistributionLoss's mean"
        )
    if getattr(model, "exclude_insample_y", False):
        raise ExplainrError(f"the {name} excludes insample y; explainr does not support that")


def _one_series(
    df: pd.DataFrame, cols: tuple[str, str, str], unique_id: Any, exog: list[str]
) -> pd.DataFrame:
    missing = [c for c in (*cols, *exog) if c not in df.columns]
    if missing:
        raise ExplainrError(
            f"the DataFrame lacks columns {missing} the model needs; it has {list(df.columns)}"
        )
    id_col, time_col, target_col = cols
    ids = pd.unique(df[id_col])
    if unique_id is None:
        if len(ids) != 1:
            raise ExplainrError(
                f"the DataFrame holds {len(ids)} series: pass unique_id=<one of {list(ids)[:5]}>"
            )
        unique_id = ids[0]
    series = df[df[id_col] == unique_id].sort_values(time_col).reset_index(drop=True)
    if series.empty:
        raise ExplainrError(f"unique_id={unique_id!r} is not in the DataFrame's {id_col} column")
    values = series[[target_col, *exog]].to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise ExplainrError(
            f"series {unique_id!r} has missing or infinite values in {[target_col, *exog]}; "
            "fill them first (the adapter cuts complete windows)"
        )
    return series


def _is_time(column: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(column))


def _future(
    series: pd.DataFrame, futr_df: Any, cols: tuple[str, str, str], futr: list[str], unique_id: Any
) -> np.ndarray:
    """``(rows, futr)``: the future exogenous columns of the series, then ``futr_df``'s."""
    values = series[futr].to_numpy(np.float64)
    if futr_df is None or not futr:
        return values
    id_col, time_col, _ = cols
    if not isinstance(futr_df, pd.DataFrame) or any(c not in futr_df for c in futr):
        raise ExplainrError(f"futr_df must be a DataFrame with the columns {futr}")
    more = futr_df[futr_df[id_col] == unique_id].sort_values(time_col)
    more = more[more[time_col] > series[time_col].iloc[-1]]
    return np.concatenate([values, more[futr].to_numpy(np.float64)])


def _statics(static_df: Any, id_col: str, unique_id: Any, stat: list[str]) -> np.ndarray:
    if not stat:
        return np.zeros(0)
    if not isinstance(static_df, pd.DataFrame):
        raise ExplainrError(f"the model uses static exogenous {stat}: pass static_df=")
    row = static_df[static_df[id_col] == unique_id]
    if len(row) != 1:
        raise ExplainrError(f"static_df has {len(row)} rows for {unique_id!r}; it needs one")
    return row[stat].to_numpy(np.float64)[0]


def _window_ends(ad: NeuralForecastAdapter) -> list[int]:
    last = len(ad.values)
    if ad.futr:
        last = min(last, len(ad.future) - ad.h)
    ends = list(range(ad.steps, last + 1))
    if not ends:
        raise ExplainrError(
            f"no window of {ad.steps} steps has the {ad.h} future exogenous rows after it; "
            "pass futr_df= (as for nf.predict) or a longer DataFrame"
        )
    return ends


# -- the library's state ----------------------------------------------------------------------


@contextmanager
def _library_state(net: nn.Module, steps: int) -> Iterator[None]:
    """Eval mode and predict's input size for one call; the model's attributes restored."""
    names = ("input_size", "h", "maintain_state", "rnn_state")
    before = {name: getattr(net, name, None) for name in names}
    scaler = {name: getattr(net.scaler, name, None) for name in ("x_shift", "x_scale")}
    modes = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        net.input_size = steps
        yield
    finally:
        for name, value in before.items():
            setattr(net, name, value)
        for name, value in scaler.items():
            setattr(net.scaler, name, value)
        for module, training in modes:
            module.training = training


def _clone(tensor: Tensor) -> Tensor:
    """Saved for backward as a copy, so the scaler's in-place edits cannot touch it."""
    return tensor.clone()


def _same(tensor: Tensor) -> Tensor:
    return tensor
