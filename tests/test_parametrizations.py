"""nn.utils.parametrize, nn.utils.parametrizations (weight_norm, spectral_norm) and the hook-based
nn.utils.weight_norm / spectral_norm against torch 2.13: parameter names and state_dict keys, values and gradients
w.r.t. the originals, training steps with an optimizer (spectral norm's u, v advance identically: torch draws its
initial vectors at random, so its buffers are copied into ours), eval mode, assignment through right_inverse,
removal, cached(), load_state_dict of torch's state dicts, and errors.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import ERRORS, arrays

import tinygrad_adam as tg
from tinygrad_adam import nn
from tinygrad_adam.nn.utils import parametrizations, parametrize

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TP, TPZ = torch.nn.utils.parametrize, torch.nn.utils.parametrizations
DTYPES = st.sampled_from([np.float32, np.float64])


# ---------------------------------------------------------------- helpers
def tol(dtype: Any) -> float:
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


def arr(t: Any) -> np.ndarray:
    """A host array of a Tensor of either library, or of a state_dict value."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, tg.Tensor) else np.asarray(t)


def close(a: Any, b: Any, rtol: float) -> None:
    a, b = arr(a), arr(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    finite = np.abs(b[np.isfinite(b)])
    atol = rtol * max(1.0, float(finite.max()) if finite.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def same_state(ours: nn.Module, theirs: Any, rtol: float) -> None:
    """The same state_dict keys in the same order with the same values, and the same parameter, buffer names."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        close(a[k], b[k], rtol)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def same_grads(ours: nn.Module, theirs: Any, rtol: float) -> None:
    a, b = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for name, p in b.items():
        assert (a[name].grad is None) == (p.grad is None), name
        if p.grad is not None:
            close(a[name].grad, p.grad, rtol)


def backward(t: Any) -> None:
    """Backpropagate a fixed upstream gradient (cosines) through ``t``."""
    lib = torch if isinstance(t, torch.Tensor) else tg
    g = np.cos(np.arange(int(np.prod(t.shape))) + 1.0).reshape(tuple(t.shape)).astype(arr(t).dtype)
    (t * lib.tensor(g)).sum().backward()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No FutureWarning (the hook-based weight_norm's deprecation) inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def copy_buffers(ours: nn.Module, theirs: Any) -> None:
    """torch's (randomly initialised) buffers into ours."""
    for name, b in theirs.named_buffers():
        ours.get_buffer(name).data[...] = b.numpy()


def api(lib: Any) -> tuple[Any, Any, Any]:
    """(nn, parametrize, parametrizations) of ``lib``."""
    return (torch.nn, TP, TPZ) if lib is torch else (nn, parametrize, parametrizations)


class Holder(nn.Module):
    """A module whose only parameter is ``weight``; its forward returns it (after the pre-hooks, for the hook-based
    forms)."""

    def __init__(self, w: np.ndarray) -> None:
        self.weight = nn.Parameter(w.copy())

    def forward(self) -> tg.Tensor:
        return self.weight


class TorchHolder(torch.nn.Module):
    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(w))

    def forward(self) -> Any:
        return self.weight


def holder(lib: Any, w: np.ndarray) -> Any:
    """A module whose only parameter, ``weight``, holds (a copy of) ``w``."""
    return TorchHolder(w) if lib is torch else Holder(w)


def both_or_neither(make: Callable[[Any], Any]) -> tuple[Any, Any] | None:
    """(ours, theirs) made by ``make(lib)``; None when torch raises, after checking that we raise too."""
    try:
        theirs = make(torch)
    except ERRORS:
        with pytest.raises(ERRORS):
            make(tg)
        return None
    return make(tg), theirs


LAYERS: dict[str, tuple[Callable[[Any], Any], tuple[int, ...]]] = {
    "linear": (lambda lib: lib.nn.Linear(3, 4), (2, 3)),
    "conv1d": (lambda lib: lib.nn.Conv1d(2, 4, 2), (2, 2, 5)),
    "conv2d": (lambda lib: lib.nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "conv_transpose2d": (lambda lib: lib.nn.ConvTranspose2d(3, 2, 3), (2, 3, 4, 4)),
}


def layer_pair(kind: str, dtype: Any) -> tuple[nn.Module, Any]:
    """One layer in each library, with torch's random weights in both."""
    make = LAYERS[kind][0]
    theirs, ours = make(torch), make(tg)
    if np.dtype(dtype) == np.float64:
        theirs, ours = theirs.double(), ours.double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


FLAVOURS = ["weight_norm", "spectral_norm", "legacy_weight_norm", "legacy_spectral_norm"]


def reparametrize(lib: Any, m: Any, flavour: str, **kw: Any) -> Any:
    lib_nn, _, pz = api(lib)
    if flavour == "weight_norm":
        return pz.weight_norm(m, **kw)
    if flavour == "spectral_norm":
        return pz.spectral_norm(m, **kw)
    if flavour == "legacy_weight_norm":
        with pytest.warns(FutureWarning):
            return lib_nn.utils.weight_norm(m, **kw)
    return lib_nn.utils.spectral_norm(m, **kw)


def reparametrized_pair(kind: str, dtype: Any, flavour: str, **kw: Any) -> tuple[nn.Module, Any]:
    """``layer_pair`` with ``flavour`` applied in both libraries and torch's random vectors copied into ours."""
    ours, theirs = layer_pair(kind, dtype)
    reparametrize(torch, theirs, flavour, **kw)
    reparametrize(tg, ours, flavour, **kw)
    copy_buffers(ours, theirs)
    return ours, theirs


# ---------------------------------------------------------------- weight_norm / spectral_norm on any parameter
@settings(max_examples=80, deadline=None)
@given(w=arrays(0, 3), dim=st.sampled_from([0, 1, 2, -1, -2, -3, None]), dtype=DTYPES, legacy=st.booleans())
def test_weight_norm_values_state_and_gradients(w: np.ndarray, dim: int | None, dtype: Any, legacy: bool) -> None:
    def make(lib: Any) -> Any:
        m = reparametrize(lib, holder(lib, w.astype(dtype)), "legacy_weight_norm" if legacy else "weight_norm",
                          dim=dim)
        backward(m())
        return m
    pair = both_or_neither(make)
    if pair is None:
        return
    ours, theirs = pair
    close(ours(), theirs(), tol(dtype))
    same_state(ours, theirs, tol(dtype))
    same_grads(ours, theirs, tol(dtype))


@settings(max_examples=80, deadline=None)
@given(w=arrays(0, 3), dim=st.sampled_from([None, 0, 1, 2, -1, -3]), n=st.integers(0, 3), dtype=DTYPES,
       legacy=st.booleans())
def test_spectral_norm_values_buffers_and_gradients(w: np.ndarray, dim: int | None, n: int, dtype: Any,
                                                    legacy: bool) -> None:
    """Two forwards in training mode (each advances u, v), then two in eval mode (they stay)."""
    flavour = "legacy_spectral_norm" if legacy else "spectral_norm"
    pair = both_or_neither(lambda lib: reparametrize(lib, holder(lib, w.astype(dtype)), flavour, dim=dim,
                                                     n_power_iterations=n))
    if pair is None:
        return
    ours, theirs = pair
    copy_buffers(ours, theirs)
    for mode in ("train", "train", "eval", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        a, b = ours(), theirs()
        close(a, b, tol(dtype))
        backward(a)
        backward(b)
        same_state(ours, theirs, tol(dtype))
        same_grads(ours, theirs, tol(dtype))


# ---------------------------------------------------------------- layers, trained
@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(list(LAYERS)), flavour=st.sampled_from(FLAVOURS), dtype=DTYPES,
       dim=st.sampled_from([None, 0, 1]), n=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_training_steps_match_torch(kind: str, flavour: str, dtype: Any, dim: int | None, n: int, seed: int) -> None:
    """SGD with momentum on (output^2).mean() for four steps: outputs, originals, buffers and gradients follow
    torch's; then in eval mode the outputs agree and spectral norm's vectors stay."""
    torch.manual_seed(seed)
    kw: dict[str, Any] = {"dim": dim}
    if "spectral" in flavour:
        kw["n_power_iterations"] = n
    ours, theirs = reparametrized_pair(kind, dtype, flavour, **kw)
    same_state(ours, theirs, tol(dtype))
    x = np.random.default_rng(seed).standard_normal(LAYERS[kind][1]).astype(dtype)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    opt_o = tg.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    for _ in range(4):
        outs = []
        for m, opt, lib in ((theirs, opt_t, torch), (ours, opt_o, tg)):
            opt.zero_grad()
            out = m(lib.tensor(x))
            (out * out).mean().backward()
            opt.step()
            outs.append(out)
        close(outs[1], outs[0], tol(dtype))
        same_grads(ours, theirs, tol(dtype))
        same_state(ours, theirs, tol(dtype))
    theirs.eval()
    ours.eval()
    before = copy.deepcopy(theirs.state_dict())
    with torch.no_grad():
        expected = theirs(torch.tensor(x))
    close(ours(tg.tensor(x)), expected, tol(dtype))
    same_state(ours, theirs, tol(dtype))
    for k, v in before.items():
        assert torch.equal(v, theirs.state_dict()[k])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_load_state_dict_from_torch(flavour: str) -> None:
    torch.manual_seed(1)
    theirs = reparametrize(torch, torch.nn.Conv2d(2, 3, 3), flavour)
    for _ in range(3):  # move spectral norm's vectors on
        theirs(torch.ones(1, 2, 4, 4))
    ours = reparametrize(tg, nn.Conv2d(2, 3, 3), flavour)
    missing, unexpected = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert missing == unexpected == []
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    close(ours(tg.tensor(x)), theirs(torch.tensor(x)), 1e-5)
    close(ours.weight, theirs.weight, 1e-5)
    same_state(ours, theirs, 1e-6)


def test_weight_norm_loads_the_hook_based_weight_norms_state_dict() -> None:
    """torch's compatibility: weight_g / weight_v (of a submodule too) load into original0 / original1."""
    torch.manual_seed(7)
    with quiet():
        old = torch.nn.Sequential(torch.nn.utils.weight_norm(torch.nn.Linear(3, 4)), torch.nn.ReLU())
    old[0].weight_g.data.mul_(3)
    theirs = torch.nn.Sequential(TPZ.weight_norm(torch.nn.Linear(3, 4)), torch.nn.ReLU())
    ours = nn.Sequential(parametrizations.weight_norm(nn.Linear(3, 4)), nn.ReLU())
    state = old.state_dict()
    assert "0.weight_g" in state
    theirs.load_state_dict(state)
    assert ours.load_state_dict({k: v.numpy() for k, v in state.items()}) == ([], [])
    same_state(ours, theirs, 0)
    x = np.ones((2, 3), dtype=np.float32)
    close(ours(tg.tensor(x)), old(torch.tensor(x)), 1e-6)


def test_weight_norm_reads_g_as_one_value_per_slice() -> None:
    """torch's fused kernel (dims 0 and last) takes g of any shape holding one value per slice; a g of another size
    (torch reads past its end, or crashes) raises here."""
    w = np.random.default_rng(9).standard_normal((3, 4))
    for dim, shape in ((0, (3,)), (1, (4,)), (1, (2, 2))):
        ours, theirs = parametrizations.weight_norm(holder(tg, w), dim=dim), TPZ.weight_norm(holder(torch, w), dim=dim)
        g = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
        theirs.parametrizations.weight.original0.data = torch.tensor(g)
        ours.parametrizations.weight.original0.data = g.copy()
        close(ours.weight, theirs.weight, 1e-12)
    ours.parametrizations.weight.original0.data = np.ones(3)
    with pytest.raises(ValueError, match="one float64 value per slice"):
        getattr(ours, "weight")  # noqa: B009 - the access itself raises


@pytest.mark.parametrize("flavour", ["spectral_norm", "legacy_spectral_norm"])
def test_spectral_norm_backward_through_two_forwards(flavour: str) -> None:
    """A GAN's D(real) + D(fake): the second forward's power step writes u, v in place before the backward that
    the first forward's graph needs; u, v are copied into each graph, so both backpropagate, as in torch."""
    torch.manual_seed(10)
    ours, theirs = reparametrized_pair("linear", np.float64, flavour)
    x = np.random.default_rng(10).standard_normal((2, 3))
    backward(ours(tg.tensor(x)) + ours(tg.tensor(-2 * x)))
    backward(theirs(torch.tensor(x)) + theirs(torch.tensor(-2 * x)))
    same_grads(ours, theirs, 1e-12)
    same_state(ours, theirs, 1e-12)


def test_spectral_norm_starts_from_converged_vectors() -> None:
    """Registering runs 15 power steps from random vectors: for a matrix with a clear gap between its singular
    values, u and v are then the top singular vectors (up to sign), whatever the random draws, as torch's are."""
    rng = np.random.default_rng(8)
    q1, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    q2, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    w = q1[:, :3] @ np.diag([3.0, 1.0, 0.5]) @ q2.T
    ours = parametrizations.spectral_norm(holder(tg, w))
    theirs = TPZ.spectral_norm(holder(torch, w))
    for name in ("_u", "_v"):
        a, b = arr(ours.get_buffer(f"parametrizations.weight.0.{name}")), arr(theirs.get_buffer(
            f"parametrizations.weight.0.{name}"))
        assert abs(abs(a @ b) - 1) < 1e-12
    ours.eval()
    theirs.eval()
    close(ours.weight, theirs.weight, 1e-12)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_to_double_and_deepcopy(flavour: str) -> None:
    torch.manual_seed(2)
    ours, theirs = reparametrized_pair("linear", np.float32, flavour)
    ours, theirs = ours.double(), theirs.double()
    same_state(ours, theirs, 1e-6)
    if flavour == "legacy_weight_norm":  # neither copies its non-leaf weight attribute
        for model in (ours, theirs):
            with pytest.raises(RuntimeError, match="deepcopy"):
                copy.deepcopy(model)
        return
    else:
        twin, their_twin = copy.deepcopy(ours), copy.deepcopy(theirs)
    assert type(twin).__name__ == type(ours).__name__ == type(theirs).__name__
    x = np.ones((1, 3))
    for _ in range(2):  # (each forward in training mode moves spectral norm's vectors on)
        close(twin(tg.tensor(x)), their_twin(torch.tensor(x)), 1e-6)
    close(ours(tg.tensor(x)), theirs(torch.tensor(x)), 1e-6)
    for p in twin.parameters():  # the copy is independent
        p.data[...] = 0
    assert all(np.any(p.numpy() != 0) for p in ours.parameters())


def test_pickling_a_parametrized_module_raises_as_in_torch() -> None:
    theirs, ours = TPZ.weight_norm(torch.nn.Linear(2, 2)), parametrizations.weight_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError):
        pickle.dumps(theirs)
    with pytest.raises(TypeError, match="state_dict"):
        pickle.dumps(ours)


# ---------------------------------------------------------------- register_parametrization itself
def custom(lib: Any, kind: str) -> Any:
    """Parametrizations of a square matrix, as modules of ``lib``: Symmetric (right_inverse: triu), RankOne
    (two originals), Double (no right_inverse), Transpose2 (a (2, 3) weight becomes (3, 2); unsafe)."""
    base = lib.nn.Module

    class Symmetric(base):
        def forward(self, x: Any) -> Any:
            return x.triu() + x.triu(1).T

        def right_inverse(self, a: Any) -> Any:
            return a.triu()

    class RankOne(base):
        def forward(self, x: Any, y: Any) -> Any:
            return x.unsqueeze(-1) @ y.unsqueeze(-2)

        def right_inverse(self, z: Any) -> Any:
            return z[:, 0] + 0, z[0, :] / 2

    class Double(base):
        def forward(self, x: Any) -> Any:
            return x * 2

    class Transpose(base):
        def forward(self, x: Any) -> Any:
            return x.T

    class ToDouble(base):
        def forward(self, x: Any) -> Any:
            return x.double()

    return {"symmetric": Symmetric, "rank_one": RankOne, "double": Double, "transpose": Transpose,
            "to_double": ToDouble}[kind]()


def square_pair() -> tuple[nn.Module, Any]:
    """A float64 Linear(3, 3) in each library, with torch's weights."""
    torch.manual_seed(3)
    theirs = torch.nn.Linear(3, 3).double()
    ours = nn.Linear(3, 3).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("chain", [["symmetric"], ["rank_one"], ["symmetric", "double"], ["rank_one", "double"],
                                   ["double", "symmetric"]])
def test_custom_parametrizations_names_values_and_gradients(chain: list[str]) -> None:
    ours, theirs = square_pair()
    for kind in chain:
        TP.register_parametrization(theirs, "weight", custom(torch, kind))
        parametrize.register_parametrization(ours, "weight", custom(tg, kind))
    assert type(ours).__name__ == type(theirs).__name__ == "ParametrizedLinear"
    assert parametrize.type_before_parametrizations(ours) is nn.Linear
    assert parametrize.is_parametrized(ours) and parametrize.is_parametrized(ours, "weight")
    assert not parametrize.is_parametrized(ours, "bias")
    assert len(ours.parametrizations.weight) == len(theirs.parametrizations.weight) == len(chain)
    same_state(ours, theirs, 1e-12)
    close(ours.weight, theirs.weight, 1e-12)
    x = np.arange(6.0).reshape(2, 3)
    backward(ours(tg.tensor(x)))
    backward(theirs(torch.tensor(x)))
    same_grads(ours, theirs, 1e-12)


def test_assignment_goes_through_right_inverse() -> None:
    a = np.array([[1.0, 2.0, 3.0], [2.0, 5.0, 6.0], [3.0, 6.0, 9.0]])
    for kind in ("symmetric", "rank_one"):
        ours, theirs = square_pair()
        TP.register_parametrization(theirs, "weight", custom(torch, kind))
        parametrize.register_parametrization(ours, "weight", custom(tg, kind))
        before = list(ours.parameters())
        theirs.weight = torch.tensor(a)
        ours.weight = tg.tensor(a)
        assert [id(p) for p in ours.parameters()] == [id(p) for p in before]  # the same objects, updated
        close(ours.weight, theirs.weight, 1e-12)
        same_state(ours, theirs, 1e-12)
    for lib in (torch, tg):  # Double has no right_inverse
        m = api(lib)[1].register_parametrization(lib.nn.Linear(2, 2), "weight", custom(lib, "double"))
        with pytest.raises(ERRORS):
            m.weight = lib.ones(2, 2)


def test_weight_norm_and_spectral_norm_assignment() -> None:
    w = np.random.default_rng(4).standard_normal((4, 3))
    torch.manual_seed(4)
    for flavour in ("weight_norm", "spectral_norm"):
        ours, theirs = reparametrized_pair("linear", np.float64, flavour)
        theirs.weight = torch.tensor(w)
        ours.weight = tg.tensor(w)
        same_state(ours, theirs, 1e-12)
        close(ours.weight, theirs.weight, 1e-12)


def test_cached_computes_each_tensor_once_per_block() -> None:
    calls = {torch: 0, tg: 0}

    def counting(lib: Any) -> Any:
        class Counting(lib.nn.Module):
            def forward(self, x: Any) -> Any:
                calls[lib] += 1
                return x + 1
        return Counting()

    for lib in (torch, tg):
        lib_nn, p, _ = api(lib)
        m = p.register_parametrization(lib_nn.Linear(2, 2), "weight", counting(lib))
        calls[lib] = 0
        assert m.weight is not m.weight
        assert calls[lib] == 2
        with p.cached():
            first = m.weight
            with p.cached():
                assert m.weight is first
            assert m.weight is first
        assert calls[lib] == 3
        assert m.weight is not first and calls[lib] == 4
    # spectral norm in training mode: one power step per block, however many accesses
    ours, theirs = layer_pair("linear", np.float64)
    TPZ.spectral_norm(theirs)
    parametrizations.spectral_norm(ours)
    copy_buffers(ours, theirs)
    with TP.cached(), parametrize.cached():
        for _ in range(3):
            close(ours.weight, theirs.weight, 1e-12)
    same_state(ours, theirs, 1e-12)


def test_a_buffer_and_an_integer_buffer_can_be_parametrized() -> None:
    for dtype in (np.float32, np.int64):
        mods = []
        for lib in (tg, torch):
            lib_nn, p, _ = api(lib)
            m = lib_nn.Module()
            m.register_buffer("b", lib.tensor(np.arange(6, dtype=dtype).reshape(2, 3)))
            p.register_parametrization(m, "b", custom(lib, "transpose"), unsafe=True)
            mods.append(m)
        ours, theirs = mods
        same_state(ours, theirs, 0)
        close(ours.b, theirs.b, 0)
        parametrize.remove_parametrizations(ours, "b")
        TP.remove_parametrizations(theirs, "b")
        same_state(ours, theirs, 0)


def test_unsafe_lets_a_parametrization_change_shape_or_dtype() -> None:
    for kind in ("transpose", "to_double"):
        for lib in (torch, tg):
            lib_nn, p, _ = api(lib)
            with pytest.raises(ERRORS):
                p.register_parametrization(lib_nn.Linear(3, 2), "weight", custom(lib, kind))
        ours = parametrize.register_parametrization(nn.Linear(3, 2), "weight", custom(tg, kind), unsafe=True)
        theirs = TP.register_parametrization(torch.nn.Linear(3, 2), "weight", custom(torch, kind), unsafe=True)
        assert ours.weight.shape == tuple(theirs.weight.shape) and str(ours.weight.dtype) == str(
            theirs.weight.dtype).removeprefix("torch.")
    # a second parametrization is checked against the present value too
    for lib in (torch, tg):
        lib_nn, p, _ = api(lib)
        m = p.register_parametrization(lib_nn.Linear(3, 2), "weight", custom(lib, "double"))
        with pytest.raises(ERRORS):
            p.register_parametrization(m, "weight", custom(lib, "transpose"))
        assert len(m.parametrizations.weight) == 1


# ---------------------------------------------------------------- removal
@pytest.mark.parametrize("leave", [True, False])
@pytest.mark.parametrize("flavour", ["weight_norm", "spectral_norm", "symmetric", "rank_one"])
def test_remove_parametrizations(flavour: str, leave: bool) -> None:
    torch.manual_seed(5)
    ours, theirs = layer_pair("linear", np.float64) if "norm" in flavour else square_pair()
    for lib, m in ((torch, theirs), (tg, ours)):
        if "norm" in flavour:
            reparametrize(lib, m, flavour)
        else:
            api(lib)[1].register_parametrization(m, "weight", custom(lib, flavour))
    copy_buffers(ours, theirs)
    close(ours.weight, theirs.weight, 1e-12)  # (a power step for spectral norm)
    original = getattr(ours.parametrizations.weight, "original", None)
    try:
        TP.remove_parametrizations(theirs, "weight", leave_parametrized=leave)
    except ERRORS:
        with pytest.raises(ValueError, match="leave_parametrized=True"):
            parametrize.remove_parametrizations(ours, "weight", leave_parametrized=leave)
        return
    parametrize.remove_parametrizations(ours, "weight", leave_parametrized=leave)
    assert type(ours) is nn.Linear and type(theirs) is torch.nn.Linear
    assert not hasattr(ours, "parametrizations") and not parametrize.is_parametrized(ours)
    same_state(ours, theirs, 1e-12)
    if original is not None:
        assert ours.weight is original  # the same Parameter object, as torch keeps it
    assert isinstance(ours.weight, nn.Parameter)
    backward(ours(tg.tensor(np.ones((1, 3)))))
    backward(theirs(torch.ones(1, 3, dtype=torch.float64)))
    same_grads(ours, theirs, 1e-12)


def test_removing_one_of_two_parametrized_tensors_keeps_the_class() -> None:
    ours, theirs = square_pair()
    for lib, m in ((torch, theirs), (tg, ours)):
        p = api(lib)[1]
        p.register_parametrization(m, "weight", custom(lib, "symmetric"))
        p.register_parametrization(m, "bias", custom(lib, "double"))
        p.remove_parametrizations(m, "weight")
        assert type(m).__name__ == "ParametrizedLinear" and p.is_parametrized(m, "bias")
    same_state(ours, theirs, 1e-12)
    parametrize.remove_parametrizations(ours, "bias", leave_parametrized=False)
    TP.remove_parametrizations(theirs, "bias", leave_parametrized=False)
    assert type(ours) is nn.Linear
    same_state(ours, theirs, 1e-12)


@pytest.mark.parametrize("flavour", ["legacy_weight_norm", "legacy_spectral_norm"])
def test_remove_legacy_hooks(flavour: str) -> None:
    torch.manual_seed(6)
    ours, theirs = reparametrized_pair("conv2d", np.float64, flavour)
    x = np.random.default_rng(6).standard_normal((1, 2, 4, 4))
    close(ours(tg.tensor(x)), theirs(torch.tensor(x)), 1e-12)
    name = flavour.removeprefix("legacy_")
    getattr(torch.nn.utils, f"remove_{name}")(theirs)
    getattr(nn.utils, f"remove_{name}")(ours)
    same_state(ours, theirs, 1e-12)
    close(ours(tg.tensor(x)), theirs(torch.tensor(x)), 1e-12)
    for lib, m in ((torch, theirs), (tg, ours)):
        with pytest.raises(ValueError):
            getattr(api(lib)[0].utils, f"remove_{name}")(m)


# ---------------------------------------------------------------- errors
BAD_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "unknown name": lambda lib, m: api(lib)[1].register_parametrization(m, "foo", custom(lib, "double")),
    "weight_norm of an unknown name": lambda lib, m: api(lib)[2].weight_norm(m, "foo"),
    "spectral_norm of an unknown name": lambda lib, m: api(lib)[2].spectral_norm(m, "foo"),
    "no power iterations": lambda lib, m: api(lib)[2].spectral_norm(m, n_power_iterations=0),
    "spectral_norm dim out of range": lambda lib, m: api(lib)[2].spectral_norm(m, dim=2),
    "weight_norm dim out of range": lambda lib, m: api(lib)[2].weight_norm(m, dim=2),
    "remove what is not there": lambda lib, m: api(lib)[1].remove_parametrizations(m, "weight"),
    "legacy, no power iterations": lambda lib, m: api(lib)[0].utils.spectral_norm(m, n_power_iterations=0),
    "legacy, a negative dim": lambda lib, m: api(lib)[0].utils.spectral_norm(m, dim=-1),
    "legacy, dim out of range": lambda lib, m: api(lib)[0].utils.spectral_norm(m, dim=2),
    "legacy weight_norm of an unknown name": lambda lib, m: api(lib)[0].utils.weight_norm(m, "foo"),
    "legacy spectral_norm of an unknown name": lambda lib, m: api(lib)[0].utils.spectral_norm(m, "foo"),
    "remove a weight_norm that is not there": lambda lib, m: api(lib)[0].utils.remove_weight_norm(m),
    "remove a spectral_norm that is not there": lambda lib, m: api(lib)[0].utils.remove_spectral_norm(m),
    "weight_norm twice": lambda lib, m: [api(lib)[0].utils.weight_norm(m) for _ in range(2)],
    "spectral_norm twice": lambda lib, m: [api(lib)[0].utils.spectral_norm(m) for _ in range(2)],
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_errors_as_torch(case: str) -> None:
    for lib in (torch, tg):
        m = lib.nn.Linear(2, 2)
        state = {k: arr(v).copy() for k, v in m.state_dict().items()}
        with pytest.raises((*ERRORS, AttributeError, KeyError)), quiet():  # (torch's KeyError, AttributeError)
            BAD_CALLS[case](lib, m)
        if "twice" not in case:
            assert type(m) is lib.nn.Linear and list(m.state_dict()) == list(state)  # left as it was


def test_error_messages() -> None:
    with pytest.raises(ValueError, match="no parameter, buffer or parametrized tensor named 'foo'"):
        parametrize.register_parametrization(nn.Linear(2, 2), "foo", custom(tg, "double"))
    with pytest.raises(TypeError, match=r"must be an nn\.Module"):
        parametrize.register_parametrization(nn.Linear(2, 2), "weight", lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="orthogonal_map"):  # (implemented: tests/test_torch_linalg_spectral.py)
        parametrizations.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")


def test_non_floating_tensors_cannot_be_normalised() -> None:
    for lib in (torch, tg):
        lib_nn, _, pz = api(lib)
        for f in (pz.weight_norm, pz.spectral_norm):
            m = lib_nn.Module()
            m.register_buffer("b", lib.tensor(np.arange(6).reshape(2, 3)))
            with pytest.raises((*ERRORS, KeyError)):
                f(m, "b")
            assert not api(lib)[1].is_parametrized(m) and isinstance(m.b, lib.Tensor)
    for f in (nn.utils.weight_norm, nn.utils.spectral_norm):
        m = nn.Module()
        m.w = nn.Parameter(tg.tensor(np.arange(6).reshape(2, 3)), requires_grad=False)
        with pytest.raises(TypeError, match="floating"), quiet():
            f(m, "w")
    with pytest.raises(ValueError, match="uninitialized"), quiet():
        nn.utils.weight_norm(nn.LazyLinear(3))
    with pytest.raises(ValueError):
        parametrizations.spectral_norm(nn.LazyLinear(3))


def test_train_and_eval_reach_the_parametrizations() -> None:
    for lib in (torch, tg):
        m = api(lib)[2].spectral_norm(lib.nn.Linear(2, 2).eval())
        assert m.parametrizations.weight[0].training is False
        m.train()
        assert m.parametrizations.weight[0].training is True
