"""Look inside Adam while it trains the paper's MLP on MNIST (Kingma & Ba, sections 2.1, 3 and 7.1).

    python examples/adam_internals.py            # 300 iterations per run
    python examples/adam_internals.py --quick    # 60 iterations

It trains the same network from the same initial weights three times (Adam, Adam without bias correction,
AdaMax), reads the optimizer's state with ``optim.Inspector`` after every step (inspecting changes nothing),
prints what the numbers show, and writes four plots to runs/adam_internals/ (``--out DIR`` elsewhere;
``--update-figures`` replaces the committed ones in examples/figures/, which README shows):

1. internals_first_steps.png: |Delta_t| / lr per layer. The first step moves every weight by lr, whatever the
   gradient's scale (the same run with the loss multiplied by 1000 gives the same steps), except the weights
   whose gradient is exactly 0, such as those of the pixels blank in the whole minibatch.
2. internals_snr.png: the signal-to-noise ratio |m_hat| / sqrt(v_hat) falls as training settles, and with it the
   step size, with no schedule.
3. internals_bias_correction.png: 1 - beta1^t and 1 - beta2^t, and the step sizes without correction: early on
   m and v are biased towards zero, v more so, and the uncorrected steps are about (1-beta1)/sqrt(1-beta2) = 3.2x
   too large.
4. internals_adamax.png: AdaMax's u (an exponentially weighted infinity norm) against Adam's sqrt(v_hat).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

import tinygrad_adam as tg
from tinygrad_adam import models, optim
from tinygrad_adam.data import ArrayLoader, load_mnist
from tinygrad_adam.nn import functional as F
from tinygrad_adam.plots import pyplot

FIGURES = Path(__file__).resolve().parent / "figures"


def train(make_opt: Callable, iterations: int, loss_scale: float = 1.0) -> list[dict]:
    """Train the MLP from seed 0 and return the Inspector's report after every step."""
    tg.manual_seed(0)
    train_split, _ = load_mnist()
    x = train_split.x.reshape(len(train_split.x), -1)
    model = models.MLP(784, (1000, 1000), 10, dropout=0.5)
    opt = make_opt(model.parameters())
    inspector = optim.Inspector(opt, named_params=model.named_parameters())
    reports = []
    for xb, yb in ArrayLoader((x, train_split.y), batch_size=128, seed=0):
        loss = F.cross_entropy(model(tg.Tensor(xb)), tg.Tensor(yb)) * loss_scale
        opt.zero_grad()
        loss.backward()
        opt.step()
        reports.append({"loss": loss.item() / loss_scale, **inspector.report()})
        if len(reports) == iterations:
            break
    return reports


def series(reports: list[dict], layer: str, key: str) -> np.ndarray:
    return np.array([r["params"][layer][key] for r in reports])


def finish(fig, axes: list, path: Path) -> None:
    """Legends on ``axes``, then write the figure."""
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description="Adam's internals on the MNIST MLP")
    p.add_argument("--quick", action="store_true", help="60 iterations per run instead of 300")
    p.add_argument("--out", default="runs/adam_internals", help="directory for the plots (default: %(default)s)")
    p.add_argument("--update-figures", action="store_true",
                   help=f"write the plots to {FIGURES} instead, replacing the committed ones README shows")
    args = p.parse_args()
    n = 60 if args.quick else 300
    out = FIGURES if args.update_figures else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()

    adam = train(lambda ps: optim.Adam(ps, lr=1e-3), n)
    scaled = train(lambda ps: optim.Adam(ps, lr=1e-3), 3, loss_scale=1000.0)
    raw = train(lambda ps: optim.Adam(ps, lr=1e-3, bias_correction=False), n)
    adamax = train(lambda ps: optim.Adamax(ps, lr=2e-3), n)
    layers = [name for name in adam[0]["params"] if name.endswith("weight")]
    its = np.arange(1, n + 1)

    # 1. the first steps are about lr, whatever the gradient scale
    print("1. First steps: |Delta_t| / lr (mean over each weight matrix). At t=1 every weight with a nonzero gradient")
    print("   moves by lr exactly; the first layer's mean is lower because MNIST's border pixels are always 0, so")
    print("   their weights get no gradient and no step.")
    for layer in layers:
        ours, big = series(adam[:3], layer, "update_over_lr_mean"), series(scaled, layer, "update_over_lr_mean")
        print(f"   {layer:<12} t=1..3: {np.round(ours, 3)}   with the loss x1000: {np.round(big, 3)}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for layer in layers:
        ax.plot(its, series(adam, layer, "update_over_lr_mean"), label=f"{layer} mean")
        ax.plot(its, series(adam, layer, "update_over_lr_max"), "--", lw=0.8, label=f"{layer} max")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set(xlabel="iteration", ylabel="|Delta| / lr", xscale="log", title="1. Adam's step relative to lr")
    finish(fig, [ax], out / "internals_first_steps.png")

    # 2. SNR falls as training settles
    print("2. Signal-to-noise ratio |m_hat|/sqrt(v_hat) (median), first and last iteration:")
    fig, ax = plt.subplots(figsize=(6, 4))
    for layer in layers:
        snr = series(adam, layer, "snr_median")
        print(f"   {layer:<12} {snr[0]:.3f} -> {snr[-1]:.3f}")
        ax.plot(its, snr, label=layer)
    ax2 = ax.twinx()
    ax2.plot(its, [r["loss"] for r in adam], color="gray", lw=0.7, label="loss")
    ax2.set_ylabel("training loss (gray)")
    ax.set(xlabel="iteration", ylabel="median SNR", title="2. SNR shrinks, so steps shrink by themselves")
    finish(fig, [ax], out / "internals_snr.png")

    # 3. bias correction
    first = layers[0]
    print("3. Without bias correction the first steps are too large (|Delta_t| / lr, first layer):")
    at = [0, 9, min(49, n - 1)]
    for label, reports in (("corrected  ", adam), ("uncorrected", raw)):
        steps = series(reports, first, "update_over_lr_mean")[at]
        print(f"   {label} t={','.join(str(i + 1) for i in at)}: {np.round(steps, 3)}")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(its, series(adam, first, "bias_correction1"), label="1 - beta1^t")
    a1.plot(its, series(adam, first, "bias_correction2"), label="1 - beta2^t")
    a1.set(xlabel="iteration", title="bias-correction factors", xscale="log")
    a2.plot(its, series(adam, first, "update_over_lr_mean"), label="with correction")
    a2.plot(its, series(raw, first, "update_over_lr_mean"), label="without")
    a2.plot(its, [r["loss"] for r in raw], ":", lw=0.7, label="loss without")
    a2.plot(its, [r["loss"] for r in adam], ":", lw=0.7, label="loss with")
    a2.set(xlabel="iteration", ylabel="|Delta| / lr (first layer)", xscale="log", title="3. steps without correction")
    finish(fig, [a1, a2], out / "internals_bias_correction.png")

    # 4. AdaMax's u against Adam's sqrt(v_hat)
    print("4. AdaMax's u (mean) against Adam's sqrt(v_hat) (1 / median effective step x lr), last iteration:")
    fig, ax = plt.subplots(figsize=(6, 4))
    for layer in layers:
        u = series(adamax, layer, "u_mean")
        sqrt_v_hat = 1e-3 / series(adam, layer, "effective_step_median")
        print(f"   {layer:<12} u {u[-1]:.2e}   sqrt(v_hat) {sqrt_v_hat[-1]:.2e}")
        ax.plot(its, u, label=f"{layer} AdaMax u")
        ax.plot(its, sqrt_v_hat, "--", label=f"{layer} Adam sqrt(v_hat)")
    ax.set(xlabel="iteration", yscale="log", title="4. AdaMax u vs Adam sqrt(v_hat)")
    finish(fig, [ax], out / "internals_adamax.png")
    print(f"plots written to {out}")


if __name__ == "__main__":
    main()
