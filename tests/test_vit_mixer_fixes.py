"""What the ViT / MLP-Mixer program (``tests/torch_style/vit_mixer.py``) met, against torch 2.13: ViT code built on
``nn.TransformerEncoder`` (pre-norm, ``batch_first``) gets torch's UserWarning that ``enable_nested_tensor`` is
True but the layer cannot take the nested-tensor path, with the first reason torch finds, and ``use_nested_tensor``
False; ours warned nothing. ``clip_grad_norm_`` of a gradient holding inf (an overflowed step) scales by 0, giving
nan there, silently in torch; ours added numpy's "invalid value encountered in multiply" RuntimeWarning (an error
under ``-W error``). ``register_full_backward_pre_hook`` (Grad-CAM / attention-gradient code) was missing
(AttributeError); and a full backward hook on a module whose inputs want no gradient (a model's first layer) fires
from the outputs' gradients with torch's UserWarning saying so, which ours left out.

Mutations run (each made the test below fail, then was restored):
- the warning removed from ``TransformerEncoder.__init__``
- the ``norm_first`` and ``batch_first`` reasons swapped in order
- ``isinstance(activation, ReLU | GELU)`` dropped (an ``nn.GELU()`` activation then warned)
- ``num_heads % 2 == 1`` read as ``== 0``
- the ``norm1.eps != norm2.eps`` reason dropped
- the ``numpy.errstate(invalid="ignore")`` around ``scale_to_norm_``'s product removed
- the "Full backward hook is firing ..." warning removed from ``_Outputs.backward``
- a backward pre-hook's returned grad_output not taken (``grads = tuple(new)`` dropped)
- the pre-hook's length check removed
- the gradients routed through the identity nodes only when full backward hooks exist (not for pre-hooks alone)"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ACTIVATIONS = ("relu", "gelu", "ReLU()", "GELU()", "GELU('tanh')", "tanh")


def activation(lib: object, name: str) -> object:
    if name == "tanh":
        return lib.tanh
    if name.endswith(")"):
        cls, arg = name[:-1].split("(")
        return getattr(lib.nn, cls)(*([arg.strip("'")] if arg else []))
    return name


# each reason a layer stays off the nested-tensor path: (words in torch's warning, words in ours)
REASONS = {"layer type": ("was not TransformerEncoderLayer", "is not a TransformerEncoderLayer"),
           "norm_first": ("norm_first was True", "norm_first=True"),
           "batch_first": ("batch_first was not True", "is not batch_first"),
           "qkv sizes": ("_qkv_same_embed_dim was not True", "key / value sizes"),
           "bias": ("was passed bias=False", "has bias=False"),
           "activation": ("activation_relu_or_gelu was not True", "neither relu nor gelu"),
           "eps": ("norm1.eps was not equal", "different eps"),
           "odd heads": ("num_heads is odd", "odd number of heads")}


def reason_of(message: str, lib: object) -> str:
    """The REASONS key a nested-tensor warning of ``lib`` names (the message itself when it is not one)."""
    side = 0 if lib is torch else 1
    found = [key for key, words in REASONS.items() if words[side] in message and "nested_tensor" in message]
    return found[0] if len(found) == 1 else message


def encoder_warnings(lib: object, layer_kw: dict, nested: bool, custom: bool, eps2: float | None) -> tuple[list, bool]:
    """The warnings (category, the reason named (REASONS), file) of building a 2-layer encoder, and its
    ``use_nested_tensor``. The reasons are compared, not the sentences: ours are in our own words."""
    layer = lib.nn.Linear(4, 4) if custom else lib.nn.TransformerEncoderLayer(8, **layer_kw)
    if eps2 is not None and not custom:  # layer_norm_eps is shared; a program may change one norm's eps afterwards
        layer.norm2.eps = eps2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder = lib.nn.TransformerEncoder(layer, 2, enable_nested_tensor=nested)
    return [(w.category, reason_of(str(w.message), lib), w.filename) for w in caught], encoder.use_nested_tensor


@settings(deadline=None, max_examples=60)
@given(st.sampled_from([1, 2, 4]), st.booleans(), st.booleans(), st.booleans(), st.sampled_from(ACTIVATIONS),
       st.booleans(), st.booleans(), st.sampled_from([None, 1e-5, 1e-6]))
def test_transformer_encoder_nested_tensor_warning_as_torch(nhead: int, batch_first: bool, norm_first: bool,
                                                            bias: bool, act: str, nested: bool, custom: bool,
                                                            eps2: float | None) -> None:
    results = []
    for lib in (torch, tg):
        kw = {"nhead": nhead, "batch_first": batch_first, "norm_first": norm_first, "bias": bias,
              "activation": activation(lib, act), "dim_feedforward": 16}
        results.append(encoder_warnings(lib, kw, nested, custom, eps2))
    assert results[1] == results[0]
    assert all(filename == __file__ for _, _, filename in results[1][0])  # stacklevel: the caller's line


BASE = {"nhead": 2, "batch_first": True, "norm_first": False, "bias": True, "activation": "gelu"}
EACH_REASON = {"none": {}, "norm_first": {"norm_first": True}, "batch_first": {"batch_first": False},
               "bias": {"bias": False}, "activation": {"activation": "tanh"}, "odd_heads": {"nhead": 1}, "eps": {},
               "norm_first_and_odd": {"norm_first": True, "nhead": 1}}


@pytest.mark.parametrize("case", sorted(EACH_REASON))
@pytest.mark.parametrize("act", ["gelu", "GELU()", "ReLU()"])
def test_each_nested_tensor_reason_as_torch(case: str, act: str) -> None:
    """The ViT layer (batch_first, gelu, even heads) takes the path; each change alone names its reason."""
    results = []
    for lib in (torch, tg):
        kw = {**BASE, "activation": act, **EACH_REASON[case], "dim_feedforward": 16}
        results.append(encoder_warnings(lib, {**kw, "activation": activation(lib, kw["activation"])}, True, False,
                                        1e-6 if case == "eps" else None))
    assert results[1] == results[0] and results[1][1] == (case == "none")


# squares within float32's range: torch sums float32 squares in float32, overflowing where ours (float64) does not,
# a documented difference (``clip_grad_norm_``'s docstring)
FLOATS = st.sampled_from([0.0, -0.0, 1e-30, 1.0, -3.5, 1e15, -1e18, np.inf, -np.inf, np.nan]) | st.floats(-1e3, 1e3,
                                                                                                        width=32)


@settings(deadline=None, max_examples=80)
@given(st.lists(st.lists(FLOATS, min_size=0, max_size=5), min_size=1, max_size=3), st.sampled_from([0.0, 0.5, 1e30]),
       st.sampled_from([2.0, 1.0, float("inf")]), st.sampled_from(["float32", "float64"]))
def test_clip_grad_norm_of_nonfinite_gradients_is_silent_as_torch(grads: list, max_norm: float, norm_type: float,
                                                                 dtype: str) -> None:
    results = []
    for lib in (torch, tg):
        params = [lib.nn.Parameter(lib.zeros(len(g), dtype=getattr(lib, dtype))) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = lib.tensor(np.array(g, dtype=dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither library warns
            try:
                norm = float(lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type))
            except RuntimeError:  # an infinity norm of an empty gradient: a max over nothing, in both
                norm = "raised"
        results.append((norm, [p.grad.numpy() for p in params]))
    (want, want_grads), (norm, got) = results
    assert norm == want or (norm != "raised" and np.isclose(norm, want, rtol=1e-6, equal_nan=True))
    for g, w in zip(got, want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0)


def backward_hooks_run(lib: object, input_grad: bool, pre: list[float | str], full: bool, remove_first: bool) -> dict:
    """A Linear (the first layer of a model when ``input_grad`` is False) with backward pre-hooks that scale
    grad_output by the given factors (``"none"``: return None, ``"short"``: a tuple too long) and a full backward
    hook recording what it sees."""
    lib.manual_seed(0)
    layer = lib.nn.Linear(3, 2)
    layer.load_state_dict({"weight": lib.tensor([[1., -2., .5], [0., 1., 3.]]), "bias": lib.tensor([.1, -.2])})
    seen: dict = {"pre": [], "full": []}

    def pre_hook(factor: float | str) -> object:
        def hook(module: object, grad_output: tuple) -> object:
            seen["pre"].append([None if g is None else g.numpy().copy() for g in grad_output])
            if factor == "none":
                return None
            return (grad_output[0] * factor,) if factor != "short" else (grad_output[0], grad_output[0])
        return hook

    handles = [layer.register_full_backward_pre_hook(pre_hook(f), prepend=(i == 2)) for i, f in enumerate(pre)]
    if full:
        layer.register_full_backward_hook(lambda m, gi, go: seen["full"].append(
            ([None if g is None else g.numpy().copy() for g in gi], [g.numpy().copy() for g in go])))
    if remove_first and handles:
        handles[0].remove()
    x = lib.tensor([[1., 2., 3.], [-1., 0., 2.]], requires_grad=input_grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            (layer(x) * lib.tensor([[1., 2.], [3., -1.]])).sum().backward()
            seen["grads"] = [layer.weight.grad.numpy(), None if x.grad is None else x.grad.numpy()]
        except RuntimeError as e:
            seen["error"] = str(e)
    seen["warnings"] = [(w.category, str(w.message)) for w in caught]
    return seen


@settings(deadline=None, max_examples=60)
@given(st.booleans(), st.lists(st.sampled_from([2.0, -0.5, 0.0, "none", "short"]), max_size=3),
       st.booleans(), st.booleans())
def test_full_backward_pre_hook_as_torch(input_grad: bool, pre: list, full: bool, remove_first: bool) -> None:
    """Grad-CAM-style hooks: pre-hooks see and may replace grad_output (before the full hooks, in registration
    order, ``prepend`` first), a wrong length raises, and a module whose input wants no gradient warns as torch."""
    want, got = (backward_hooks_run(lib, input_grad, pre, full, remove_first) for lib in (torch, tg))
    assert got.keys() == want.keys()  # an error in both or neither, naming the same counts (each library's words)
    assert re.findall(r"\d+", got.get("error", "")) == re.findall(r"\d+", want.get("error", ""))
    # the same warnings (category, and whether it is the one about module inputs that want no gradient)
    assert [(c, "Full backward hook is firing" in m) for c, m in got["warnings"]] == \
        [(c, "Full backward hook is firing" in m) for c, m in want["warnings"]]
    for key in ("pre", "full", "grads"):
        flat_got, flat_want = str(got.get(key)), str(want.get(key))  # nested lists of arrays / None
        assert flat_got.replace(" ", "") == flat_want.replace(" ", ""), key
