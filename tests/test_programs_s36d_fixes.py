"""Fixes found by the torch-style programs ``dpsgd_per_sample.py``, ``sam_optimizer.py`` and ``influence_hvp.py``,
each checked against torch.

- An optimizer built on another optimizer's own ``param_groups`` (davda54's SAM: ``SGD(self.param_groups,
  **kwargs)`` inside a wrapper whose groups hold ``rho`` and ``adaptive``; a Lookahead whose groups hold ``alpha``)
  raised TypeError, since those names are other optimizers' hyperparameters. A group that a live optimizer already
  holds now keeps its entries, as torch keeps them; a fresh dict naming another optimizer's hyperparameter is still
  refused.
- ``add_param_group`` copied the caller's dict, where torch fills that dict in with the defaults and keeps it as the
  group: a program that changes a dict it passed (``groups[0]["lr"] = 0.5`` after ``SGD(groups)``), or a wrapper that
  builds its base optimizer on its groups and does not re-point ``param_groups``, silently trained with the old
  values on ours (``w`` 0.9 where torch's is 0.5 in the first test below)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def wrapper_step(lib, extra: dict, base: str, **kwargs) -> tuple[np.ndarray, list]:
    """A wrapper optimizer with ``extra`` hyperparameters builds ``lib.optim.<base>`` on its own groups; one step."""

    class Wrapper(lib.optim.Optimizer):
        def __init__(self, params, base_cls, **kw):
            super().__init__(params, {**extra, **kw})
            self.base_optimizer = base_cls(self.param_groups, **kw)
            self.param_groups = self.base_optimizer.param_groups

        def step(self, closure=None):
            return self.base_optimizer.step(closure)

    w = lib.nn.Parameter(lib.tensor([[1.0, -2.0], [0.5, 3.0]]))
    opt = Wrapper([w], getattr(lib.optim, base), **kwargs)
    (w ** 3).sum().backward()
    for _ in range(2):
        opt.step()
    return w.detach().numpy().copy(), sorted(k for k in opt.param_groups[0] if k in (*extra, *kwargs))


@pytest.mark.parametrize(("extra", "base", "kwargs"), [
    ({"rho": 0.05, "adaptive": False}, "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    ({"alpha": 0.5, "k": 5}, "Adam", {"lr": 0.01}),
    ({"rho": 2.0, "adaptive": True, "betas": (0.9, 0.99)}, "SGD", {"lr": 0.1}),
])
def test_base_optimizer_on_a_wrappers_groups_like_torch(extra: dict, base: str, kwargs: dict) -> None:
    want_w, want_keys = wrapper_step(torch, extra, base, **kwargs)
    got_w, got_keys = wrapper_step(ours, extra, base, **kwargs)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6, atol=1e-7)
    assert got_keys == want_keys and set(extra) <= set(got_keys)


def test_a_fresh_group_naming_another_optimizers_hyperparameter_still_raises() -> None:
    w = ours.nn.Parameter(ours.ones(2))
    with pytest.raises(TypeError, match="momentum"):
        ours.optim.Adam([{"params": [w], "momentum": 0.9}])
    sgd = ours.optim.SGD([w], lr=0.1)
    group = dict(sgd.param_groups[0])  # a copy is no live optimizer's group
    group["params"] = [ours.nn.Parameter(ours.ones(2))]
    group["rho"] = 0.9
    with pytest.raises(TypeError, match="rho"):
        ours.optim.SGD([group])

    class Wrapper(ours.optim.Optimizer):
        def __init__(self, params, **kw):
            super().__init__(params, {"rho": 0.05, **kw})
            self.base_optimizer = ours.optim.SGD(self.param_groups, **kw)

    wrapped = Wrapper([ours.nn.Parameter(ours.ones(2))], lr=0.1)
    assert wrapped.base_optimizer.param_groups[0] is wrapped.param_groups[0]
    with pytest.raises(TypeError, match="rho"):  # an equal copy of the wrapper's group is still a fresh dict
        ours.optim.SGD([dict(wrapped.param_groups[0])])


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_the_callers_group_dict_is_the_optimizers_group(lib) -> None:
    w = lib.nn.Parameter(lib.ones(2))
    groups = [{"params": [w], "lr": 0.1, "weight_decay": 0.0}]
    opt = lib.optim.SGD(groups, momentum=0.5, weight_decay=0.25)
    assert opt.param_groups[0] is groups[0] and groups[0]["params"] == [w]
    assert groups[0]["momentum"] == 0.5 and groups[0]["weight_decay"] == 0.0 and groups[0]["lr"] == 0.1
    groups[0]["lr"] = 0.5  # reaches the optimizer
    w.grad = lib.ones(2)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.5, 0.5])
    extra = {"params": iter([lib.nn.Parameter(lib.zeros(3))]), "weight_decay": 0.1}
    opt.add_param_group(extra)
    assert opt.param_groups[1] is extra and isinstance(extra["params"], list) and extra["lr"] == 0.001  # the default


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_a_wrapper_that_keeps_its_own_groups_reaches_the_base_optimizer(lib) -> None:
    """A wrapper (no ``self.param_groups = base.param_groups``) whose lr is scheduled on its own groups."""

    class Wrapper(lib.optim.Optimizer):
        def __init__(self, params, **kw):
            super().__init__(params, {"k": 5, **kw})
            self.base = lib.optim.SGD(self.param_groups, **kw)

        def step(self, closure=None):
            return self.base.step(closure)

    w = lib.nn.Parameter(lib.ones(2))
    opt = Wrapper([w], lr=0.1)
    scheduler = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = lib.ones(2)
        opt.step()
        scheduler.step()
    assert opt.base.param_groups[0] is opt.param_groups[0]
    np.testing.assert_allclose(w.detach().numpy(), [1 - 0.1 - 0.05 - 0.025] * 2, rtol=1e-6)


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_a_programs_own_optimizer_class_does_not_make_its_keywords_refused(lib) -> None:
    """Only this library's optimizers' keywords are refused in a group: a program's own Optimizer subclass (here
    with ``sharpness``) leaves that name free for another optimizer's groups, whatever classes a process defined."""

    class Mine(lib.optim.Optimizer):
        def __init__(self, params, lr: float = 0.1, sharpness: float = 0.05) -> None:
            super().__init__(params, {"lr": lr, "sharpness": sharpness})

    w = lib.zeros(2, requires_grad=True)
    Mine([lib.zeros(1, requires_grad=True)])
    opt = lib.optim.Adam([{"params": [w], "sharpness": 3.0}], lr=0.1)
    assert opt.param_groups[0]["sharpness"] == 3.0
    if lib is ours:  # a library optimizer's keyword (SGD's momentum) stays refused here (README's Differences)
        with pytest.raises(TypeError, match="momentum"):
            lib.optim.Adam([{"params": [lib.zeros(1, requires_grad=True)], "momentum": 0.9}])


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_vmap_refuses_batch_norm_statistics_shared_by_the_mapped_elements(lib) -> None:
    """DP-SGD's usual mistake: per-sample gradients through a BatchNorm in training whose running statistics are
    passed unmapped. torch refuses; ours ran the function once per element and updated the statistics that often.
    Stacked (mapped) statistics, an ensemble's, and eval() mode work in both."""
    func, nn = lib.func, lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(32, 3))
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    x = lib.randn(4, 1, 6, 6)

    def loss(p: dict, b: dict, xi):
        return func.functional_call(model, (p, b), (xi.unsqueeze(0),)).sum()

    with pytest.raises(RuntimeError):
        func.vmap(loss, in_dims=(None, None, 0))(params, buffers, x)
    models = [nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(32, 3)) for _ in range(3)]
    stacked_params, stacked_buffers = func.stack_module_state(models)
    out = func.vmap(lambda p, b, xx: func.functional_call(models[0], (p, b), (xx,)), in_dims=(0, 0, None))(
        stacked_params, stacked_buffers, x)
    assert tuple(out.shape) == (3, 4, 3) and int(stacked_buffers["1.num_batches_tracked"][0]) == 1
    model.eval()
    assert tuple(func.vmap(loss, in_dims=(None, None, 0))(params, buffers, x).shape) == (4,)


def test_an_optimizer_subclass_with_its_own_eq_is_built() -> None:
    """The live optimizers are kept by id, so a subclass that defines __eq__ (and so no hash) still constructs."""

    class Compared(ours.optim.SGD):
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Compared) and self.defaults == other.defaults

    w = ours.zeros(2, requires_grad=True)
    opt = Compared([w], lr=0.1)
    base = ours.optim.SGD(opt.param_groups, lr=0.1)  # a group the live (unhashable) optimizer holds: accepted
    assert base.param_groups[0] is opt.param_groups[0]
