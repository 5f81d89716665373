"""optim.Inspector: each figure equals a hand computation; inspecting never changes the trajectory."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim.inspector import Inspector


def make_problem(seed: int = 0) -> tuple[tg.Tensor, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    p = tg.Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    grads = [rng.standard_normal((4, 5)) * 10.0 ** rng.uniform(-3, 1) for _ in range(6)]
    return p, grads


def run(opt_factory, inspect: bool) -> tuple[np.ndarray, list[dict]]:
    p, grads = make_problem()
    opt = opt_factory([p])
    ins = Inspector(opt, named_params=[("w", p)])
    reports = []
    for g in grads:
        p.grad = tg.Tensor(g.copy())
        opt.step()
        if inspect:
            reports.append(ins.report())
    return p.numpy().copy(), reports


FACTORIES = {
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adam_nobc": lambda ps: optim.Adam(ps, lr=0.01, bias_correction=False),
    "adamax": lambda ps: optim.Adamax(ps, lr=0.01),
    "sgd": lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adadelta": lambda ps: optim.Adadelta(ps),
    "nadam": lambda ps: optim.NAdam(ps, lr=0.01),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_inspecting_does_not_change_trajectory(name: str) -> None:
    quiet, _ = run(FACTORIES[name], inspect=False)
    watched, reports = run(FACTORIES[name], inspect=True)
    np.testing.assert_array_equal(quiet, watched)
    assert (reports[-1]["params"]["w"]["t"] == 6 and "effective_step_median" in reports[-1]["params"]["w"]) \
        or "momentum_norm" in reports[-1]["params"]["w"]


def test_adam_figures_by_hand() -> None:
    p, grads = make_problem(1)
    lr, (b1, b2), eps = 0.01, (0.9, 0.999), 1e-8
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    m = np.zeros(p.shape)
    v = np.zeros(p.shape)
    for g in grads:
        before = p.numpy().copy()
        p.grad = tg.Tensor(g.copy())
        opt.step()
        delta = p.numpy() - before
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
    t = len(grads)
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    fig = Inspector(opt, [("w", p)]).report()["params"]["w"]
    assert fig["t"] == 6 and fig["lr"] == lr
    assert fig["bias_correction1"] == pytest.approx(1 - b1**6) and fig["bias_correction2"] == pytest.approx(1 - b2**6)
    # |Delta_t| / lr, measured from the parameter itself
    assert fig["update_over_lr_mean"] == pytest.approx(np.abs(delta).mean() / lr, rel=1e-6)
    assert fig["update_over_lr_max"] == pytest.approx(np.abs(delta).max() / lr, rel=1e-6)
    assert fig["update_over_lr_max"] <= fig["update_bound"] == pytest.approx((1 - b1) / np.sqrt(1 - b2))
    snr = np.abs(m_hat) / np.sqrt(v_hat)
    assert fig["snr_mean"] == pytest.approx(snr.mean()) and fig["snr_median"] == pytest.approx(np.median(snr))
    eff = lr / (np.sqrt(v_hat) + eps)
    assert fig["effective_step_median"] == pytest.approx(np.median(eff))
    assert fig["effective_step_q10"] == pytest.approx(np.quantile(eff, 0.1))
    assert fig["effective_step_q90"] == pytest.approx(np.quantile(eff, 0.9))


def test_first_adam_step_moves_every_weight_by_lr() -> None:
    p, grads = make_problem(2)
    opt = optim.Adam([p], lr=0.01)
    p.grad = tg.Tensor(grads[0] * 1e-3)
    opt.step()
    fig = Inspector(opt, [("w", p)]).report()["params"]["w"]
    assert fig["update_over_lr_mean"] == pytest.approx(1.0, abs=1e-4)  # |m_hat / sqrt(v_hat)| = 1 at t = 1


def test_adamax_and_baselines_by_hand() -> None:
    p, grads = make_problem(3)
    opt = optim.Adamax([p], lr=0.002, eps=0.0)
    m = np.zeros(p.shape)
    u = np.zeros(p.shape)
    for g in grads:
        p.grad = tg.Tensor(g.copy())
        opt.step()
        m = 0.9 * m + 0.1 * g
        u = np.maximum(0.999 * u, np.abs(g))
    fig = Inspector(opt).report()["params"]["group0.param0"]
    assert fig["u_mean"] == pytest.approx(u.mean()) and fig["u_max"] == pytest.approx(u.max())
    ratio = np.abs(m / (1 - 0.9 ** len(grads))) / u
    assert fig["update_over_lr_mean"] == pytest.approx(ratio.mean())
    assert fig["update_over_lr_max"] <= fig["update_bound"] == pytest.approx(0.1 / (1 - 0.9 / 0.999))

    p, grads = make_problem(4)
    opt = optim.Adagrad([p], lr=0.1, eps=1e-10)
    for g in grads:
        p.grad = tg.Tensor(g.copy())
        opt.step()
    acc = sum(g * g for g in grads)
    fig = Inspector(opt).report()["params"]["group0.param0"]
    assert fig["accumulator_mean"] == pytest.approx(acc.mean())
    assert fig["effective_step_median"] == pytest.approx(np.median(0.1 / (np.sqrt(acc) + 1e-10)))

    p, grads = make_problem(5)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    buf = np.zeros(p.shape)
    for g in grads:
        p.grad = tg.Tensor(g.copy())
        opt.step()
        buf = 0.9 * buf + g if buf.any() else g.copy()
    fig = Inspector(opt).report()["params"]["group0.param0"]
    assert fig["momentum_norm"] == pytest.approx(np.linalg.norm(buf))


def test_nadam_figures_by_hand() -> None:
    p, grads = make_problem(6)
    opt = optim.NAdam([p], lr=0.01, eps=1e-8)
    v, mu_product = np.zeros(p.shape), 1.0
    for t, g in enumerate(grads, start=1):
        p.grad = tg.Tensor(g.copy())
        opt.step()
        v = 0.999 * v + 0.001 * g * g
        mu_product *= 0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3))                    # mu_t
    fig = Inspector(opt).report()["params"]["group0.param0"]
    bc2 = 1 - 0.999 ** len(grads)
    assert fig["mu_product"] == pytest.approx(mu_product, rel=1e-12) and fig["bias_correction2"] == pytest.approx(bc2)
    assert fig["effective_step_median"] == pytest.approx(np.median(0.01 / (np.sqrt(v / bc2) + 1e-8)))
    assert "update_over_lr_mean" not in fig


def test_untouched_parameters_are_not_reported() -> None:
    a = tg.Tensor(np.ones(3), requires_grad=True)
    b = tg.Tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([a, b])
    a.grad = tg.Tensor(np.ones(3))
    opt.step()
    assert list(Inspector(opt, [("a", a), ("b", b)]).report()["params"]) == ["a"]
