"""Blealtan's efficient-kan (src/efficient_kan/kan.py) as that repository writes it, with training loops as its
examples write them.

- ``KANLinear``: a ``grid`` buffer of knots per input (``arange(...) * h + grid_range[0]``, expanded and made
  contiguous), ``base_weight`` / ``spline_weight`` / ``spline_scaler`` parameters, ``reset_parameters``
  (``kaiming_uniform_`` with ``a=math.sqrt(5) * scale``, the spline weights fitted by ``curve2coeff`` to uniform
  noise), ``b_splines`` (the Cox-de Boor recursion on boolean masks ``.to(x.dtype)``), ``curve2coeff`` (a batched
  ``torch.linalg.lstsq(A, B).solution`` and permutes), ``forward`` (``F.linear`` of the base activation plus
  ``F.linear`` of the flattened B-splines), ``update_grid`` under ``@torch.no_grad()`` (the knots mixed from the
  sorted inputs' quantiles, by an int64 ``linspace``, and a uniform grid, then the spline weights refitted so the
  layer's splines keep their outputs) and ``regularization_loss`` (the l1 of the spline weights and their entropy).
- ``KAN``: the container, with ``forward(x, update_grid=False)``.
- ``train_classifier``: examples/mnist.py's loop (AdamW, ExponentialLR(gamma=0.8), CrossEntropyLoss, the batch
  accuracy, a validation pass under no_grad, the epoch's print line) on synthetic 8x8 "digits", with the
  regularization loss added and ``update_grid`` called every few steps under no_grad, and a checkpoint resume.
- ``fit_function``: tests/test_simple_math.py's fit of (u + v) / (1 + u v) by LBFGS with a closure (the MSE plus
  the regularization loss), the grid updated every few steps (see there for how it departs from the original);
  ``fit_adamw``: the same fit by AdamW + ExponentialLR with ``kan(x, update_grid=...)`` in the training forward."""

import math

import numpy as np
import torch
import torch.nn.functional as F


class KANLinear(torch.nn.Module):
    def __init__(
        self,
        in_features,
        out_features,
        grid_size=5,
        spline_order=3,
        scale_noise=0.1,
        scale_base=1.0,
        scale_spline=1.0,
        enable_standalone_scale_spline=True,
        base_activation=torch.nn.SiLU,
        grid_eps=0.02,
        grid_range=[-1, 1],  # noqa: B006 - as the repository writes it
    ):
        super(KANLinear, self).__init__()  # noqa: UP008 - the repository's spelling
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order

        h = (grid_range[1] - grid_range[0]) / grid_size
        grid = (
            (
                torch.arange(-spline_order, grid_size + spline_order + 1) * h
                + grid_range[0]
            )
            .expand(in_features, -1)
            .contiguous()
        )
        self.register_buffer("grid", grid)

        self.base_weight = torch.nn.Parameter(torch.Tensor(out_features, in_features))
        self.spline_weight = torch.nn.Parameter(
            torch.Tensor(out_features, in_features, grid_size + spline_order)
        )
        if enable_standalone_scale_spline:
            self.spline_scaler = torch.nn.Parameter(
                torch.Tensor(out_features, in_features)
            )

        self.scale_noise = scale_noise
        self.scale_base = scale_base
        self.scale_spline = scale_spline
        self.enable_standalone_scale_spline = enable_standalone_scale_spline
        self.base_activation = base_activation()
        self.grid_eps = grid_eps

        self.reset_parameters()

    def reset_parameters(self):
        torch.nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        with torch.no_grad():
            noise = (
                (
                    torch.rand(self.grid_size + 1, self.in_features, self.out_features)
                    - 1 / 2
                )
                * self.scale_noise
                / self.grid_size
            )
            self.spline_weight.data.copy_(
                (self.scale_spline if not self.enable_standalone_scale_spline else 1.0)
                * self.curve2coeff(
                    self.grid.T[self.spline_order : -self.spline_order],
                    noise,
                )
            )
            if self.enable_standalone_scale_spline:
                # torch.nn.init.constant_(self.spline_scaler, self.scale_spline)
                torch.nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)

    def b_splines(self, x: torch.Tensor):
        """
        Compute the B-spline bases for the given input tensor.

        Args:
            x (torch.Tensor): Input tensor of shape (batch_size, in_features).

        Returns:
            torch.Tensor: B-spline bases tensor of shape (batch_size, in_features, grid_size + spline_order).
        """
        assert x.dim() == 2 and x.size(1) == self.in_features

        grid: torch.Tensor = (
            self.grid
        )  # (in_features, grid_size + 2 * spline_order + 1)
        x = x.unsqueeze(-1)
        bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
        for k in range(1, self.spline_order + 1):
            bases = (
                (x - grid[:, : -(k + 1)])
                / (grid[:, k:-1] - grid[:, : -(k + 1)])
                * bases[:, :, :-1]
            ) + (
                (grid[:, k + 1 :] - x)
                / (grid[:, k + 1 :] - grid[:, 1:(-k)])
                * bases[:, :, 1:]
            )

        assert bases.size() == (
            x.size(0),
            self.in_features,
            self.grid_size + self.spline_order,
        )
        return bases.contiguous()

    def curve2coeff(self, x: torch.Tensor, y: torch.Tensor):
        """
        Compute the coefficients of the curve that interpolates the given points.

        Args:
            x (torch.Tensor): Input tensor of shape (batch_size, in_features).
            y (torch.Tensor): Output tensor of shape (batch_size, in_features, out_features).

        Returns:
            torch.Tensor: Coefficients tensor of shape (out_features, in_features, grid_size + spline_order).
        """
        assert x.dim() == 2 and x.size(1) == self.in_features
        assert y.size() == (x.size(0), self.in_features, self.out_features)

        A = self.b_splines(x).transpose(
            0, 1
        )  # (in_features, batch_size, grid_size + spline_order)
        B = y.transpose(0, 1)  # (in_features, batch_size, out_features)
        solution = torch.linalg.lstsq(
            A, B
        ).solution  # (in_features, grid_size + spline_order, out_features)
        result = solution.permute(
            2, 0, 1
        )  # (out_features, in_features, grid_size + spline_order)

        assert result.size() == (
            self.out_features,
            self.in_features,
            self.grid_size + self.spline_order,
        )
        return result.contiguous()

    @property
    def scaled_spline_weight(self):
        return self.spline_weight * (
            self.spline_scaler.unsqueeze(-1)
            if self.enable_standalone_scale_spline
            else 1.0
        )

    def forward(self, x: torch.Tensor):
        assert x.size(-1) == self.in_features
        original_shape = x.shape
        x = x.reshape(-1, self.in_features)

        base_output = F.linear(self.base_activation(x), self.base_weight)
        spline_output = F.linear(
            self.b_splines(x).view(x.size(0), -1),
            self.scaled_spline_weight.view(self.out_features, -1),
        )
        output = base_output + spline_output

        output = output.reshape(*original_shape[:-1], self.out_features)
        return output

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin=0.01):
        assert x.dim() == 2 and x.size(1) == self.in_features
        batch = x.size(0)

        splines = self.b_splines(x)  # (batch, in, coeff)
        splines = splines.permute(1, 0, 2)  # (in, batch, coeff)
        orig_coeff = self.scaled_spline_weight  # (out, in, coeff)
        orig_coeff = orig_coeff.permute(1, 2, 0)  # (in, coeff, out)
        unreduced_spline_output = torch.bmm(splines, orig_coeff)  # (in, batch, out)
        unreduced_spline_output = unreduced_spline_output.permute(
            1, 0, 2
        )  # (batch, in, out)

        # sort each channel individually to collect data distribution
        x_sorted = torch.sort(x, dim=0)[0]
        grid_adaptive = x_sorted[
            torch.linspace(
                0, batch - 1, self.grid_size + 1, dtype=torch.int64, device=x.device
            )
        ]

        uniform_step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / self.grid_size
        grid_uniform = (
            torch.arange(
                self.grid_size + 1, dtype=torch.float32, device=x.device
            ).unsqueeze(1)
            * uniform_step
            + x_sorted[0]
            - margin
        )

        grid = self.grid_eps * grid_uniform + (1 - self.grid_eps) * grid_adaptive
        grid = torch.concatenate(
            [
                grid[:1]
                - uniform_step
                * torch.arange(self.spline_order, 0, -1, device=x.device).unsqueeze(1),
                grid,
                grid[-1:]
                + uniform_step
                * torch.arange(1, self.spline_order + 1, device=x.device).unsqueeze(1),
            ],
            dim=0,
        )

        self.grid.copy_(grid.T)
        self.spline_weight.data.copy_(self.curve2coeff(x, unreduced_spline_output))

    def regularization_loss(self, regularize_activation=1.0, regularize_entropy=1.0):
        """
        Compute the regularization loss.

        This is a dumb simulation of the original L1 regularization as stated in the
        paper, since the original one requires computing absolutes and entropy from the
        expanded (batch, in_features, out_features) intermediate tensor, which is hidden
        behind the F.linear function if we want an memory efficient implementation.
        """
        l1_fake = self.spline_weight.abs().mean(-1)
        regularization_loss_activation = l1_fake.sum()
        p = l1_fake / regularization_loss_activation
        regularization_loss_entropy = -torch.sum(p * p.log())
        return (
            regularize_activation * regularization_loss_activation
            + regularize_entropy * regularization_loss_entropy
        )


class KAN(torch.nn.Module):
    def __init__(
        self,
        layers_hidden,
        grid_size=5,
        spline_order=3,
        scale_noise=0.1,
        scale_base=1.0,
        scale_spline=1.0,
        base_activation=torch.nn.SiLU,
        grid_eps=0.02,
        grid_range=[-1, 1],  # noqa: B006
    ):
        super(KAN, self).__init__()  # noqa: UP008
        self.grid_size = grid_size
        self.spline_order = spline_order

        self.layers = torch.nn.ModuleList()
        for in_features, out_features in zip(layers_hidden, layers_hidden[1:]):
            self.layers.append(
                KANLinear(
                    in_features,
                    out_features,
                    grid_size=grid_size,
                    spline_order=spline_order,
                    scale_noise=scale_noise,
                    scale_base=scale_base,
                    scale_spline=scale_spline,
                    base_activation=base_activation,
                    grid_eps=grid_eps,
                    grid_range=grid_range,
                )
            )

    def forward(self, x: torch.Tensor, update_grid=False):
        for layer in self.layers:
            if update_grid:
                layer.update_grid(x)
            x = layer(x)
        return x

    def regularization_loss(self, regularize_activation=1.0, regularize_entropy=1.0):
        return sum(
            layer.regularization_loss(regularize_activation, regularize_entropy)
            for layer in self.layers
        )


# ------------------------------------------------------------------ data


def digits(n, seed, classes=4, side=8):
    """n synthetic side x side "digits" (n, 1, side, side) float32: a class's fixed random template in [-1, 1] plus
    noise; and the (n,) int64 labels."""
    templates = np.random.default_rng(100).uniform(-1, 1, (classes, side * side))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = templates[labels] + rng.normal(0, 0.6, (n, side * side))
    return images.reshape(n, 1, side, side).astype(np.float32), labels.astype(np.int64)


def loaders(batch_size=32, n_train=256, n_val=64):
    train = torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in digits(n_train, 1)))
    val = torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in digits(n_val, 2)))
    trainloader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=False)
    valloader = torch.utils.data.DataLoader(val, batch_size=batch_size, shuffle=False)
    return trainloader, valloader


# ------------------------------------------------------------------ examples/mnist.py


def grad_norm(model):
    return torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))


def train_classifier(model, epochs=2, update_every=4, reg=1e-4, checkpoint=None, stop_after=None, log=None):
    """The mnist example's loop; ``stop_after`` epochs saves a checkpoint to ``checkpoint`` and returns, a later
    call with the same ``checkpoint`` (and a fresh model) resumes from it."""
    trainloader, valloader = loaders()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)
    criterion = torch.nn.CrossEntropyLoss()
    start = 0
    if log is None:
        log = {k: [] for k in ("loss", "reg", "accuracy", "lr", "norm", "grids", "splines", "val", "lines")}
    if checkpoint is not None and stop_after is None:
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["epoch"]
    for epoch in range(start, epochs):
        model.train()
        for i, (images, labels) in enumerate(trainloader):
            images = images.view(-1, 8 * 8)
            if i % update_every == 0:
                with torch.no_grad():
                    model(images, update_grid=True)
                log["grids"].append([layer.grid.clone().numpy() for layer in model.layers])
                log["splines"].append([layer.spline_weight.detach().clone().numpy() for layer in model.layers])
            optimizer.zero_grad()
            output = model(images)
            reg_loss = model.regularization_loss(1, 0)
            loss = criterion(output, labels)
            (loss + reg * reg_loss).backward()
            log["norm"].append(grad_norm(model).item())
            optimizer.step()
            accuracy = (output.argmax(dim=1) == labels).float().mean()
            log["loss"].append(loss.item())
            log["reg"].append(reg_loss.item())
            log["accuracy"].append(accuracy.item())
            log["lr"].append(optimizer.param_groups[0]["lr"])

        model.eval()
        val_loss = 0
        val_accuracy = 0
        with torch.no_grad():
            for images, labels in valloader:
                images = images.view(-1, 8 * 8)
                output = model(images)
                val_loss += criterion(output, labels).item()
                val_accuracy += (
                    (output.argmax(dim=1) == labels).float().mean().item()
                )
        val_loss /= len(valloader)
        val_accuracy /= len(valloader)

        scheduler.step()
        log["val"].append((val_loss, val_accuracy))
        log["lines"].append(f"Epoch {epoch + 1}, Val Loss: {val_loss}, Val Accuracy: {val_accuracy}")
        print(log["lines"][-1])
        if stop_after is not None and epoch + 1 == stop_after:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch + 1}, checkpoint)
            return log
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return log


# ------------------------------------------------------------------ tests/test_simple_math.py


def target(x):
    u = x[:, 0]
    v = x[:, 1]
    return (u + v) / (1 + u * v)


def fit_function(kan, steps=6, update_every=3, batch=128, seed=0, lr=1, line_search_fn="strong_wolfe"):
    """test_mul with numpy inputs in place of ``torch.rand``: LBFGS's closure records the loss and regularization
    of each call. Its grid update in the closure (every call of every 20th step) makes LBFGS diverge to NaN
    (in torch, within the first step), so the grid is updated before the step here, under no_grad."""
    optimizer = torch.optim.LBFGS(kan.parameters(), lr=lr, line_search_fn=line_search_fn)
    rng = np.random.default_rng(seed)
    log = {"loss": [], "reg": [], "step": []}
    for i in range(steps):
        loss, reg_loss = None, None
        x = torch.from_numpy(rng.random((batch, 2))).to(kan.layers[0].base_weight.dtype)
        if i % update_every == 0:
            with torch.no_grad():
                kan(x, update_grid=True)

        def closure():
            optimizer.zero_grad()
            y = kan(x)  # noqa: B023 - the closure runs within the step

            assert y.shape == (batch, 1)
            nonlocal loss, reg_loss
            loss = F.mse_loss(y.squeeze(-1), target(x))  # noqa: B023
            reg_loss = kan.regularization_loss(1, 0)
            (loss + 1e-5 * reg_loss).backward()
            log["loss"].append(loss.item())
            log["reg"].append(reg_loss.item())
            return loss + reg_loss

        log["step"].append(optimizer.step(closure).item())
    log["params"] = {k: v.detach().numpy().copy() for k, v in kan.state_dict().items()}
    return log


def fit_adamw(kan, steps=30, update_every=10, batch=128, seed=0):
    """The same fit by AdamW under ExponentialLR, the grid updated inside the training forward
    (``kan(x, update_grid=...)``, its ``update_grid`` under ``@torch.no_grad()``), MSE plus the regularization."""
    optimizer = torch.optim.AdamW(kan.parameters(), lr=2e-2, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.97)
    rng = np.random.default_rng(seed)
    log = {"loss": [], "reg": [], "lr": [], "norm": [], "grids": []}
    for i in range(steps):
        x = torch.from_numpy(rng.random((batch, 2), dtype=np.float32))
        optimizer.zero_grad()
        y = kan(x, update_grid=(i % update_every == 0))
        if i % update_every == 0:
            log["grids"].append([layer.grid.clone().numpy() for layer in kan.layers])
        loss = F.mse_loss(y.squeeze(-1), target(x))
        reg_loss = kan.regularization_loss(1, 0.1)
        (loss + 1e-5 * reg_loss).backward()
        log["norm"].append(grad_norm(kan).item())
        optimizer.step()
        scheduler.step()
        log["loss"].append(loss.item())
        log["reg"].append(reg_loss.item())
        log["lr"].append(scheduler.get_last_lr()[0])
    log["params"] = {k: v.detach().numpy().copy() for k, v in kan.state_dict().items()}
    return log
