"""What the whisper program (``tests/torch_style/whisper_model.py``) met, against torch 2.13:

- ``register_buffer("alignment_heads", mask.to_sparse(), persistent=False)`` raised TypeError (a sparse COO tensor
  is not a Tensor here). A sparse buffer is now kept: it is listed by ``named_buffers`` / ``buffers`` /
  ``_buffers``, saved by ``state_dict`` when persistent (detached, still sparse), and ``to`` / ``half`` / ``double``
  rebuild it (float values cast, bool and integer ones kept, as torch's ``_apply``).
- whisper's ``Conv1d`` overrides ``_conv_forward(x, weight, bias)`` to cast the weight to the input's dtype; ours
  had no ``_conv_forward`` and its ``forward`` never called one, so the override was silently skipped (a different
  number wherever an override changes the weight; here a float16 input through float32 weights raised). ``forward``
  now calls ``self._conv_forward(x, self.weight, self.bias)`` as torch's Conv1d / 2d / 3d do.
- timing.py-style code checks ``module._forward_hooks`` (and clears or reassigns it); ours had no such attribute
  (AttributeError). ``_forward_hooks`` / ``_forward_pre_hooks`` / ``_backward_hooks`` / ``_backward_pre_hooks``
  are now the live hook dicts.
- a float16 ``layer_norm`` computed its statistics in float16: a row whose variance passes 65504 (a spread of a
  few hundred) normalised to the bias alone, silently (torch: the statistics in float32, e.g. [0, 0, 0, 6e4] ->
  about (-0.58, -0.58, -0.58, 1.73) before the affine). They are now computed in float32.
- ``layer_norm`` under float16 weights with a float32 input (what ``model.half()`` gives whisper's LayerNorm, which
  normalises ``x.float()``) computed silently where torch's CPU raises "mixed dtype (CPU)"; now the parameters must
  have the input's dtype, or float32 under a float16 input (torch's mixed case, whose values agree), else
  RuntimeError.

Mutations (each makes a test here fail): ``register_buffer`` rejecting a SparseCOOTensor again; ``_own_buffers``
skipping sparse values; ``_apply`` skipping sparse buffers; ``_ConvNd.forward`` calling the convolution directly;
the ``_forward_hooks`` property removed; ``_check_mixed_dtypes`` returning at once; ``layer_norm``'s float16
statistics back in float16."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e-30, 3e38, np.inf, -np.inf, 65504.0])


def matrices() -> st.SearchStrategy[np.ndarray]:
    """Small 2-D arrays (empty ones included) of bool, int64 or float32 with many zeros and extreme values."""
    def build(shape: tuple[int, int], dtype: str, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        values = rng.choice([0.0, 0.0, 1.0, -2.5, 3e38, -np.inf, 1e-30], size=shape)
        return values.astype(bool) if dtype == "bool" else np.nan_to_num(values.clip(-9, 9)).astype(np.int64) % 7 \
            if dtype == "int64" else values.astype(np.float32)
    return st.builds(build, st.tuples(st.integers(0, 4), st.integers(0, 4)), st.sampled_from(["bool", "int64",
                     "float32"]), st.integers(0, 2 ** 16))


class Holder:
    """A module with a sparse buffer, in each library."""

    @staticmethod
    def make(lib, array: np.ndarray, persistent: bool):
        module = lib.nn.Linear(2, 2)
        module.register_buffer("heads", lib.from_numpy(array.copy()).to_sparse(), persistent=persistent)
        return module


@settings(deadline=None, max_examples=40)
@given(matrices(), st.booleans(), st.sampled_from(["half", "double", "float", "to64"]))
def test_sparse_buffer_is_kept_listed_saved_and_cast_as_torch(array: np.ndarray, persistent: bool, cast: str) -> None:
    results = []
    for lib in (torch, tg):
        module = Holder.make(lib, array, persistent)
        names = [n for n, _ in module.named_buffers()]
        assert names == ["heads"] and module._buffers["heads"] is module.heads
        assert len(list(module.buffers())) == 1
        state = module.state_dict()
        assert ("heads" in state) == persistent
        if persistent:
            assert state["heads"].is_sparse
            np.testing.assert_array_equal(state["heads"].to_dense().numpy(), array)
        getattr(module, cast)() if cast != "to64" else module.to(lib.float64)
        heads = module.heads
        assert heads.is_sparse and tuple(heads.shape) == array.shape
        results.append((str(heads.dtype).split(".")[-1], heads.coalesce().indices().numpy(),
                        heads.to_dense().numpy(), str(module.weight.dtype).split(".")[-1]))
    (dt, it, vt, wt), (do, io, vo, wo) = results
    assert do == dt and wo == wt
    np.testing.assert_array_equal(io, it)
    np.testing.assert_array_equal(vo, vt)


@pytest.mark.parametrize("dims", [1, 2, 3])
@settings(deadline=None, max_examples=15)
@given(scale=st.sampled_from([0.0, -1.0, 2.0, 1e-20, 1e20]), mode=st.sampled_from(["zeros", "reflect", "circular"]),
       seed=st.integers(0, 2 ** 16), batch=st.integers(0, 2))
def test_conv_forward_goes_through_an_overridden_conv_forward(dims: int, scale: float, mode: str, seed: int,
                                                               batch: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 2, *(5,) * dims)).astype(np.float32)
    outs, weights = [], {}
    for lib in (torch, tg):
        base = getattr(lib.nn, f"Conv{dims}d")

        class Scaled(base):  # whisper's pattern: the override hands super() a changed weight
            def _conv_forward(self, x, weight, bias):
                return super()._conv_forward(x, weight * scale, None if bias is None else bias * scale)

        lib.manual_seed(0)
        conv = Scaled(2, 3, 3, padding=1, padding_mode=mode)
        if lib is tg:
            conv.load_state_dict(weights)
        weights.update({k: v.detach().numpy() for k, v in conv.state_dict().items()})
        outs.append(conv(lib.from_numpy(x)).detach().numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6 * max(1.0, abs(scale)))


def test_conv1d_casting_weights_to_a_float16_input_as_whisper() -> None:
    x = np.random.default_rng(1).standard_normal((2, 4, 6)).astype(np.float16)
    outs, weights = [], {}
    for lib in (torch, tg):
        class Conv1d(lib.nn.Conv1d):
            def _conv_forward(self, x, weight, bias):
                return super()._conv_forward(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))

        conv = Conv1d(4, 3, kernel_size=3, stride=2, padding=1)
        if lib is tg:
            conv.load_state_dict(weights)
        weights.update({k: v.detach().numpy() for k, v in conv.state_dict().items()})
        out = conv(lib.from_numpy(x))
        assert str(out.dtype).endswith("float16") and conv.weight.dtype in (torch.float32, np.float32)
        outs.append(out.detach().numpy())
    np.testing.assert_allclose(outs[1].astype(np.float32), outs[0].astype(np.float32), rtol=0, atol=4e-3)


@pytest.mark.parametrize("kind", ["_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"])
def test_hook_dicts_are_the_live_tables(kind: str) -> None:
    register = {"_forward_hooks": "register_forward_hook", "_forward_pre_hooks": "register_forward_pre_hook",
                "_backward_hooks": "register_full_backward_hook",
                "_backward_pre_hooks": "register_full_backward_pre_hook"}[kind]
    seen: dict[str, list[int]] = {}
    for lib in (torch, tg):
        calls: list[int] = []
        module = lib.nn.Linear(2, 2)
        assert not getattr(module, kind) and len(getattr(module, kind)) == 0
        hooks = [getattr(module, register)(lambda *a, i=i, calls=calls: calls.append(i)) for i in range(3)]
        assert len(getattr(module, kind)) == 3 and next(iter(getattr(module, kind).values())) is not None
        hooks[1].remove()
        assert len(getattr(module, kind)) == 2
        x = lib.ones(1, 2, requires_grad=True)
        module(x).sum().backward()
        getattr(module, kind).clear()
        module(x).sum().backward()
        getattr(module, register)(lambda *a, calls=calls: calls.append(9))
        setattr(module, kind, OrderedDict())  # reassigned: no hook left
        module(x).sum().backward()
        assert not getattr(module, kind)
        seen[lib.__name__] = calls
    assert seen["tinygrad_adam"] == seen["torch"] == [0, 2]


DTYPES = ["float16", "float32", "float64"]


@pytest.mark.parametrize("row", [[0.0, 0.0, 0.0, 6e4], [-300.0, 300.0, 0.0, 1.0], [1000.0, -1000.0, 500.0, 0.0]])
@pytest.mark.parametrize("w_dtype", ["float16", "float32"])
def test_float16_layer_norm_statistics_in_float32(row: list, w_dtype: str) -> None:
    """A float16 row whose variance passes float16's largest number (65504) normalises as torch's (which computes
    the statistics in float32); ours gave the bias alone (an infinite variance), silently. (A constant float16 row
    is left out: torch's float16 kernel rounds its mean, so [6e4] * 4 normalises to 0.99 there, 0 here.)"""
    w, b = np.array([1.0, -2.0, 0.5, 3.0]), np.array([0.25, 0.0, -1.0, 2.0])
    outs = [lib.nn.functional.layer_norm(lib.from_numpy(np.array([row], np.float16)), (4,),
                                         lib.from_numpy(w.astype(w_dtype)), lib.from_numpy(b.astype(w_dtype)))
            .numpy().astype(np.float32) for lib in (torch, tg)]
    np.testing.assert_allclose(outs[1], outs[0], rtol=2e-3, atol=2e-3)


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES + [None]), st.sampled_from(DTYPES + [None]),
       st.integers(0, 3), st.lists(VALUES, min_size=4, max_size=4), st.integers(0, 2 ** 16))
def test_layer_norm_parameter_dtypes_as_torch_cpu(x_dtype: str, w_dtype: str | None, b_dtype: str | None, rows: int,
                                                  extremes: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4)) * 3
    if rows:
        x[0] = np.clip(extremes, -6e4, 6e4)  # extreme rows (inf / huge / tiny) included
        assume(x_dtype != "float16" or len(set(x[0])) > 1)  # torch's float16 kernel rounds a constant row's mean
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    outs = []
    for lib in (torch, tg):
        def make(a: np.ndarray, dtype: str | None, lib=lib):
            return None if dtype is None else lib.from_numpy(a.astype(dtype))
        try:
            out = lib.nn.functional.layer_norm(make(x, x_dtype), (4,), make(w, w_dtype), make(b, b_dtype))
            outs.append((str(out.dtype).split(".")[-1], out.numpy().astype(np.float64)))
        except RuntimeError as e:
            assert any(w in str(e) for w in ("mixed dtype", "expected scalar type", "parameters of other dtypes")), e
            outs.append(None)
    assert (outs[0] is None) == (outs[1] is None), (x_dtype, w_dtype, b_dtype, outs)
    if outs[0] is not None:
        assert outs[1][0] == outs[0][0]
        tol = {"float16": 2e-3, "float32": 2e-5, "float64": 1e-12}[x_dtype]
        np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=tol, atol=tol)
