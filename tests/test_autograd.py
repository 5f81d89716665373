"""The autograd engine against PyTorch: freed graphs raise, retain_graph accumulates, and autograd.grad."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import autograd

torch = pytest.importorskip("torch")


def two_losses(lib, w0: np.ndarray, x0: np.ndarray) -> tuple:  # lib: torch or tinygrad_adam
    """Two losses that share a hidden layer h = tanh(x @ w)."""
    w = lib.tensor(w0, requires_grad=True) if lib is torch else tg.Tensor(w0, requires_grad=True)
    x = lib.tensor(x0) if lib is torch else tg.Tensor(x0)
    h = (x @ w).tanh()
    return w, (h * h).sum(), (h * 3).sum()


W0 = np.random.default_rng(0).standard_normal((3, 2))
X0 = np.random.default_rng(1).standard_normal((4, 3))


def test_second_backward_through_a_freed_graph_raises() -> None:
    # before: loss2 stopped at the freed hidden layer and w.grad silently missed loss2's share
    for lib in (torch, tg):
        _, loss1, loss2 = two_losses(lib, W0, X0)
        loss1.backward()
        with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*retain_graph=True"):
            loss2.backward()


def test_backward_twice_raises() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 4])  # the failed call added nothing


def test_retain_graph_then_second_loss_accumulates_like_torch() -> None:
    grads = []
    for lib in (torch, tg):
        w, loss1, loss2 = two_losses(lib, W0, X0)
        loss1.backward(retain_graph=True)
        loss2.backward()
        loss1_again = None
        with pytest.raises(RuntimeError):  # loss2 freed the shared part
            loss1_again = loss1.backward()
        assert loss1_again is None
        grads.append(np.asarray(w.grad.detach().numpy() if lib is torch else w.grad.numpy()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_retain_graph_twice_doubles_the_gradient() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6, 12])


def test_stacked_scalar_leaves_accumulate_their_own_gradients() -> None:
    # torch 2.13 gets this wrong (FUZZ_SEED=41422): the first backward leaves a.grad and b.grad as views of one
    # expanded array, and the second adds 1 + 10 into both; the right answer is computed by hand
    a, b = tg.Tensor(np.float64(-0.126), requires_grad=True), tg.Tensor(np.float64(-1.0), requires_grad=True)
    s = tg.stack([a, b])
    s.sum().backward(tg.Tensor(np.float64(-0.5)), retain_graph=True)
    (s * tg.Tensor(np.array([1.0, 10.0]))).sum().backward()
    assert (float(a.grad.item()), float(b.grad.item())) == (0.5, 9.5)
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-0.126, -1.0))
    ts = torch.stack([ta, tb])
    ts.sum().backward(torch.tensor(-0.5, dtype=torch.float64), retain_graph=True)
    if ta.grad.data_ptr() == tb.grad.data_ptr():  # torch's aliasing, as README says (gone in a fixed torch)
        (ts * torch.tensor([1.0, 10.0], dtype=torch.float64)).sum().backward()
        assert ta.grad.item() == tb.grad.item() == 10.5


def test_freed_node_is_not_a_leaf_and_new_ops_on_it_raise_on_backward() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    assert not h.is_leaf and h.grad is None
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_grad_matches_torch_and_leaves_dot_grad_alone() -> None:
    w, loss1, loss2 = two_losses(tg, W0, X0)
    tw, tl1, tl2 = two_losses(torch, W0, X0)
    (g1,) = autograd.grad(loss1, [w], retain_graph=True)
    (g2,) = autograd.grad(loss2, w)
    assert w.grad is None
    (t1,) = torch.autograd.grad(tl1, [tw], retain_graph=True)
    (t2,) = torch.autograd.grad(tl2, tw)
    np.testing.assert_allclose(g1.numpy(), t1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), t2.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        autograd.grad(loss1, w)


def test_grad_several_outputs_grad_outputs_and_intermediate_inputs() -> None:
    x0 = np.array([0.5, -1.0, 2.0])
    res = []
    for lib, grad in ((torch, torch.autograd.grad), (tg, autograd.grad)):
        x = lib.tensor(x0, requires_grad=True) if lib is torch else tg.Tensor(x0, requires_grad=True)
        h = x * x
        a, b = h.sum(), h * x
        go = np.array([1.0, 2.0, 3.0])
        gb = lib.tensor(go) if lib is torch else tg.Tensor(go)
        gx, gh = grad([a, b], [x, h], grad_outputs=[None, gb])
        res.append((gx.detach().numpy() if lib is torch else gx.numpy(), gh.detach().numpy() if lib is torch
                    else gh.numpy()))
        assert x.grad is None
    for ours, theirs in zip(res[1], res[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_grad_errors_and_allow_unused() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    unused = tg.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"tensors\[0\] does not require grad"):
        autograd.grad(tg.ones(2).sum(), [x])
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad((x * 2).sum(), [x, tg.ones(2)])
    with pytest.raises(RuntimeError, match="needs a scalar"):
        autograd.grad(x * 2, [x])
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of \(3,\)"):
        autograd.grad(x * 2, [x], tg.ones(3))
    with pytest.raises(RuntimeError, match=r"inputs\[1\] was not used.*allow_unused=True"):
        autograd.grad((x * 2).sum(), [x, unused], retain_graph=True)
    gx, gu = autograd.grad((x * 3).sum(), [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.numpy(), [3, 3])
    assert gu is None


def test_grad_results_have_input_dtype_and_do_not_alias() -> None:
    a = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    ga, gb = autograd.grad((a + b).sum(), [a, b])
    assert ga.dtype == np.float32 and ga._data is not gb._data and ga._data.flags.writeable
    ga.data += 1
    np.testing.assert_array_equal(gb.numpy(), [1, 1, 1])


def test_grad_mode_is_per_thread() -> None:
    """no_grad in one thread leaves another thread recording, and a new thread starts with gradients on (torch's
    grad mode is thread-local too)."""
    import threading

    seen: list[bool] = []
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        seen.append(tg.is_grad_enabled())
        inside.set()
        release.wait(5)
        x = tg.Tensor([1.0, 2.0], requires_grad=True)
        seen.append((x * 2).requires_grad)

    with tg.no_grad():
        t = threading.Thread(target=other)
        t.start()
        inside.wait(5)
        assert not tg.is_grad_enabled()
        release.set()
        t.join(5)
    assert seen == [True, True] and tg.is_grad_enabled()


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_integer_tensor_told_requires_grad_by_assignment_refuses_its_gradient(dtype: str) -> None:
    """torch refuses ``x.requires_grad = True`` on an integer tensor; ours takes the assignment (a plain attribute)
    but refuses the gradient, which would be the float gradient truncated ([2, 2] for d(2.5 x)/dx)."""
    with pytest.raises(RuntimeError):
        torch.ones(2, dtype=getattr(torch, dtype)).requires_grad = True
    for take in (lambda x, y: y.backward(), lambda x, y: autograd.grad(y, x),
                 lambda x, y: y.backward(inputs=[x])):
        x = tg.ones(2, dtype=getattr(tg, dtype))
        x.requires_grad = True
        with pytest.raises(RuntimeError, match="only floating point"):
            take(x, (x * 2.5).sum())
        assert x.grad is None
