"""Differences found by a layout probe against torch (ops on transposed, strided, expanded, channels-last, 0-d and
empty views; /work/scratch/layout_probe.py), all silent before:

- Ops whose result torch makes a new tensor returned the input itself or a view of it, so a later in-place write
  into the result reached the input: ``diff(n=0)``, ``repeat_interleave(1)`` (and of an expanded input),
  ``ravel()`` of a strided 1-D tensor, ``F.pixel_shuffle`` / ``pixel_unshuffle`` / ``channel_shuffle`` where their
  reshapes can stay a view (a factor or groups of 1, a 1 x 1 image). ``diff`` of a 0-d tensor raises, as torch's.
- ``vector_to_parameters`` copied into the parameters' memory (so into the base of a parameter that is a view) and
  kept their dtype; torch's rebinds ``param.data`` to the piece of ``vec`` (shared, vec's dtype).
- ``x.add_(x)`` / ``x += x`` / ``x.copy_(x)``: x's node became its own input, and backward dropped the operand's
  gradient; ``x.mul_(x)`` & co. differentiated with the written values where torch raises.
- ``v[0] = v[1]`` on a transposed / strided v in a graph raised at backward where torch computes."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LAYOUTS = ("contig", "t", "step", "col", "expand", "row", "elem")


VIEWS = {"contig": lambda t: t, "t": lambda t: t.t(), "step": lambda t: t[::2], "col": lambda t: t[:, 1::2],
         "expand": lambda t: t[:, :1].expand(3, 4), "row": lambda t: t.reshape(-1)[1::3], "elem": lambda t: t[1, 2]}


def _layout(lib, values: numpy.ndarray, layout: str):
    """A (base, view) pair: ``view`` is a view of ``base`` (of ``values``, shape (3, 4)) in the given layout."""
    base = lib.tensor(values)
    return base, VIEWS[layout](base)


OPS = {
    "diff0": lambda lib, v: v.diff(0) if v.ndim else v.reshape(1).diff(0),
    "diff0_fn": lambda lib, v: lib.diff(v.reshape(-1), 0, prepend=lib.ones(2, dtype=lib.float64)),
    "repeat_interleave1": lambda lib, v: v.repeat_interleave(1),
    "repeat_interleave1_dim": lambda lib, v: v.repeat_interleave(1, dim=0) if v.ndim else v.repeat_interleave(1),
    "repeat_interleave2": lambda lib, v: v.repeat_interleave(2, dim=-1) if v.ndim else v.repeat_interleave(2),
    "repeat_interleave_fn": lambda lib, v: lib.repeat_interleave(v, 1),
    "ravel": lambda lib, v: v.ravel(),
    "ravel_fn": lambda lib, v: lib.ravel(v),
}


@settings(max_examples=120, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), layout=st.sampled_from(LAYOUTS),
       values=st.lists(st.floats(-1e6, 1e6), min_size=12, max_size=12), add=st.floats(-5, 5))
def test_a_write_into_the_result_reaches_the_input_as_torch(op: str, layout: str, values: list[float],
                                                            add: float) -> None:
    values_ = numpy.array(values).reshape(3, 4)
    seen = []
    for lib in (torch, tg):
        base, view = _layout(lib, values_, layout)
        out = OPS[op](lib, view)
        before = numpy.asarray(out.tolist())
        out.add_(add)  # a new tensor in torch: the base must stay as it was
        seen.append((before, numpy.asarray(base.tolist()), numpy.asarray(out.tolist()), tuple(out.shape)))
    for theirs, ours in zip(*seen):
        numpy.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", sorted(OPS))
def test_the_gradient_of_the_copy_reaches_the_base(op: str, layout: str) -> None:
    values = numpy.arange(12.0).reshape(3, 4) / 7
    grads = []
    for lib in (torch, tg):
        leaf = lib.tensor(values, requires_grad=True)
        view = VIEWS[layout](leaf)
        out = OPS[op](lib, view)
        weights = lib.tensor(numpy.cos(numpy.arange(out.numel())).reshape(tuple(out.shape)))
        (out * weights).sum().backward()
        grads.append(numpy.asarray(leaf.grad.tolist()))
    numpy.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-12)


def test_diff_of_a_0d_tensor_raises_as_torch() -> None:
    with pytest.raises(RuntimeError, match="one-dimensional"):
        torch.tensor(1.0).diff(0)
    with pytest.raises(RuntimeError, match="0-dim tensor has no dim"):
        tg.tensor(1.0).diff(0)
    with pytest.raises(RuntimeError, match="0-dim tensor has no dim"):
        tg.tensor(1.0).diff()


SHUFFLES = {
    "pixel_shuffle1": lambda F, x: F.pixel_shuffle(x, 1),
    "pixel_shuffle2": lambda F, x: F.pixel_shuffle(x, 2),
    "pixel_unshuffle1": lambda F, x: F.pixel_unshuffle(x, 1),
    "pixel_unshuffle2": lambda F, x: F.pixel_unshuffle(x, 2),
    "channel_shuffle1": lambda F, x: F.channel_shuffle(x, 1),
    "channel_shuffle_all": lambda F, x: F.channel_shuffle(x, x.shape[1]),
    "channel_shuffle2": lambda F, x: F.channel_shuffle(x, 2),
}


@settings(max_examples=80, deadline=None)
@given(op=st.sampled_from(sorted(SHUFFLES)), shape=st.sampled_from([(1, 4, 1, 1), (2, 4, 2, 2), (1, 8, 2, 4)]),
       layout=st.sampled_from(["contig", "channels_last", "step", "expand"]))
def test_the_shuffles_return_a_new_tensor_as_torch(op: str, shape: tuple[int, ...], layout: str) -> None:
    values = numpy.arange(float(numpy.prod(shape))).reshape(shape)
    seen = []
    for lib in (torch, tg):
        base = lib.tensor(values if layout != "step" else numpy.repeat(values, 2, axis=1))
        x = {"contig": lambda t, _: t, "channels_last": lambda t, lib_: t.contiguous(memory_format=lib_.channels_last),
             "step": lambda t, _: t[:, ::2], "expand": lambda t, _: t[:, :, :1].expand(*shape)}[layout](base, lib)
        try:
            out = SHUFFLES[op](lib.nn.functional, x)
        except (RuntimeError, ValueError):
            seen.append(None)
            continue
        before = numpy.asarray(out.tolist())
        out.mul_(-1.5)
        seen.append((before, numpy.asarray(base.tolist()), numpy.asarray(x.tolist()), numpy.asarray(out.tolist())))
    assert (seen[0] is None) == (seen[1] is None)
    if seen[0] is not None:
        for theirs, ours in zip(*seen):
            numpy.testing.assert_array_equal(ours, theirs)


@settings(max_examples=40, deadline=None)
@given(view=st.sampled_from(["whole", "t", "cols", "step"]), vec_dtype=st.sampled_from(["float32", "float64"]),
       later=st.floats(-3, 3))
def test_vector_to_parameters_rebinds_the_data_as_torch(view: str, vec_dtype: str, later: float) -> None:
    """torch's ``param.data = vec[i:j].view_as(param).data``: the parameter then shares ``vec``'s memory and dtype,
    and the tensor it was a view of keeps its values; ours copied into the parameter's memory (the base's)."""
    seen = []
    for lib in (torch, tg):
        base = lib.tensor(numpy.arange(12.0, dtype=numpy.float32).reshape(3, 4))
        other = lib.nn.Parameter(lib.tensor(numpy.ones(2, dtype=numpy.float32)))
        p = lib.nn.Parameter({"whole": lambda t: t, "t": lambda t: t.t(), "cols": lambda t: t[:, 1:3],
                              "step": lambda t: t[::2]}[view](base))
        vec = lib.tensor(numpy.linspace(-1, 1, p.numel() + 2).astype(vec_dtype))
        lib.nn.utils.vector_to_parameters(vec, [p, other])
        with lib.no_grad():
            vec.add_(later)  # p and other share vec's memory now
        seen.append((numpy.asarray(base.tolist()), numpy.asarray(p.tolist()), numpy.asarray(other.tolist()),
                     str(p.dtype).replace("torch.", ""), str(other.dtype).replace("torch.", "")))
    for theirs, ours in zip(*seen):
        if isinstance(theirs, str):
            assert ours == theirs
        else:
            numpy.testing.assert_array_equal(ours, theirs)


SELF_OPS = {
    "add_": lambda x: x.add_(x), "iadd": lambda x: x.__iadd__(x), "sub_": lambda x: x.sub_(x),
    "add_alpha": lambda x: x.add_(x, alpha=3), "copy_": lambda x: x.copy_(x), "add_view": lambda x: x.add_(x[:]),
    "mul_": lambda x: x.mul_(x), "div_": lambda x: x.div_(x), "pow_": lambda x: x.pow_(x),
    "atan2_": lambda x: x.atan2_(x), "twice": lambda x: x.mul_(2).add_(x), "row": lambda x: x[0].add_(x[0]),
}


@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(sorted(SELF_OPS)), values=st.lists(st.floats(0.5, 4), min_size=6, max_size=6))
def test_an_inplace_op_whose_operand_is_the_tensor_itself(op: str, values: list[float]) -> None:
    """``x.add_(x)`` (``x += x``): the operand is x before the write. Ours made x's node its own input, so backward
    dropped the operand's gradient (half of ``x += x``'s, none of ``x.copy_(x)``'s) or, where the gradient reads
    the operand (``x.mul_(x)``), used the written values; torch's raises there, as ours now does."""
    seen = []
    for lib in (torch, tg):
        leaf = lib.tensor(numpy.array(values).reshape(2, 3), requires_grad=True)
        x = leaf.clone()
        SELF_OPS[op](x)
        loss = (x * lib.tensor(numpy.arange(6.0).reshape(2, 3))).sum()
        try:
            loss.backward()
        except RuntimeError:
            seen.append(("raises", numpy.asarray(x.tolist())))
            continue
        seen.append((numpy.asarray(leaf.grad.tolist()), numpy.asarray(x.tolist())))
    (tg_grad, tg_x), (t_grad, t_x) = seen[1], seen[0]
    numpy.testing.assert_allclose(tg_x, t_x, rtol=1e-12)
    if isinstance(t_grad, str):
        assert isinstance(tg_grad, str), f"torch raises at backward, ours computed {tg_grad}"
    else:
        assert not isinstance(tg_grad, str), "ours raises at backward where torch computes"
        numpy.testing.assert_allclose(tg_grad, t_grad, rtol=1e-12)


ASSIGNS = {
    "row": lambda t, lib: t.__setitem__(0, t[1]),
    "col": lambda t, lib: t.__setitem__((slice(None), 0), t[:, 1]),
    "index": lambda t, lib: t.__setitem__(lib.tensor([0, 2]), t[1:2]),
    "slice": lambda t, lib: t.__setitem__(slice(0, 1), t[2:3] * 2),
}


@settings(max_examples=60, deadline=None)
@given(layout=st.sampled_from(["contig", "t", "step", "col"]), assign=st.sampled_from(sorted(ASSIGNS)))
def test_assigning_a_view_of_itself_into_a_strided_tensor_differentiates(layout: str, assign: str) -> None:
    """``v[0] = v[1]`` where v is a transposed / strided view in a graph: ours raised at backward ("modified by an
    in-place operation") where torch computes, as index_put's gradient reads no values of its inputs."""
    values = numpy.arange(36.0).reshape(6, 6) / 5
    seen = []
    for lib in (torch, tg):
        leaf = lib.tensor(values, requires_grad=True)
        src = leaf.clone()
        view = {"contig": lambda t: t, "t": lambda t: t.t(), "step": lambda t: t[::2],
                "col": lambda t: t[:, 1::2]}[layout](src)
        try:  # (an index key refuses any overlap of the value with the tensor, in both)
            ASSIGNS[assign](view, lib)
        except RuntimeError:
            seen.append(None)
            continue
        (src * lib.tensor(numpy.cos(numpy.arange(36.0)).reshape(6, 6))).sum().backward()
        seen.append((numpy.asarray(src.tolist()), numpy.asarray(leaf.grad.tolist())))
    assert (seen[0] is None) == (seen[1] is None)
    for theirs, ours in zip(*seen) if seen[0] is not None else ():
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-12)
