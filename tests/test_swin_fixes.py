"""What the Swin Transformer program (``tests/torch_style/swin.py``) met, against torch 2.13: ``torch.cuda.empty_cache``
was missing (Swin's ``load_checkpoint`` calls it after a resume: an AttributeError here; torch's does nothing before
CUDA is initialised), and ``print(model)`` differed from torch's text in three places: ``LayerNorm`` left out torch
2.13's ``bias=...``, a module with both an ``extra_repr`` and children printed the extra_repr inline after its name
(torch puts it on lines of its own above the children; a multi-line extra_repr without children too), and a
``ModuleList`` listed every item where torch folds a run of items that print alike into one ``(0-1): 2 x Block(``
entry. Ours still adds its parameter-count comments (README), so reprs are compared with those cut off."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def plain(text: str) -> str:
    """Our repr without its parameter-count comments (``  # ...`` at line ends)."""
    return "\n".join(line.split("  # ")[0] for line in text.splitlines())


def test_cuda_empty_cache_is_a_no_op_without_a_gpu() -> None:
    assert torch.cuda.empty_cache() is None
    x = tg.ones(3)
    assert tg.cuda.empty_cache() is None and x.tolist() == [1.0, 1.0, 1.0]


@settings(deadline=None, max_examples=30)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.sampled_from([1e-5, 1e-6, 0.1, 0.0]), st.booleans(),
       st.booleans())
def test_layer_norm_repr_as_torch(shape: list[int], eps: float, affine: bool, bias: bool) -> None:
    args = (shape[0] if len(shape) == 1 else tuple(shape),)
    kw = {"eps": eps, "elementwise_affine": affine, "bias": bias}
    assert plain(repr(tg.nn.LayerNorm(*args, **kw))) == repr(torch.nn.LayerNorm(*args, **kw))


LEAVES = {  # name -> a module maker for either library
    "relu": lambda nn: nn.ReLU(),
    "lin2": lambda nn: nn.Linear(2, 2),
    "lin3": lambda nn: nn.Linear(2, 3),
    "ln": lambda nn: nn.LayerNorm(2),
    "seq": lambda nn: nn.Sequential(nn.Linear(2, 2), nn.GELU()),
    "drop": lambda nn: nn.Dropout(0.1),
}


def make_list(nn: object, names: list[str], nested: bool) -> object:
    items = [LEAVES[n](nn) for n in names]
    if nested and items:
        items.append(nn.ModuleList([LEAVES[n](nn) for n in names[:2]]))
    return nn.ModuleList(items)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.sampled_from(sorted(LEAVES)), max_size=6), st.booleans(), st.booleans())
def test_module_list_repr_folds_runs_as_torch(names: list[str], nested: bool, in_sequential: bool) -> None:
    """Runs of consecutive items that print alike fold into ``(i-j): n x ...``; an empty list is ``ModuleList()``;
    the same inside a Sequential."""
    ours, theirs = make_list(tg.nn, names, nested), make_list(torch.nn, names, nested)
    if in_sequential:
        ours, theirs = tg.nn.Sequential(ours, tg.nn.ReLU()), torch.nn.Sequential(theirs, torch.nn.ReLU())
    assert plain(repr(ours)) == repr(theirs)


def with_extra(nn: object, extra: str, kids: int) -> object:
    """A module whose extra_repr is ``extra`` with ``kids`` Linear children."""
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i in range(kids):
                setattr(self, f"fc{i}", nn.Linear(2, 2))

        def extra_repr(self) -> str:
            return extra
    return Block()


@settings(deadline=None, max_examples=30)
@given(st.lists(st.sampled_from(["dim=16", "window_size=(4, 4)", "", "a=1, b=2"]), max_size=3), st.integers(0, 2),
       st.booleans())
def test_extra_repr_sits_above_children_as_torch(lines: list[str], kids: int, in_list: bool) -> None:
    """torch prints a one-line extra_repr inline only when there are no children; otherwise (or when it has several
    lines) each of its lines stands on its own line, indented, above the children."""
    extra = "\n".join(lines)
    ours, theirs = with_extra(tg.nn, extra, kids), with_extra(torch.nn, extra, kids)
    if in_list:
        ours, theirs = tg.nn.ModuleList([ours, with_extra(tg.nn, extra, kids)]), \
            torch.nn.ModuleList([theirs, with_extra(torch.nn, extra, kids)])
    assert plain(repr(ours)) == repr(theirs)
