"""The small model classes that the zoo's cards name (``architecture.class``).

Every model keeps its recurrent module in an attribute named ``rnn`` and takes scaled
windows ``(batch, time, feature)`` (`FrameModel`: frames ``(batch, time, channels, height,
width)``). Forecasters return ``(batch,)`` in the target's original
units: the head's output times ``target_std`` plus ``target_mean``, two buffers saved with the
weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr.nn import ConvLSTM, PeepholeLSTM

__all__ = ["Classifier", "ConvLSTMForecaster", "Forecaster", "FrameModel"]

CELLS: dict[str, type[nn.Module]] = {"lstm": nn.LSTM, "gru": nn.GRU, "peephole": PeepholeLSTM}


def recurrent(
    cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float
) -> nn.Module:
    """A batch-first ``nn.LSTM``, ``nn.GRU`` or `PeepholeLSTM` by name."""
    if cell not in CELLS:
        raise ExplainrError(f"unknown cell {cell!r}; choose from {list(CELLS)}")
    return CELLS[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
    )


class _TargetUnits(nn.Module):
    """Holds ``target_mean`` and ``target_std`` and maps a standardized output back."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def to_target_units(self, y: Tensor) -> Tensor:
        return y * self.target_std + self.target_mean


def _check_input(model: str, x: Tensor, features: int) -> None:
    if x.dim() != 3 or x.shape[-1] != features:
        raise ExplainrError(
            f"{model} takes windows (batch, time, {features}); got shape {tuple(x.shape)}"
        )


# a shape check, kept whole when relevance methods trace the model with torch.fx
torch.fx.wrap("_check_input")


class Forecaster(_TargetUnits):
    """A recurrent forecaster: the last step's hidden state through a linear head.

    Args:
        input_size: features per step.
        hidden_size: units per recurrent layer.
        num_layers: recurrent layers.
        cell: ``"lstm"``, ``"gru"`` or ``"peephole"`` (`explainr.nn.PeepholeLSTM`).
        dropout: between recurrent layers, in training.

    ``forward(x)``: x ``(batch, time, input_size)`` scaled -> ``(batch,)`` forecast in the
    target's units.

    >>> model = Forecaster(3, 16, num_layers=2, cell="gru")
    >>> model(torch.randn(4, 10, 3)).shape
    torch.Size([4])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.rnn = recurrent(cell, input_size, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        _check_input("Forecaster", x, self.input_size)
        output, _ = self.rnn(x)
        return self.to_target_units(self.head(output[:, -1]).squeeze(-1))


class Classifier(nn.Module):
    """A recurrent sequence classifier: the last step's hidden state to class logits.

    Args:
        input_size: features per step.
        hidden_size: units per recurrent layer.
        num_layers: recurrent layers.
        n_classes: number of classes.
        cell: ``"lstm"``, ``"gru"`` or ``"peephole"``.
        dropout: between recurrent layers, in training.

    ``forward(x)``: x ``(batch, time, input_size)`` scaled -> ``(batch, n_classes)`` logits.

    >>> Classifier(2, 16)(torch.randn(4, 24, 2)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        n_classes: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.rnn = recurrent(cell, input_size, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        _check_input("Classifier", x, self.input_size)
        output, _ = self.rnn(x)
        return self.head(output[:, -1])


class ConvLSTMForecaster(_TargetUnits):
    """A `ConvLSTM` forecaster over flattened frames.

    Each step is a ``height * width`` frame flattened row by row, so the model fits the
    ``(batch, time, feature)`` convention; it is reshaped to ``(batch, time, 1, height,
    width)`` inside. The last step's hidden maps go through a linear head.

    Args:
        height, width: frame size in pixels.
        hidden_channels: ConvLSTM channels.
        kernel_size: ConvLSTM kernel size.
        num_layers: ConvLSTM layers.

    ``forward(x)``: x ``(batch, time, height * width)`` or frames ``(batch, time, 1, height,
    width)`` -> ``(batch,)`` in the target's units.

    >>> ConvLSTMForecaster(8, 8, 4)(torch.rand(2, 6, 64)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        height: int,
        width: int,
        hidden_channels: int,
        kernel_size: int = 3,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.rnn = ConvLSTM(1, hidden_channels, kernel_size=kernel_size, num_layers=num_layers)
        self.head = nn.Linear(hidden_channels * height * width, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 5:  # frames, as explainr explains them
            frames = x
        else:
            _check_input("ConvLSTMForecaster", x, self.height * self.width)
            frames = x.reshape(x.shape[0], x.shape[1], 1, self.height, self.width)
        output, _ = self.rnn(frames)
        return self.to_target_units(self.head(output[:, -1].flatten(1)).squeeze(-1))


class FrameModel(_TargetUnits):
    """A `ConvLSTM` over frames: the last step's hidden maps, average-pooled, to a linear head.

    Average pooling keeps the model smooth, so integrated gradients converge in few steps
    (max pooling's kinks left 28% completeness error at 400 steps on a digit model).

    Args:
        channels: input channels.
        hidden_channels: ConvLSTM channels.
        kernel_size: ConvLSTM kernel size.
        num_layers: ConvLSTM layers.
        outputs: 1 for a forecast ``(batch,)`` in the target's units, else class logits
            ``(batch, outputs)``.
        pool: average the hidden maps over a ``pool x pool`` grid (0: keep every cell, so the head
            can tell places apart).

    ``forward(x)``: x ``(batch, time, channels, height, width)``.

    >>> FrameModel(1, 4, outputs=10, pool=2)(torch.rand(3, 5, 1, 12, 12)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        num_layers: int = 1,
        outputs: int = 1,
        pool: int = 0,
        height: int = 0,
        width: int = 0,
    ) -> None:
        super().__init__()
        self.outputs, self.pool = outputs, pool
        self.rnn = ConvLSTM(
            channels, hidden_channels, kernel_size=kernel_size, num_layers=num_layers
        )
        cells = pool * pool if pool else height * width
        self.head = nn.Linear(hidden_channels * cells, outputs)

    def forward(self, x: Tensor) -> Tensor:
        last = self.rnn(x)[0][:, -1]
        if self.pool:
            last = nn.functional.adaptive_avg_pool2d(last, self.pool)
        out = self.head(last.flatten(1))
        return self.to_target_units(out.squeeze(-1)) if self.outputs == 1 else out
