"""``torch.manual_seed`` returns ``torch.default_generator``, the global CPU stream as a Generator, and the idioms
around it behave as torch's: ``g = torch.manual_seed(0)`` then ``randn(..., generator=g)`` draws from the global
stream, ``default_generator.manual_seed(s)`` reseeds it, its ``get_state`` / ``set_state`` replay it, and
``initial_seed()`` reads the seed. Until this stop ``manual_seed`` returned None and ``default_generator`` did not
exist. (The numbers themselves are our generator's, not torch's: the structure is compared.)

Mutation run (failed here): ``manual_seed`` returning None again."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("lib", [torch, tg], ids=["torch", "ours"])
def test_default_generator_is_the_global_stream(lib: object) -> None:
    g = lib.manual_seed(3)
    assert g is lib.default_generator and g is lib.random.default_generator and g.initial_seed() == 3
    a = lib.randn(4, generator=g).numpy()
    lib.manual_seed(3)
    b = lib.randn(4).numpy()
    assert np.array_equal(a, b)  # generator=default_generator and no generator: one stream
    state = g.get_state()
    c = lib.rand(3).numpy()
    g.set_state(state)
    assert np.array_equal(lib.rand(3).numpy(), c)
    assert lib.default_generator.manual_seed(5) is g and lib.initial_seed() == 5
    assert np.array_equal(lib.randn(2, generator=g).numpy(), (lib.manual_seed(5), lib.randn(2))[1].numpy())
    assert lib.random.manual_seed(7) is g and g.device == lib.device("cpu")
