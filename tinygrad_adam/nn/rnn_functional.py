"""torch's low-level recurrent functions (``torch.lstm_cell``, ``torch.gru_cell``, ``torch.rnn_tanh_cell``,
``torch.rnn_relu_cell`` and the whole-sequence ``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu``): the layers' math (``recurrent.py``'s step functions and layer loop) on weights passed in.

The cells take a batched input (N, input_size) and state (N, H), as torch's; the sequence forms take torch's flat
``params`` list, per layer and direction ``w_ih, w_hh[, b_ih, b_hh][, w_hr]`` (an ``nn.LSTM``'s
``_flat_weights`` order), and a time-major (L, N, input_size) input (``batch_first``: (N, L, input_size)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tensor import Tensor
from . import functional as F
from .recurrent import GATES, GRU, LSTM, RNN, RNNBase, gru_step, lstm_step, rnn_step


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
                  b_hh: Tensor | None = None) -> Tensor:
    """One Elman step: tanh(input w_ih^T + b_ih + hx w_hh^T + b_hh), input (N, input_size), hx (N, H) -> (N, H)."""
    _check_cell("rnn_tanh_cell", input, [hx], w_ih, w_hh, b_ih, b_hh, 1)
    return rnn_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh, "tanh")


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
                  b_hh: Tensor | None = None) -> Tensor:
    """One Elman step with relu: relu(input w_ih^T + b_ih + hx w_hh^T + b_hh), (N, H)."""
    _check_cell("rnn_relu_cell", input, [hx], w_ih, w_hh, b_ih, b_hh, 1)
    return rnn_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh, "relu")


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (gates r, z, n: w_ih (3H, input_size), w_hh (3H, H)): input (N, input_size), hx (N, H) ->
    (N, H)."""
    _check_cell("gru_cell", input, [hx], w_ih, w_hh, b_ih, b_hh, 3)
    return gru_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh)


def lstm_cell(input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor,  # noqa: A002 - torch's name
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (gates i, f, g, o: w_ih (4H, input_size), w_hh (4H, H)): input (N, input_size), hx the pair
    (h, c), each (N, H) -> (h', c')."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise ValueError("lstm_cell: hx must be the two hidden states (h, c)")
    _check_cell("lstm_cell", input, list(hx), w_ih, w_hh, b_ih, b_hh, 4)
    return lstm_step(F.linear(input, w_ih, b_ih), hx[0], hx[1], w_hh, b_hh)


def _check_cell(name: str, input: Tensor, states: list[Tensor], w_ih: Tensor, w_hh: Tensor,  # noqa: A002
                b_ih: Tensor | None, b_hh: Tensor | None, gates: int) -> None:
    """torch's checks of a cell's arguments: input (N, input_size), each state (N, H), w_ih (gates*H, input_size),
    w_hh (gates*H, H), biases (gates*H,)."""
    if input.ndim != 2 or any(s.ndim != 2 for s in states):
        raise ValueError(f"{name}: expected input (N, input_size) and hidden state (N, H), got {input.shape} and "
                         f"{[s.shape for s in states]} (torch's cells take batched inputs only)")
    n, hidden = input.shape[0], states[0].shape[1]
    for i, s in enumerate(states):
        if s.shape != (n, hidden):
            raise ValueError(f"{name}: expected hidden{i} of shape {(n, hidden)} (the input's batch, hidden_size), "
                             f"got {s.shape}")
    rows = gates * hidden
    for what, t, shape in (("w_ih", w_ih, (rows, input.shape[1])), ("w_hh", w_hh, (rows, hidden)),
                           ("b_ih", b_ih, (rows,)), ("b_hh", b_hh, (rows,))):
        if t is not None and t.shape != shape:
            raise ValueError(f"{name}: expected {what} of shape {shape} ({gates} * hidden_size {hidden} rows, for "
                             f"input {input.shape}), got {t.shape}")


def rnn_tanh(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
             dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """``nn.RNN``'s forward on these weights: (output (L, N, D*H), h_n (D*num_layers, N, H))."""
    return _sequence("RNN_TANH", input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                     batch_first)


def rnn_relu(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
             dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """``nn.RNN(nonlinearity="relu")``'s forward on these weights: (output, h_n)."""
    return _sequence("RNN_RELU", input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                     batch_first)


def gru(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
        dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """``nn.GRU``'s forward on these weights: (output (L, N, D*H), h_n (D*num_layers, N, H))."""
    return _sequence("GRU", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)


def lstm(input: Tensor, hx: Sequence[Tensor], params: Sequence[Tensor], has_biases: bool,  # noqa: A002
         num_layers: int, dropout: float, train: bool, bidirectional: bool,
         batch_first: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``nn.LSTM``'s forward on these weights, hx = (h_0, c_0): (output, h_n, c_n). With projections (h_0's last
    dim P smaller than c_0's H) each layer and direction has a fifth weight w_hr (P, H)."""
    out, (h, c) = _sequence("LSTM", input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                            batch_first)
    return out, h, c


def _sequence(mode: str, input: Tensor, hx: Any, params: Sequence[Tensor], has_biases: bool,  # noqa: A002
              num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Any, Any]:
    """The layer of ``mode`` with these weights (made without ``__init__``, so no parameters are drawn), run."""
    name = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}.get(mode, mode.lower())
    if not isinstance(input, Tensor):
        raise NotImplementedError(f"{name}: only the (input, hx, params, ...) form is supported; for packed data "
                                  f"run the nn.{mode.split('_')[0]} layer on the PackedSequence")
    if input.ndim != 3:
        raise ValueError(f"{name}: expected a batched input (L, N, input_size) (or (N, L, ...) with batch_first), "
                         f"got shape {input.shape}")
    states = list(hx) if mode == "LSTM" else [hx]
    if mode == "LSTM" and len(states) != 2:
        raise ValueError("lstm: hx must be the pair (h_0, c_0)")
    proj = mode == "LSTM" and states[0].shape[-1] != states[1].shape[-1]
    per_layer = 2 + 2 * bool(has_biases) + proj
    n_dir = 2 if bidirectional else 1
    if len(params) != per_layer * num_layers * n_dir:
        raise ValueError(f"{name}: expected {per_layer * num_layers * n_dir} weights ({per_layer} per layer and "
                         f"direction, {num_layers} layers, {n_dir} directions), got {len(params)}")
    layer = object.__new__({"LSTM": LSTM, "GRU": GRU}.get(mode, RNN))
    hidden = params[0].shape[0] // GATES[mode]
    layer.__dict__.update(mode=mode, input_size=params[0].shape[1], hidden_size=hidden, num_layers=num_layers,
                          bias=bool(has_biases), batch_first=batch_first, dropout=float(dropout),
                          bidirectional=bidirectional, proj_size=states[0].shape[-1] if proj else 0,
                          training=bool(train))
    names = ["weight_ih", "weight_hh"] + ["bias_ih", "bias_hh"] * bool(has_biases) + ["weight_hr"] * proj
    for k in range(num_layers * n_dir):
        suffix = f"_l{k // n_dir}" + ("_reverse" if k % n_dir else "")
        for i, weight in enumerate(names):
            layer.__dict__[weight + suffix] = params[k * per_layer + i]
    return RNNBase._run(layer, input, hx)
