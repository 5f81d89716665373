"""Fixes found by porting fast.ai's 2019 hooks / LSUV notebooks (tests/torch_style/hooks_telemetry.py), each
checked against torch.

The global module hooks of ``torch.nn.modules.module`` (register_module_forward_pre_hook, _forward_hook with
with_kwargs / always_call, _full_backward_pre_hook, _full_backward_hook) were missing (AttributeError on
``nn.modules``). They run on every module's call, before the module's own hooks of the same kind.

Mutations run (each made a test here fail, then was restored):
- ``with_global`` returning ``own`` unchanged (global hooks never run)
- the merge putting the module's own hooks before the global ones (``{**own.pre, **GLOBAL.pre}``)
- the merge leaving out the global backward hooks (``merged.backward = own.backward``)
- ``with_global``'s early return testing only ``GLOBAL.pre or GLOBAL.post`` (a lone global backward hook ignored)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_adam

torch = pytest.importorskip("torch")


def net(lib) -> object:
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Sequential(lib.nn.Linear(4, 2)))


def scenario(lib, register: Callable) -> tuple[list, np.ndarray, list]:
    """A small net with one own forward / backward hook on its first Linear and the global hooks ``register(lib,
    log)`` returns; the log of every hook call in order, the output and the gradients."""
    log: list = []
    model = net(lib)
    if lib is tinygrad_adam:
        model.load_state_dict({k: v.detach().numpy() for k, v in net(torch).state_dict().items()})
    own = [model[0].register_forward_hook(lambda m, i, o: log.append(("own", type(m).__name__))),
           model[0].register_forward_pre_hook(lambda m, i: log.append(("own_pre", type(m).__name__))),
           model[0].register_full_backward_hook(lambda m, gi, go: log.append(("own_back", type(m).__name__)))]
    handles = register(lib, log)
    try:
        x = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        out = model(x)
        out.sum().backward()
    finally:
        for h in [*handles, *own]:
            h.remove()
    model(x)  # removed: nothing more is logged
    grads = [x.grad.numpy(), *(p.grad.numpy() for p in model.parameters())]
    return log, out.detach().numpy(), grads


def agree(register: Callable) -> list:
    theirs, ours = scenario(torch, register), scenario(tinygrad_adam, register)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-7)
    for a, b in zip(ours[2], theirs[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    return ours[0]


def test_global_forward_and_pre_hooks_run_first_and_may_replace() -> None:
    def register(lib, log):
        mm = lib.nn.modules.module
        return [mm.register_module_forward_pre_hook(lambda m, i: log.append(("pre", type(m).__name__))),
                mm.register_module_forward_hook(
                    lambda m, i, o: (log.append(("post", type(m).__name__)), o * 2 if isinstance(m, lib.nn.Tanh)
                                     else None)[1])]
    log = agree(register)
    assert log[:3] == [("pre", "Sequential"), ("pre", "Linear"), ("own_pre", "Linear")]


def test_global_forward_hook_with_kwargs_and_pre_hook_replacing_args() -> None:
    def register(lib, log):
        mm = lib.nn.modules.module
        return [mm.register_module_forward_pre_hook(lambda m, i: (i[0] + 1,) if isinstance(m, lib.nn.Tanh) else None),
                mm.register_module_forward_hook(lambda m, a, k, o: log.append(("kw", sorted(k))), with_kwargs=True)]
    agree(register)


def test_global_backward_hooks_run_first_and_may_replace() -> None:
    def register(lib, log):
        mm = lib.nn.modules.module

        def back(m, gi, go):
            log.append(("back", type(m).__name__))
            return tuple(None if g is None else g * 3 for g in gi) if isinstance(m, lib.nn.Tanh) else None
        return [mm.register_module_full_backward_pre_hook(lambda m, go: log.append(("back_pre", type(m).__name__))),
                mm.register_module_full_backward_hook(back)]
    log = agree(register)
    assert ("back", "Linear") in log and log.index(("back", "Linear")) < log.index(("own_back", "Linear"))


def test_lone_global_backward_hook_runs() -> None:
    def register(lib, log):
        return [lib.nn.modules.module.register_module_full_backward_hook(
            lambda m, gi, go: log.append(("back", type(m).__name__)))]
    assert ("back", "Tanh") in agree(register)


def test_global_always_call_hook_runs_when_forward_raises() -> None:
    for lib in (torch, tinygrad_adam):
        seen: list = []
        h = lib.nn.modules.module.register_module_forward_hook(lambda m, i, o, seen=seen: seen.append(o),
                                                               always_call=True)
        try:
            with pytest.raises(Exception):  # noqa: B017 - torch RuntimeError, ours ValueError (README)
                lib.nn.Linear(3, 2)(lib.zeros(2, 4))
        finally:
            h.remove()
        assert seen == [None]
