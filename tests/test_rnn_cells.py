"""nn.RNNCell / LSTMCell / GRUCell against torch's: the same weights (torch's state_dict loaded), outputs and the
gradients of a weighted sum of them with respect to the input, the state and every parameter, over generated sizes
(batch 0 and unbatched inputs too), biases, nonlinearities, dtypes, given or default states and inputs large enough
to saturate tanh and sigma; the refusals; repr and state_dict keys; a cell stepped over a sequence is its layer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

torch = pytest.importorskip("torch")

OURS = {"RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
MODERATE = st.floats(-3, 3, width=32)
SATURATING = MODERATE | st.sampled_from([-30.0, 30.0])  # 30 (times a weight) saturates tanh and sigma
RTOL = {np.float32: 1e-5, np.float64: 1e-10}


def run(lib: Any, cell: Any, x0: np.ndarray, h0: list[np.ndarray] | None, w0: list[np.ndarray]) -> list[np.ndarray]:
    """The cell's outputs (h', and c' for LSTMCell), then the gradients of sum(out * w) with respect to the input,
    the given states and the parameters."""
    x = lib.tensor(x0, requires_grad=True)
    states = [] if h0 is None else [lib.tensor(h, requires_grad=True) for h in h0]
    hx = None if h0 is None else tuple(states) if len(states) == 2 else states[0]
    out = cell(x, hx)
    outs = list(out) if isinstance(out, tuple) else [out]
    sum((o * lib.tensor(w)).sum() for o, w in zip(outs, w0, strict=True)).backward()
    return ([o.detach().numpy() for o in outs] + [t.grad.numpy() for t in (x, *states)]
            + [p.grad.numpy() for p in cell.parameters()])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, ...]:
    kind, dtype = draw(st.sampled_from(list(OURS))), draw(st.sampled_from([np.float32, np.float64]))
    n_in, hidden = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    batch = draw(st.sampled_from([None, 0, 1, 2, 3, 4]))  # None: an unbatched input
    kw: dict[str, Any] = {"bias": draw(st.booleans())}
    if kind == "RNNCell":
        kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    lead = () if batch is None else (batch,)
    values = draw(st.sampled_from([MODERATE, SATURATING]))

    def array(size: int) -> np.ndarray:
        return draw(hnp.arrays(dtype, (*lead, size), elements=values))

    n_states = 2 if kind == "LSTMCell" else 1
    h0 = [array(hidden) for _ in range(n_states)] if draw(st.booleans()) else None
    return kind, kw, dtype, array(n_in), h0, [array(hidden) for _ in range(n_states)], draw(st.integers(0, 2**16))


@settings(max_examples=300, deadline=None)
@given(cases())
def test_matches_torch(case: tuple[Any, ...]) -> None:
    kind, kw, dtype, x0, h0, w0, seed = case
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(x0.shape[-1], w0[0].shape[-1], **kw, dtype=getattr(torch, np.dtype(dtype).name))
    ours = OURS[kind](x0.shape[-1], w0[0].shape[-1], **kw, dtype=dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    # atol: rtol times the largest magnitude an output (m, c's) or a gradient (m^3, w c x) can reach, m the largest
    # datum. A saturated gate that torch and numpy round an ulp apart (float32 tanh(7.8999): torch 1 - 2.98e-7,
    # numpy 1 - 2.38e-7) has derivatives 20% apart, an error of an ulp times w c x where the gradient is ~0.
    m = max(1.0, *(float(np.abs(a).max(initial=0)) for a in [x0, *(h0 or []), *w0]))
    for i, (o, t) in enumerate(zip(run(tg, ours, x0, h0, w0), run(torch, theirs, x0, h0, w0), strict=True)):
        assert o.dtype == t.dtype and o.shape == t.shape, i
        scale = m if i < len(w0) else m**3
        np.testing.assert_allclose(o, t, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, err_msg=str(i))


BAD_STATES = [  # (input shape, a state's shape, what our message says), each refused by torch too
    ((2, 3), (3, 4), r"of shape \(2, 4\) \(the input's batch, hidden_size\), got \(3, 4\)"),
    ((2, 3), (2, 5), r"of shape \(2, 4\) .*got \(2, 5\)"),
    ((2, 3), (4,), r"of shape \(2, 4\) .*got \(4,\)"),
    ((3,), (1, 4), r"of shape \(4,\) .*got \(1, 4\)"),
    ((2, 3), (1, 2, 4), r"of shape \(2, 4\) .*got \(1, 2, 4\)"),
]


@pytest.mark.parametrize("kind", list(OURS))
def test_refusals(kind: str) -> None:
    ours, theirs = OURS[kind](3, 4), getattr(torch.nn, kind)(3, 4)
    for shape in [(2, 2, 3), (), (2, 5), (5,), (0, 2)]:
        with pytest.raises(ValueError, match=rf"{kind}: expected input of shape \(N, 3\) or unbatched \(3,\), got"):
            ours(tg.zeros(*shape))
        with pytest.raises((ValueError, RuntimeError)):
            theirs(torch.zeros(shape))
    for x_shape, h_shape, message in BAD_STATES:
        good = (*x_shape[:-1], 4)
        if kind == "LSTMCell":  # h wrong, then c wrong
            for i, shapes in enumerate([(h_shape, good), (good, h_shape)]):
                with pytest.raises(ValueError, match=rf"LSTMCell: expected hx\[{i}\] " + message):
                    ours(tg.zeros(*x_shape), tuple(tg.zeros(*s) for s in shapes))
                with pytest.raises((ValueError, RuntimeError)):
                    theirs(torch.zeros(x_shape), tuple(torch.zeros(s) for s in shapes))
        else:
            with pytest.raises(ValueError, match=rf"{kind}: expected hx " + message):
                ours(tg.zeros(*x_shape), tg.zeros(*h_shape))
            with pytest.raises((ValueError, RuntimeError)):
                theirs(torch.zeros(x_shape), torch.zeros(h_shape))
    with pytest.raises(TypeError, match="must share a dtype"):  # torch: RuntimeError (mat1 and mat2 ... dtype)
        ours(tg.zeros(2, 3, dtype=tg.float64))
    for size in (0, -1, 2.5):
        with pytest.raises(ValueError, match=rf"{kind}: hidden_size must be a positive int, got {size}"):
            OURS[kind](3, size)
        with pytest.raises(ValueError, match=rf"{kind}: input_size must be a positive int, got {size}"):
            OURS[kind](size, 3)


def test_lstm_state_must_be_a_pair() -> None:
    lstm, x, h = LSTMCell(3, 4), tg.zeros(2, 3), tg.zeros(2, 4)
    for hx, got in ((h, "a Tensor"), ((h,), "a tuple of 1"), ([h, h, h], "a list of 3")):
        with pytest.raises(ValueError, match=rf"LSTMCell: hx must be a pair \(h, c\), got {got}$"):
            lstm(x, hx)
    with pytest.raises(TypeError, match=r"LSTMCell: hx must hold Tensors, got a NoneType"):
        lstm(x, (h, None))
    with pytest.raises(TypeError, match=r"GRUCell: hx must hold Tensors, got a ndarray"):
        GRUCell(3, 4)(x, np.zeros((2, 4)))
    h1, c1 = lstm(x, [h, h])  # a list as torch
    assert h1.shape == c1.shape == (2, 4)


def test_where_torch_differs() -> None:
    """torch accepts these; ours refuses them up front."""
    with pytest.raises(ValueError, match="RNNCell: unknown nonlinearity 'sigmoid'; use 'tanh' or 'relu'"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(RuntimeError, match="Unknown nonlinearity: sigmoid"):  # torch: only when called
        torch.nn.RNNCell(3, 4, nonlinearity="sigmoid")(torch.zeros(2, 3))
    assert torch.nn.GRUCell(3, 0)(torch.zeros(2, 3)).shape == (2, 0)  # ours: sizes must be positive (above)
    assert torch.nn.GRUCell(0, 3)(torch.zeros(2, 0)).shape == (2, 3)
    # an unbatched input with a (1, 1) state: torch unsqueezes the state to (1, 1, 1) and, with hidden_size 1,
    # returns a (1, 1) state (any other hidden_size is refused)
    assert torch.nn.RNNCell(3, 1)(torch.zeros(3), torch.zeros(1, 1)).shape == (1, 1)
    with pytest.raises(ValueError, match=r"RNNCell: expected hx of shape \(1,\) .*got \(1, 1\)"):
        RNNCell(3, 1)(tg.zeros(3), tg.zeros(1, 1))


@pytest.mark.parametrize(("kind", "kw"), [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
                                          ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
                                          ("GRUCell", {"bias": False})])
def test_repr_keys_shapes_and_init_match_torch(kind: str, kw: dict[str, Any]) -> None:
    ours, theirs = OURS[kind](3, 4, **kw), getattr(torch.nn, kind)(3, 4, **kw)
    assert ours.extra_repr() == theirs.extra_repr()
    assert repr(ours).split("  #")[0] == repr(theirs)  # ours adds a comment with the parameters' shapes
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in
                                                                  theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert (ours.bias_ih is None) == (ours.bias_hh is None) == (kw.get("bias") is False)
    for p in ours.parameters():  # U(-1/2, 1/2): 1/sqrt(hidden_size)
        assert p.dtype == np.float32 and np.abs(p.numpy()).max() <= 0.5 and np.unique(p.numpy()).size == p.size


@pytest.mark.parametrize(("layer", "cell"), [(RNN, RNNCell), (LSTM, LSTMCell), (GRU, GRUCell)])
def test_cell_stepped_over_a_sequence_is_the_layer(layer: Any, cell: Any) -> None:
    rnn, step = layer(3, 4, dtype=np.float64), cell(3, 4, dtype=np.float64)
    step.load_state_dict({k.removesuffix("_l0"): v for k, v in rnn.state_dict().items()})
    x = tg.randn(5, 2, 3, dtype=tg.float64)
    out, _ = rnn(x)
    state = None
    for t in range(5):
        state = step(x[t], state)
        np.testing.assert_array_equal((state[0] if layer is LSTM else state).numpy(), out[t].numpy())
