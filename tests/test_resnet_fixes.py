"""What the ResNet program (tests/torch_style/resnet.py) needed: ``nn.Sequential(OrderedDict(...))`` with named
layers, kept by slicing and ``seq[i] = m`` as torch keeps them, and ``add_module``'s name checks. Checked against
torch on generated names and edit sequences: the children's names (so state_dict keys), forward and the errors."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# names torch takes, digits among them (so a named Sequential can look numbered), and names it refuses
NAMES = st.one_of(st.sampled_from("0123"), st.text("ab012", min_size=1, max_size=3))
BAD_NAMES = st.sampled_from(["", "a.b", ".", "training", "forward", "append", "state_dict"])


def pair(rng: np.random.Generator) -> tuple[Any, Any]:
    """A Linear(2, 2) of torch's and one of ours with the same weights."""
    w, b = rng.standard_normal((2, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    theirs, ours = torch.nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
        theirs.bias.copy_(torch.from_numpy(b))
    ours.load_state_dict({"weight": w, "bias": b})
    return theirs, ours


def names(seq: Any) -> list[str]:
    return [n for n, _ in seq.named_children()]


def same(theirs: Any, ours: Any) -> None:
    """The same layer names, state_dict keys and forward."""
    assert names(ours) == names(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)
    want = theirs(torch.from_numpy(x)).detach().numpy()
    # (float32 rounding at the scale of the largest output: a 0.0019 beside 15.6 was 1.2e-6 apart, a local run)
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), want, rtol=1e-5,
                               atol=1e-6 * max(1.0, float(np.abs(want).max(initial=0.0))))


def raises_as_torch(fn_theirs: Any, fn_ours: Any) -> bool:
    """Run both; if torch raises, ours must raise the same kind of error. True when neither raised."""
    try:
        fn_theirs()
    except (KeyError, TypeError, IndexError) as e:
        with pytest.raises(type(e)):
            fn_ours()
        return False
    fn_ours()
    return True


@given(st.lists(NAMES, min_size=1, max_size=5, unique=True), st.integers(0, 2**32 - 1))
def test_sequential_from_an_ordered_dict_as_torch(keys: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = [pair(rng) for _ in keys]
    theirs = torch.nn.Sequential(OrderedDict((k, t) for k, (t, _) in zip(keys, pairs)))
    ours = nn.Sequential(OrderedDict((k, o) for k, (_, o) in zip(keys, pairs)))
    same(theirs, ours)
    assert len(ours) == len(keys) and all(ours[i] is o for i, (_, o) in enumerate(pairs))
    assert all(getattr(ours, k) is o for k, (_, o) in zip(keys, pairs))


@given(st.lists(NAMES, min_size=1, max_size=5, unique=True),
       st.lists(st.tuples(st.sampled_from(["slice", "set", "del", "append", "insert"]), st.integers(-6, 6),
                          st.integers(-6, 6)), max_size=4),
       st.integers(0, 2**32 - 1))
@settings(deadline=None)
def test_named_sequential_edits_keep_torchs_names(keys: list[str], edits: list[tuple[str, int, int]],
                                                  seed: int) -> None:
    """Slices and ``seq[i] = m`` keep the names, ``del`` renumbers, ``append`` adds ``str(len)``, ``insert`` moves
    numbered layers up and refuses named ones: as torch, where torch would silently replace a layer, ours raises."""
    rng = np.random.default_rng(seed)
    pairs = [pair(rng) for _ in keys]
    theirs = torch.nn.Sequential(OrderedDict((k, t) for k, (t, _) in zip(keys, pairs)))
    ours = nn.Sequential(OrderedDict((k, o) for k, (_, o) in zip(keys, pairs)))
    for op, i, j in edits:
        t_new, o_new = pair(rng)
        if op == "slice":
            theirs, ours = theirs[i:j], ours[i:j]
        elif op == "set":
            raises_as_torch(lambda: theirs.__setitem__(i, t_new), lambda: ours.__setitem__(i, o_new))  # noqa: B023
        elif op == "del":
            raises_as_torch(lambda: theirs.__delitem__(i), lambda: ours.__delitem__(i))  # noqa: B023
        elif str(len(theirs)) in names(theirs) and (op == "append" or (op == "insert" and i == len(theirs))):
            with pytest.raises(KeyError, match="torch would replace it"):  # torch drops the layer of that name
                ours.append(o_new) if op == "append" else ours.insert(i, o_new)
        elif op == "append":
            theirs.append(t_new)
            ours.append(o_new)
        elif names(theirs) != [str(k) for k in range(len(theirs))] and i != len(theirs):
            with pytest.raises((KeyError, IndexError)):  # torch moves layers by number: KeyError or a lost layer
                ours.insert(i, o_new)
            return
        else:
            if not raises_as_torch(lambda: theirs.insert(i, t_new), lambda: ours.insert(i, o_new)):  # noqa: B023
                return  # torch's insert may have moved some layers before its KeyError; ours changed nothing
        same(theirs, ours)


def test_deleting_the_last_layer_of_a_sequential_removes_it() -> None:
    """``del seq[-1]`` edited Sequential's cached list of layers in place, so the last layer stayed (and ran first)."""
    layers = [nn.ReLU(), nn.Tanh(), nn.Sigmoid()]
    seq = nn.Sequential(*layers)
    del seq[-1]
    assert list(seq) == layers[:2] and names(seq) == ["0", "1"]
    del seq[1:]
    assert list(seq) == layers[:1] and names(seq) == ["0"]


@given(BAD_NAMES)
def test_sequential_and_add_module_refuse_torchs_bad_names(name: str) -> None:
    with pytest.raises(KeyError):
        torch.nn.Sequential(OrderedDict([(name, torch.nn.ReLU())]))
    with pytest.raises(KeyError):
        nn.Sequential(OrderedDict([(name, nn.ReLU())]))
    module, theirs = nn.Module(), torch.nn.Module()
    raises_as_torch(lambda: theirs.add_module(name, torch.nn.ReLU()), lambda: module.add_module(name, nn.ReLU()))


def test_sequential_and_add_module_errors_as_torch() -> None:
    with pytest.raises(TypeError, match="argument 0 is a dict"):  # torch too: only an OrderedDict names layers
        nn.Sequential({"a": nn.ReLU()})
    with pytest.raises(TypeError, match="argument 0 is a OrderedDict"):
        nn.Sequential(OrderedDict([("a", nn.ReLU())]), nn.ReLU())
    with pytest.raises(TypeError, match="layer 'a' is a int"):
        nn.Sequential(OrderedDict([("a", 3)]))
    with pytest.raises(TypeError, match="layer 'a' is a NoneType"):  # torch fails later, at forward
        nn.Sequential(OrderedDict([("a", None)]))
    with pytest.raises(TypeError, match="the name must be a string"):
        nn.Module().add_module(3, nn.ReLU())  # type: ignore[arg-type]
    seq = nn.Sequential(OrderedDict([("a", nn.ReLU())]))
    with pytest.raises(TypeError, match="item 0 is a function"):
        seq[0] = lambda x: x  # type: ignore[assignment]
    with pytest.raises(IndexError):
        seq[1] = nn.ReLU()
    assert isinstance(nn.Sequential(OrderedDict()), nn.Sequential) and len(nn.Sequential(OrderedDict())) == 0

    m, t = nn.Module(), torch.nn.Module()
    for module, lib in ((m, nn), (t, torch.nn)):
        module.w = lib.Linear(1, 1).weight
        module.x = 5
        for name in ("w", "x"):
            with pytest.raises(KeyError, match="already exists"):
                module.add_module(name, lib.ReLU())
        module.add_module("c", None)  # a placeholder, then a layer, then another one
        module.add_module("c", lib.ReLU())
        module.add_module("c", lib.Tanh())
        assert isinstance(module.c, lib.Tanh)
    assert list(m.state_dict()) == list(t.state_dict()) == ["w"]
