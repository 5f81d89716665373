"""torch's module paths that code imports names from (``from torch.nn.modules.loss import _Loss``, ``from
torch.utils.data.sampler import Sampler``, ``torch.nn.modules.utils._pair``, ...) work at the same path under
tinygrad_adam and give the same-named objects, checked against torch 2.13's modules; ``nn.modules.utils`` behaves
as torch's."""

from __future__ import annotations

import collections
import importlib
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam as tg  # noqa: E402
import tinygrad_adam.nn.modules as our_modules  # noqa: E402

NN_MODULES = ["module", "linear", "conv", "activation", "loss", "container", "batchnorm", "instancenorm",
              "normalization", "dropout", "sparse", "rnn", "pooling", "padding", "pixelshuffle", "upsampling",
              "distance", "flatten", "fold", "channelshuffle", "transformer", "adaptive", "lazy",
              "linear_cross_entropy_options"]
# (path under torch / tinygrad_adam, names imported from it): lines seen in PyTorch code
PATHS = [
    ("nn.utils.clip_grad", "clip_grad_norm_ clip_grad_value_"),
    ("nn.utils.weight_norm", "weight_norm remove_weight_norm WeightNorm"),
    ("nn.utils.spectral_norm", "spectral_norm remove_spectral_norm SpectralNorm"),
    ("utils.data.sampler", "Sampler SequentialSampler RandomSampler SubsetRandomSampler WeightedRandomSampler "
                           "BatchSampler"),
    ("autograd.variable", "Variable"),
    ("autograd.grad_mode", "no_grad enable_grad set_grad_enabled inference_mode"),
    ("optim.adamw", "AdamW"),
    ("nn.common_types", "_size_1_t _size_2_t _size_3_t _size_any_t _ratio_2_t _size_2_opt_t"),
    ("nn.modules.utils", "_single _pair _triple _quadruple _ntuple _reverse_repeat_tuple "
                         "consume_prefix_in_state_dict_if_present"),
]


def _classes(module: Any) -> list[str]:
    """The classes torch defines in ``module`` (not those it imports)."""
    return [k for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__]


@pytest.mark.parametrize("name", NN_MODULES)
def test_nn_modules_submodules_hold_torchs_classes(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = importlib.import_module(f"torch.nn.modules.{name}")
    ours = importlib.import_module(f"tinygrad_adam.nn.modules.{name}")
    assert getattr(our_modules, name) is ours
    missing = {"_IncompatibleKeys", "_WrappedHook", "_ConvTransposeMixin", "_LazyConvXdMixin", "_LazyNormBase",
               "_LazyProtocol", "_AutoDefault"}  # torch's helpers with no counterpart here
    wanted = [k for k in _classes(theirs) if k not in missing]
    assert wanted and [k for k in wanted if not hasattr(ours, k)] == []
    for k in wanted:
        cls = getattr(ours, k)
        assert isinstance(cls, type) and cls.__name__ == k
        if hasattr(tg.nn, k):
            assert cls is getattr(tg.nn, k)
        assert issubclass(cls, tg.nn.Module) == issubclass(getattr(theirs, k), torch.nn.Module), k


@pytest.mark.parametrize(("path", "names"), PATHS, ids=[p for p, _ in PATHS])
def test_module_paths_import_as_torchs(path: str, names: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = importlib.import_module(f"torch.{path}")
    ours = importlib.import_module(f"tinygrad_adam.{path}")
    for name in names.split():
        mine, want = getattr(ours, name), getattr(theirs, name)
        assert getattr(mine, "__name__", None) == getattr(want, "__name__", None) or not hasattr(want, "__name__"), name
        assert callable(mine) == callable(want), name


def test_legacy_attributes_stay_the_functions() -> None:
    """``nn.utils.weight_norm`` is the function (its module imports by path only), as torch's."""
    import tinygrad_adam.nn.utils.weight_norm  # noqa: F401 - the path import must not replace the attribute

    assert tg.nn.utils.weight_norm.__name__ == torch.nn.utils.weight_norm.__name__ == "weight_norm"
    assert callable(tg.nn.utils.spectral_norm) and tg.nn.utils.clip_grad_norm_ is tg.nn.utils.clip_grad.clip_grad_norm_


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.integers(-3, 9), st.lists(st.integers(0, 5), max_size=4).map(tuple),
                       st.lists(st.integers(0, 5), max_size=4), st.text("abc", max_size=3)),
       n=st.integers(1, 4))
def test_ntuple_helpers_as_torchs(value: Any, n: int) -> None:
    from tinygrad_adam.nn.modules import utils as ours

    theirs = importlib.import_module("torch.nn.modules.utils")
    for name in ("_single", "_pair", "_triple", "_quadruple"):
        assert getattr(ours, name)(value) == getattr(theirs, name)(value)
    assert ours._ntuple(n, "x")(value) == theirs._ntuple(n, "x")(value)
    if isinstance(value, tuple):
        assert ours._reverse_repeat_tuple(value, n) == theirs._reverse_repeat_tuple(value, n)


@pytest.mark.parametrize("prefix", ["module.", "model.", "x"])
def test_consume_prefix_as_torchs(prefix: str) -> None:
    from tinygrad_adam.nn.modules import utils as ours

    theirs = importlib.import_module("torch.nn.modules.utils")
    results = []
    for consume in (ours.consume_prefix_in_state_dict_if_present, theirs.consume_prefix_in_state_dict_if_present):
        state = collections.OrderedDict([("module.a", 1), ("c", 3), ("module.b.w", 2), ("model.module.d", 4)])
        state._metadata = collections.OrderedDict([("", {}), ("module", {"v": 1}), ("module.b", {"v": 2}),
                                                   ("c", {})])
        consume(state, prefix)
        results.append((list(state.items()), list(state._metadata.items())))
    assert results[0] == results[1]
    plain = {"module.w": 1}
    ours.consume_prefix_in_state_dict_if_present(plain, "module.")  # a dict without _metadata
    assert plain == {"w": 1}


def test_assert_as_torchs() -> None:
    for lib in (tg, torch):
        lib._assert(lib.tensor(True), "fine")
        with pytest.raises(AssertionError, match=r"^shape wrong$"):
            lib._assert(False, "shape wrong")
