"""`adapt`: one entry point for a fitted model from any supported library.

Libraries are recognised by the module their model's class comes from, so none is imported
until its adapter is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from torch import nn

from explainr._core.errors import ExplainrError
from explainr.adapters._adapter import Adapter
from explainr.adapters._module import ModuleAdapter, from_keras

# top-level package of the fitted model's class -> (adapter module, pip extra)
LIBRARIES = {
    "darts": ("explainr.adapters.darts", "darts"),
    "neuralforecast": ("explainr.adapters.neuralforecast", "neuralforecast"),
    "pytorch_forecasting": ("explainr.adapters.pytorch_forecasting", "pytorch-forecasting"),
    "gluonts": ("explainr.adapters.gluonts", "gluonts"),
}


def adapt(fitted: Any, data: Any = None, **options: Any) -> Adapter:
    """Make a fitted model from a forecasting library explainable, with its data.

    Args:
        fitted: a darts ``RNNModel`` / ``BlockRNNModel``; a neuralforecast
            ``NeuralForecast`` or its ``LSTM`` / ``GRU`` / ``DeepAR``; a pytorch-forecasting
            ``RecurrentNetwork`` / ``DeepAR`` / ``TemporalFusionTransformer``; a GluonTS
            torch DeepAR predictor; a Keras model or a ``.keras`` / ``.h5`` path; or a plain
            ``torch.nn.Module`` taking ``(batch, time, feature)``.
        data: what the model predicts from, in the library's own form (a darts
            ``TimeSeries``, a long DataFrame, a ``TimeSeriesDataSet``, a GluonTS dataset,
            or windows ``(n, time, feature)`` for a plain module).
        **options: the library adapter's options (e.g. ``past_covariates=`` for darts,
            ``window=`` for a plain module and a long DataFrame).

    Returns:
        An `Adapter`: an ``nn.Module`` from windows in original units to the point forecast
        ``(batch, horizon)``; ``.windows(last=k)`` cuts `Windows`, ``.predict(w)`` forecasts
        them, ``.target_names`` names the outputs.

    Raises:
        ExplainrError: the model's library is not supported, or is supported but its extra
            is not installed (the message names ``pip install 'explainr[...]'``).

    >>> import torch, explainr
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1))
    >>> ad = explainr.adapt(net, torch.randn(5, 4, 2))
    >>> w = ad.windows(last=2)
    >>> tuple(w.x.shape), ad.predict(w).shape
    ((2, 4, 2), (2, 1))
    """
    if isinstance(fitted, Adapter):
        return fitted
    if isinstance(fitted, (str, Path)):
        return _keras_file(Path(fitted), data, options)
    package = type(fitted).__module__.split(".")[0]
    if package in LIBRARIES:
        name, extra = LIBRARIES[package]
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ExplainrError(
                f"explaining a {package} model needs {error.name or package}: "
                f"pip install 'explainr[{extra}]'"
            ) from error
        return module.adapt(fitted, data, **options)
    if package == "keras" or package.startswith("keras"):
        return ModuleAdapter(from_keras(fitted), data, library="keras", **options)
    if isinstance(fitted, nn.Module):
        return ModuleAdapter(fitted, data, **options)
    raise ExplainrError(
        f"explainr.adapt does not know {type(fitted).__module__}.{type(fitted).__name__}; it "
        "takes darts, neuralforecast, pytorch-forecasting, GluonTS and Keras models, a .keras "
        "or .h5 path, or a torch.nn.Module"
    )


def _keras_file(path: Path, data: Any, options: dict[str, Any]) -> Adapter:
    if path.suffix.lower() not in (".keras", ".h5"):
        raise ExplainrError(
            f"explainr.adapt takes a path only to a Keras file (.keras or .h5), got {str(path)!r}"
        )
    from explainr.adapters import keras as keras_files

    return ModuleAdapter(keras_files.load(path), data, library="keras", **options)
