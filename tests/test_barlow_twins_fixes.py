"""What porting facebookresearch/barlowtwins (``tests/torch_style/barlow_twins.py``) found, each against torch.

- An ``optim.Optimizer`` subclass with its own ``step`` (main.py's LARS, passing ``lr`` / ``weight_decay`` /
  ``momentum`` / ``eta`` / the two filters as its defaults) got a ``"maximize": False`` entry in every parameter group
  that torch's base class never adds, so ``optimizer.param_groups`` and the checkpoint's ``state_dict()`` held a key
  torch's do not (silent: no error, a different dict). LBFGS, which has no ``maximize`` in torch, had one too. The base
  class now adds ``maximize`` only for the optimizers updating through ``reference`` (torch's built-ins, which have it);
  a state_dict saved before, whose groups hold ``"maximize": False``, still loads.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NAMES = st.sampled_from(["lr", "weight_decay", "momentum", "eta", "weight_decay_filter", "lars_adaptation_filter",
                         "scale", "trust"])
VALUES = st.one_of(st.floats(allow_nan=False, width=32), st.booleans(), st.none(), st.integers(-3, 3))


def subclass(lib: object) -> type:
    """A user optimizer as main.py writes LARS: the base class with its own defaults and its own ``step``."""

    class Custom(lib.optim.Optimizer):
        def __init__(self, params: object, **defaults: object) -> None:
            super().__init__(params, defaults)

        @lib.no_grad()
        def step(self) -> None:
            for g in self.param_groups:
                for p in g["params"]:
                    state = self.state[p]
                    if "mu" not in state:
                        state["mu"] = lib.zeros_like(p)
                    state["mu"].mul_(0.5).add_(p.grad)
                    p.add_(state["mu"], alpha=-0.1)

    return Custom


@settings(max_examples=40, deadline=None)
@given(defaults=st.dictionaries(NAMES, VALUES, max_size=6), shape=st.sampled_from([(), (0,), (3,), (2, 3)]),
       split=st.booleans())
def test_custom_optimizer_groups_hold_only_its_defaults(defaults: dict, shape: tuple, split: bool) -> None:
    """``param_groups`` and ``state_dict()`` of a user subclass: torch's keys and values, the momentum state alike."""
    x = np.linspace(-2, 3, int(np.prod(shape))).astype(np.float32).reshape(shape)
    runs = []
    for lib in (torch, tinygrad_adam):
        ps = [lib.nn.Parameter(lib.from_numpy(x.copy())), lib.nn.Parameter(lib.from_numpy(np.asarray(x + 1)))]
        params = [{"params": ps[:1]}, {"params": ps[1:], **{k: 0.5 for k in defaults if k != "lr"}}] if split else ps
        opt = subclass(lib)(params, **defaults)
        for p in ps:
            p.grad = lib.ones_like(p)
        opt.step()
        runs.append(opt)
    want, got = runs
    assert got.defaults == want.defaults
    assert [{k: v for k, v in g.items() if k != "params"} for g in got.param_groups] == \
           [{k: v for k, v in g.items() if k != "params"} for g in want.param_groups]
    ours, theirs = got.state_dict(), want.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for i in theirs["state"]:
        np.testing.assert_array_equal(ours["state"][i]["mu"].numpy(), theirs["state"][i]["mu"].numpy())


def test_lbfgs_and_builtins_keep_torchs_group_keys() -> None:
    """LBFGS has no ``maximize`` (torch's neither); SGD / Adam / Muon keep theirs; ``maximize=True`` still ascends."""
    for name in ("LBFGS", "SGD", "Adam", "Rprop"):
        groups = [getattr(lib.optim, name)([lib.nn.Parameter(lib.ones(2, 2))]).param_groups[0]
                  for lib in (torch, tinygrad_adam)]
        assert ("maximize" in groups[1]) == ("maximize" in groups[0]), name
    assert "maximize" in tinygrad_adam.optim.Muon([tinygrad_adam.nn.Parameter(tinygrad_adam.ones(2, 2))]).defaults
    p = tinygrad_adam.nn.Parameter(tinygrad_adam.zeros(3))
    opt = tinygrad_adam.optim.SGD([p], lr=0.5, maximize=True)
    p.grad = tinygrad_adam.ones(3)
    opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), np.full(3, 0.5, np.float32))


def test_old_state_dict_with_maximize_false_still_loads() -> None:
    """LBFGS / a subclass's groups saved with the ``"maximize": False`` ours used to add load (torch takes any key);
    ``maximize=True`` there is still refused as another optimizer's option."""
    p = tinygrad_adam.nn.Parameter(tinygrad_adam.ones(2))
    for opt in (tinygrad_adam.optim.LBFGS([p]), subclass(tinygrad_adam)([p], lr=0.1)):
        saved = opt.state_dict()
        saved["param_groups"][0]["maximize"] = False
        opt.load_state_dict(saved)
        assert opt.param_groups[0]["maximize"] is False
        saved["param_groups"][0]["maximize"] = True
        with pytest.raises(TypeError, match="maximize"):
            opt.load_state_dict(saved)
