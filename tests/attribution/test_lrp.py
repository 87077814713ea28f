"""LRP through the gates: against a step-by-step numpy implementation of Arras et al. (2017).

The reference below is written from the paper's equations, not from explainr's code: the
rule for a neuron z_j = sum_i z_i w_ij + b_j is

    R_{i<-j} = (z_i w_ij + delta (eps sign(z_j) + b_j) / N) / (z_j + eps sign(z_j)) R_j

(delta = 0: bias and stabiliser relevance absorbed; delta = 1: shared by the N inputs),
applied one window, one step and one unit at a time with explicit message matrices; the
cell state c_t = f c_{t-1} + i g is a two-input neuron per unit, gated products pass all
relevance to the signal (c_{t-1}, g, tanh(c_t)), and h_t = o tanh(c_t) passes it to c_t.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr.nn import PeepholeLSTM


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def lrp_linear(hin, w, b, hout, rout, n, eps, delta):
    """Messages R_{i<-j} summed over j: hin (D,), w (D, M), b (M,), hout (M,), rout (M,)."""
    sign = np.where(hout >= 0, 1.0, -1.0)
    numer = hin[:, None] * w + delta * (eps * sign + b)[None, :] / n
    messages = numer / (hout + eps * sign)[None, :] * rout[None, :]
    absorbed = (1 - delta) * np.sum((eps * sign + b) / (hout + eps * sign) * rout)
    return messages.sum(axis=1), absorbed


def layer_params(rnn: nn.Module, layer: int, direction: int) -> dict[str, np.ndarray]:
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    p = {n: getattr(rnn, n + suffix).detach().double().numpy() for n in ("weight_ih", "weight_hh")}
    p["bias"] = (getattr(rnn, "bias_ih" + suffix) + getattr(rnn, "bias_hh" + suffix)).detach()
    p["bias"] = p["bias"].double().numpy()
    if isinstance(rnn, PeepholeLSTM):
        for g in ("ci", "cf", "co"):
            p[g] = getattr(rnn, f"weight_{g}{suffix}").detach().double().numpy()
    return p


def lstm_forward(p: dict, xs: np.ndarray) -> dict[str, list[np.ndarray]]:
    """One window, one layer and direction: xs (T, E) in the direction's time order."""
    hidden = p["weight_hh"].shape[1]
    h, c = np.zeros(hidden), np.zeros(hidden)
    out: dict[str, list] = {
        k: [] for k in ("i", "f", "g", "o", "g_pre", "c", "h", "c_prev", "h_prev")
    }
    for x in xs:
        pre = p["weight_ih"] @ x + p["weight_hh"] @ h + p["bias"]
        a_i, a_f, a_g, a_o = np.split(pre, 4)
        if "ci" in p:
            a_i, a_f = a_i + p["ci"] * c, a_f + p["cf"] * c
        i, f, g = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g)
        out["c_prev"].append(c)
        out["h_prev"].append(h)
        c = f * c + i * g
        if "co" in p:
            a_o = a_o + p["co"] * c
        o = sigmoid(a_o)
        h = o * np.tanh(c)
        for k, v in zip(
            ("i", "f", "g", "o", "g_pre", "c", "h"), (i, f, g, o, a_g, c, h), strict=True
        ):
            out[k].append(v)
    return out


def lstm_lrp(p, xs, fwd, r_h_given, eps, delta):
    """Relevance on xs (T, E), on h0 + c0, and the absorbed relevance of one layer."""
    steps, inputs = xs.shape
    hidden = p["weight_hh"].shape[1]
    w_g = np.concatenate(
        [p["weight_ih"][2 * hidden : 3 * hidden], p["weight_hh"][2 * hidden : 3 * hidden]], axis=1
    ).T
    b_g = p["bias"][2 * hidden : 3 * hidden]
    r_x = np.zeros((steps, inputs))
    r_h_next, r_c_next = np.zeros(hidden), np.zeros(hidden)
    absorbed = 0.0
    for t in reversed(range(steps)):
        r_c = r_c_next + r_h_next + r_h_given[t]
        r_fc, r_ig = np.zeros(hidden), np.zeros(hidden)
        for j in range(hidden):  # c_j = (f c_prev)_j + (i g)_j: a two-input neuron
            hin = np.array([fwd["f"][t][j] * fwd["c_prev"][t][j], fwd["i"][t][j] * fwd["g"][t][j]])
            rin, lost = lrp_linear(
                hin,
                np.ones((2, 1)),
                np.zeros(1),
                fwd["c"][t][j : j + 1],
                r_c[j : j + 1],
                2,
                eps,
                delta,
            )
            r_fc[j], r_ig[j] = rin
            absorbed += lost
        hin = np.concatenate([xs[t], fwd["h_prev"][t]])
        rin, lost = lrp_linear(hin, w_g, b_g, fwd["g_pre"][t], r_ig, inputs + hidden, eps, delta)
        absorbed += lost
        r_x[t] = rin[:inputs]
        r_h_next, r_c_next = rin[inputs:], r_fc
    return r_x, float(np.sum(r_h_next) + np.sum(r_c_next)), absorbed


def reference_lrp(model: nn.Module, x: torch.Tensor, eps: float, delta: float):
    """(values (B, T, F), initial (B,), absorbed (B,), prediction (B,)) for `Net` below."""
    rnn, head = model.rnn, model.head
    directions = 2 if getattr(rnn, "bidirectional", False) else 1
    hidden = rnn.hidden_size
    results = []
    for window in x.double().numpy():
        seqs, fwds = [window], []
        for layer in range(rnn.num_layers):
            row = []
            for d in range(directions):
                xs = seqs[-1][::-1] if d else seqs[-1]
                row.append(
                    (layer_params(rnn, layer, d), xs, lstm_forward(layer_params(rnn, layer, d), xs))
                )
            fwds.append(row)
            hs = [
                np.array(f[2]["h"])[::-1] if d else np.array(f[2]["h"]) for d, f in enumerate(row)
            ]
            seqs.append(np.concatenate(hs, axis=1))
        top = seqs[-1][-1]  # output[:, -1]
        w, b = head.weight.detach().double().numpy(), head.bias.detach().double().numpy()
        out = w @ top + b
        r_top, absorbed = lrp_linear(top, w.T, b, out, out, top.size, eps, delta)
        initial = 0.0
        given = np.zeros((len(window), directions * hidden))
        given[-1] = r_top
        for layer in reversed(range(rnn.num_layers)):
            r_in = 0.0
            for d, (p, xs, fwd) in enumerate(fwds[layer]):
                r_h = given[:, d * hidden : (d + 1) * hidden]
                r_h = r_h[::-1] if d else r_h
                r_x, r0, lost = lstm_lrp(p, xs, fwd, r_h, eps, delta)
                r_in = r_in + (r_x[::-1] if d else r_x)
                initial += r0
                absorbed += lost
            given = r_in
        results.append((given, initial, absorbed, out[0]))
    return tuple(np.array(v) for v in zip(*results, strict=True))


class Net(nn.Module):
    def __init__(self, rnn: nn.Module, use: str = "output") -> None:
        super().__init__()
        self.rnn = rnn
        width = rnn.hidden_size * (2 if getattr(rnn, "bidirectional", False) else 1)
        self.head = nn.Linear(width, 1)
        self.use = use

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, state = self.rnn(x)
        if self.use == "h_n":  # (fx traces a tuple as a proxy: no isinstance on it here)
            h_n = state[0] if isinstance(self.rnn, nn.LSTM) else state
            return self.head(h_n[-1])
        return self.head(out[:, -1])


CASES = {
    "lstm bidirectional": lambda: nn.LSTM(3, 4, batch_first=True, bidirectional=True),
    "lstm 2 layers": lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True),
    "peephole 2 layers": lambda: PeepholeLSTM(3, 4, num_layers=2, batch_first=True),
    "lstm 2 layers bidirectional": lambda: nn.LSTM(
        3, 4, num_layers=2, batch_first=True, bidirectional=True
    ),
}


@pytest.mark.parametrize("bias", ["absorbed", "redistributed"])
@pytest.mark.parametrize("case", list(CASES))
def test_lrp_equals_numpy_reference(case: str, bias: str) -> None:
    torch.manual_seed(3)
    model = Net(CASES[case]()).double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    a = explainr.attribute(model, x, "lrp", lrp_bias=bias, progress=False)
    values, initial, absorbed, prediction = reference_lrp(
        model, x, 1e-3, float(bias == "redistributed")
    )
    np.testing.assert_allclose(a.values, values, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.settings["initial_state_relevance"], initial, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.settings["absorbed_relevance"], absorbed, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.prediction, prediction, rtol=1e-9)
    total = (
        a.values.sum(axis=(1, 2))
        + a.settings["initial_state_relevance"]
        + a.settings["absorbed_relevance"]
    )
    np.testing.assert_allclose(total, a.prediction, atol=1e-6)
    assert a.settings["eps"] == 1e-3 and a.settings["bias"] == bias


def test_reference_is_not_trivial() -> None:
    """The two bias treatments differ, and absorbed relevance is a real share."""
    torch.manual_seed(3)
    model = Net(CASES["lstm 2 layers"]()).double().eval()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    absorbed = explainr.attribute(model, x, "lrp", progress=False)
    shared = explainr.attribute(model, x, "lrp", lrp_bias="redistributed", progress=False)
    assert np.abs(absorbed.values - shared.values).max() > 1e-4
    assert np.abs(absorbed.settings["absorbed_relevance"]).max() > 1e-3
    assert shared.settings["absorbed_relevance"] == [0.0, 0.0]


@pytest.mark.parametrize("bias", ["absorbed", "redistributed"])
@pytest.mark.parametrize(
    "rnn",
    [
        lambda: nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True),
        lambda: nn.GRU(3, 4, batch_first=True),
        lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True),
    ],
)
def test_conservation(rnn, bias: str) -> None:
    torch.manual_seed(5)
    model = Net(rnn()).double().eval()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    a = explainr.attribute(model, x, "lrp", lrp_bias=bias, progress=False)
    total = (
        a.values.sum(axis=(1, 2))
        + a.settings["initial_state_relevance"]
        + a.settings["absorbed_relevance"]
    )
    np.testing.assert_allclose(total, model(x)[:, 0].detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_h_n_head_equals_output_head(kind) -> None:
    """h_n[-1] and output[:, -1] are the same state: LRP through either path agrees."""
    torch.manual_seed(6)
    via_output = Net(kind(3, 5, num_layers=2, batch_first=True)).double().eval()
    via_h_n = Net(via_output.rnn, use="h_n").double().eval()
    via_h_n.head = via_output.head
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    a = explainr.attribute(via_output, x, "lrp", progress=False)
    b = explainr.attribute(via_h_n, x, "lrp", progress=False)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


class TimeMajor(nn.Module):
    """nn.LSTM with batch_first=False behind a permute, a ReLU head and an output scaling."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 5)
        self.hidden = nn.Linear(5, 4)
        self.out = nn.Linear(4, 2)
        self.register_buffer("scale", torch.tensor(2.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.rnn(x.permute(1, 0, 2))
        return self.out(torch.relu(self.hidden(seq[-1]))) * self.scale + 1.0


def test_layout_activations_and_scaling() -> None:
    torch.manual_seed(7)
    model = TimeMajor().double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    a = explainr.attribute(model, x, "lrp", target=1, lrp_bias="redistributed", progress=False)
    np.testing.assert_allclose(
        a.values.sum(axis=(1, 2)) + a.settings["initial_state_relevance"],
        model(x)[:, 1].detach().numpy(),
        atol=1e-6,
    )
    b = explainr.attribute(model, x, "lrp", target=1, progress=False)
    total = b.values.sum(axis=(1, 2)) + b.settings["absorbed_relevance"]
    np.testing.assert_allclose(total, model(x)[:, 1].detach().numpy(), atol=1e-6)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True)
        self.score = nn.Linear(4, 1)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.rnn(x)
        weights = torch.softmax(self.score(seq), dim=1)
        return self.head((weights * seq).sum(dim=1))


class Normed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 4, batch_first=True)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.rnn(x)[0][:, -1]))


class Vanilla(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(3, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


class UsesCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[1][1][-1])


@pytest.mark.parametrize("method", ["lrp", "contextual_decomposition"])
@pytest.mark.parametrize(
    ("model", "named"),
    [
        (Attention, "combines 2 values"),
        (Normed, "'norm' (LayerNorm)"),
        (Vanilla, "'rnn' (RNN)"),
        (UsesCell, "cell state c_n"),
    ],
)
def test_unsupported_structure_is_named(method: str, model, named: str) -> None:
    m = model().train()
    x = torch.randn(2, 5, 3)
    with pytest.raises(explainr.ExplainrError, match=named.replace("(", r"\(").replace(")", r"\)")):
        explainr.attribute(m, x, method, progress=False)
    assert m.training  # the user's model is left as it was
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_bad_options() -> None:
    model = Net(nn.LSTM(3, 4, batch_first=True))
    x = torch.randn(2, 5, 3)
    with pytest.raises(explainr.ExplainrError, match="lrp_bias"):
        explainr.attribute(model, x, "lrp", lrp_bias="spread", progress=False)
    with pytest.raises(explainr.ExplainrError, match="lrp_eps"):
        explainr.attribute(model, x, "lrp", lrp_eps=-1.0, progress=False)


class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0][:, -1]
        if out.sum() > 0:  # a Python branch on values: torch.fx cannot follow it
            out = -out
        return self.head(out)


def test_untraceable_model_is_an_explainr_error() -> None:
    with pytest.raises(explainr.ExplainrError, match=r"torch\.fx could not trace Branching"):
        explainr.attribute(Branching(), torch.randn(2, 5, 3), "lrp", progress=False)


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_forward_keeps_what_pytorch_cells_compute(kind) -> None:
    """The runs LRP and CD propagate through (hidden sequences from the fused kernel, gates
    recomputed batched, LSTM cell states scanned) equal nn.LSTMCell / nn.GRUCell stepped one
    step at a time on the same weights, every layer and direction."""
    from explainr.attribution._recurrent import forward, recurrent_of

    torch.manual_seed(3)
    rnn = kind(3, 5, num_layers=2, batch_first=True, bidirectional=True).double()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    (output, _), runs = forward(recurrent_of(rnn, "rnn", "lrp"), x)
    expected_output, _ = rnn(x)
    assert torch.allclose(output, expected_output, atol=1e-12)
    seq = x
    for layer in range(2):
        outs = []
        for d in range(2):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            cell_kind = nn.LSTMCell if kind is nn.LSTM else nn.GRUCell
            cell = cell_kind(seq.shape[-1], 5).double()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).data.copy_(getattr(rnn, name + suffix))
            inp = seq.flip(1) if d else seq
            h = torch.zeros(4, 5, dtype=torch.float64)
            c = torch.zeros_like(h)
            hs = []
            for t in range(9):
                if kind is nn.LSTM:
                    pre = inp[:, t] @ cell.weight_ih.T + h @ cell.weight_hh.T
                    pre = pre + cell.bias_ih + cell.bias_hh
                    gates = dict(zip("ifgo", pre.chunk(4, dim=-1), strict=True))
                    h, c = cell(inp[:, t], (h, c))
                    found = runs[layer][d].values
                    for k in "ifo":
                        assert torch.allclose(found[k][:, t], torch.sigmoid(gates[k]), atol=1e-12)
                    assert torch.allclose(found["g_pre"][:, t], gates["g"], atol=1e-12)
                    assert torch.allclose(found["g"][:, t], torch.tanh(gates["g"]), atol=1e-12)
                    assert torch.allclose(found["c"][:, t], c, atol=1e-12)
                else:
                    s = h @ cell.weight_hh[10:].T + cell.bias_hh[10:]
                    h = cell(inp[:, t], h)
                    assert torch.allclose(runs[layer][d].values["s"][:, t], s, atol=1e-12)
                assert torch.allclose(runs[layer][d].values["h"][:, t], h, atol=1e-12)
                hs.append(h)
            outs.append(torch.stack(hs, dim=1).flip(1) if d else torch.stack(hs, dim=1))
        seq = torch.cat(outs, dim=-1)
