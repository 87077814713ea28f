"""zoo: small trained recurrent models on real data, shipped with the package.

Each model lives in ``models/<name>/`` of the repository (copied into the wheel as
``explainr/_zoo_data/<name>/``, see `models_dir`): ``card.json`` (what it is, its data, scaling and
test metrics), ``model.safetensors`` (weights, loaded without pickle) and ``train.py``
(retrains it deterministically). The data are CSV files in ``models/data/``; frame models
(``card["data"]["kind"] == "frames"``) make theirs from the card (`explainr._zoo_frames`:
real digits from scikit-learn, a planted box) and take ``(batch, time, channels, height,
width)``.

>>> import explainr
>>> zoo = explainr.zoo.load("sunspots_gru")
>>> x, raw = zoo.windows(last=2)
>>> x.shape, zoo.model(x).shape
(torch.Size([2, 30, 1]), torch.Size([2]))
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.torch import load_file
from torch import nn

from explainr import _zoo_frames, _zoo_models
from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError

__all__ = ["ZooModel", "card", "catalogue", "load", "models_dir", "names"]

SPLITS = ("train", "validation", "test", "all")


def models_dir() -> Path:
    """The folder holding the zoo.

    In order: ``$EXPLAINR_MODELS`` if set; the checkout's ``models/`` when explainr runs
    from its repository (where models are trained and documented); else the copy shipped
    inside the installed package, ``explainr/_zoo_data/`` (same layout, made by the build).

    >>> (models_dir() / "sunspots_gru" / "card.json").is_file()
    True
    """
    env = os.environ.get("EXPLAINR_MODELS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "models").is_dir():
        return checkout / "models"
    return package / "_zoo_data"


def names() -> list[str]:
    """Names of the zoo's models (folders of `models_dir` holding a ``card.json``), sorted.

    Empty when the folder is missing; `catalogue` raises instead.

    >>> "sunspots_gru" in names()
    True
    """
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/card.json"))


def catalogue() -> list[dict[str, Any]]:
    """Every model's card, sorted by name; an error when the zoo is missing, empty or unreadable.

    Raises:
        ExplainrError: naming the folder (and ``EXPLAINR_MODELS`` when that chose it) and
            the first card that cannot be read.

    >>> [c["name"] for c in catalogue()][:2]
    ['co2_peephole', 'elnino_classifier']
    """
    root = models_dir()
    origin = "EXPLAINR_MODELS=" if os.environ.get("EXPLAINR_MODELS") else "the zoo folder "
    if not root.is_dir():
        raise ExplainrError(
            f"{origin}{str(root)!r} is not a folder; point EXPLAINR_MODELS at a folder "
            "holding <name>/card.json files, or unset it to use the shipped zoo"
        )
    found = names()
    if not found:
        raise ExplainrError(
            f"no models in {origin}{str(root)!r}: no <name>/card.json in it; point "
            "EXPLAINR_MODELS at the zoo folder, or unset it to use the shipped zoo"
        )
    return [{**_read_card(root / name / "card.json"), "name": name} for name in found]


def card(name: str) -> dict[str, Any]:
    """The card of model ``name``: the parsed ``models/<name>/card.json``.

    Args:
        name: one of `names` (a folder name: paths such as ``a/../b`` are refused).

    Raises:
        ExplainrError: for an unknown name (`ExplainrValueError`), a name that is not a
            string (`ExplainrTypeError`), or a card that is not a JSON object (naming the file).

    >>> card("planted_lstm")["box"]["features"]
    [2, 3]
    """
    _check_name(name)
    return _read_card(models_dir() / name / "card.json")


def _check_name(name: object) -> None:
    """``name`` is exactly one of `names`: never a path that leads out of the zoo."""
    if not isinstance(name, str):
        raise ExplainrTypeError(
            f"a zoo model name must be a str, got {type(name).__name__} {name!r}; models: {names()}"
        )
    if name in names():
        return
    path_like = "/" in name or "\\" in name or name in (".", "..") or Path(name).is_absolute()
    why = " (a zoo name is one folder name, not a path)" if path_like else ""
    raise ExplainrValueError(
        f"no zoo model named {name!r} in {models_dir()}{why}; models: {names()}. "
        "Set EXPLAINR_MODELS to the folder holding the zoo if it lives elsewhere"
    )


def _read_card(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ExplainrError(f"cannot read zoo card {path}: {e}; fix or remove it") from e
    if not isinstance(meta, dict):
        raise ExplainrError(
            f"zoo card {path} holds a {type(meta).__name__}, not a JSON object; fix or remove it"
        )
    return meta


def load(name: str) -> ZooModel:
    """Load zoo model ``name``: its module in eval mode with the shipped weights, and its card.

    Args:
        name: one of `names`, e.g. ``"macro_lstm"``.

    >>> load("elnino_classifier").task
    'classify'
    """
    meta = card(name)
    path = models_dir() / name / "card.json"
    try:
        arch, data = meta["architecture"], meta["data"]
        cls_name, kwargs = arch["class"], arch["kwargs"]
        features, window = list(data["features"]), meta["window"]
        task, target = meta["task"], data["target"]
    except (KeyError, TypeError) as e:
        raise ExplainrError(
            f"zoo card {path} lacks {e} (or it is of the wrong type): architecture.class, "
            "architecture.kwargs, data.features, data.target, window and task are needed"
        ) from e
    cls = getattr(_zoo_models, cls_name, None) if isinstance(cls_name, str) else None
    if cls_name not in _zoo_models.__all__ or cls is None:
        raise ExplainrError(
            f"card of {name!r} names class {cls_name!r}, which is not one of "
            f"explainr._zoo_models {_zoo_models.__all__}"
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ExplainrError(f"zoo card {path}: window must be a positive int, got {window!r}")
    weights = models_dir() / name / "model.safetensors"
    try:
        model: nn.Module = cls(**kwargs)
        model.load_state_dict(load_file(weights))
    except Exception as e:  # wrong kwargs, a missing, corrupt or foreign weights file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExplainrError(
            f"zoo model {name!r}: cannot build {cls_name} from {path} with the weights in "
            f"{weights}: {type(e).__name__}: {first}"
        ) from e
    model.eval()
    return ZooModel(
        name=name,
        card=meta,
        model=model,
        feature_names=features,
        window=window,
        task=task,
        target_name=target,
    )


@dataclass
class ZooModel:
    """A zoo model with its card and its data.

    ``model`` takes scaled windows ``(batch, window, feature)`` and returns ``(batch,)``
    forecasts in the target's original units (task ``"forecast"``) or ``(batch, n_classes)``
    logits (task ``"classify"``).

    >>> zoo = load("macro_lstm")
    >>> zoo.feature_names[:2], zoo.window
    (['gdp_growth', 'cons_growth'], 16)
    """

    name: str
    card: dict[str, Any] = field(repr=False)
    model: nn.Module = field(repr=False)
    feature_names: list[str]
    window: int
    task: str
    target_name: str

    @property
    def frame_shape(self) -> tuple[int, int, int] | None:
        """``(channels, height, width)`` of a frame model's input, None for a table model.

        >>> load("moving_digits").frame_shape
        (1, 16, 16)
        """
        data = self.card["data"]
        if data.get("kind") != "frames":
            return None
        channels, height, width = (int(n) for n in data["frame_shape"])
        return channels, height, width

    def data(self) -> pd.DataFrame:
        """The shipped data in original units, indexed by time (dates or ints).

        >>> load("sunspots_gru").data().index[:2].tolist()
        [1700, 1701]
        """
        spec = self.card["data"]
        if self.frame_shape is not None:
            raise ExplainrError(
                f"{self.name} takes frames, not a table; use samples() or windows()"
            )
        return read_data(models_dir() / spec["file"], spec["time_column"])

    def scale(self, values: np.ndarray) -> np.ndarray:
        """Original units to the model's: ``(values - mean) / std`` per feature.

        Args:
            values: ``(..., feature)`` in original units.

        >>> zoo = load("sunspots_gru")
        >>> float(zoo.unscale(zoo.scale(np.array([50.0])))[0])
        50.0
        """
        mean, std = self._scaling(values)
        return (np.asarray(values, dtype=float) - mean) / std

    def unscale(self, values: np.ndarray) -> np.ndarray:
        """The model's units to original ones: ``values * std + mean`` per feature.

        Args:
            values: ``(..., feature)`` scaled.
        """
        mean, std = self._scaling(values)
        return np.asarray(values, dtype=float) * std + mean

    def windows(self, last: int = 1) -> tuple[torch.Tensor, list[pd.DataFrame]]:
        """The last ``last`` windows of `data`, the final one ending at its last row.

        Args:
            last: how many windows, ``1 <= last <= rows - window + 1``.

        Returns:
            ``(x, raw)``: ``x`` float32 ``(last, window, feature)`` scaled, ready for
            ``model``; ``raw`` the same windows as DataFrames in original units, indexed by time.

        >>> x, raw = load("co2_peephole").windows(last=3)
        >>> x.shape, raw[-1].index[-1].year
        (torch.Size([3, 24, 1]), 2001)

        A frame model gives the last ``last`` test sequences ``(last, time, channels, height,
        width)`` and, as ``raw``, the same sequences as numpy arrays (frames are not scaled).
        """
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)):
            raise ExplainrTypeError(
                f"last must be an int (how many windows), got {type(last).__name__} {last!r}"
            )
        if self.frame_shape is not None:
            x, _ = self.samples("test")
            if not 1 <= last <= len(x):
                raise ExplainrValueError(
                    f"{self.name} has {len(x)} test sequences; got last={last}"
                )
            return x[-last:], [w.numpy().astype(np.float64) for w in x[-last:]]
        frame = self.data()[self.feature_names]
        available = len(frame) - self.window + 1
        if not 1 <= last <= available:
            raise ExplainrError(
                f"{self.name} has {len(frame)} rows, so 1 to {available} windows of "
                f"{self.window} steps; got last={last}"
            )
        ends = range(len(frame) - last, len(frame))
        raw = [frame.iloc[end - self.window + 1 : end + 1] for end in ends]
        x = np.stack([self.scale(w.to_numpy(dtype=float)) for w in raw])
        return torch.as_tensor(x, dtype=torch.float32), raw

    def samples(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        """The model's train, validation or test samples, as split when it was trained.

        Args:
            split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.

        Returns:
            ``(x, y)``: ``x`` float32 ``(n, window, feature)`` scaled; ``y`` ``(n,)`` float64
            targets in original units (forecast) or int64 class ids (classify).

        >>> x, y = load("sunspots_gru").samples("test")
        >>> x.shape[0] == y.shape[0] == load("sunspots_gru").card["split"]["test"]
        True
        """
        if split not in SPLITS:
            raise ExplainrError(f"unknown split {split!r}; choose from {list(SPLITS)}")
        if self.frame_shape is not None:
            x, y = _zoo_frames.sequences(self.card["data"], self.card.get("box"))
            start, stop = _bounds(self.card["split"], len(y))[split]
            return torch.as_tensor(x[start:stop]), torch.as_tensor(y[start:stop])
        x, y, _ = cut_samples(self.data(), self.card)
        start, stop = _bounds(self.card["split"], len(y))[split]
        xs = self.scale(x[start:stop])
        return torch.as_tensor(xs, dtype=torch.float32), torch.as_tensor(y[start:stop])

    def _scaling(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.shape(values)[-1:] != (len(self.feature_names),):
            raise ExplainrError(
                f"{self.name} has {len(self.feature_names)} features {self.feature_names}; "
                f"got values of shape {np.shape(values)} (the last axis must be the features)"
            )
        scaling = self.card["scaling"]
        return np.asarray(scaling["mean"], dtype=float), np.asarray(scaling["std"], dtype=float)


def _bounds(counts: dict[str, int], n: int) -> dict[str, tuple[int, int]]:
    """Sample ranges of each split, in order: train, validation, test (the last)."""
    return {
        "train": (0, counts["train"]),
        "validation": (counts["train"], counts["train"] + counts["validation"]),
        "test": (n - counts["test"], n),
        "all": (0, n),
    }


def read_data(path: Path, time_column: str) -> pd.DataFrame:
    """A zoo CSV indexed by its time column, parsed as dates unless it holds integers.

    Used by `ZooModel.data` and by ``models/*/train.py``.
    """
    if not path.is_file():
        raise ExplainrError(f"zoo data file {str(path)!r} is missing; run models/data/export.py")
    frame = pd.read_csv(path, index_col=time_column)
    if not pd.api.types.is_integer_dtype(frame.index):
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index), name=time_column)
    return frame


def cut_samples(
    frame: pd.DataFrame, meta: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (window, target) pair of ``frame``, in time order and original units.

    Used by `ZooModel.samples` and by ``models/*/train.py``.

    The window ending at row ``end`` has target ``target[end + horizon]`` (``horizon`` from
    the card, default 1: the next step). Pairs whose target is missing are left out. For
    ``task == "classify"`` the target is the class id ``int(value > data.threshold)``.

    Args:
        frame: the model's data, ``(rows, columns)``.
        meta: the model's card (``window``, ``horizon``, ``task``, ``data``).

    Returns:
        ``(x, y, ends)``: ``x`` ``(n, window, feature)``, ``y`` ``(n,)`` and the row of each
        window's last step ``(n,)``.
    """
    window, horizon = int(meta["window"]), int(meta.get("horizon", 1))
    spec = meta["data"]
    values = frame[spec["features"]].to_numpy(dtype=float)
    target = frame[spec["target"]].to_numpy(dtype=float)
    ends = np.arange(window - 1, len(frame) - horizon)
    ends = ends[np.isfinite(target[ends + horizon])]
    x = sliding_window_view(values, window, axis=0).transpose(0, 2, 1)[ends - window + 1]
    y = target[ends + horizon]
    if meta["task"] == "classify":
        y = (y > spec["threshold"]).astype(np.int64)
    return x, y, ends
