"""What porting facebookresearch/detr (``tests/torch_style/detr.py``) found, each against torch.

- ``nn.Module`` had no ``_load_from_state_dict``, the per-module step of ``load_state_dict`` that torch code
  overrides: DETR's FrozenBatchNorm2d deletes ``prefix + 'num_batches_tracked'`` there and calls
  ``super()._load_from_state_dict(...)``, so it raised AttributeError in ours when torchvision-style BatchNorm2d
  weights were loaded (loud). ``load_state_dict`` now walks the tree as torch's does, calling each module's
  ``_load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)`` on
  the keys under its prefix (an override may delete, rename or rewrite them), with the ``_metadata`` entry for its
  prefix; the base method loads the module's own parameters and persistent buffers and notes missing and unexpected
  keys and shape mismatches. As torch's, an override is handed Tensors (an old checkpoint's transposed ``kernel``
  is ``.t()``-ed there). (Ours still writes nothing unless every module loads.)
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def classes(lib: object) -> tuple[type, type, type]:
    """DETR's FrozenBatchNorm2d, a legacy-renaming override and one that records its local metadata, in ``lib``."""

    class FrozenBatchNorm2d(lib.nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.register_buffer("weight", lib.ones(n))
            self.register_buffer("bias", lib.zeros(n))
            self.register_buffer("running_mean", lib.zeros(n))
            self.register_buffer("running_var", lib.ones(n))

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                  unexpected_keys, error_msgs) -> None:
            num_batches_tracked_key = prefix + "num_batches_tracked"
            if num_batches_tracked_key in state_dict:
                del state_dict[num_batches_tracked_key]
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                          unexpected_keys, error_msgs)

    class Renamed(lib.nn.Linear):
        """Old checkpoints held the weight transposed as ``kernel``: renamed and ``.t()``-ed before the base step."""

        def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
            if prefix + "kernel" in state_dict:
                state_dict[prefix + "weight"] = state_dict.pop(prefix + "kernel").t()
            super()._load_from_state_dict(state_dict, prefix, *args)

    class Versioned(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list = []
            self.scale = lib.nn.Parameter(lib.ones(2))

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args) -> None:
            self.seen.append((prefix, local_metadata.get("version")))
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    return FrozenBatchNorm2d, Renamed, Versioned


def build(lib: object, depth: int, n: int) -> object:
    """A FrozenBatchNorm2d ``depth`` Sequentials down beside a Renamed Linear and a Versioned module."""
    frozen, renamed, versioned = classes(lib)
    inner = frozen(n)
    for _ in range(depth):
        inner = lib.nn.Sequential(inner, lib.nn.Identity())
    return lib.nn.Sequential(inner, renamed(n, 2), versioned())


FLOATS = st.floats(width=32)  # NaN, infinities and subnormals included: a load copies bits


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(0, 3), n=st.integers(1, 4), data=st.data(), drop=st.booleans(), extra=st.booleans(),
       legacy=st.booleans())
def test_load_from_state_dict_overrides_match_torch(depth: int, n: int, data: st.DataObject, drop: bool, extra: bool,
                                                    legacy: bool) -> None:
    """A BatchNorm2d-style state dict (with ``num_batches_tracked``) into FrozenBatchNorm2d, legacy ``kernel`` keys,
    a dropped key and a stray one under strict=False: the same values loaded and the same missing / unexpected
    keys as torch, and strict loads raising where torch's raise."""
    theirs, ours = build(torch, depth, n), build(tinygrad_adam, depth, n)
    state = {k: np.asarray(data.draw(st.lists(FLOATS, min_size=v.numel(), max_size=v.numel())),
                           dtype=np.float32).reshape(tuple(v.shape)) for k, v in theirs.state_dict().items()}
    prefix = "0." * (depth + 1)
    state[prefix + "num_batches_tracked"] = np.array(7, dtype=np.int64)
    if legacy:
        state["1.kernel"] = state.pop("1.weight").T.copy()
    if drop:
        state.pop(prefix + "running_var")
    if extra:
        state["2.stray"] = np.zeros(3, dtype=np.float32)
    for strict in (True, False):
        want = got = None
        try:
            want = theirs.load_state_dict(OrderedDict((k, torch.tensor(v)) for k, v in state.items()), strict=strict)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                ours.load_state_dict(OrderedDict((k, tinygrad_adam.tensor(v)) for k, v in state.items()),
                                     strict=strict)
            continue
        given = OrderedDict((k, tinygrad_adam.tensor(v)) for k, v in state.items())
        got = ours.load_state_dict(given, strict=strict)
        assert list(given) == list(state)  # the overrides edited a copy, as in torch
        assert got.missing_keys == want.missing_keys and got.unexpected_keys == want.unexpected_keys
        mine = ours.state_dict()
        for k, v in theirs.state_dict().items():
            np.testing.assert_array_equal(mine[k].numpy(), v.numpy(), err_msg=k)
    assert not (drop or extra) or want is None or want.missing_keys or want.unexpected_keys


@pytest.mark.parametrize("lib", [torch, tinygrad_adam], ids=["torch", "ours"])
def test_local_metadata_and_a_direct_call(lib: object) -> None:
    """An override sees the ``_metadata`` entry of its own prefix ({} where the dict has none), as torch passes it;
    the base step called by hand fills the lists it is given."""
    model = build(lib, 1, 2)
    state = OrderedDict(model.state_dict())
    state._metadata = {"": {"version": 1}, "2": {"version": 5}}
    model.load_state_dict(state)
    state = OrderedDict(model.state_dict())
    model.load_state_dict(state)
    assert model[2].seen == [("2.", 5), ("2.", None)]

    missing, unexpected, errors = [], [], []
    linear = lib.nn.Linear(2, 3)
    linear._load_from_state_dict({"p.weight": lib.ones(3, 2), "p.odd": lib.ones(1), "p.bias": lib.ones(4)}, "p.", {},
                                 True, missing, unexpected, errors)
    assert missing == [] and unexpected == ["p.odd"] and len(errors) == 1 and "bias" in errors[0]
    np.testing.assert_array_equal(linear.weight.detach().numpy(), np.ones((3, 2)))
    missing, unexpected, errors = [], [], []
    linear._load_from_state_dict({}, "", {}, True, missing, unexpected, errors)
    assert missing == ["weight", "bias"] and unexpected == [] and errors == []
