"""nn.Module machinery against torch: the differences the module-infrastructure probe found (state_dict and
load_state_dict hooks, backward hooks' grad_input, shared-module traversal, containers' dict methods, ...)."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = [torch, tg]
FAST = settings(max_examples=25, deadline=None)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


def both(fn: Any) -> tuple[Any, Any]:
    """``fn(torch)`` and ``fn(tinygrad_adam)``."""
    return fn(torch), fn(tg)


def plain(v: Any) -> Any:
    """Tensors as (dtype, nested list) so that results of both libraries compare with ==."""
    if isinstance(v, (torch.Tensor, tg.Tensor)):
        a = v.detach().numpy()
        return (a.dtype.name, np.nan_to_num(a.astype(np.float64), nan=1e300).tolist())
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


@given(st.lists(st.integers(0, 2), min_size=1, max_size=5), st.booleans())
@FAST
def test_named_parameters_remove_duplicate_false_walks_shared_modules(layout: list[int], nest: bool) -> None:
    """A module held twice (here in a nested Sequential too): remove_duplicate=False lists its parameters under
    every path (ours listed the first path only)."""
    def names(L: Any) -> Any:
        pool = [L.nn.Linear(1, 1), L.nn.Linear(1, 1, bias=False), L.nn.BatchNorm1d(1)]
        mods = [pool[i] for i in layout]
        m = L.nn.Sequential(*mods, L.nn.Sequential(*mods)) if nest else L.nn.Sequential(*mods)
        return ([n for n, _ in m.named_parameters(remove_duplicate=False)],
                [n for n, _ in m.named_parameters()],
                [n for n, _ in m.named_buffers(remove_duplicate=False)],
                [n for n, _ in m._named_members(lambda mod: mod._parameters.items(), remove_duplicate=False)])
    a, b = both(names)
    assert a == b


def test_named_modules_memo() -> None:
    """named_modules(memo=...): the modules in memo are skipped and the ones listed are added (torch's)."""
    def run(L: Any) -> Any:
        r = L.nn.ReLU()
        m = L.nn.Sequential(r, L.nn.Tanh(), r)
        memo = {r}
        first = [n for n, _ in m.named_modules(memo=memo)]
        return first, len(memo), [n for n, _ in m.named_modules(prefix="p")]
    assert both(run)[0] == both(run)[1]


@given(floats)
@FAST
def test_zero_grad_keep_detaches_a_grad_with_history(v: float) -> None:
    """zero_grad(set_to_none=False) on a .grad that has a grad_fn: torch detaches it first (ours kept it in the
    graph, requiring grad)."""
    def run(L: Any) -> Any:
        m = L.nn.Linear(2, 2)
        m.weight.grad = L.full((2, 2), v, requires_grad=True) * 2
        held = m.weight.grad
        m.zero_grad(set_to_none=False)  # detached in place: a held reference sees the zeros
        return plain(held), held is m.weight.grad, m.weight.grad.requires_grad, m.weight.grad.grad_fn is None
    a, b = both(run)
    assert a == b


ARG_KINDS = st.sampled_from(["grad", "nograd", "int", "float", "none", "unused"])


@given(st.lists(ARG_KINDS, min_size=1, max_size=4), st.lists(floats, min_size=2, max_size=2), st.booleans())
@FAST
def test_full_backward_hook_grad_input_has_one_entry_per_argument(kinds: list[str], vals: list[float],
                                                                  modify: bool) -> None:
    """grad_input of a full backward hook: one entry per positional argument, None for a non-Tensor, zeros for a
    Tensor that requires no grad or gets none (ours listed Tensors only, None for those); a returned tuple of that
    length replaces it."""
    def run(L: Any) -> Any:
        class M(L.nn.Module):
            def forward(self, x: Any, *rest: Any) -> Any:
                out = x * 2
                for r, k in zip(rest, kinds):
                    if k in ("grad", "nograd"):
                        out = out + r
                return out
        args: list[Any] = [L.tensor(vals, requires_grad=True)]
        for k in kinds:
            args.append({"grad": lambda: L.tensor(vals, requires_grad=True), "nograd": lambda: L.tensor(vals),
                         "int": lambda: L.tensor([1, 2]), "float": lambda: 3.0, "none": lambda: None,
                         "unused": lambda: L.tensor([vals[0]], requires_grad=True)}[k]())
        seen: list[Any] = []

        def hook(mod: Any, gi: Any, go: Any) -> Any:
            seen.append((plain(list(gi)), plain(list(go))))
            return tuple(None if g is None else g * 3 for g in gi) if modify else None
        m = M()
        m.register_full_backward_hook(hook)
        m(*args).sum().backward()
        return seen, [plain(a.grad) for a in args if isinstance(a, (torch.Tensor, tg.Tensor)) and a.requires_grad]
    a, b = both(run)
    assert a == b


def test_full_backward_hook_wrong_length_raises() -> None:
    """A backward hook returning more grad_input entries than there are arguments raises, as torch."""
    for L in LIBS:
        m = L.nn.Linear(2, 2)
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError):
            m(L.ones(1, 2, requires_grad=True)).sum().backward()


def _net(L: Any) -> Any:
    return L.nn.Sequential(L.nn.Linear(2, 3), L.nn.Sequential(L.nn.Linear(3, 1), L.nn.BatchNorm1d(1)))


def test_state_dict_hooks() -> None:
    """register_state_dict_pre_hook / register_state_dict_post_hook / _register_state_dict_hook (a returned dict
    replaces the result), with prefixes and removal; ours had none."""
    def run(L: Any) -> Any:
        m = _net(L)
        calls: list[Any] = []
        h1 = m[1].register_state_dict_pre_hook(lambda mod, prefix, kv: calls.append(("pre", prefix, kv)))

        def post(mod: Any, sd: Any, prefix: str, md: Any) -> None:
            calls.append(("post", prefix, list(sd), md.get("version")))
            sd[prefix + "extra"] = L.ones(1)
        h2 = m[1].register_state_dict_post_hook(post)
        keys = list(m.state_dict(prefix="r.", keep_vars=True))
        h1.remove()
        h2.remove()
        m._register_state_dict_hook(lambda mod, sd, prefix, md: {k: v for k, v in sd.items() if "bias" in k})
        m[0].register_state_dict_post_hook(lambda mod, sd, prefix, md: {})
        try:
            m.state_dict()
            raised = False
        except RuntimeError:
            raised = True
        m2 = _net(L)
        m2._register_state_dict_hook(lambda mod, sd, prefix, md: {k: v for k, v in sd.items() if "bias" in k})
        return calls, keys, raised, list(m2.state_dict())
    a, b = both(run)
    assert a == b


@given(st.booleans())
@FAST
def test_load_state_dict_hooks(strict: bool) -> None:
    """load_state_dict pre-hooks (public with the module, private without; strict is always True there, as
    torch's) see the keys under their prefix and may rename them; post-hooks see the loaded module and may clear
    missing keys so a strict load passes."""
    def run(L: Any) -> Any:
        m = _net(L)
        calls: list[Any] = []

        def pre(mod: Any, sd: Any, prefix: str, md: Any, st_: bool, mk: Any, uk: Any, em: Any) -> None:
            calls.append(("pre", type(mod).__name__, prefix, sorted(sd), st_))
            if prefix + "old" in sd:
                sd[prefix + "0.bias"] = sd.pop(prefix + "old")
        m[1].register_load_state_dict_pre_hook(pre)
        m[1][0]._register_load_state_dict_pre_hook(lambda sd, prefix, *a: calls.append(("priv", prefix)))

        def post(mod: Any, keys: Any) -> None:
            calls.append(("post", type(mod).__name__, list(keys.missing_keys), plain(mod[0].bias)))
            keys.missing_keys.clear()
        m.register_load_state_dict_post_hook(post)
        sd = {k: v * 0 + 7 for k, v in _net(L).state_dict().items()}
        sd["1.old"] = sd.pop("1.0.bias") * 0 + 5
        del sd["0.weight"]
        r = m.load_state_dict(sd, strict=strict)
        return calls, list(r.missing_keys), list(r.unexpected_keys), plain(m[1][0].bias), plain(m[0].bias)
    a, b = both(run)
    assert a == b


@given(floats, st.integers(1, 3))
@FAST
def test_load_one_element_into_0d(v: float, n: int) -> None:
    """A 0-d parameter loads a one-element 1-d value (torch's backward compatibility; ours raised a shape
    mismatch); a longer one is still a shape mismatch."""
    def run(L: Any) -> Any:
        m = L.nn.Module()
        m.p = L.nn.Parameter(L.tensor(0.5))
        try:
            r = m.load_state_dict({"p": L.tensor([v] * n)})
        except RuntimeError:
            return "RuntimeError", plain(m.p)
        return plain(m.p), tuple(m.p.shape), list(r.missing_keys)
    a, b = both(run)
    assert a == b


def test_load_state_dict_refuses_a_non_mapping() -> None:
    for L in LIBS:
        with pytest.raises(TypeError):
            L.nn.Linear(1, 1).load_state_dict([("weight", L.zeros(1, 1))])


def test_register_buffer_name_checks() -> None:
    """A non-string name is a TypeError, a name the class has (``forward``) a KeyError, as torch."""
    for L in LIBS:
        with pytest.raises(TypeError):
            L.nn.Module().register_buffer(1, L.zeros(1))
        with pytest.raises(KeyError):
            L.nn.Module().register_buffer("forward", L.zeros(1))


@given(st.sampled_from(["float64", "float16", "float32"]))
@FAST
def test_module_type_casts_every_tensor(dtype: str) -> None:
    """Module.type(dtype) casts integer buffers too (unlike to()), keeping the Parameters; ours had no type()."""
    def run(L: Any) -> Any:
        m = L.nn.BatchNorm1d(2)
        w = m.weight
        r = m.type(getattr(L, dtype))
        return (r is m, m.weight is w, str(m.weight.dtype).replace("torch.", ""),
                str(m.num_batches_tracked.dtype).replace("torch.", ""), type(m.weight).__name__)
    a, b = both(run)
    assert a == b


def test_small_torch_names() -> None:
    """_get_name, to_empty (keeps shape and dtype), call_super_init, _version, RemovableHandle.id."""
    def run(L: Any) -> Any:
        m = L.nn.Linear(2, 3)
        r = m.to_empty(device="cpu")
        h1, h2 = m.register_forward_hook(lambda *a: None), m.register_forward_hook(lambda *a: None)
        return (m._get_name(), r is m, tuple(m.weight.shape), str(m.weight.dtype).replace("torch.", ""),
                L.nn.Module.call_super_init, L.nn.Linear._version, isinstance(h1.id, int) and h1.id != h2.id)
    a, b = both(run)
    assert a == b


@pytest.mark.parametrize("target,strict", [("1.0", False), ("1.2", False), ("1.2", True), ("2", False),
                                           ("", False), ("0.weight", False), ("q.r", False), ("1.0.bias", False)])
def test_set_submodule(target: str, strict: bool) -> None:
    """set_submodule: replaces or (unless strict) adds the last name; errors as torch's (ours had none)."""
    def run(L: Any) -> Any:
        m = _net(L)
        try:
            m.set_submodule(target, L.nn.Tanh(), strict=strict)
        except (AttributeError, ValueError) as e:
            return type(e).__name__
        return [(n, type(x).__name__) for n, x in m.named_modules()]
    a, b = both(run)
    assert a == b
    for L in LIBS:
        with pytest.raises(ValueError):
            _net(L).set_submodule("0", 3)


def test_get_buffer_of_a_none_buffer() -> None:
    def run(L: Any) -> Any:
        m = L.nn.Module()
        m.register_buffer("b", None)
        try:
            missing = m.get_buffer("c")
        except AttributeError:
            missing = "AttributeError"
        return m.get_buffer("b"), missing
    assert both(run)[0] == both(run)[1]


def test_module_dict_clear_and_views() -> None:
    def run(L: Any) -> Any:
        d = L.nn.ModuleDict({"b": L.nn.ReLU(), "a": L.nn.Tanh()})
        views = (list(d.keys()), sorted(d.keys() - {"a"}), [k for k, _ in d.items()], len(d.values()))
        d.clear()
        return views, len(d), [n for n, _ in d.named_children()]
    a, b = both(run)
    assert a == b


@given(st.lists(st.sampled_from("abcxyz"), min_size=1, max_size=5, unique=True), floats)
@FAST
def test_parameter_dict_dict_methods(keys: list[str], v: float) -> None:
    """ParameterDict's get / setdefault / popitem / copy / fromkeys / | / |= / reversed (ours had none)."""
    def run(L: Any) -> Any:
        d = L.nn.ParameterDict(collections.OrderedDict((k, L.full((1,), v)) for k in keys))
        out: list[Any] = [d.get(keys[0]) is d[keys[0]], d.get("q", 5), list(reversed(d))]
        out.append(d.setdefault("q", L.ones(1)) is d["q"])
        c = d.copy()
        out += [list(c.keys()), c[keys[0]] is d[keys[0]], type(c).__name__]
        k, p = d.popitem()
        out += [k, type(p).__name__, list(d.keys())]
        u = d | L.nn.ParameterDict({"z2": L.zeros(1)})
        d |= L.nn.ParameterDict({"w2": L.zeros(1)})
        out += [list(u.keys()), list(d.keys()), list(d.fromkeys(["m", "n"], L.ones(1)).keys())]
        out.append([plain(x) for x in d.values()])
        return out
    a, b = both(run)
    assert a == b


def test_state_dict_metadata_versions() -> None:
    """state_dict()._metadata: {module prefix: {"version": _version}} (2 for batch / instance norms), also in
    the local_metadata load pre-hooks get (ours had none)."""
    def run(L: Any) -> Any:
        m = L.nn.Sequential(L.nn.Linear(1, 1), L.nn.Sequential(L.nn.BatchNorm1d(1), L.nn.InstanceNorm1d(1)))
        sd = m.state_dict(prefix="r.")
        seen: list[Any] = []
        m[1][0]._register_load_state_dict_pre_hook(lambda s, prefix, md, *a: seen.append(dict(md)))
        m.load_state_dict(m.state_dict())
        return [(k, dict(v)) for k, v in sd._metadata.items()], seen, hasattr(m.state_dict(destination={}), "_metadata")
    a, b = both(run)
    assert a == b


@given(st.sampled_from(["running_mean", "running_var", "num_batches_tracked"]))
@FAST
def test_non_persistent_buffers_set_writes_through(name: str) -> None:
    def run(L: Any) -> Any:
        m = L.nn.BatchNorm1d(2)
        m.register_buffer("extra", L.zeros(1), persistent=False)
        before = sorted(m._non_persistent_buffers_set)
        m._non_persistent_buffers_set.add(name)
        m._non_persistent_buffers_set.discard("extra")
        return before, sorted(m._non_persistent_buffers_set), list(m.state_dict())
    a, b = both(run)
    assert a == b
