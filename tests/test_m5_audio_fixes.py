"""What the M5 speech-command program (tests/torch_style/m5_audio.py) turned up, against torch: the tutorial's
``F.nll_loss(output.squeeze(), target)`` on a last batch of one clip hands the loss scores (C,) and a target of
shape (1,); torch takes a one-element target there as the sample's class (a 0-d result), ours raised ValueError
("targets must have shape (1,) ...")."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@given(c=st.integers(1, 6), data=st.data(), loss=st.sampled_from(["nll_loss", "cross_entropy"]),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]))
@settings(deadline=None, max_examples=60)
def test_one_sample_scores_take_a_one_element_target(c: int, data: st.DataObject, loss: str, reduction: str,
                                                     weighted: bool, dtype: str) -> None:
    """Scores (C,) with a target (1,) give torch's 0-d loss, the same as with the 0-d target; the gradient (which
    torch's backward cannot give for a (1,) target) is the 0-d target's."""
    if loss == "cross_entropy" and c == 1:  # torch reads a target of the scores' shape as probabilities (and
        c = 2  # refuses integer ones); ours takes it as the class, a degenerate case left more permissive
    x = np.asarray(data.draw(st.lists(st.floats(-5, 5, width=32), min_size=c, max_size=c)), dtype=dtype)
    label = data.draw(st.integers(0, c - 1))
    w = np.linspace(0.5, 2.0, c).astype(dtype) if weighted else None
    want = getattr(torch.nn.functional, loss)(torch.tensor(x), torch.tensor([label]), reduction=reduction,
                                              weight=None if w is None else torch.tensor(w))
    got, grads = {}, {}
    for target in ([label], label):
        xs = tg.tensor(x, requires_grad=True)
        out = getattr(tg.nn.functional, loss)(xs, tg.tensor(target), reduction=reduction,
                                              weight=None if w is None else tg.tensor(w))
        out.sum().backward()
        got[type(target)], grads[type(target)] = out, xs.grad.numpy()
    assert got[list].shape == tuple(want.shape) == () and got[list].dtype == np.dtype(dtype)
    np.testing.assert_allclose(got[list].detach().numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[list].detach().numpy(), got[int].detach().numpy())
    np.testing.assert_array_equal(grads[list], grads[int])


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("target", [[1, 2], [[1]]])
def test_one_sample_scores_still_refuse_other_targets(loss: str, target: list) -> None:
    """As torch: two targets, or a (1, 1) target, for one sample's scores are an error."""
    with pytest.raises((RuntimeError, ValueError)):
        getattr(torch.nn.functional, loss)(torch.zeros(4), torch.tensor(target))
    with pytest.raises(ValueError):
        getattr(tg.nn.functional, loss)(tg.zeros(4), tg.tensor(target))


def test_probability_targets_for_one_sample_are_unchanged() -> None:
    """A float target (C,) for scores (C,) stays class probabilities (a 1-element one when C is 1)."""
    x, p = np.array([0.3, -1.0, 2.0], np.float32), np.array([0.2, 0.5, 0.3], np.float32)
    want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p))
    np.testing.assert_allclose(tg.nn.functional.cross_entropy(tg.tensor(x), tg.tensor(p)).numpy(), want.numpy(),
                               rtol=1e-6)
    one = torch.nn.functional.cross_entropy(torch.tensor([0.7]), torch.tensor([1.0]))
    np.testing.assert_allclose(tg.nn.functional.cross_entropy(tg.tensor([0.7]), tg.tensor([1.0])).numpy(),
                               one.numpy(), atol=1e-7)
