"""Fixes found by porting r9y9/wavenet_vocoder (``tests/torch_style/wavenet.py``), each checked against torch.

The incremental ``Conv1d`` caches its linearized weight and clears it from a hook registered by the deprecated
``Module.register_backward_hook``, which raised NotImplementedError here (loud). It now registers the hook on the
grad_fn of the module's output at each call, as torch does, through the new ``grad_fn.register_hook`` (torch's
``Node.register_hook``), with torch's FutureWarnings and its refusal to mix full and non-full hooks on one module.
A no-op stand-in would have been silent: the cached weight stays stale after training, and the generated samples
differ from the full forward's.

Mutations run (each made the tests named fail, then was restored):
- ``run_backward`` skipping the node hooks: every test here but the mixing one, and the program's generation tests
  (``test_program_wavenet.py``: 4 failed).
- ``_run_node_hooks`` ignoring a returned replacement: ``test_node_hook_matches_torch``,
  ``test_non_full_module_hook_matches_torch``.
- ``_hook_last_node`` not registering (the hook never runs): the module tests.
- ``_backward_style`` not raising on a mix: ``test_full_and_non_full_hooks_do_not_mix``.
- ``_warn_non_full`` without its last (multiple nodes) check: ``test_non_full_module_hook_matches_torch``.
- ``run_backward_graph`` (create_graph) skipping the node hooks: ``test_node_hook_under_create_graph_matches_torch``.

Not compared: the order in which hooks on independent branches run (torch's engine runs the latest-recorded ready
node first; ours a depth-first topological order), so the module test compares the calls as multisets.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FLOATS = st.floats(-1e6, 1e6, width=32, allow_subnormal=True) | st.sampled_from([0.0, -0.0, 1e-38, 3e38, -3e38])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def arrays(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=FLOATS)


def as_np(grads: tuple) -> list:
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def scale_module(lib):
    """A module whose last op is ``x * w`` in both libraries (torch's MulBackward0 and ours take (x, w))."""
    class Scale(lib.nn.Module):
        def __init__(self, w: np.ndarray) -> None:
            super().__init__()
            self.w = lib.nn.Parameter(lib.tensor(w))

        def forward(self, x):
            return x * self.w
    return Scale


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=SHAPES, calls=st.integers(1, 3), replace=st.booleans(), square=st.booleans())
def test_non_full_module_hook_matches_torch(data, shape, calls: int, replace: bool, square: bool) -> None:
    """``register_backward_hook`` on a module called ``calls`` times: each call's node runs the hook once per
    backward with (grad of x, grad of w) and (grad of the output,); a returned tuple (doubled) replaces the
    gradients; the leaves' .grad and the warnings equal torch's. Compared as multisets: the two engines may run
    independent branches in a different order."""
    x0, w0 = data.draw(arrays(shape)), data.draw(arrays(shape))
    ups = [data.draw(arrays(shape)) for _ in range(calls)]
    results = []
    for lib in (torch, ours):
        module = scale_module(lib)(w0)
        seen = []

        def hook(mod, grad_input, grad_output, seen=seen, module=module):
            assert mod is module
            seen.append((as_np(grad_input), as_np(grad_output)))
            if replace:
                return tuple(None if g is None else g * 2 for g in grad_input)
            return None

        module.register_backward_hook(hook)
        x = lib.tensor(x0, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(all="ignore"):
                inputs = [x * x if square else x for _ in range(calls)]
                outs = [module(i) for i in inputs]
        with np.errstate(all="ignore"):
            total = sum((o * lib.tensor(u)).sum() for o, u in zip(outs, ups))
            total.backward()
        results.append((seen, x.grad.numpy(), module.w.grad.numpy(),
                        sorted({str(w.message) for w in caught if w.category is FutureWarning})))  # (numpy's
        # RuntimeWarnings at inf * 0 leak from ours: a known difference, README's)
    (t_seen, t_x, t_w, t_warn), (o_seen, o_x, o_w, o_warn) = results
    def kinds(said: list[str]) -> list[tuple[bool, bool]]:  # (each library words them its own way)
        return sorted(("grad_input" in m, "grad_output" in m) for m in said)

    assert kinds(o_warn) == kinds(t_warn)
    assert len(o_seen) == len(t_seen) == calls

    def key(entry):
        return tuple(np.nan_to_num(a, nan=0.0).tobytes() for a in entry[0] + entry[1] if a is not None)
    for o, t in zip(sorted(o_seen, key=key), sorted(t_seen, key=key), strict=True):
        for a, b in zip(o[0] + o[1], t[0] + t[1], strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-6)
    # each .grad adds one term per call, in another order than torch's engine (it runs the latest node first):
    # within 1e-6 of the terms' sum (9.4e-30 x (132422 + 431528 - 543954) is an ulp apart by order)
    with np.errstate(all="ignore"):
        x_in = x0.astype(np.float64)
        d_in = 2 * np.abs(x_in) if square else 1.0
        x_terms = sum(np.abs(w0.astype(np.float64) * u) * d_in for u in ups)
        w_terms = sum(np.abs((x_in * x_in if square else x_in) * u) for u in ups)
        for ours_g, torch_g, terms in ((o_x, t_x, x_terms), (o_w, t_w, w_terms)):
            close = np.isclose(ours_g, torch_g, rtol=1e-6, atol=0, equal_nan=True)
            assert (close | (np.abs(ours_g.astype(np.float64) - torch_g) <= 1e-6 * terms)).all(), (ours_g, torch_g)


@pytest.mark.filterwarnings("ignore:grad and param do not obey the gradient layout contract:UserWarning")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=SHAPES, op=st.sampled_from(["mul", "add", "sum"]), replace=st.booleans(),
       a_grad=st.booleans())
def test_node_hook_matches_torch(data, shape, op: str, replace: bool, a_grad: bool) -> None:
    """``y.grad_fn.register_hook(fn)``: ``fn(grad_inputs, grad_outputs)`` with None for an input that wants no
    gradient, a returned tuple replacing the inputs' gradients; removed by its handle."""
    a0, b0, up = data.draw(arrays(shape)), data.draw(arrays(shape)), data.draw(arrays(() if op == "sum" else shape))
    results = []
    for lib in (torch, ours):
        a = lib.tensor(a0, requires_grad=a_grad)
        b = lib.tensor(b0, requires_grad=True)
        with np.errstate(all="ignore"):
            y = a * b if op == "mul" else a + b if op == "add" else b.sum()
        seen = []

        def fn(grad_inputs, grad_outputs, seen=seen):
            seen.append((as_np(grad_inputs), as_np(grad_outputs)))
            return tuple(None if g is None else g * 3 for g in grad_inputs) if replace else None

        handle = y.grad_fn.register_hook(fn)
        removed = y.grad_fn.register_hook(lambda *args: pytest.fail("a removed hook ran"))
        removed.remove()
        with np.errstate(all="ignore"):
            y.backward(lib.tensor(up), retain_graph=True)
            handle.remove()
            y.backward(lib.tensor(up))
        results.append((seen, b.grad.numpy()))
    (t_seen, t_b), (o_seen, o_b) = results
    assert len(o_seen) == len(t_seen) == 1
    for a, b in zip(o_seen[0][0] + o_seen[0][1], t_seen[0][0] + t_seen[0][1], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(o_b, t_b, rtol=1e-6)


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_node_hook_returning_the_wrong_count_raises(lib) -> None:
    a, b = lib.ones(2, requires_grad=True), lib.ones(2, requires_grad=True)
    y = a * b
    y.grad_fn.register_hook(lambda gi, go: (gi[0],))
    said = "incorrect number of values" if lib is torch else "values where"  # each library's own words
    with pytest.raises(RuntimeError, match=said):
        y.sum().backward()


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_full_and_non_full_hooks_do_not_mix(lib) -> None:
    first, second = lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)
    first.register_backward_hook(lambda *args: None)
    said = "Cannot use both regular backward hooks and full backward hooks" if lib is torch else "cannot be mixed"
    with pytest.raises(RuntimeError, match=said):
        first.register_full_backward_hook(lambda *args: None)
    second.register_full_backward_hook(lambda *args: None)
    with pytest.raises(RuntimeError, match=said):
        second.register_backward_hook(lambda *args: None)
    assert len(first._backward_hooks) == len(second._backward_hooks) == 1


def cached_conv(lib):
    """r9y9's conv.Conv1d pattern: a weight-derived cache cleared by a non-full backward hook."""
    class Cached(lib.nn.Conv1d):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.cache, self.clears = None, 0
            self.register_backward_hook(self._clear)

        def linearized(self):
            if self.cache is None:
                self.cache = self.weight.detach().transpose(1, 2).contiguous().view(self.out_channels, -1).clone()
            return self.cache

        def _clear(self, *args) -> None:
            self.cache, self.clears = None, self.clears + 1
    return Cached


@pytest.mark.filterwarnings("ignore:Using a non-full backward hook:FutureWarning",
                            "ignore:register_backward_hook on a Module:FutureWarning")
@settings(max_examples=15, deadline=None)
@given(data=st.data(), steps=st.integers(1, 3), frozen_input=st.booleans())
def test_cache_cleared_by_backward_hook_matches_torch(data, steps: int, frozen_input: bool) -> None:
    """After each SGD step the cached linearized weight is the new weight's (the hook ran in backward); a
    forward under no_grad registers nothing; the number of clears equals torch's."""
    x0 = data.draw(hnp.arrays(np.float32, (2, 3, 5), elements=st.floats(-3, 3, width=32)))
    weights, results = None, []
    for lib in (torch, ours):
        lib.manual_seed(0)
        conv = cached_conv(lib)(3, 4, 2, dilation=2, padding=2)
        if weights is None:
            weights = {k: v.detach().numpy().copy() for k, v in conv.state_dict().items()}
        conv.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
        opt = lib.optim.SGD(conv.parameters(), lr=0.1)
        x = lib.tensor(x0, requires_grad=not frozen_input)
        caches = []
        for _ in range(steps):
            conv.linearized()
            with lib.no_grad():
                conv(x)
            opt.zero_grad()
            conv(x)[:, :, :-2].pow(2).sum().backward()
            opt.step()
            caches.append(conv.linearized().numpy().copy())
        results.append((caches, conv.clears))
    (t_caches, t_clears), (o_caches, o_clears) = results
    assert o_clears == t_clears == steps
    for a, b in zip(o_caches, t_caches, strict=True):  # (float32 GEMM rounding at the weights' scale: after three
        # steps they reach 1.7e3, beside an entry -0.7213 that ours and torch's sum to 1e-5 apart)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(b).max())))


@settings(max_examples=25, deadline=None)
@given(a0=arrays((3,)).filter(lambda a: np.isfinite(a).all() and np.abs(a).max() < 1e3), replace=st.booleans())
def test_node_hook_under_create_graph_matches_torch(a0: np.ndarray, replace: bool) -> None:
    """A node hook runs in a ``create_graph=True`` backward too (on gradients with history), and its replacement
    is what the second derivative sees."""
    results = []
    for lib in (torch, ours):
        a = lib.tensor(a0, requires_grad=True)
        y = a * a
        seen = []

        def fn(grad_inputs, grad_outputs, seen=seen):
            seen.append(len(grad_inputs))
            return tuple(g * 3 for g in grad_inputs) if replace else None

        y.grad_fn.register_hook(fn)
        (ga,) = lib.autograd.grad(y.pow(3).sum(), a, create_graph=True)
        ga.sum().backward()
        results.append((seen, ga.detach().numpy(), a.grad.numpy()))
    (t_seen, t_ga, t_gg), (o_seen, o_ga, o_gg) = results
    assert o_seen == t_seen == [2, 2]  # (y is in the graph of ga too: the second backward runs its hook again)
    np.testing.assert_allclose(o_ga, t_ga, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(o_gg, t_gg, rtol=1e-5, atol=1e-30)
