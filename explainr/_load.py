"""Loading what the command line is given: a model spec, weights, a data file."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import logging
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from explainr._core.errors import ExplainrError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")

log = logging.getLogger("explainr.cli")
TIME_NAMES = ("date", "time", "datetime", "timestamp", "year", "period", "month", "day")


def load_model(
    spec: str,
    weights: str | None = None,
    unsafe_pickle: bool = False,
    random_weights: bool = False,
) -> nn.Module:
    """A model from a zoo name, a ``package.module:factory`` spec, a Keras file, or a
    pickled-module file.

    Args:
        spec: zoo name (``explainr models``), ``package.module:factory`` (an importable
            callable returning an ``nn.Module``; ``path/to/file.py:factory`` works too), a
            Keras ``.keras`` / ``.h5`` model file (read without Keras, see
            `explainr.adapters.keras.load`), or a file holding a whole pickled module (needs
            ``unsafe_pickle``).
        weights: a state dict for a factory model: ``.safetensors`` or a torch file loaded
            with ``weights_only=True`` (``weights_only=False`` with ``unsafe_pickle``).
            Required for a factory unless ``random_weights``.
        unsafe_pickle: allow unpickling, which runs code from the file: a whole module from
            ``spec``, or a torch ``weights`` file that ``weights_only=True`` cannot read. An
            error where nothing would be unpickled (zoo, Keras, ``.safetensors``, no weights).
        random_weights: explain the factory's model as it builds it (untrained weights).

    Returns:
        The model in eval mode.
    """
    from explainr import zoo

    if spec in zoo.names():
        if weights is not None or random_weights:
            flag = "--weights" if weights is not None else "--random-weights"
            raise ExplainrError(f"{flag} is for factory models; zoo model {spec!r} ships its own")
        if unsafe_pickle:
            raise _nothing_to_unpickle(f"zoo model {spec!r} is read from .safetensors")
        return zoo.load(spec).model
    if spec.endswith(".py") and ":" not in spec:
        where = "" if Path(spec).is_file() else " (and that file does not exist here)"
        raise ExplainrError(
            f"--model {spec} is a Python file{where}; name the function in it that builds the "
            f"model with no arguments, e.g. --model {spec}:build, and give its trained "
            "weights with --weights FILE"
        )
    if ":" in spec and not Path(spec).is_file():
        if weights is not None and random_weights:
            raise ExplainrError("give either --weights FILE or --random-weights, not both")
        if weights is None and not random_weights:
            raise ExplainrError(
                f"--model {spec} builds a model whose weights are not trained; give the trained "
                "state dict with --weights FILE (.safetensors or torch), or pass "
                "--random-weights to explain the untrained model on purpose"
            )
        if unsafe_pickle and weights is None:
            raise _nothing_to_unpickle("no --weights file is given (--random-weights)")
        if unsafe_pickle and Path(weights or "").suffix == ".safetensors":
            raise _nothing_to_unpickle(f"{weights} is read without pickle")
        model = _from_factory(spec)
        if weights is not None:
            _load_weights(model, weights, unsafe_pickle)
        return model.eval()
    path = Path(spec)
    if path.suffix.lower() in KERAS_SUFFIXES:
        if weights is not None:
            raise ExplainrError(f"--weights is for factory models; {spec} holds its own weights")
        if unsafe_pickle:
            raise _nothing_to_unpickle(f"the Keras file {spec} is read without pickle")
        from explainr.adapters.keras import load as load_keras

        return load_keras(path)
    if path.is_file():
        if weights is not None or random_weights:
            raise ExplainrError(
                f"--weights and --random-weights are for package.module:factory models; {spec} "
                "is a file"
            )
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


def _nothing_to_unpickle(why: str) -> ExplainrError:
    return ExplainrError(
        f"--unsafe-pickle has nothing to unpickle: {why}; leave it out (it is for a pickled "
        "module file as --model, or a torch --weights file that weights_only=True cannot read)"
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
    except SystemExit as e:  # never mistaken for the command's own exit
        raise ExplainrError(
            f"importing {target!r} (model spec {spec!r}) called sys.exit({e.code!r}); the "
            "module must define the factory without exiting"
        ) from e
    except Exception as e:  # importing runs the user's code: any error may come out
        raise ExplainrError(
            f"cannot import {target!r} from model spec {spec!r}: {type(e).__name__}: {e}"
        ) from e
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ExplainrError(f"{target!r} has no callable {attr!r} (from model spec {spec!r})")
    try:
        model = factory()
    except SystemExit as e:  # sys.exit(0) in a factory is a failure, not a finished command
        raise ExplainrError(
            f"{spec}() called sys.exit({e.code!r}) instead of returning the model; the "
            "factory must build and return it"
        ) from e
    except Exception as e:  # the user's factory; it must build the model with no arguments
        raise ExplainrError(
            f"{spec}() failed: {type(e).__name__}: {e}; the factory must build the model "
            "with no arguments"
        ) from e
    if not isinstance(model, nn.Module):
        raise ExplainrError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _load_weights(model: nn.Module, weights: str, unsafe_pickle: bool = False) -> None:
    path = Path(weights)
    if not path.is_file():
        raise ExplainrError(f"weights file {weights} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        elif unsafe_pickle:
            log.warning("unpickling the weights in %s (--unsafe-pickle)", weights)
            state = torch.load(path, weights_only=False, map_location="cpu")
        else:
            state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # corrupt or foreign files fail in many ways; name the file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        hint = ""
        if isinstance(e, pickle.UnpicklingError) and not unsafe_pickle:
            hint = "; if you trust the file, --unsafe-pickle reads it with weights_only=False"
        raise ExplainrError(f"cannot read weights from {weights}: {first}{hint}") from e
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

    Without ``time_column`` a time column is looked for (`detect_time_column`) and, when
    found, used as the index and named on stderr; other non-numeric columns left out are
    named there too. Raises ExplainrError for a missing/unreadable file, unknown columns,
    non-numeric features, and NaN (naming the column and row).
    """
    file = Path(path)
    if not file.is_file():
        raise ExplainrError(f"data file {path} does not exist")
    parquet = file.suffix.lower() in (".parquet", ".pq")
    try:
        df = pd.read_parquet(file) if parquet else pd.read_csv(file)
    except ImportError as e:
        raise ExplainrError(f"reading {path} needs pyarrow: pip install 'explainr[parquet]'") from e
    except Exception as e:  # pandas raises many types for unreadable files
        raise ExplainrError(f"cannot read {path} as {'Parquet' if parquet else 'CSV'}: {e}") from e
    if time_column is None:
        time_column = detect_time_column(df, features, path)
        if time_column is not None:
            log.warning(
                "using column %r of %s as the time labels (--time-column chooses another)",
                time_column,
                path,
            )
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
        numeric = df.select_dtypes(include=[np.number])
        dropped = [str(c) for c in df.columns if c not in numeric.columns]
        if dropped:
            log.warning("leaving out non-numeric columns %s of %s", dropped, path)
        df = numeric
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
    infinite = ~np.isfinite(df.to_numpy(dtype=np.float64))
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        value = df.iloc[row, col]
        raise ExplainrError(
            f"{path} has an infinite value ({value}) in column {df.columns[col]!r} at row "
            f"{row + 1} (time {df.index[row]}); replace or drop it first"
        )
    return df


def detect_time_column(df: pd.DataFrame, features: list[str] | None, path: str) -> str | None:
    """The column holding time stamps, or None.

    A column qualifies if it is not a requested feature and holds datetimes, or text that
    parses as dates in every row, or integers under a time-like name (``year``, ``date``,
    ...). Several qualifying columns are an error asking for ``--time-column``.
    """
    found = []
    for column in df.columns:
        name, values = str(column), df[column]
        if features is not None and name in features:
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            found.append(name)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            if len(values) and not parsed.isna().any():
                found.append(name)
        elif name.lower() in TIME_NAMES and pd.api.types.is_integer_dtype(values):
            found.append(name)
    if len(found) > 1:
        raise ExplainrError(
            f"{path} has several time-like columns {found}; name the one to use with --time-column"
        )
    return found[0] if found else None


@dataclass(frozen=True)
class Card:
    """A model card: what the model takes and how its data were scaled when it was trained.

    The same JSON schema as the zoo's ``models/<name>/card.json``; only ``data.features``
    is required. See `read_card`.
    """

    features: list[str]
    window: int | None = None
    time_column: str | None = None
    target: str | None = None
    units: dict[str, str] = field(default_factory=dict)  # feature (or glob) -> unit
    mean: np.ndarray | None = None  # (feature,) original = scaled * std + mean
    std: np.ndarray | None = None
    task: str | None = None
    source: str = "card"

    def scale(self, values: np.ndarray) -> np.ndarray:
        """Original units to the model's: ``(values - mean) / std`` per feature (or as is)."""
        if self.mean is None or self.std is None:
            return np.asarray(values, dtype=np.float64)
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def unit(self, name: str) -> str | None:
        """The unit of feature or target ``name``: an exact key, else the first glob that matches."""
        if name in self.units:
            return self.units[name]
        return next((u for k, u in self.units.items() if fnmatch.fnmatchcase(name, k)), None)

    def feature_units(self) -> dict[str, str]:
        """``{feature: unit}`` for the features that have one."""
        return {f: u for f in self.features if (u := self.unit(f)) is not None}


def read_card(source: str | dict[str, Any]) -> Card:
    """Parse a model card (a JSON file or its dict) and check it.

    Schema (keys of the zoo cards; others are ignored)::

        {"data": {"features": ["a", "b"],          # required: the model's input columns, in order
                  "time_column": "date",           # optional: the data file's time column
                  "target": "a",                   # optional: what the model predicts
                  "units": {"a": "kW", "*_pct": "%"}},  # optional: unit per feature, globs allowed
         "window": 48,                             # optional: time steps per window
         "task": "forecast",                       # optional: forecast or classify
         "scaling": {"method": "standard",         # optional: how the data were scaled in training
                     "mean": [..], "std": [..]}}   #   one per feature: scaled = (x - mean) / std

    Raises:
        ExplainrError: naming the file and the key that is missing or wrong.
    """
    where = "card" if isinstance(source, dict) else f"card {source}"
    if isinstance(source, dict):
        meta: Any = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ExplainrError(f"--card {source} does not exist")
        try:
            meta = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ExplainrError(f"cannot read {where} as JSON: {e}") from e
    data = meta.get("data") if isinstance(meta, dict) else None
    features = data.get("features") if isinstance(data, dict) else None
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) for f in features)
    ):
        raise ExplainrError(
            f"{where} needs data.features: the list of the model's input column names, in order"
        )
    window = meta.get("window")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        raise ExplainrError(f"{where}: window must be a positive int, got {window!r}")
    units = data.get("units") or {}
    if not isinstance(units, dict) or not all(isinstance(u, str) for u in units.values()):
        raise ExplainrError(
            f"{where}: data.units must map feature names (or globs) to unit strings"
        )
    mean = std = None
    scaling = meta.get("scaling")
    if scaling is not None:
        method = scaling.get("method", "standard") if isinstance(scaling, dict) else None
        if method not in ("standard", "none"):  # "none": mean 0 and std 1, stored as such
            raise ExplainrError(
                f'{where}: scaling.method {method!r} is not supported; use "standard" with '
                "mean and std per feature (scaled = (x - mean) / std), or leave scaling out"
            )
        try:
            mean = np.asarray(scaling["mean"], dtype=np.float64)
            std = np.asarray(scaling["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise ExplainrError(f"{where}: scaling needs numeric lists mean and std ({e})") from e
        if mean.shape != (len(features),) or std.shape != (len(features),):
            raise ExplainrError(
                f"{where}: scaling.mean and scaling.std need one number per feature "
                f"({len(features)}), got {mean.size} and {std.size}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ExplainrError(f"{where}: scaling.std must be positive and all values finite")
    return Card(
        features=list(features),
        window=window,
        time_column=data.get("time_column"),
        target=data.get("target"),
        units=dict(units),
        mean=mean,
        std=std,
        task=meta.get("task"),
        source=where,
    )
