"""Recording from several threads at once, and the forms of record()'s arguments."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from torch.nn.modules import rnn as torch_rnn

import explainr
from explainr import ExplainrError

from .rnn_reference import rnn_reference


def test_two_threads_record_their_own_modules() -> None:
    torch.manual_seed(0)
    models = [nn.LSTM(3, 6, num_layers=2, batch_first=True), nn.GRU(3, 5, batch_first=True)]
    xs = [torch.randn(2, 40, 3) for _ in models]
    original_vf = torch_rnn._VF
    results: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def work(k: int) -> None:
        with explainr.record(models[k]) as rec:
            barrier.wait()
            for _ in range(20):
                models[k](xs[k])
        results[k] = rec.trace

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch_rnn._VF is original_vf
    for k, model in enumerate(models):
        trace = results[k]
        assert len(trace.calls("")) == 20
        ref = rnn_reference(model, xs[k])
        for layer in range(model.num_layers):
            torch.testing.assert_close(
                trace[""].hidden(layer), ref.hidden[layer, 0].float(), atol=1e-5, rtol=0
            )


def test_single_string_and_int_arguments() -> None:
    model = nn.Sequential()
    model.add_module("enc", nn.LSTM(2, 3, num_layers=2, batch_first=True))
    with explainr.record(model, modules="enc", gates="forget", states="cell", layers=1) as rec:
        model(torch.randn(1, 4, 2))
    assert sorted(rec.trace["enc"].keys()) == ["cell/l1/d0", "gate/forget/l1/d0"]
    assert rec.trace.get("enc") is rec.trace["enc"]
    assert rec.trace.get("nope") is None


def test_layer_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(ExplainrError, match="at most 2 layer"):
        explainr.record(nn.LSTM(2, 3, num_layers=2), layers=(5,))
