"""`ResetBeforeGRU`: the GRU of Cho et al. (2014), reset gate applied before the recurrent
product (Keras ``GRU(reset_after=False)``; ``torch.nn.GRU`` applies it after)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explainr._core.cells import CellKind, register_cell
from explainr._core.errors import ExplainrError
from explainr._core.sinks import Sink, sink_for
from explainr.nn._layout import batch_first_input, check_sizes
from explainr.nn.activations import ELEMENTWISE, activation

GATES = ("reset", "update", "new")
RECORDABLE = (*(f"gate:{g}" for g in GATES), "hidden")


def reset_before_gru_layer(
    x: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    act: str = "tanh",
    recurrent_act: str = "sigmoid",
    keep: bool = False,
) -> tuple[Tensor, dict[str, Tensor] | None]:
    """One layer over ``x`` ``(B, T, in)`` from ``h0`` ``(B, H)``.

    Returns the output ``(B, T, H)`` and, when ``keep``, every step's gates and hidden
    state (detached, ``(B, T, H)`` each, keyed ``"gate:<name>"`` and ``"hidden"``).
    """
    g_act = ELEMENTWISE[act]
    r_act = ELEMENTWISE[recurrent_act]
    hidden = h0.shape[-1]
    x_part = F.linear(x, w_ih, b_ih)
    w_hrz, w_hn = w_hh[: 2 * hidden], w_hh[2 * hidden :]
    b_hrz, b_hn = (None, None) if b_hh is None else (b_hh[: 2 * hidden], b_hh[2 * hidden :])
    h = h0
    outputs: list[Tensor] = []
    kept: dict[str, list[Tensor]] = {f"gate:{g}": [] for g in GATES}
    for t in range(x.shape[1]):
        x_r, x_z, x_n = x_part[:, t].chunk(3, dim=1)
        h_r, h_z = F.linear(h, w_hrz, b_hrz).chunk(2, dim=1)
        r = r_act(x_r + h_r)
        z = r_act(x_z + h_z)
        n = g_act(x_n + F.linear(r * h, w_hn, b_hn))
        h = (1 - z) * n + z * h
        outputs.append(h)
        if keep:
            for name, value in zip(GATES, (r, z, n), strict=True):
                kept[f"gate:{name}"].append(value.detach())
    output = torch.stack(outputs, dim=1)
    if not keep:
        return output, None
    steps = {k: torch.stack(v, dim=1) for k, v in kept.items()}
    steps["hidden"] = output.detach().clone()
    return output, steps


class ResetBeforeGRU(nn.Module):
    r"""A multi-layer GRU whose reset gate acts on h_{t-1} before the recurrent product.

    For each layer and step (gate order r, z, n as in ``nn.GRU``)::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    This is Keras's ``GRU(reset_after=False)`` (and the original GRU of Cho et al. 2014);
    ``nn.GRU`` instead computes ``r_t ⊙ (W_hn h_{t-1} + b_hn)``. ``activation`` replaces the
    tanh and ``recurrent_activation`` the σ (names as in Keras: ``"hard_sigmoid"``,
    ``"relu"``, ...). Unidirectional; inside an ``explainr.record`` block it reports every
    gate and hidden state (kind ``"reset_before_gru"``).

    Args:
        input_size: features per step of the input.
        hidden_size: units per layer.
        num_layers: stacked layers.
        bias: whether to use ``bias_ih_l{k}`` and ``bias_hh_l{k}``.
        batch_first: input and output as ``(batch, time, feature)`` instead of
            ``(time, batch, feature)``.
        activation: the candidate's activation (default ``"tanh"``).
        recurrent_activation: the gates' activation (default ``"sigmoid"``).

    Parameters (for layer ``k``), uniform on ±1/sqrt(hidden_size) like ``nn.GRU``:
        ``weight_ih_l{k}`` ``(3*hidden, input_size or hidden)``, ``weight_hh_l{k}``
        ``(3*hidden, hidden)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(3*hidden,)``.

    Shapes of ``forward(input, hx=None) -> (output, h_n)``, as in ``nn.GRU``:
        input ``(batch, time, input_size)`` if ``batch_first`` else ``(time, batch,
        input_size)``, or ``(time, input_size)`` unbatched; hx ``(num_layers, batch,
        hidden)`` (``(num_layers, hidden)`` unbatched), default zeros; output like input
        with ``hidden_size`` features; h_n like hx.

    >>> import torch
    >>> from explainr.nn import ResetBeforeGRU
    >>> gru = ResetBeforeGRU(3, 8, num_layers=2, batch_first=True)
    >>> output, h_n = gru(torch.randn(4, 10, 3))
    >>> output.shape, h_n.shape
    (torch.Size([4, 10, 8]), torch.Size([2, 4, 8]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        check_sizes(
            "ResetBeforeGRU",
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        for name in (activation, recurrent_activation):
            _check_activation(name)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        for k in range(num_layers):
            layer_in = input_size if k == 0 else hidden_size
            self._add(f"weight_ih_l{k}", 3 * hidden_size, layer_in)
            self._add(f"weight_hh_l{k}", 3 * hidden_size, hidden_size)
            if bias:
                self._add(f"bias_ih_l{k}", 3 * hidden_size)
                self._add(f"bias_hh_l{k}", 3 * hidden_size)
        self.reset_parameters()

    def _add(self, name: str, *shape: int) -> None:
        self.register_parameter(name, nn.Parameter(torch.empty(shape)))

    def reset_parameters(self) -> None:
        """Draw every parameter uniform on ±1/sqrt(hidden_size), like ``nn.GRU``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run every layer over ``input``; shapes as in the class docstring."""
        layout = "(batch, time, feature)" if self.batch_first else "(time, batch, feature)"
        x, unbatched = batch_first_input(
            "ResetBeforeGRU", input, batch_first=self.batch_first, unit_dims=1, layout=layout
        )
        if x.shape[-1] != self.input_size:
            raise ExplainrError(
                f"ResetBeforeGRU was built for input_size={self.input_size} but the input has "
                f"{x.shape[-1]} features (shape {tuple(input.shape)})"
            )
        h0 = self._initial(hx, x, unbatched)
        sink = sink_for(self)
        finals, kept = [], []
        layer_in = x
        for k in range(self.num_layers):
            weights = (getattr(self, f"{n}_l{k}", None) for n in _PARAMS)
            keep = sink is not None and any(sink.wants(w, k) for w in RECORDABLE)
            layer_in, steps = reset_before_gru_layer(
                layer_in,
                h0[k],
                *weights,
                act=self.activation,
                recurrent_act=self.recurrent_activation,
                keep=keep,
            )
            finals.append(layer_in[:, -1])
            kept.append(steps)
        if sink is not None:
            _report(self, sink, kept, x.shape[0], x.shape[1])
        h_n = torch.stack(finals)
        if unbatched:
            return layer_in.squeeze(0), h_n.squeeze(1)
        return (layer_in if self.batch_first else layer_in.transpose(0, 1)), h_n

    def _initial(self, hx: Tensor | None, x: Tensor, unbatched: bool) -> Tensor:
        shape = (self.num_layers, x.shape[0], self.hidden_size)
        if hx is None:
            return x.new_zeros(shape)
        want = (self.num_layers, self.hidden_size) if unbatched else shape
        if not isinstance(hx, Tensor) or tuple(hx.shape) != want:
            got = tuple(hx.shape) if isinstance(hx, Tensor) else type(hx).__name__
            raise ExplainrError(
                f"ResetBeforeGRU: hx must be a tensor of shape {want} (num_layers, "
                f"{'' if unbatched else 'batch, '}hidden); got {got}"
            )
        return hx.unsqueeze(1) if unbatched else hx

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.activation != "tanh":
            s += f", activation={self.activation!r}"
        if self.recurrent_activation != "sigmoid":
            s += f", recurrent_activation={self.recurrent_activation!r}"
        return s


_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _check_activation(name: str) -> None:
    activation(name, where="ResetBeforeGRU", allowed=ELEMENTWISE)


def _report(
    module: nn.Module, sink: Sink, kept: list[dict[str, Tensor] | None], batch: int, steps: int
) -> None:
    """Send the kept gates and hidden states of every layer to the record block."""
    parts = {
        (what, layer, 0): value
        for layer, run in enumerate(kept)
        for what, value in (run or {}).items()
        if sink.wants(what, layer)
    }
    meta = {
        "num_layers": len(kept),
        "num_directions": 1,
        "lengths": None,
        "batch_size": batch,
        "time_steps": steps,
    }
    sink.emit(module, "reset_before_gru", parts, meta)


RESET_BEFORE_GRU = register_cell(
    CellKind(
        "reset_before_gru",
        GATES,
        tanh_gates=("new",),
        modules=(ResetBeforeGRU,),
        recording="self",
        label="GRU (reset before)",
    )
)
