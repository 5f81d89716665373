"""Fixes found by the style-transfer program (``tests/torch_style/style_transfer.py``): forward pre-hooks and
forward hooks registered ``with_kwargs=True`` (which raised NotImplementedError) get the keyword arguments, as
torch's: a pre-hook ``(module, args, kwargs)`` may return a new ``(args, kwargs)``, a forward hook
``(module, args, kwargs, output)`` may replace the output; compared with torch on the values, the gradients and
what each hook saw. Forward hooks registered ``always_call=True`` (which raised NotImplementedError until the
twenty-third stop) also run when the call raises, as torch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


class Scale(tg.nn.Module):
    def forward(self, x, scale=1.0, shift=None):
        return x * scale + (0.0 if shift is None else shift)


class TorchScale(torch.nn.Module):
    def forward(self, x, scale=1.0, shift=None):
        return x * scale + (0.0 if shift is None else shift)


def run(lib, module, values: np.ndarray, scale: float, replace_kwargs: bool, replace_output: bool):
    """One forward + backward through ``module`` with a kwargs pre-hook and a kwargs forward hook; returns the
    output, the input's gradient and what the hooks saw (argument counts, keyword names and values)."""
    seen: list = []

    def pre(mod, args, kwargs):
        seen.append(("pre", len(args), sorted(kwargs), float(kwargs.get("scale", 1.0))))
        if replace_kwargs:
            return (args[0] * 2,), {**kwargs, "scale": kwargs.get("scale", 1.0) + 1.0}
        return None

    def post(mod, args, kwargs, output):
        seen.append(("post", len(args), sorted(kwargs), float(kwargs.get("scale", 1.0))))
        return output - 1.0 if replace_output else None

    handles = [module.register_forward_pre_hook(pre, with_kwargs=True),
               module.register_forward_hook(post, with_kwargs=True)]
    x = lib.tensor(values, requires_grad=True)
    out = module(x, scale=scale)
    (out * out).sum().backward()
    for h in handles:
        h.remove()
    after = module(x.detach(), scale=scale)  # removed: no hook runs, nothing is replaced
    return out.detach().numpy(), x.grad.numpy(), seen, after.numpy()


values_strategy = st.lists(st.sampled_from([0.0, -0.0, 1.5, -2.0, 3.25]), min_size=0, max_size=4)


@settings(max_examples=30, deadline=None)
@given(values=values_strategy, scale=st.sampled_from([0.5, -1.0, 2.0]), replace_kwargs=st.booleans(),
       replace_output=st.booleans())
def test_with_kwargs_hooks_match_torch(values: list[float], scale: float, replace_kwargs: bool,
                                       replace_output: bool) -> None:
    data = np.array(values)
    got = run(tg, Scale(), data, scale, replace_kwargs, replace_output)
    want = run(torch, TorchScale(), data, scale, replace_kwargs, replace_output)
    for a, b, what in zip(got, want, ("output", "grad", "seen", "after removal")):
        if what == "seen":
            assert a == b
        else:
            np.testing.assert_array_equal(a, b, err_msg=what)
            assert np.array_equal(np.signbit(a), np.signbit(b)), what


def hook_order(lib, module) -> list[str]:
    calls: list[str] = []
    module.register_forward_hook(lambda m, a, o: calls.append("plain"))
    module.register_forward_hook(lambda m, a, k, o: calls.append(f"kwargs {sorted(k)}"), with_kwargs=True)
    module.register_forward_hook(lambda m, a, k, o: calls.append("first"), with_kwargs=True, prepend=True)
    module.register_forward_pre_hook(lambda m, a: calls.append("pre plain"))
    module.register_forward_pre_hook(lambda m, a, k: calls.append(f"pre {sorted(k)}"), with_kwargs=True)
    module(lib.ones(2), shift=lib.ones(2))
    return calls


def test_plain_and_kwargs_hooks_mix_in_registration_order() -> None:
    assert hook_order(tg, Scale()) == hook_order(torch, TorchScale())


@pytest.mark.parametrize("bad", [1.0, (1.0,), ((), {}, None)])
def test_kwargs_pre_hook_must_return_args_and_kwargs(bad) -> None:
    for lib, module in ((tg, Scale()), (torch, TorchScale())):
        module.register_forward_pre_hook(lambda m, a, k: bad, with_kwargs=True)
        said = "tuple of \\(new_args, new_kwargs\\)" if lib is torch else "None or an \\(args, kwargs\\) pair"
        with pytest.raises(RuntimeError, match=said):
            module(lib.ones(2))


class Boom(tg.nn.Module):
    def forward(self, x, fail=True):
        if fail:
            raise ValueError("boom")
        return x + 1


class TorchBoom(torch.nn.Module):
    def forward(self, x, fail=True):
        if fail:
            raise ValueError("boom")
        return x + 1


@pytest.mark.parametrize("where", ["forward", "pre-hook", "hook", "none"])
def test_always_call_hooks_run_when_the_call_raises_as_torch(where: str) -> None:
    """Which hooks run, in which order, with which (pre-hook-replaced) args, kwargs and output (None when forward
    raised; the output so far when a hook raised), a returned value replacing the output for the hooks after it,
    the error that goes on, and the warning for an always_call hook's own error; then removal."""
    def run(lib, module):
        seen = []
        def pre(m, args):
            if where == "pre-hook":
                raise KeyError("pre")
            return (args[0] * 2,)
        def plain(m, args, out):
            seen.append(("plain", args[0].tolist(), None if out is None else out.tolist()))
            if where == "hook":
                raise ZeroDivisionError("hook")
        def always(m, args, out):
            seen.append(("always", None if out is None else out.tolist()))
            return None if out is None else out * 10
        def always_kw(m, args, kwargs, out):
            seen.append(("always_kw", sorted(kwargs), None if out is None else out.tolist()))
        def always_bad(m, args, out):
            raise KeyError("hookfail")
        module.register_forward_pre_hook(pre)
        handles = [module.register_forward_hook(always, always_call=True),
                   module.register_forward_hook(plain),
                   module.register_forward_hook(always_kw, always_call=True, with_kwargs=True)]
        if where != "none":
            handles.append(module.register_forward_hook(always_bad, always_call=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = module(lib.ones(2), fail=where == "forward")
                result = ("ok", out.tolist())
            except Exception as e:
                result = (type(e).__name__, str(e))
        for h in handles:
            h.remove()
        seen_after = len(seen)
        if where == "none":
            module(lib.ones(2), fail=False)
        return result, seen, ["hookfail" in str(w.message) for w in caught], len(seen) == seen_after
    assert run(tg, Boom()) == run(torch, TorchBoom())
