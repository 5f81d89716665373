"""Fixes found porting torchvision's DenseNet (tests/torch_style/densenet.py), each against torch:

- ``torch.utils.checkpoint.checkpoint`` recomputes the segment in backward, as torch does: before, it ran the segment
  once and kept its graph, so a BatchNorm inside updated its running statistics once instead of twice (a silent
  difference: DenseNet's ``memory_efficient=True`` running stats and eval logits were not torch's); dropout is
  replayed under the saved RNG state; kwargs, non-Tensor arguments and outputs, closures over parameters and outer
  activations, and double backward keep torch's values.
- ``nn.ModuleDict``: a module set by ``add_module`` / ``register_module`` / attribute assignment is an item (silent
  before: ``items()`` skipped it, so _DenseBlock's loop ran no layer).
- ``torch.jit._overload_method`` exists (torchvision marks _DenseLayer's typed ``forward`` stubs).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (torch, tg)
VALUES = st.floats(-1e4, 1e4, width=32) | st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38])
ARRAYS = hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4), elements=VALUES)


def numpy_of(t: Any) -> np.ndarray | None:
    return None if t is None else t.detach().numpy().copy()


def close(a: np.ndarray | None, b: np.ndarray | None, rtol: float = 1e-5) -> None:
    assert (a is None) == (b is None)
    if a is not None:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5, equal_nan=True)


def segment_run(lib: Any, x: np.ndarray, k: float, reentrant: bool | None) -> dict[str, Any]:
    """A Linear (no RNG) + tanh segment taking a Tensor, a number and a string positionally and a Tensor keyword
    (positionally under the reentrant variant, which takes no keywords): its outputs, gradients and call count, run
    plainly (``reentrant`` None) or through ``checkpoint``."""
    lib.manual_seed(0)
    lin = lib.nn.Linear(1, 1)
    with lib.no_grad():
        lin.weight.fill_(0.5)
        lin.bias.fill_(-0.25)
    t = lib.tensor(x, requires_grad=True)
    scale = lib.tensor(1.5, requires_grad=True)
    calls = []

    def segment(a: Any, k: float, mode: str, scale: Any) -> tuple[Any, str, Any]:
        calls.append(mode)
        h = lin(a.unsqueeze(-1)).squeeze(-1).tanh() * k * scale
        return h, mode, a.detach() > 0

    if reentrant is None:
        out = segment(t, k, "m", scale)
    elif reentrant:
        out = lib.utils.checkpoint.checkpoint(segment, t, k, "m", scale, use_reentrant=True)
    else:
        out = lib.utils.checkpoint.checkpoint(segment, t, k, "m", use_reentrant=False, scale=scale)
    h, mode, positive = out
    assert mode == "m" and not positive.requires_grad
    (h * h).sum().backward()
    return {"h": numpy_of(h), "grads": [numpy_of(p.grad) for p in (t, scale, lin.weight, lin.bias)],
            "calls": len(calls)}


@settings(max_examples=40, deadline=None)
@given(x=ARRAYS, k=st.floats(-3, 3), reentrant=st.booleans())
def test_checkpoint_recomputes_with_plain_gradients(x: np.ndarray, k: float, reentrant: bool) -> None:
    """Outputs and gradients equal the plain path's bit for bit; the segment runs twice (forward, then backward's
    recomputation), as torch's; values as torch's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = {lib: (segment_run(lib, x, k, reentrant), segment_run(lib, x, k, None)) for lib in LIBS}
    for lib, (checked, plain) in runs.items():
        assert checked["calls"] == 2 and plain["calls"] == 1, lib.__name__
        np.testing.assert_array_equal(checked["h"], plain["h"])
        for a, b in zip(checked["grads"], plain["grads"]):
            np.testing.assert_array_equal(a, b)
    ours, theirs = runs[tg][0], runs[torch][0]
    close(ours["h"], theirs["h"])
    for a, b in zip(ours["grads"], theirs["grads"]):
        close(a, b, rtol=1e-4)


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(2, 5), st.just(3)), elements=st.floats(-100, 100, width=32)),
       momentum=st.sampled_from([0.1, 0.5, None]), reentrant=st.booleans(), inputs_grad=st.booleans())
def test_checkpoint_batchnorm_statistics_updated_twice(x: np.ndarray, momentum: float | None, reentrant: bool,
                                                       inputs_grad: bool) -> None:
    """A training-mode BatchNorm in a checkpointed segment updates its running statistics in forward and again in
    backward's recomputation (torch's behaviour, which DenseNet's memory_efficient path shows); before the fix ours
    updated them once. The reentrant variant without an input requiring grad runs under no_grad: no recomputation."""
    results = []
    for lib in LIBS:
        bn = lib.nn.BatchNorm1d(3, momentum=momentum)
        t = lib.tensor(x, requires_grad=inputs_grad)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = lib.utils.checkpoint.checkpoint(bn, t, use_reentrant=reentrant)
        if y.requires_grad:
            (y * lib.arange(3.0)).sum().backward()
        results.append([bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(), int(bn.num_batches_tracked),
                        numpy_of(bn.weight.grad)])
    theirs, ours = results
    assert ours[2] == theirs[2] == (1 if reentrant and not inputs_grad else 2)
    for a, b in zip(ours[:2] + ours[3:], theirs[:2] + theirs[3:]):
        close(a, b)


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(0, 6), st.integers(1, 5)), elements=st.floats(-10, 10,
                                                                                                       width=32)),
       p=st.sampled_from([0.0, 0.3, 0.5, 0.9]), reentrant=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_checkpoint_replays_dropout(x: np.ndarray, p: float, reentrant: bool, seed: int) -> None:
    """The recomputation draws the mask forward drew (preserve_rng_state), and the global stream goes on as after
    the plain path: gradients and the next draw equal the plain run's, in ours as in torch."""
    for lib in LIBS:
        runs = []
        for checked in (True, False):
            lib.manual_seed(seed)
            t = lib.tensor(x, requires_grad=True)

            def segment(a: Any, lib: Any = lib) -> Any:
                return lib.nn.functional.dropout(a, p) * a
            y = lib.utils.checkpoint.checkpoint(segment, t, use_reentrant=reentrant) if checked else segment(t)
            between = lib.rand(3)  # drawn between forward and backward: the recomputation must not rewind it
            y.sum().backward()
            runs.append([numpy_of(y), numpy_of(t.grad), between.numpy(), lib.rand(4).numpy()])
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(w0=hnp.arrays(np.float64, 3, elements=st.floats(-2, 2)), k=st.floats(-2, 2), reentrant=st.booleans())
def test_checkpoint_closures_and_double_backward(w0: np.ndarray, k: float, reentrant: bool) -> None:
    """A segment given an activation and closing over the parameter it came from and over another activation:
    first and second derivatives, and a plain backward in which the outer activation's node is freed before the
    segment's runs, as torch's non-reentrant checkpoint gives them (torch's reentrant variant cannot
    backward through such a closure; ours gives the same values for it)."""
    results = []
    for lib in LIBS:
        w = lib.tensor(w0, requires_grad=True)
        h, c = w * 2, w.exp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            use = reentrant and lib is tg
            y = lib.utils.checkpoint.checkpoint(lambda t, k, w=w, c=c, h=h: (t * w * c + h.sin()) * k, h, k,
                                                use_reentrant=use)
        g, = lib.autograd.grad(y.sum() + h.sum() * c.sum(), w, create_graph=True)
        g2, = lib.autograd.grad((g * g).sum(), w)
        results.append([numpy_of(y), numpy_of(g), numpy_of(g2)])
        w.grad = None
        h, c = w * 2, w.exp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = lib.utils.checkpoint.checkpoint(lambda t, w=w, c=c: t * c.sum() * w, h, use_reentrant=use)
        (y.sum() + c.sum()).backward()  # c's own node runs, and is freed, before the segment's
        results[-1].append(numpy_of(w.grad))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


OPS = st.lists(st.tuples(st.sampled_from(["add_module", "register_module", "setattr", "setitem", "delattr"]),
                         st.sampled_from(["a", "b", "c", "layer1"])), max_size=8)


@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_moduledict_items_follow_add_module(ops: list[tuple[str, str]]) -> None:
    """Keys, order and values of a ModuleDict filled by add_module / register_module / attribute assignment /
    ``d[key] =`` and emptied by ``del d.key``, as torch's (whose items are its ``_modules``)."""
    seen = []
    for lib in LIBS:
        d = lib.nn.ModuleDict()
        for i, (op, name) in enumerate(ops):
            module = lib.nn.Linear(1, i + 1)
            if op == "delattr":
                if name in d:
                    delattr(d, name)
            elif op == "setitem":
                d[name] = module
            elif op == "setattr":
                setattr(d, name, module)
            else:
                getattr(d, op)(name, module)
        seen.append([(k, v.out_features) for k, v in d.items()] + [len(d), list(d), [n for n, _ in
                                                                                   d.named_parameters()]])
    assert seen[0] == seen[1]


def test_parameterdict_keys_stay_those_set_by_key() -> None:
    """A ParameterDict's keys are only those put in by key, as torch's (an attribute Parameter is a parameter of it
    but not a key)."""
    seen = []
    for lib in LIBS:
        d = lib.nn.ParameterDict({"x": lib.nn.Parameter(lib.ones(1))})
        d.y = lib.nn.Parameter(lib.ones(2))
        seen.append((list(d.keys()), sorted(n for n, _ in d.named_parameters())))
    assert seen[0] == seen[1] == (["x"], ["x", "y"])


def test_jit_overload_method_stubs() -> None:
    """``@torch.jit._overload_method`` typed stubs before the real ``forward``: the last definition runs."""
    for lib in LIBS:
        class Layer(lib.nn.Module):
            @lib.jit._overload_method
            def forward(self, x: list) -> Any:
                pass

            @lib.jit._overload_method
            def forward(self, x: Any) -> Any:  # noqa: F811
                pass

            def forward(self, x: Any, lib: Any = lib) -> Any:  # noqa: F811
                return lib.cat(x, 0) if isinstance(x, list) else x * 2

        assert Layer()([lib.ones(1), lib.ones(2)]).shape[0] == 3
        assert float(Layer()(lib.ones(())).item()) == 2.0


@settings(max_examples=20, deadline=None)
@given(x=hnp.arrays(np.float32, st.integers(1, 4), elements=st.floats(-10, 10, width=32)), reentrant=st.booleans(),
       grad_arg=st.booleans())
def test_checkpoint_input_written_in_place_raises(x: np.ndarray, reentrant: bool, grad_arg: bool) -> None:
    """An argument a segment multiplied by (torch saves it: an activation, or a mask without grad) written in place
    before backward: torch's RuntimeError, not a gradient silently recomputed from the new values; untouched, the
    gradients are torch's."""
    for lib in LIBS:
        for write in (True, False):
            w = lib.tensor(x, requires_grad=True)
            h = w * 2
            mask = lib.tensor(x > 0, dtype=lib.float32)
            y = lib.utils.checkpoint.checkpoint(lambda t, m: (t * t * m).sum(), h, mask if not grad_arg else h,
                                                use_reentrant=reentrant)
            if write:
                with lib.no_grad():
                    (h if grad_arg else mask).add_(1)
                with pytest.raises(RuntimeError, match=r"modified by an in-?place operation|an inplace op modified"):
                    y.backward()
            else:
                y.backward()
                np.testing.assert_allclose(w.grad.numpy(), 24 * x * x if grad_arg else 8 * x * (x > 0), rtol=1e-5,
                                           atol=1e-37)  # (float32's subnormals round on their own grid)
