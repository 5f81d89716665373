"""Adam's and AdaMax's properties as stated in Kingma & Ba (2015), checked on the optimizers directly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim.lr_scheduler import InverseSqrtLR

IMPLS = ["reference", "numpy"] + (["numba"] if optim.numba_available() else [])


def steps(opt_factory: Callable[[list[tg.Tensor]], optim.Optimizer], grads: list[np.ndarray],
          x0: np.ndarray | None = None) -> np.ndarray:
    """Run an optimizer over ``grads`` (one array per step); the update Delta_t of each step, stacked."""
    p = tg.Tensor(np.zeros_like(grads[0]) if x0 is None else x0.copy(), requires_grad=True)
    opt = opt_factory([p])
    deltas = []
    for g in grads:
        before = p._data.copy()
        p.grad = tg.Tensor(g)
        opt.step()
        deltas.append(p.data - before)
    return np.array(deltas)


@pytest.mark.parametrize("impl", IMPLS)
def test_first_step_is_lr_times_sign_whatever_the_scale(impl: str) -> None:
    """Section 2.1: at t=1 the step is alpha g / (|g| + eps), about alpha sign(g)."""
    g = np.array([1e-4, -1e-2, 1.0, -1e2, 1e4, -1e6])
    delta = steps(lambda ps: optim.Adam(ps, lr=1e-3, impl=impl), [g])[0]
    np.testing.assert_allclose(delta, -1e-3 * np.sign(g), rtol=1e-4)


@pytest.mark.parametrize("impl", IMPLS)
def test_step_is_bounded_by_lr_times_one_minus_beta1_over_sqrt_one_minus_beta2(impl: str) -> None:
    """Section 2.1: |Delta_t| <= alpha (1 - beta1) / sqrt(1 - beta2), approached after a long run of zeros."""
    rng = np.random.default_rng(0)
    spiky = [rng.standard_normal(50) * 10.0 ** rng.uniform(-4, 2, 50) * (rng.random(50) < 0.1) for _ in range(300)]
    bound = 1e-3 * 0.1 / np.sqrt(1e-3)  # 3.16 alpha
    tiny = 1e-30  # eps = 0 in effect; it only turns the 0 / 0 of never-seen coordinates into 0
    delta = steps(lambda ps: optim.Adam(ps, eps=tiny, impl=impl), spiky)
    assert np.abs(delta).max() <= bound * (1 + 1e-9)
    # 999 zero gradients, then one: m_hat / sqrt(v_hat) = 0.1 / sqrt(0.001 / (1 - 0.999^1000)) = 2.51
    zeros_then_one = [np.zeros(1)] * 999 + [np.ones(1)]
    last = steps(lambda ps: optim.Adam(ps, eps=tiny, impl=impl), zeros_then_one)[-1]
    np.testing.assert_allclose(-last / 1e-3, 0.1 / np.sqrt(1e-3 / (1 - 0.999**1000)), rtol=1e-9)
    assert 2.5e-3 < abs(last[0]) < bound


def test_step_is_at_most_lr_when_one_minus_beta1_is_below_sqrt_one_minus_beta2() -> None:
    """Section 2.1: the common case (1 - beta1) < sqrt(1 - beta2) gives |Delta_t| <= alpha on typical gradients."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(50) * 10.0 ** rng.uniform(-4, 2, 50) * (rng.random(50) < 0.2) for _ in range(300)]
    delta = steps(lambda ps: optim.Adam(ps, lr=1e-3, betas=(0.99, 0.999), eps=1e-30), grads)
    assert np.abs(delta).max() <= 1e-3 * (1 + 1e-9)


def test_growing_gradients_exceed_the_section_2_1_bound() -> None:
    """The bound of section 2.1 is not a supremum: by Cauchy-Schwarz the step can approach
    alpha (1 - beta1) / sqrt(1 - beta2) / sqrt(1 - beta1^2 / beta2) = 7.27 alpha, reached by gradients that
    grow like (beta2 / beta1)^t. After 300 such steps Adam already moves 3.70 alpha > 3.16 alpha."""
    grads = [np.array([(0.999 / 0.9) ** t]) for t in range(1, 301)]
    delta = np.abs(steps(lambda ps: optim.Adam(ps, eps=0.0), grads)[:, 0]) / 1e-3
    assert delta[-1] > 0.1 / np.sqrt(1e-3) and np.all(np.diff(delta) > 0)
    assert delta.max() < 0.1 / np.sqrt(1e-3) / np.sqrt(1 - 0.81 / 0.999)


@pytest.mark.parametrize("c", [1e-3, 7.0, 1e4])
def test_scale_invariance(c: float) -> None:
    """Section 2.1: multiplying every gradient by c > 0 leaves the steps unchanged (exactly, with eps = 0)."""
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(20) for _ in range(50)]
    base = steps(lambda ps: optim.Adam(ps, eps=0.0), grads)
    scaled = steps(lambda ps: optim.Adam(ps, eps=0.0), [c * g for g in grads])
    np.testing.assert_allclose(scaled, base, rtol=1e-10, atol=1e-16)


def test_bias_correction_makes_v_hat_unbiased() -> None:
    """Section 3: under stationary gradients E[v_t] = (1 - beta2^t) E[g^2], so E[v_hat_t] = E[g^2]."""
    rng = np.random.default_rng(3)
    sigma2 = 4.0
    p = tg.Tensor(np.zeros(40000), requires_grad=True)
    opt = optim.Adam([p])
    for t in range(1, 21):
        p.grad = tg.Tensor(rng.standard_normal(40000) * np.sqrt(sigma2))
        opt.step()
        v = opt.state[p]["v"]
        np.testing.assert_allclose(v.mean(), (1 - 0.999**t) * sigma2, rtol=0.03)  # biased towards 0
        np.testing.assert_allclose(v.mean() / (1 - 0.999**t), sigma2, rtol=0.03)   # v_hat is not
    assert v.mean() < 0.03 * sigma2


def test_without_bias_correction_adam_is_rmsprop_with_momentum() -> None:
    """Section 6.4: dropping the hat lines. The first step is then alpha (1 - beta1) / sqrt(1 - beta2) = 3.16 alpha."""
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal(10) for _ in range(30)]
    m, v, x, expected = np.zeros(10), np.zeros(10), np.zeros(10), []
    for g in grads:
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - 1e-3 * m / (np.sqrt(v) + 1e-8)
        expected.append(x)
    for impl in IMPLS:
        delta = steps(lambda ps, impl=impl: optim.Adam(ps, bias_correction=False, impl=impl), grads)
        np.testing.assert_allclose(np.cumsum(delta, axis=0), np.array(expected), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(np.abs(delta[0]), 1e-3 * 0.1 / np.sqrt(1e-3), rtol=1e-3)  # vs ~1e-3 with it


@pytest.mark.parametrize("impl", IMPLS)
def test_adamax_step_bound(impl: str) -> None:
    """Section 7.1 says |Delta_t| <= alpha. Exactly: gradients decaying like beta2^t push the step towards
    alpha (1 - beta1) / (1 - beta1 / beta2) = 1.009 alpha, and no sequence goes beyond that."""
    sup = 2e-3 * 0.1 / (1 - 0.9 / 0.999)
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(50) * 10.0 ** rng.uniform(-4, 2, 50) for _ in range(200)]
    delta = steps(lambda ps: optim.Adamax(ps, eps=0.0, impl=impl), grads)
    assert np.abs(delta).max() <= sup * (1 + 1e-9)
    decaying = [np.array([0.999**t]) for t in range(1, 400)]
    delta = steps(lambda ps: optim.Adamax(ps, eps=0.0, impl=impl), decaying)
    assert 2e-3 < abs(delta[-1][0]) <= sup * (1 + 1e-9)
    np.testing.assert_allclose(abs(delta[-1][0]), sup, rtol=1e-6)


def test_adagrad_is_the_limit_of_adam() -> None:
    """Section 5: beta1 = 0, (1 - beta2) -> 0 and alpha_t = alpha / sqrt(t) turn Adam into AdaGrad."""
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal(30) * 10.0 ** rng.uniform(-4, 2, 30) for _ in range(200)]
    x0 = rng.standard_normal(30)

    def adam(ps: list[tg.Tensor]) -> optim.Optimizer:
        opt = optim.Adam(ps, lr=0.1, betas=(0.0, 1 - 1e-9), eps=0.0)
        scheduler = InverseSqrtLR(opt)
        original = opt.step

        def step_then_decay() -> None:
            original()
            scheduler.step()
        opt.step = step_then_decay  # type: ignore[method-assign]
        return opt

    a = np.cumsum(steps(adam, grads, x0), axis=0)
    b = np.cumsum(steps(lambda ps: optim.Adagrad(ps, lr=0.1, eps=0.0), grads, x0), axis=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize(("amsgrad", "end"), [(False, 1.0), (True, -1.0)])
def test_reddi_counterexample(amsgrad: bool, end: float) -> None:
    """Reddi et al. (2018): f_t(x) = 3x if t mod 3 == 1 else -x on [-1, 1], beta1 = 0, beta2 = 1 / (1 + 3^2).
    Adam goes to x = +1, the worst point; AMSGrad to the optimum x = -1."""
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    opt = optim.Adam([x], lr=0.1, betas=(0.0, 1 / (1 + 3**2)), amsgrad=amsgrad)
    for t in range(1, 3001):
        x.grad = tg.Tensor(np.array([3.0 if t % 3 == 1 else -1.0]))
        opt.step()
        np.clip(x._data, -1.0, 1.0, out=x._data)  # projection onto the feasible set
    assert abs(x.item() - end) < 0.15
