"""Issue 15, section 1: what used to be silently wrong, each written as a torch user writes it.

Every program takes the library as its ``torch`` argument and runs unchanged on torch and on tinygrad_adam;
the two results must agree (values, gradients, dtypes), or both must raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

real_torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def as_numpy(x: Any) -> Any:
    """Nested results as numpy arrays / Python values, comparable across the two libraries."""
    if isinstance(x, (tuple, list)):
        return [as_numpy(v) for v in x]
    if isinstance(x, dict):
        return {k: as_numpy(v) for k, v in x.items()}
    if isinstance(x, real_torch.Tensor):
        return x.detach().numpy(force=True)
    if isinstance(x, tg.Tensor):
        return x.numpy()
    return x


def same(program: Callable[[Any], Any], rtol: float = 1e-6) -> None:
    """Run ``program`` with torch and with tinygrad_adam; the results agree in value and dtype."""
    ours, theirs = as_numpy(program(tg)), as_numpy(program(real_torch))
    check(ours, theirs, rtol)


def check(ours: Any, theirs: Any, rtol: float) -> None:
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            check(a, b, rtol)
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, equal_nan=True)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol)
    else:
        assert ours == theirs


def both_raise(program: Callable[[Any], Any], error: type[Exception] = RuntimeError) -> None:
    with pytest.raises(error):
        program(real_torch)
    with pytest.raises(error):
        program(tg)


M = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


# ------------------------------------------------------------------ transpose, permute, .T
def test_transpose_swaps_two_dims_as_torch() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor(M, requires_grad=True)
        y = x.transpose(0, 1)
        w = torch.tensor([[1.0, -1.0], [2.0, 0.5], [3.0, 1.0]])
        (y * w).sum().backward()
        z = torch.arange(24.0).reshape(2, 3, 4)
        return y, x.grad, z.transpose(0, 2), z.transpose(-1, 1), z.permute(2, 0, 1), x.T, x.t(), z.mT
    same(program)


def test_transpose_with_numpy_axes_raises_and_names_permute() -> None:
    with pytest.raises(TypeError, match="permute"):
        tg.zeros(2, 3, 4).transpose(2, 0, 1)


# ------------------------------------------------------------------ max(dim) / min(dim)
def test_max_min_with_dim_return_values_and_indices() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([[1.0, 7.0, 7.0], [4.0, -2.0, 0.5]], requires_grad=True)
        v, i = x.max(1)
        lo = x.min(dim=0)
        k = torch.max(x, 1, keepdim=True)
        (v.sum() + 2 * lo.values.sum() + k.values.sum()).backward()  # ties: the gradient goes to the index returned
        return v, i, lo.values, lo.indices, k.indices, x.grad, x.max(), x.min(), torch.max(x, torch.zeros(2, 3))
    same(program)


def test_max_without_dim_splits_gradient_among_ties_as_torch() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([3.0, 1.0, 3.0], requires_grad=True)
        x.max().backward()
        return x.grad
    same(program)


# ------------------------------------------------------------------ in place
def test_manual_sgd_inside_no_grad_matches_torch() -> None:
    def program(torch: Any) -> Any:
        torch.manual_seed(0)
        xs = torch.tensor(np.linspace(-1, 1, 12).reshape(6, 2), dtype=torch.float32)
        ys = torch.tensor([1.0, -1.0, 0.5, 0.0, 2.0, -0.5])
        w = torch.tensor([[0.1], [-0.2]], requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        losses = []
        for _ in range(5):
            loss = ((xs @ w + b).squeeze(1) - ys).pow(2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.5 * w.grad
                b.sub_(0.5 * b.grad)
                w.grad.zero_()
                b.grad.zero_()
            losses.append(loss.item())
        return w, b, losses, w.requires_grad, w.is_leaf
    same(program, rtol=1e-5)


def test_data_is_a_detached_tensor_on_the_same_array_as_torch() -> None:
    """``.data`` as torch's: a Tensor sharing the array, cut from the graph, so the old tutorials' idioms compute
    what torch computes (until the twenty-third stop it was the raw array: ``_, pred = out.data.max(1)`` took the
    max values, ``.data.std()`` was numpy's biased std and ``.data.repeat(2, 1)`` repeated elements)."""
    def program(torch: Any) -> Any:
        out = torch.tensor([[1.0, 3.0, 2.0], [4.0, 2.0, -1.0]], requires_grad=True)
        _, pred = out.data.max(1)
        _, predicted = torch.max(out.data, 1)
        d = out.data
        return (pred, predicted, out.data.max(1)[1], d.std(), d.var(), d.std(1), d.repeat(2, 1), d.sum(dim=1),
                d.view(-1), d.t(), d.abs(), d.norm(2), d.size(0), d.cpu().numpy(), (out * 2).data,
                out.sum().data.item(), d.requires_grad, d.is_leaf, d.grad_fn is None,
                type(d) is torch.Tensor, out.requires_grad)
    same(program)


def test_writes_through_data_reach_the_tensor_as_torch() -> None:
    """The in-place idioms of old training loops, DQN's soft update and WGAN's clipping, written through
    ``.data``: values, gradients and the parameter's flags equal torch's, and views of the array follow."""
    def program(torch: Any) -> Any:
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
        target = torch.nn.Parameter(torch.zeros(3))
        alias = p.detach()  # shares the storage
        (p * p).sum().backward()
        p.data.add_(p.grad, alpha=-0.1)
        p.data += -0.1 * p.grad
        p.data.mul_(2)
        p.grad.data.zero_()
        target.data.copy_(0.1 * p.data + 0.9 * target.data)
        p.data.clamp_(-1.5, 1.5)
        clone = p.data.clone()
        clone.fill_(7.0)  # a copy: p keeps its values
        w = torch.nn.Linear(2, 2)
        w.weight.data.fill_(0.5)
        w.bias.data.zero_()
        return (p.detach(), alias, target.detach(), p.grad, clone, p.requires_grad, p.is_leaf, w(torch.ones(1, 2)),
                type(p.data) is torch.Tensor)
    same(program)


def test_writes_through_data_are_invisible_to_autograd_as_torch() -> None:
    """torch's ``.data`` does not share the version counter: a write through it between forward and backward does
    not raise, and the backward reads the new values (``detach()`` shares it, so the same write raises)."""
    def program(torch: Any) -> Any:
        p = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (p * p).sum()
        p.data.mul_(3)
        y.backward()
        return p.grad, p.detach()
    same(program)

    def detached(torch: Any) -> Any:
        p = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (p * p).sum()
        p.detach().mul_(3)
        y.backward()
    both_raise(detached)


def test_state_dict_values_are_tensors_on_the_parameters_arrays_as_torch() -> None:
    """Early stopping's ``{k: v.cpu().clone() ...}`` snapshot, ``v.size()`` / ``numel()`` / ``std()`` on the values,
    and the live (uncloned) state_dict that follows the parameters, as torch's."""
    def program(torch: Any) -> Any:
        model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
        model[0].weight.data.copy_(torch.tensor([[0.5, -1.0, 2.0], [0.25, 3.0, -0.75]]))
        live = model.state_dict()
        best = {k: v.cpu().clone() for k, v in model.state_dict().items()}
        sizes = [(k, tuple(v.size()), v.numel(), v.requires_grad) for k, v in live.items()]
        spread = live["0.weight"].std()
        with torch.no_grad():
            model[0].weight.add_(1.0)
        moved = live["0.weight"].clone()  # the live dict sees the change
        model.load_state_dict(best)
        return sizes, spread, moved, model[0].weight.detach(), live["0.weight"]
    same(program)


def test_data_assignment_shares_the_array_as_torch() -> None:
    """``p.data = t`` makes p share t's array, as torch's shares t's storage (before, a Tensor of the same shape was
    copied in, so ``dec.weight.data = enc.weight.data`` tied the weights once and they drifted apart in training:
    silently); another shape or an array replaces it too; anything but a Tensor or an array raises. Growing
    ``p.data`` by ``resize_`` raises (torch would grow the shared storage, which here would leave p behind)."""
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    t = tg.tensor([5.0, 6.0])
    p.data = t
    assert p._data is t._data and p.tolist() == [5.0, 6.0] and p.requires_grad
    p.data = tg.zeros(3)
    assert p.shape == (3,) and isinstance(p._data, np.ndarray)
    p.data = np.ones(2, np.float32)
    assert p.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="resize_"):
        p.data.resize_(5)
    p.data.resize_(1).fill_(4.0)  # shrinking is a view of the same array
    assert p.tolist() == [4.0, 1.0]
    with pytest.raises(TypeError):
        p.data = [1.0, 2.0]


def test_data_assignment_ties_and_detaches_as_torch() -> None:
    """Weights tied by ``.data`` train as one; a buffer assigned to ``.data`` and written afterwards shows through;
    a view made before the assignment keeps the old memory, and an in-place write into it (recorded or not) leaves
    the tensor's new values alone; ``p.data += x`` and ``p.data = p.data * 2`` update p."""
    def run(lib: Any) -> list:
        lib.manual_seed(0)
        enc, dec = lib.nn.Linear(3, 3, bias=False), lib.nn.Linear(3, 3, bias=False)
        with lib.no_grad():
            enc.weight.copy_(lib.tensor(np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)))
        dec.weight.data = enc.weight.data
        opt = lib.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.01, momentum=0.9)
        for _ in range(3):
            opt.zero_grad()
            dec(enc(lib.ones(2, 3))).pow(2).sum().backward()
            opt.step()
        out = [enc.weight.tolist(), dec.weight.tolist()]
        buf, t = lib.zeros(3), lib.ones(3)
        t.data = buf
        buf.add_(1)
        out.append(t.tolist())
        base = lib.zeros(4)
        view = base[:2]
        base.data = lib.full((4,), 3.0)
        view.add_(1)
        out += [base.tolist(), view.tolist()]
        leaf = lib.zeros(4, requires_grad=True)
        made = leaf * 1
        part = made[:2]
        part.data = lib.ones(2)
        part.add_(1)
        out += [made.tolist(), part.tolist()]
        p = lib.ones(2)
        p.data += 1
        p.data = p.data * 2
        out.append(p.tolist())
        return out

    ours, theirs = run(tg), run(real_torch)
    assert ours[0] == ours[1] and theirs[0] == theirs[1]  # tied
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-6)
    assert ours[2:] == theirs[2:]


def test_in_place_on_leaf_requiring_grad_raises_outside_no_grad() -> None:
    for update in (lambda t, w: w.add_(1), lambda t, w: w.mul_(2), lambda t, w: w.zero_(),
                   lambda t, w: w.fill_(3.0), lambda t, w: w.clamp_(0, 1), lambda t, w: w.normal_(),
                   lambda t, w: w.uniform_(), lambda t, w: w.copy_(t.ones(3)), lambda t, w: w.div_(2),
                   lambda t, w: w.sub_(1)):
        def program(torch: Any, update: Any = update) -> Any:
            w = torch.ones(3, requires_grad=True)
            update(torch, w)
        both_raise(program)

    def iadd(torch: Any) -> Any:
        w = torch.ones(3, requires_grad=True)
        w -= 0.1
    both_raise(iadd)


def test_in_place_methods_update_the_array_and_views_see_it() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor(M)
        row = x[0]
        x.add_(1).mul_(2).sub_(torch.tensor([1.0, 0.0, 1.0]), alpha=2).div_(4)
        out = [x.clone(), row.clone()]
        x.clamp_(1.0, 3.0)
        out.append(x.clone())
        x[1] = torch.tensor([9.0, 8.0, 7.0])
        x[0, 1] = -1.0
        out.append(x.clone())
        x.copy_(torch.tensor([1.0, 2.0, 3.0]))  # broadcast
        out.append(row.clone())
        x.fill_(2.5)
        x *= torch.tensor([[1.0], [2.0]])
        x /= 2
        x += 1
        x -= torch.ones(3)
        out.append(x)
        x.zero_()
        out.append(row)
        return out
    same(program)


def test_random_in_place_fills_the_tensor() -> None:
    x = tg.zeros(2000)
    with tg.no_grad():
        x.normal_(3.0, 0.5)
        assert abs(float(x.mean()) - 3.0) < 0.05 and abs(float(x.std()) - 0.5) < 0.05
        x.uniform_(-2.0, -1.0)
    assert float(x.min()) >= -2.0 and float(x.max()) < -1.0
    g1, g2 = tg.Generator().manual_seed(7), tg.Generator().manual_seed(7)
    assert tg.zeros(5).normal_(generator=g1).tolist() == tg.zeros(5).normal_(generator=g2).tolist()


def test_in_place_on_non_leaf_differentiates_as_torch() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = torch.tensor([1.5, 2.0, -0.5], requires_grad=True)
        h = x * 2
        h += y
        h.mul_(y)  # the gradient for y needs h's value from before the write
        h.clamp_(-2.0, 3.0)
        h -= 1
        g = x * 2
        g.copy_(y * 3)  # g is now 3y: nothing flows to x through it
        (h.sum() + (g * x).sum()).backward()
        return h, x.grad, y.grad
    same(program)


def test_fill_on_non_leaf_stops_the_gradient_as_torch() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        h.fill_(1.0)
        (h * x).sum().backward()
        return x.grad
    same(program)


def test_saved_tensor_modified_in_place_raises_at_backward() -> None:
    def input_modified(torch: Any) -> Any:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = h * h  # saves h
        with torch.no_grad():
            h.add_(1)
        y.sum().backward()
    both_raise(input_modified)

    def output_modified(torch: Any) -> Any:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()  # saves its output
        y += 1
        y.sum().backward()
    both_raise(output_modified)

    def view_modified(torch: Any) -> Any:
        w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        x = torch.tensor([0.5, 0.5], requires_grad=True)
        y = (w.sigmoid() * x).sum()  # sigmoid saves its output, mul its inputs
        with torch.no_grad():
            w[0].mul_(2)  # through a view: w's version counter moves too
            x.view(2, 1).add_(1)
        y.backward()
    both_raise(view_modified)

    def leaf_updated_before_backward(torch: Any) -> Any:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * w).sum()
        with torch.no_grad():
            w -= 0.1
        loss.backward()
    both_raise(leaf_updated_before_backward)


def test_in_place_on_outputs_that_are_not_saved_is_fine() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        w = torch.tensor([[0.5, -1.0], [2.0, 1.0]], requires_grad=True)
        h = x @ w
        h += torch.tensor([1.0, -1.0])  # matmul does not need its output
        h.add_(x, alpha=0.5)
        (h * h).sum().backward()
        return h, x.grad, w.grad
    same(program)


def test_in_place_errors_name_the_problem() -> None:
    x = tg.ones(2, 3)
    with pytest.raises(RuntimeError, match="shape"):
        x += tg.ones(4, 2, 3)
    i = tg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="cannot be cast"):
        i += 0.5
    with pytest.raises(RuntimeError, match="leaf"):
        tg.ones(2, requires_grad=True).add_(1)


def test_backward_after_an_optimizer_step_on_a_saved_parameter_raises() -> None:
    def program(torch: Any) -> Any:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        first = (w * w).sum()
        first.backward(retain_graph=True)
        opt.step()
        first.backward()  # w changed since mul saved it
    both_raise(program)


def test_setitem_differentiates_as_torch() -> None:
    def program(torch: Any) -> Any:
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        v = torch.tensor([[0.5, -1.0], [2.0, 4.0]], requires_grad=True)
        x = torch.zeros(3, 3)
        x[0] = w * 2  # a plain tensor takes a graph
        x[1:, :2] = v
        x[2, 2] = 7.0
        h = w * 1
        h[0] = 0.0  # no gradient flows to what was overwritten
        h[torch.tensor([2])] = v[0, :1] * 3
        ((x * x).sum() + (h * torch.tensor([1.0, 2.0, 3.0])).sum()).backward()
        return x, h, w.grad, v.grad
    same(program)

    def leaf(torch: Any) -> Any:
        w = torch.ones(3, requires_grad=True)
        w[0] = 2.0
    both_raise(leaf)


def test_casts_to_integer_types_cut_the_graph_as_torch() -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor([1.7, -2.2], requires_grad=True)
        y = x.long()
        z = x.to(torch.float64)
        (z * 2).sum().backward()
        return y, y.requires_grad, x.bool().requires_grad, z.requires_grad, x.grad, y.float().requires_grad
    same(program)


def test_mask_written_after_masked_fill_does_not_change_the_gradient() -> None:
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = tg.tensor([True, False, False])
    y = x.masked_fill(mask, 0.0).sum() + tg.where(mask, x, x * 2).sum()
    mask.fill_(False)  # torch raises at backward here (the mask is saved); ours kept a copy of it
    y.backward()
    assert x.grad.tolist() == [1.0, 3.0, 3.0]  # (0 + 1), (1 + 2), (1 + 2): the mask as it was in forward


def test_index_written_after_indexing_does_not_change_the_gradient() -> None:
    table = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    ix = tg.tensor([0, 0, 2])
    rows = table[ix]
    ix.fill_(1)  # torch saves the index and raises at backward; ours kept a copy
    rows.sum().backward()
    assert table.grad.tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]
    x = tg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, indices = x.sort()
    indices.add_(1)  # the indices returned are the user's to change
    (values * tg.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [100.0, 1.0, 10.0]


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2)])
@pytest.mark.parametrize("write", ["fill_", "data", "numpy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_targets_written_after_a_loss_do_not_change_the_gradient(loss: str, shape: tuple[int, ...], write: str,
                                                                  weighted: bool) -> None:
    """The fused losses' backward reads the class targets: a write into them before backward (torch raises there)
    must never give a gradient other than torch's for the targets as they were in forward."""
    scores = np.random.default_rng(0).standard_normal(shape)
    targets = np.array([0, 1, 2, 1]).reshape((shape[0], *shape[2:]))
    kwargs = {"weight": np.array([1.0, 2.0, 3.0])} if weighted else {}

    def gradient(torch: Any, targets_are_numpy: bool = False) -> Any:
        F = torch.nn.functional
        x = torch.tensor(scores, requires_grad=True)
        t = targets.copy() if targets_are_numpy else torch.tensor(targets)
        w = {k: torch.tensor(v) for k, v in kwargs.items()}
        out = getattr(F, loss)(x if loss == "cross_entropy" else x.log_softmax(1), t, **w)
        if torch is tg:
            if write == "numpy":
                t[...] = 2
            elif write == "data":
                t.data[...] = 2
            else:
                t.fill_(2)
        out.backward()
        return x.grad

    expected = as_numpy(gradient(real_torch))  # torch, with targets left alone
    check(as_numpy(gradient(tg, write == "numpy")), expected, 1e-6)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss", "l1_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits"])
def test_numpy_targets_written_after_a_loss_do_not_change_the_gradient(loss: str) -> None:
    """Ours also takes numpy targets (torch wants Tensors); a write into one before backward changes nothing."""
    probs = np.random.default_rng(1).uniform(0.1, 0.9, (4, 3))
    targets = np.full((4, 3), 1 / 3)
    x = real_torch.tensor(probs, requires_grad=True)
    getattr(real_torch.nn.functional, loss)(x, real_torch.tensor(targets)).backward()
    ours = tg.tensor(probs, requires_grad=True)
    out = getattr(tg.nn.functional, loss)(ours, targets)
    targets[...] = 0
    out.backward()
    check(ours.grad.numpy(), x.grad.numpy(), 1e-6)


# ------------------------------------------------------------------ reshape and broadcasting: the fast paths
@pytest.mark.parametrize("shape", [(6,), (2, 3), (-1,), (3, -1), (-1, 2, 1), (), (-2, 3), (-1, -1), (0, -1), (4, 2),
                                   (2, 3, 0), (-3,), [3, 2], (np.int64(2), 3)])
def test_reshape_accepts_and_refuses_what_torch_does(shape: tuple) -> None:
    def program(torch: Any) -> Any:
        x = torch.tensor(M, requires_grad=True)
        y = x.reshape(shape)
        (y * y).sum().backward()
        return y, x.grad
    try:
        expected = as_numpy(program(real_torch))
    except RuntimeError:  # torch's "invalid shape" / "shape is invalid for input of size": ours says ValueError
        both_raise(program, (RuntimeError, ValueError))
        return
    check(as_numpy(program(tg)), expected, 1e-6)


@pytest.mark.parametrize("a, b", [((4, 4), (3,)), ((2, 3), (2,)), ((3,), (4, 2)), ((2, 1, 3), (4, 3, 1)), ((5,), ())])
def test_broadcast_errors_name_the_op_and_valid_pairs_match(a: tuple, b: tuple) -> None:
    def program(torch: Any) -> Any:
        x, y = torch.ones(a, requires_grad=True), torch.full(b, 2.0, requires_grad=True)
        z = x * y + y * 0.5
        z.sum().backward()
        return z, x.grad, y.grad
    try:
        expected = as_numpy(program(real_torch))
    except RuntimeError:
        with pytest.raises(ValueError, match=r"mul: shapes \(.*\) and \(.*\) cannot be broadcast"):
            program(tg)
        return
    check(as_numpy(program(tg)), expected, 1e-6)


def test_linear_with_no_input_features_gives_the_bias_itself() -> None:
    # FUZZ_SEED=44094: x (0,) @ W (3, 0).T is +0, and +0 + -0 = +0, but torch gives the bias unchanged (-0)
    def program(torch: Any) -> Any:
        x = torch.zeros((2, 0), requires_grad=True)
        w = torch.zeros((3, 0), requires_grad=True)
        b = torch.tensor([-0.0, 0.5, -4.0], requires_grad=True)
        y = torch.nn.functional.linear(x, w, b)
        (1 / y).sum().backward()
        return 1 / y, x.grad, w.grad, b.grad
    same(program)
    assert np.signbit(tg.nn.functional.linear(tg.zeros(0), tg.zeros(3, 0), tg.tensor([-0.0, 1.0, 2.0])).numpy()[0])


def test_power_minus_half_is_rsqrt_as_in_torch() -> None:
    # FUZZ_SEED=49638: torch computes x ** -0.5 (a Python number) as rsqrt, so -0 gives -inf and -inf gives nan
    # (C's pow gives inf and 0); with a tensor exponent it is pow again
    def program(torch: Any) -> Any:
        x = torch.tensor([-0.0, -float("inf"), 0.0, 3.0, 1e-30], dtype=torch.float64, requires_grad=True)
        y = x ** -0.5
        y[3:].sum().backward()
        return y, x.grad, torch.pow(x.detach(), torch.tensor(-0.5, dtype=torch.float64)), x.float() ** -0.5
    same(program)


@pytest.mark.parametrize("a, b", [((1, 1, 0), (1, 0, 2)), ((0, 1, 3), (0, 3, 2)), ((1, 0), (0, 2)), ((2, 3), (3, 2))])
def test_matmul_of_two_dtypes_raises_even_when_empty(a: tuple, b: tuple) -> None:
    # torch raises for 2-D and nonempty products, but not for an empty batched one (README, Differences)
    with pytest.raises(TypeError, match="dtype"):
        tg.zeros(*a) @ tg.zeros(*b, dtype=tg.float64)


@pytest.mark.parametrize("batch", [0, 2])
def test_conv2d_of_two_dtypes_raises_even_for_an_empty_batch(batch: int) -> None:
    # torch lets an empty batch pass (FUZZ_SEED=874406; README, Differences)
    with pytest.raises(TypeError, match="dtype"):
        tg.nn.functional.conv2d(tg.zeros(batch, 1, 4, 5), tg.zeros(3, 1, 2, 1, dtype=tg.float64))


def test_cross_entropy_of_a_sure_class_is_minus_zero_as_in_torch() -> None:
    # FUZZ_SEED=96511: torch's loss is -(log_softmax[t]) = -(+0) = -0 with one class; 1 / loss tells the signs apart
    def program(torch: Any) -> Any:
        x = torch.tensor([[-0.155], [3.0]], requires_grad=True)
        loss = torch.nn.functional.cross_entropy(x, torch.tensor([0, 0]), reduction="none")
        (loss * torch.tensor([1.0, 2.0])).sum().backward()
        return 1 / loss, x.grad, 1 / torch.nn.functional.cross_entropy(x, torch.tensor([0, 0]), reduction="sum")
    same(program)


@pytest.mark.parametrize("op", ["mul", "rmul", "add", "matmul", "rmatmul", "where"])
def test_a_numpy_operand_written_after_the_op_leaves_the_gradient_alone(op: str) -> None:
    # before: x * arr kept arr itself for backward, so arr[...] = 0 before backward silently zeroed x.grad
    arr = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    keep = arr.copy()
    x = tg.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    y = {"mul": lambda: x * arr, "rmul": lambda: arr * x, "add": lambda: (x + arr) * x, "matmul": lambda: x @ arr,
         "rmatmul": lambda: arr @ x, "where": lambda: tg.where(x > 0, x * x, arr)}[op]()
    y.sum().backward()
    expected = x.grad.numpy().copy()
    x.grad = None
    y = {"mul": lambda: x * arr, "rmul": lambda: arr * x, "add": lambda: (x + arr) * x, "matmul": lambda: x @ arr,
         "rmatmul": lambda: arr @ x, "where": lambda: tg.where(x > 0, x * x, arr)}[op]()
    arr[...] = 0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    arr[...] = keep


def test_power_of_two_tensors_with_exponent_half_is_c_pow_as_in_torch() -> None:
    # FUZZ_SEED=467370: numpy computes x ** 0.5 with a broadcast exponent as sqrt (sqrt(-inf) = nan, sqrt(-0) = -0);
    # torch's pow of two tensors gives inf and +0 there, while a Python-number exponent is sqrt in both
    def program(torch: Any) -> Any:
        x = torch.tensor([-float("inf"), -0.0, 4.0, 2.0], dtype=torch.float64, requires_grad=True)
        e = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
        y = torch.pow(x, e)
        y[2:].sum().backward()
        return (y, 1 / y[:2], torch.pow(x.detach(), torch.tensor(0.5, dtype=torch.float64)), x.detach() ** 0.5,
                x.grad, e.grad)
    same(program)


def test_softplus_goes_linear_past_the_threshold_as_in_torch() -> None:
    # FUZZ_SEED=486003: torch's softplus is x (gradient exactly 1) where beta x > threshold (20 by default)
    def program(torch: Any) -> Any:
        x = torch.tensor([2.019, 1.9, -3.0, 25.0], dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.softplus(x, beta=10.0) + torch.nn.Softplus(threshold=5.0)(x)
        y.sum().backward()
        return y, x.grad
    same(program, rtol=1e-15)
    assert "threshold=20.0" in repr(tg.nn.Softplus())


def test_clamp_keeps_minus_zero_at_a_zero_bound_as_in_torch() -> None:
    # FUZZ_SEED=495316: numpy's clip turned -0 into +0 at min=0, so log's gradient 1 / x came out inf, not -inf
    def program(torch: Any) -> Any:
        x = torch.tensor([-0.0, 0.0, -3.0, 2.0, float("nan"), float("-inf")], dtype=torch.float64, requires_grad=True)
        y = torch.clamp(x, min=0.0)
        (1 / y[:2]).sum().backward()
        return 1 / y[:2], y, torch.clamp(x.detach(), max=-0.0), torch.clamp(x.detach(), -1.0, 1.0), x.grad
    same(program)


def test_max_pool2d_of_plus_and_minus_zero_gives_the_first_ones_sign_as_in_torch() -> None:
    # FUZZ_SEED=728156: numpy's max of [+0, -0] came out -0, so sqrt's gradient at the max was -inf, not inf
    def program(torch: Any) -> Any:
        x = torch.tensor([[[[0.0, -0.0, -0.0, 0.0, -1.0, -0.0]]]], dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.max_pool2d(x, (1, 2), (1, 2))
        (1 / y).sum().backward()
        return 1 / y, x.grad
    same(program)


def test_relu_keeps_minus_zero_as_in_torch() -> None:
    # FUZZ_SEED=763008: numpy's maximum(-0, 0) gave +0, so x / relu(x) at -0 had the gradient +inf, not -inf
    def program(torch: Any) -> Any:
        x = torch.tensor([-0.0, 0.0, -2.0, 3.0, float("nan"), float("-inf")], dtype=torch.float64, requires_grad=True)
        y = torch.relu(x)
        (x[:2] / y[:2]).sum().backward()
        return 1 / y[:2], y, torch.nn.functional.relu(x.detach().float()), x.grad, 1 / torch.relu(x.detach()[0])
    same(program)


CLAMP_VALUES = st.sampled_from([-2.0, -1.0, -0.0, 0.0, 1.0, 2.0, float("nan")])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_clamp_values_gradients_and_dtypes_as_torch(data: st.DataObject) -> None:
    # the gradient of x at a tie with a tensor bound was halved (clamp was maximum then minimum), lo > hi passed the
    # gradient to x where x == hi, a nan scalar bound was ignored, and int tensors with float bounds came out float64
    shape = data.draw(st.sampled_from([(3,), (2, 3), (2, 1)]))
    size = int(np.prod(shape))
    x = np.array(data.draw(st.lists(CLAMP_VALUES, min_size=size, max_size=size))).reshape(shape)
    kind = data.draw(st.sampled_from(["number", "tensor"]))  # torch takes no mix of the two
    kinds = data.draw(st.sampled_from([[kind, kind], [kind, "none"], ["none", kind]]))
    bounds = [None if k == "none" else data.draw(CLAMP_VALUES) if k == "number"
              else np.array(data.draw(st.lists(CLAMP_VALUES, min_size=3, max_size=3))) for k in kinds]
    integer = data.draw(st.booleans()) and not np.isnan(x).any()

    def program(torch: Any) -> Any:
        xt = torch.tensor(x.astype(np.int64) if integer else x, requires_grad=not integer)
        bs = [b if not isinstance(b, np.ndarray) else torch.tensor(b, requires_grad=True) for b in bounds]
        y = torch.clamp(xt, *bs)
        if not y.requires_grad:
            return y
        (y * torch.arange(1.0, 4.0)).sum().backward()
        return y, [t.grad for t in (xt, *bs) if isinstance(t, torch.Tensor)]
    same(program)


REMAINDER_VALUES = st.sampled_from([-6.0, -5.0, -0.0, 0.0, 0.1, 2.5, 3.0, 5.3, 1e10 + 0.3, 3e300, 1e-300,
                                    float("inf"), float("-inf"), float("nan")])


@settings(max_examples=150, deadline=None)
@given(a=st.lists(REMAINDER_VALUES, min_size=4, max_size=4), b=st.lists(REMAINDER_VALUES, min_size=4, max_size=4))
def test_float_remainder_and_floor_division_as_torch(a: list[float], b: list[float]) -> None:
    # a - floor(a / b) * b gave nan for 5 % inf (torch: 5), garbage of the wrong sign for 3e300 % 1e-300 and +0 for
    # -0 % 3; -5 // inf was -0 (torch: -1), so the gradient of b in -5 % inf was 0 (torch: 1)
    def program(torch: Any) -> Any:
        x = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        r = x % y
        r.sum().backward()
        return r, x.grad, y.grad, x.detach() // y.detach(), torch.remainder(x.detach(), 2.5)
    same(program, rtol=1e-15)
    ours, theirs = as_numpy(program(tg)), as_numpy(program(real_torch))
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(np.signbit(o)[~np.isnan(o)], np.signbit(t)[~np.isnan(t)])


@pytest.mark.parametrize("op", [lambda torch, a, b: a // b, lambda torch, a, b: a % b, lambda torch, a, b: 7 // b,
                                lambda torch, a, b: torch.div(a, b, rounding_mode="trunc"), lambda torch, a, b: a % 0])
def test_integer_division_by_zero_raises_as_in_torch(op: Callable[..., Any]) -> None:
    # numpy's answer was 0, silently
    both_raise(lambda torch: op(torch, torch.tensor([7, -7]), torch.tensor([2, 0])), (RuntimeError, ZeroDivisionError))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), data=st.data())
def test_an_element_picked_by_ints_is_a_view_as_in_torch(shape: list[int], data: st.DataObject) -> None:
    """x[i] (or x[i, j], x[..., j]) that picks one element is a 0-d view: writing into it writes into x, as in
    torch (numpy hands out a copied scalar there)."""
    index = tuple(data.draw(st.integers(-n, n - 1)) for n in shape)
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(index)))
        index = (*index[:cut], Ellipsis, *index[cut:])
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    results = []
    for lib in (tg, real_torch):
        x = lib.tensor(values.copy())
        element = x[index]
        element.add_(100)
        x[index].mul_(-1)
        results.append((x.numpy(), element.numpy(), tuple(element.shape)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2] == ()


INT_ERRORS = (RuntimeError, OverflowError, TypeError, ValueError, ZeroDivisionError)


def _same_ints_or_both_raise(run: Callable[[Any], Any]) -> None:
    """``run(lib)`` (an integer tensor op) gives the same values and dtype in both libraries, or raises in both."""
    try:
        want = run(real_torch)
    except INT_ERRORS:
        with pytest.raises(INT_ERRORS):
            run(tg)
        return
    got = run(tg)
    assert str(got.dtype) == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from(["int8", "uint8", "int16", "int32", "int64"]), op=st.sampled_from(["add", "sub", "mul",
       "rsub"]), number=st.integers(-(2 ** 63), 2 ** 64 - 1) | st.sampled_from([300, -1, 255, 256, -129, 2 ** 63]),
       values=st.lists(st.integers(0, 127), min_size=0, max_size=4))
def test_python_ints_wrap_into_the_tensor_dtype_in_arithmetic(dtype: str, op: str, number: int,
                                                              values: list[int]) -> None:
    """int8 + 300 is int8 + 44 and uint8 * -1 is uint8 * 255, as torch's arithmetic casts a Python int; clamp and fill
    refuse a value out of range in both."""
    def run(lib: Any) -> Any:
        x = lib.tensor(values, dtype=getattr(lib, dtype))
        return {"add": lambda: x + number, "sub": lambda: x - number, "mul": lambda: x * number,
                "rsub": lambda: number - x}[op]()
    _same_ints_or_both_raise(run)


def test_clamp_refuses_an_int_out_of_the_dtype_as_torch() -> None:
    for lib in (tg, real_torch):
        with pytest.raises((RuntimeError, OverflowError)):
            lib.tensor([1, 2], dtype=lib.int8).clamp(max=300)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(["int8", "uint8", "int16", "int32", "int64"]),
       number=st.integers(-(2 ** 63), 2 ** 63 - 1) | st.integers(-3, 300), reflected=st.booleans())
def test_pow_refuses_an_int_exponent_the_dtype_cannot_hold_and_wraps_an_int_base(dtype: str, number: int,
                                                                                  reflected: bool) -> None:
    """x ** 300 of an int8 tensor raises in torch (its exponent is not wrapped, unlike + - *), and so here; 300 ** x
    wraps the base, as torch; negative exponents of integer tensors raise in both."""
    def run(lib: Any) -> Any:
        x = lib.tensor([2, 3, 0, 1], dtype=getattr(lib, dtype))
        return number ** x if reflected else x ** number
    _same_ints_or_both_raise(run)
