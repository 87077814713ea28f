"""Loading what the command line is given: a model spec, weights, a data file."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from explainr._core.errors import ExplainrError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(spec: str, weights: str | None = None, unsafe_pickle: bool = False) -> nn.Module:
    """A model from a zoo name, a ``package.module:factory`` spec, a Keras file, or a
    pickled-module file.

    Args:
        spec: zoo name (``explainr models``), ``package.module:factory`` (an importable
            callable returning an ``nn.Module``; ``path/to/file.py:factory`` works too), a
            Keras ``.keras`` / ``.h5`` model file (read without Keras, see
            `explainr.adapters.keras.load`), or a file holding a whole pickled module (needs
            ``unsafe_pickle``).
        weights: a state dict for a factory model: ``.safetensors`` or a torch file loaded
            with ``weights_only=True``.
        unsafe_pickle: allow unpickling a whole module from ``spec`` (runs code from the file).

    Returns:
        The model in eval mode.
    """
    from explainr import zoo

    if spec in zoo.names():
        if weights is not None:
            raise ExplainrError(
                f"--weights is for factory models; zoo model {spec!r} ships its own"
            )
        return zoo.load(spec).model
    if ":" in spec and not Path(spec).is_file():
        model = _from_factory(spec)
        if weights is not None:
            _load_weights(model, weights)
        return model.eval()
    path = Path(spec)
    if path.suffix.lower() in KERAS_SUFFIXES:
        if weights is not None:
            raise ExplainrError(f"--weights is for factory models; {spec} holds its own weights")
        from explainr.adapters.keras import load as load_keras

        return load_keras(path)
    if path.is_file():
        if not unsafe_pickle:
            raise ExplainrError(
                f"{spec} is a file; loading a whole pickled module runs code from it. "
                "Pass --unsafe-pickle if you trust it, or use package.module:factory with --weights"
            )
        try:
            model = torch.load(path, weights_only=False, map_location="cpu")
        except Exception as e:  # unpickling can fail in many ways; say which file
            raise ExplainrError(f"cannot unpickle a model from {spec}: {e}") from e
        if not isinstance(model, nn.Module):
            raise ExplainrError(f"{spec} holds a {type(model).__name__}, not a torch.nn.Module")
        return model.eval()
    raise ExplainrError(
        f"model {spec!r} is not a zoo name ({', '.join(zoo.names())}), a package.module:factory "
        "spec, a .keras/.h5 file, or an existing file"
    )


def _from_factory(spec: str) -> nn.Module:
    target, _, attr = spec.rpartition(":")
    try:
        if target.endswith(".py"):
            module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(target)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            sys.path.insert(0, str(Path.cwd()))
            try:
                module = importlib.import_module(target)
            finally:
                sys.path.pop(0)
    except Exception as e:  # importing runs the user's code: any error may come out
        raise ExplainrError(
            f"cannot import {target!r} from model spec {spec!r}: {type(e).__name__}: {e}"
        ) from e
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ExplainrError(f"{target!r} has no callable {attr!r} (from model spec {spec!r})")
    try:
        model = factory()
    except Exception as e:  # the user's factory; it must build the model with no arguments
        raise ExplainrError(
            f"{spec}() failed: {type(e).__name__}: {e}; the factory must build the model "
            "with no arguments"
        ) from e
    if not isinstance(model, nn.Module):
        raise ExplainrError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _load_weights(model: nn.Module, weights: str) -> None:
    path = Path(weights)
    if not path.is_file():
        raise ExplainrError(f"weights file {weights} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # corrupt or foreign files fail in many ways; name the file
        raise ExplainrError(f"cannot read weights from {weights}: {e}") from e
    if not isinstance(state, dict):
        raise ExplainrError(f"{weights} holds a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) or first[0]
        raise ExplainrError(f"weights in {weights} do not fit the model: {detail}") from e


def read_table(
    path: str, time_column: str | None = None, features: list[str] | None = None
) -> pd.DataFrame:
    """A CSV or Parquet file as a numeric DataFrame, time as index, features as columns.

    Raises ExplainrError for a missing/unreadable file, unknown columns, non-numeric
    features, and NaN (naming the column and row).
    """
    file = Path(path)
    if not file.is_file():
        raise ExplainrError(f"data file {path} does not exist")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(file)
        else:
            df = pd.read_csv(file)
    except ImportError as e:
        raise ExplainrError(f"reading {path} needs pyarrow: pip install 'explainr[parquet]'") from e
    except Exception as e:  # pandas raises many types for unreadable files
        raise ExplainrError(
            f"cannot read {path} as {'Parquet' if file.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: {e}"
        ) from e
    if time_column is not None:
        if time_column not in df.columns:
            raise ExplainrError(
                f"--time-column {time_column!r} is not a column of {path}; columns: {list(df.columns)}"
            )
        index = df.pop(time_column)
        textual = index.dtype == object or pd.api.types.is_string_dtype(index)
        parsed = pd.to_datetime(index, errors="coerce") if textual else index
        df.index = parsed if not pd.isna(parsed).any() else index
    if features is not None:
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise ExplainrError(
                f"features {missing} are not columns of {path}; columns: {list(df.columns)}"
            )
        df = df[features]
    else:
        df = df.select_dtypes(include=[np.number])
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise ExplainrError(f"columns {bad} of {path} are not numeric")
    if df.shape[1] == 0:
        raise ExplainrError(f"{path} has no numeric columns to use as features")
    nan = df.isna().to_numpy()
    if nan.any():
        row, col = np.argwhere(nan)[0]
        raise ExplainrError(
            f"{path} has a missing value in column {df.columns[col]!r} at row {row + 1} "
            f"(time {df.index[row]}); fill or drop it first"
        )
    return df
