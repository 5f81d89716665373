"""nn.RNN / LSTM / GRU against torch's: the same weights (torch's state_dict loaded), outputs, final states and
every gradient, over generated layer counts, directions, layouts, biases and initial states."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.nn.recurrent import GRU, LSTM, RNN

torch = pytest.importorskip("torch")

OURS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}


def run(lib: Any, layer: Any, x0: np.ndarray, h0: Any, kind: str) -> list[np.ndarray]:
    x = lib.tensor(x0, requires_grad=True)
    hx = None
    if h0 is not None:
        hx = tuple(lib.tensor(h, requires_grad=True) for h in h0) if kind == "LSTM" else lib.tensor(h0[0],
                                                                                                    requires_grad=True)
    out, state = layer(x, hx)
    states = list(state) if kind == "LSTM" else [state]
    loss = (out * lib.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))).sum()
    for s in states:
        loss = loss + (s * s).sum()
    loss.backward()
    inputs = [x] + ([] if hx is None else list(hx) if kind == "LSTM" else [hx])
    return ([out.detach().numpy()] + [s.detach().numpy() for s in states] + [t.grad.numpy() for t in inputs]
            + [p.grad.numpy() for p in layer.parameters()])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["RNN", "LSTM", "GRU"]), st.integers(1, 3), st.booleans(), st.booleans(), st.booleans(),
       st.booleans(), st.booleans(), st.integers(0, 4), st.integers(1, 3), st.sampled_from(["tanh", "relu"]),
       st.sampled_from([0, 1, 3]))
def test_matches_torch(kind: str, layers: int, bidirectional: bool, batch_first: bool, bias: bool, unbatched: bool,
                       with_h0: bool, steps: int, batch: int, nonlinearity: str, proj: int) -> None:
    kw: dict[str, Any] = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first,
                          "bias": bias}
    if kind == "RNN":
        kw["nonlinearity"] = nonlinearity
    proj = proj if kind == "LSTM" else 0  # LSTM's projection of h (weight_hr_l*), to proj features
    if proj:
        kw["proj_size"] = proj
    theirs = getattr(torch.nn, kind)(3, 4, **kw).double()
    ours = OURS[kind](3, 4, **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(steps * 7 + batch)
    shape = (steps, 3) if unbatched else (batch, steps, 3) if batch_first else (steps, batch, 3)
    x0 = rng.standard_normal(shape)
    n_state = layers * (2 if bidirectional else 1)
    h0 = [rng.standard_normal((n_state, size) if unbatched else (n_state, batch, size))
          for size in ([proj or 4, 4] if kind == "LSTM" else [4])] if with_h0 else None
    if steps == 0:
        with pytest.raises(RuntimeError):
            theirs(torch.tensor(x0))
        with pytest.raises(ValueError, match="sequence length is 0"):
            ours(tg.tensor(x0))
        return
    for o, t in zip(run(tg, ours, x0, h0, kind), run(torch, theirs, x0, h0, kind), strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-12)


def test_inter_layer_dropout_only_in_training_and_errors() -> None:
    tg.manual_seed(0)
    lstm = LSTM(2, 3, num_layers=2, dropout=0.5)
    x = tg.randn(5, 1, 2)
    lstm.eval()
    a, b = lstm(x)[0].numpy(), lstm(x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    lstm.train()
    assert not np.allclose(lstm(x)[0].numpy(), a)
    with pytest.raises(ValueError, match=r"expected input \(L, N, 2\)"):
        lstm(tg.randn(5, 1, 3))
    with pytest.raises(ValueError, match="hidden state of shape"):
        GRU(2, 3)(x, tg.zeros(2, 1, 3))
    with pytest.raises(ValueError, match=r"proj_size must be an int in \[0, hidden_size=3\)"):
        LSTM(2, 3, proj_size=3)
    with pytest.raises(ValueError, match="proj_size is only supported for LSTM"):
        GRU(2, 3, proj_size=1)
    with pytest.raises(ValueError, match=r"hidden state of shape \(1, 1, 2\)"):
        LSTM(2, 3, proj_size=2)(x, (tg.zeros(1, 1, 3), tg.zeros(1, 1, 3)))
