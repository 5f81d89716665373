"""What the recommender / MDN program (``tests/torch_style/recsys_mdn.py``) met, against torch 2.13:

- A dense tensor minus a sparse gradient with the operator (``w - g``, ``p.data = p.data - lr * p.grad`` after
  ``embedding(sparse=True)``) is torch's dense ``w.sub(g)``; ours raised (the method worked, the operator did not).
  A number or a tensor of another shape minus a sparse gradient still raises, as torch's.
- torch's layers make their first weights by calling ``self.reset_parameters()`` at the end of ``__init__``, so a
  subclass overriding it (spotlight's ``ScaledEmbedding`` / ``ZeroEmbedding``, a ``Linear`` with its own init)
  starts from its own weights, and ``for m in model.modules(): if hasattr(m, 'reset_parameters'):
  m.reset_parameters()`` re-initialises a model. Ours had no ``reset_parameters`` on Linear, the convolutions,
  Bilinear, Embedding / EmbeddingBag, the norms, PReLU or the recurrent layers: the override was silently ignored
  (N(0, 1) embeddings where the program asked for N(0, 1/dim) or zeros) and the re-initialisation loop silently did
  nothing. An Embedding given its table (``_weight``, ``from_pretrained``) is not reset, as torch's.

Mutations run (each made the tests below fail, then was reverted):
- ``SparseGrad.__rsub__`` removed, ``rsub`` back in the refused list: ``w - g`` raises again.
- ``__rsub__`` returning ``self.__add__(other)`` (w + g): the listed rows differ.
- ``__rsub__`` accepting any ``other`` (no array check): ``2 - g``'s refusal names ``+``, not ``-``.
- Linear's ``__init__`` calling ``default_init_`` instead of ``self.reset_parameters()``: the subclass test fails.
- Embedding resetting a given ``_weight`` too: ``from_pretrained`` of the subclass loses the table.
- BatchNorm's ``reset_parameters`` without ``reset_running_stats``: the running statistics stay.
- Embedding's ``reset_parameters`` without zeroing the ``padding_idx`` row.
- RNNCellBase's ``__init__`` calling ``RNNBase.reset_parameters(self)`` directly: the cells' subclass tests fail.
- PReLU's ``__init__`` without ``self.reset_parameters()``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from test_word2vec_fixes import LIBS, SCALARS, SETTINGS, lookups, same_bits, sparse_grad

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FORMS = {"minus": lambda p, g, lr: p - g, "minus_scaled": lambda p, g, lr: p - lr * g,
         "minus_data": lambda p, g, lr: p - g.data}


@pytest.mark.parametrize("form", FORMS)
@SETTINGS
@given(case=lookups(), lr=SCALARS)
def test_dense_minus_sparse_gradient_as_torch(form: str, case: tuple, lr: float) -> None:
    outs = []
    for lib in LIBS.values():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (inf * 0 in the lookup's product, in both)
            w = sparse_grad(lib, *case)
            outs.append(FORMS[form](w.data, w.grad, lr))
    theirs, ours = outs
    assert not ours.is_sparse
    same_bits(ours, theirs)


@pytest.mark.parametrize("lib", LIBS)
def test_number_or_other_shape_minus_sparse_gradient_raises(lib: str) -> None:
    w = sparse_grad(LIBS[lib], np.ones((4, 2), np.float32), np.array([1, 1, 3]), np.ones((3, 2), np.float32))
    bad: list[Any] = [lambda: 2 - w.grad, lambda: w.data[:2] - w.grad]
    for expr in bad:
        with pytest.raises((TypeError, ValueError, RuntimeError)):
            expr()
    if lib == "ours":  # the refusal names the operator written
        with pytest.raises(TypeError, match=r": - is not supported here; call \.to_dense\(\)"):
            bad[0]()


# ------------------------------------------------------------------ reset_parameters
def _layers(lib: Any) -> dict[str, tuple[type, tuple, dict]]:
    """The layers whose ``__init__`` calls ``reset_parameters`` in torch, with small constructor arguments."""
    nn = lib.nn
    return {"Linear": (nn.Linear, (3, 2), {}), "Conv1d": (nn.Conv1d, (2, 2, 3), {}),
            "Conv2d": (nn.Conv2d, (1, 2, 2), {}), "Conv3d": (nn.Conv3d, (1, 1, 2), {}),
            "ConvTranspose2d": (nn.ConvTranspose2d, (2, 1, 2), {}),
            "ConvTranspose1d": (nn.ConvTranspose1d, (2, 1, 2), {}), "Bilinear": (nn.Bilinear, (2, 3, 1), {}),
            "Embedding": (nn.Embedding, (5, 2), {"padding_idx": 1}),
            "EmbeddingBag": (nn.EmbeddingBag, (5, 2), {"padding_idx": 0}), "LayerNorm": (nn.LayerNorm, (3,), {}),
            "GroupNorm": (nn.GroupNorm, (1, 2), {}), "BatchNorm1d": (nn.BatchNorm1d, (3,), {}),
            "InstanceNorm1d": (nn.InstanceNorm1d, (3,), {"affine": True, "track_running_stats": True}),
            "RNN": (nn.RNN, (2, 3), {"num_layers": 2}), "LSTM": (nn.LSTM, (2, 3), {"bidirectional": True}),
            "GRU": (nn.GRU, (2, 3), {}), "RNNCell": (nn.RNNCell, (2, 3), {}), "LSTMCell": (nn.LSTMCell, (2, 3), {}),
            "GRUCell": (nn.GRUCell, (2, 3), {}), "PReLU": (nn.PReLU, (3, 0.1), {}), "RMSNorm": (nn.RMSNorm, (3,), {})}


def _constant_subclass(lib: Any, base: type) -> type:
    """spotlight's ``ScaledEmbedding`` / ``ZeroEmbedding`` pattern: a layer whose own ``reset_parameters`` makes
    its first weights (each parameter filled with its index + 0.5)."""

    class Constant(base):
        def reset_parameters(self) -> None:
            for i, p in enumerate(self.parameters()):
                p.data.fill_(i + 0.5)
    return Constant


def _state(m: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name", sorted(_layers(torch)))
def test_a_subclass_reset_parameters_makes_the_first_weights(name: str) -> None:
    states = []
    for lib in LIBS.values():
        cls, args, kwargs = _layers(lib)[name]
        states.append(_state(_constant_subclass(lib, cls)(*args, **kwargs)))
    theirs, ours = states
    assert ours.keys() == theirs.keys()
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("name", sorted(_layers(torch)))
def test_reset_parameters_reinitialises_as_torch(name: str) -> None:
    """``for m in model.modules(): if hasattr(m, 'reset_parameters'): m.reset_parameters()``: every layer has it;
    the ones / zeros of the norm layers (and their running statistics) come back exactly, the random draws within
    torch's bounds, the padding row zeroed."""
    cls, args, kwargs = _layers(tg)[name]
    m = cls(*args, **kwargs)
    before = _state(m)
    for p in m.parameters():
        p.data.fill_(7.0)
    if hasattr(m, "running_mean"):
        m.train()
        m(tg.randn(4, 3, 2) if name == "InstanceNorm1d" else tg.randn(4, 3))
    m.reset_parameters()
    after = _state(m)
    for key, value in after.items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")) or name.endswith("Norm") or \
                name.startswith(("BatchNorm", "InstanceNorm", "PReLU")):
            np.testing.assert_array_equal(value, before[key], err_msg=key)  # deterministic: exactly as made
        else:
            bound = 5.0 if name.startswith("Embedding") else 1.0  # N(0, 1); the others uniform within 1/sqrt(fan)
            assert not (value == 7.0).any() and np.abs(value).max() <= bound, key
    if name.startswith("Embedding"):
        assert not after["weight"][kwargs["padding_idx"]].any()


@pytest.mark.parametrize("lib", LIBS)
def test_a_given_table_is_not_reset(lib: str) -> None:
    """``Embedding(..., _weight=w)`` / ``from_pretrained``: torch does not call ``reset_parameters``."""
    library = LIBS[lib]
    table = library.tensor(np.arange(6.0, dtype=np.float32).reshape(3, 2))
    for cls in (library.nn.Embedding, library.nn.EmbeddingBag):
        layer = _constant_subclass(library, cls).from_pretrained(table, padding_idx=0)
        assert layer.weight.detach().numpy().tolist() == [[0, 1], [2, 3], [4, 5]]
