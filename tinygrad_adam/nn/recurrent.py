"""Recurrent layers as torch's: ``RNN``, ``LSTM``, ``GRU``, with torch's argument names, weight names and layouts
(``weight_ih_l0`` (gates * hidden, input), ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse`` for
the backward direction), so a torch checkpoint loads as it is; and their one-step cells ``RNNCell``, ``LSTMCell``,
``GRUCell`` (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``). Layers and cells share the step functions
``rnn_step``, ``lstm_step``, ``gru_step``.

Each layer and direction is one loop over time: the input's contribution to every step is one GEMM before the
loop, the hidden state's one small GEMM per step; backward runs through the recorded graph (backpropagation
through time). Gates, in torch's order: LSTM i, f, g, o; GRU r, z, n.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import Any

from .. import backend
from ..creation import zeros
from ..ops import movement
from ..tensor import Array, Tensor
from . import functional as F
from . import init
from .module import Module, Parameter
from .rnn_utils import PackedSequence, pack_with_order, pad_packed_sequence

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RecurrentDtypeError(ValueError, TypeError, RuntimeError):
    """An input of another dtype than an RNN / LSTM / GRU's weights: torch's ValueError (its LSTM on a packed batch:
    a RuntimeError), and a TypeError."""


class RecurrentShapeError(ValueError, RuntimeError):
    """An input or hidden state of the wrong shape for a recurrent layer or cell (or an empty sequence): torch
    raises a RuntimeError; a ValueError too, what this module raised before."""


class RNNBase(Module):
    """The layers' shared part: parameters, input layouts, the layer/direction loop and inter-layer dropout.
    As torch's ``nn.RNNBase(mode, input_size, hidden_size, ...)`` (``mode`` "RNN_TANH", "RNN_RELU", "LSTM" or
    "GRU") it makes the parameters of that mode; like torch's, it has no ``forward`` of its own (RNN, LSTM and GRU
    run ``_run``)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: str | None = None, dtype: Any = None) -> None:
        if mode not in GATES:
            raise ValueError(f"{type(self).__name__}: unrecognized RNN mode {mode!r}; use one of {list(GATES)}")
        self.mode = mode
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:  # (TypeError for a non-int, as torch)
                raise (ValueError if isinstance(value, int) else TypeError)(
                    f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        for name, flag in (("bias", bias), ("batch_first", batch_first)):  # torch's check (a string is truthy)
            if not isinstance(flag, bool):
                raise TypeError(f"{type(self).__name__}: {name} takes True or False, got {type(flag).__name__}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} has no effect with num_layers={num_layers}: it applies between stacked "
                          f"layers only, never after the last one",
                          UserWarning, stacklevel=3)
        if proj_size and self.mode != "LSTM":
            raise ValueError(f"{type(self).__name__}: proj_size is only supported for LSTM (as torch)")
        if not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{type(self).__name__}: proj_size must be an int in [0, hidden_size={hidden_size}), "
                             f"got {proj_size!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        self.proj_size = proj_size
        gates, out = GATES[self.mode] * hidden_size, proj_size or hidden_size  # out: the size of h
        self._flat_weights_names: list[str] = []  # torch's: every parameter's name, layer by layer, as made
        for layer in range(num_layers):
            for suffix in ("", "_reverse") if bidirectional else ("",):
                width = input_size if layer == 0 else out * (2 if bidirectional else 1)
                shapes = {"weight_ih": (gates, width), "weight_hh": (gates, out)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                if proj_size:
                    shapes.update(weight_hr=(proj_size, hidden_size))
                for name, shape in shapes.items():
                    setattr(self, f"{name}_l{layer}{suffix}", Parameter(zeros(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(f"{name}_l{layer}{suffix}")
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The parameters named by ``_flat_weights_names``, in that order (as torch's)."""
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def _all_weights(self) -> list[list[str]]:
        """torch's: the parameter names grouped by layer and direction (``[["weight_ih_l0", ...], ...]``)."""
        groups: dict[str, list[str]] = {}
        for name in self._flat_weights_names:
            groups.setdefault(name[name.rindex("_l"):], []).append(name)
        return list(groups.values())

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """torch's: the parameters grouped by layer and direction, each group in ``_flat_weights_names`` order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in +-1/sqrt(hidden_size), as torch's (``__init__`` calls it, so a
        subclass's own ``reset_parameters`` makes the first weights)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """torch's cuDNN layout call: nothing to do here."""

    def _weights(self, layer: int, suffix: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        name = f"l{layer}{suffix}"
        return (getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}"),
                getattr(self, f"bias_ih_{name}", None), getattr(self, f"bias_hh_{name}", None))

    def cell(self, xw: Tensor, h: Tensor, state: Any, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Any]:
        """One step: ``xw`` the input's part of the gates (N, gates*H), ``h`` (N, H); returns (h', state')."""
        return rnn_step(xw, h, w_hh, b_hh, "relu" if self.mode == "RNN_RELU" else "tanh"), None

    def _run(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple[Any, Any]:  # noqa: A002 - torch's
        """RNN / LSTM / GRU's forward: input (L, N, input_size), (N, L, input_size) with ``batch_first``, unbatched
        (L, input_size), or a ``PackedSequence`` -> (output (L, N, D*H) in the input's layout (packed like the
        input), h_n (D*num_layers, N, H)); LSTM's state is (h, c) both ways (with ``proj_size`` P, h and the output
        have P features, c H). A packed batch's outputs stop at each sequence's length and its h_n is taken at each
        sequence's last step (for the reverse direction: its first)."""
        if isinstance(input, PackedSequence):
            padded, lengths = pad_packed_sequence(input)  # (L, N, input_size), the batch's original order
            self._check_input(padded)
            out, state = self._layers(padded, hx, False, backend.to_device(lengths.numpy(), padded.device))
            packed = pack_with_order(out, lengths.numpy(), None if input.sorted_indices is None
                                     else input.sorted_indices.numpy())
            # the input's own batch_sizes and index tensors, as torch's (the same objects, not copies)
            return packed._replace(batch_sizes=input.batch_sizes, sorted_indices=input.sorted_indices,
                                   unsorted_indices=input.unsorted_indices), state
        unbatched = input.ndim == 2
        self._check_input(input)
        if input.shape[1 if self.batch_first and not unbatched else 0] == 0:
            raise RecurrentShapeError(f"{type(self).__name__}: the sequence length is 0 (input shape "
                                      f"{input.shape}); torch refuses it too")
        x = movement.unsqueeze(input, 1) if unbatched else (
            movement.transpose(input, (1, 0, 2)) if self.batch_first else input)
        x, state = self._layers(x, hx, unbatched, None)
        out = movement.squeeze(x, (1,)) if unbatched else (movement.transpose(x, (1, 0, 2)) if self.batch_first
                                                             else x)
        if unbatched:
            state = tuple(movement.squeeze(s, (1,)) for s in state) if self.mode == "LSTM" else \
                movement.squeeze(state, (1,))
        return out, state

    def _check_input(self, input: Tensor) -> None:  # noqa: A002 - torch's name
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise RecurrentShapeError(f"{type(self).__name__}: expected input (L, N, {self.input_size}) (or "
                                      f"unbatched (L, {self.input_size})), got shape {input.shape}")
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:  # torch's ValueError (a TypeError too, what the linear check raised before)
            raise RecurrentDtypeError(f"{type(self).__name__} input dtype ({input.dtype}) does not match weight "
                                      f"dtype ({weight.dtype}): convert the input with .to({weight.dtype}) or the "
                                      f"model with .to({input.dtype})")

    def _layers(self, x: Tensor, hx: Any, unbatched: bool, lengths: Array | None) -> tuple[Tensor, Any]:
        """Every layer over the time-major x (L, N, input_size): (output (L, N, D*H), h_n or (h_n, c_n), each
        (D*num_layers, N, H)). With ``lengths`` (N,) the state stops changing past each sequence's end."""
        n_dir = 2 if self.bidirectional else 1
        h0, c0 = self._initial(hx, x, unbatched, n_dir)
        running = None if lengths is None else Tensor(  # (L, N, 1): step t is a real step of sequence n
            x.xp.arange(x.shape[0])[:, None, None] < lengths[None, :, None], device=x.device)
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:n_dir]):
                k = layer * n_dir + d
                seq, h, c = self._direction(x, layer, suffix, h0[k], None if c0 is None else c0[k], running)
                outs.append(seq)
                last_h.append(h)
                last_c.append(c)
            x = outs[0] if n_dir == 1 else movement.concatenate(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        h_n = movement.stack(last_h, 0)
        return x, ((h_n, movement.stack(last_c, 0)) if self.mode == "LSTM" else h_n)

    def _initial(self, hx: Any, x: Tensor, unbatched: bool, n_dir: int) -> tuple[Any, Any]:
        """(h0, c0) as (D*num_layers, N, H) each (h0's last dim proj_size if set; c0 None except for LSTM); zeros
        when ``hx`` is None."""
        shapes = [(n_dir * self.num_layers, x.shape[1], size) for size in (self.proj_size or self.hidden_size,
                                                                           self.hidden_size)]
        if hx is None:
            zero = [zeros(*shape, dtype=x.dtype, device=x.device) for shape in shapes]
            return zero[0], (zero[1] if self.mode == "LSTM" else None)
        states = tuple(hx) if self.mode == "LSTM" else (hx, None)
        if self.mode == "LSTM" and len(states) != 2:
            raise ValueError("LSTM: hx must be a pair (h_0, c_0)")
        fixed = []
        for s, shape in zip(states, shapes):
            if s is not None:
                s = movement.unsqueeze(s, 1) if unbatched else s
                if s.shape != shape:
                    raise RecurrentShapeError(f"{type(self).__name__}: expected hidden state of shape "
                                              f"{shape[:1] + shape[2:] if unbatched else shape}, got {s.shape}")
            fixed.append(s)
        return fixed[0], fixed[1]

    def _direction(self, x: Tensor, layer: int, suffix: str, h: Tensor, c: Tensor | None,
                   running: Tensor | None) -> tuple[Tensor, Tensor, Any]:
        """Run one layer in one direction over x (L, N, width): (outputs (L, N, H) in time order, h_n, c_n).
        Where ``running[t]`` (N, 1) is False the state is carried through unchanged (a packed batch's padding: the
        reverse direction then starts each sequence at its own last step from the initial state)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
        w_hr = getattr(self, f"weight_hr_l{layer}{suffix}", None)
        xw = F.linear(x, w_ih, b_ih)  # every step's input part at once: (L, N, gates*H)
        steps = range(x.shape[0] - 1, -1, -1) if suffix else range(x.shape[0])
        outs: list[Tensor] = [None] * x.shape[0]  # type: ignore[list-item]
        for t in steps:
            h_next, c_next = self.cell(xw[t], h, c, w_hh, b_hh)
            if w_hr is not None:  # LSTM's projection: h' = W_hr h'
                h_next = F.linear(h_next, w_hr)
            if running is None:
                h, c = h_next, c_next
            else:
                h = F.where(running[t], h_next, h)
                c = None if c is None else F.where(running[t], c_next, c)
            outs[t] = h
        return movement.stack(outs, 0), h, c

    def extra_repr(self) -> str:
        extras = "".join(f", {k}={v!r}" for k, v, default in (  # torch's order: proj_size first
            ("proj_size", self.proj_size, 0), ("num_layers", self.num_layers, 1), ("bias", self.bias, True),
            ("batch_first", self.batch_first, False), ("dropout", self.dropout, 0.0),
            ("bidirectional", self.bidirectional, False)) if v != default)
        return f"{self.input_size}, {self.hidden_size}{extras}"


class RNN(RNNBase):
    """Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"`` for relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: str | None = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    forward = RNNBase._run


class LSTM(RNNBase):
    """LSTM: gates i, f, g, o = sigma, sigma, tanh, sigma of (x W_ih^T + b_ih + h W_hh^T + b_hh);
    c' = f c + i g; h' = o tanh(c'), then (``proj_size`` P > 0) h' W_hr^T with ``weight_hr_l*`` (P, H). The state
    is the pair (h, c)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    forward = RNNBase._run

    def cell(self, xw: Tensor, h: Tensor, c: Any, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Any]:
        return lstm_step(xw, h, c, w_hh, b_hh)


class GRU(RNNBase):
    """GRU: r = sigma(x_r + h_r), z = sigma(x_z + h_z), n = tanh(x_n + r * h_n), h' = (1 - z) n + z h, where
    x_* and h_* are the gate's parts of x W_ih^T + b_ih and h W_hh^T + b_hh."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    forward = RNNBase._run

    def cell(self, xw: Tensor, h: Tensor, c: Any, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Any]:
        return gru_step(xw, h, w_hh, b_hh), None


# ---------------------------------------------------------------- one step, shared by the layers and the cells
# xw: the input's part of the gates, x W_ih^T + b_ih (..., gates*H); h, c: (..., H) (any leading dims, none too).


def rnn_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh") -> Tensor:
    """Elman step: h' = tanh (or relu) of xw + h W_hh^T + b_hh, (..., H)."""
    hw = F.linear(h, w_hh, b_hh)
    return (F.relu if nonlinearity == "relu" else F.tanh)(xw + hw)


def lstm_step(xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """LSTM step, gates i, f, g, o of xw + h W_hh^T + b_hh (..., 4H): (h', c') = (o tanh(c'), f c + i g), each
    (..., H), with sigma on i, f, o and tanh on g."""
    i, f, g, o = _chunks(xw + F.linear(h, w_hh, b_hh), 4)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    return F.sigmoid(o) * F.tanh(c), c


def gru_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU step, gates r, z, n (..., 3H) in xw and in h W_hh^T + b_hh: h' = (1 - z) n + z h, (..., H)."""
    x_r, x_z, x_n = _chunks(xw, 3)
    h_r, h_z, h_n = _chunks(F.linear(h, w_hh, b_hh), 3)
    r, z = F.sigmoid(x_r + h_r), F.sigmoid(x_z + h_z)
    n = F.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


# ---------------------------------------------------------------- the cells: one step of one layer
class RNNCellBase(Module):
    """The cells' shared part (torch's ``nn.RNNCellBase(input_size, hidden_size, bias, num_chunks)``, no forward):
    parameters ``weight_ih`` (num_chunks*H, input_size), ``weight_hh`` (num_chunks*H, H) and, with ``bias``,
    ``bias_ih``, ``bias_hh`` (num_chunks*H,) (None without), all U(-1/sqrt(H), 1/sqrt(H)); the checks
    of the input and of the state."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: str | None = None,
                 dtype: Any = None) -> None:
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        rows = num_chunks * self.hidden_size
        self.weight_ih = Parameter(zeros(rows, self.input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(zeros(rows, self.hidden_size, dtype=dtype, device=device))
        self.register_parameter("bias_ih", Parameter(zeros(rows, dtype=dtype, device=device)) if bias else None)
        self.register_parameter("bias_hh", Parameter(zeros(rows, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _start(self, input: Tensor, hx: Any, n_states: int) -> tuple[Tensor, list[Tensor]]:  # noqa: A002
        """Check input (N, input_size) or (input_size,) and the ``n_states`` states of hx, each (N, H) or (H,) as
        the input (zeros when hx is None): (the input's part of the gates, the states)."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise RecurrentShapeError(f"{name}: expected input of shape (N, {self.input_size}) or unbatched "
                                      f"({self.input_size},), got {input.shape}")
        shape = (*input.shape[:-1], self.hidden_size)
        if hx is None:
            states = [zeros(*shape, dtype=input.dtype, device=input.device)] * n_states
        elif n_states == 1:
            states = [hx]
        elif isinstance(hx, (tuple, list)) and len(hx) == n_states:
            states = list(hx)
        else:
            got = f"a {type(hx).__name__}" + (f" of {len(hx)}" if isinstance(hx, (tuple, list)) else "")
            raise ValueError(f"{name}: hx must be a pair (h, c), got {got}")
        for i, s in enumerate(states):
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: hx must hold Tensors, got a {type(s).__name__}")
            if s.shape != shape:
                raise RecurrentShapeError(f"{name}: expected {'hx' if n_states == 1 else f'hx[{i}]'} of shape "
                                          f"{shape} (the input's batch, hidden_size), got "
                                          f"{getattr(s, 'shape', type(s).__name__)}")
        return F.linear(input, self.weight_ih, self.bias_ih), states

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (f", bias={self.bias}" if self.bias is not True else "")


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"`` for relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: str | None = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002 - torch's name
        """input (N, input_size) or unbatched (input_size,), hx (N, H) or (H,) (None: zeros) -> h' (N, H) or
        (H,)."""
        xw, (h,) = self._start(input, hx, 1)
        return rnn_step(xw, h, self.weight_hh, self.bias_hh, self.nonlinearity)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTMCell(RNNCellBase):
    """One LSTM step, gates i, f, g, o (the rows of ``weight_ih`` (4H, input_size) in that order):
    c' = f c + i g, h' = o tanh(c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        """input (N, input_size) or unbatched (input_size,), hx a pair (h, c), each (N, H) or (H,) (None: zeros)
        -> (h', c') of the same shapes."""
        xw, (h, c) = self._start(input, hx, 2)
        return lstm_step(xw, h, c, self.weight_hh, self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step, gates r, z, n (the rows of ``weight_ih`` (3H, input_size) in that order):
    n = tanh(x_n + r * h_n), h' = (1 - z) n + z h."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002 - torch's name
        """input (N, input_size) or unbatched (input_size,), hx (N, H) or (H,) (None: zeros) -> h' (N, H) or
        (H,)."""
        xw, (h,) = self._start(input, hx, 1)
        return gru_step(xw, h, self.weight_hh, self.bias_hh)


def _chunks(t: Tensor, k: int) -> list[Tensor]:
    """The k equal pieces of t's last dim."""
    size = t.shape[-1] // k
    return [t[..., i * size:(i + 1) * size] for i in range(k)]
