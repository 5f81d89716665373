"""A diagonal state-space sequence model in the S4D-real style (real parameters only), as the S4 repository's minimal
example lays it out, shrunk: each of H channels holds N decaying modes ``A = -exp(log_A_real)`` with a learned step
``dt = exp(log_dt)``; the zero-order-hold discretisation gives ``dA = exp(dt * A)`` and input weights
``C * (dA - 1) / A``; the convolution kernel ``K[h, l] = sum_n C'[h, n] * dA[h, n] ** l`` is taken by powers
(``arange``, broadcasting, ``einsum``); the causal convolution is a Toeplitz product over ``unfold``ed windows or a
recurrence unrolled into ``cumprod`` / ``cumsum``; blocks are prenorm LayerNorm -> SSM -> GELU -> Dropout1d ->
1x1 Conv1d -> GLU with a residual. The SSM parameters carry an ``_optim`` attribute (lr, no weight decay) that the
optimizer setup turns into their own parameter groups, the usual S4 recipe. Trained on a tiny regression: the
output at each step is a fixed causal filter of the input."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class S4DReal(nn.Module):
    """(B, H, L) -> (B, H, L): each channel convolved causally with its own SSM kernel, plus a skip ``D * u``."""

    def __init__(self, d_model, d_state=8, dt_min=0.01, dt_max=0.1, lr=None, mode="unfold"):
        super().__init__()
        self.h, self.n, self.mode = d_model, d_state, mode
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        # S4D-real init: A_n = -(n + 1)
        log_A_real = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_model, 1)
        self.register("log_dt", log_dt, lr)
        self.register("log_A_real", log_A_real, lr)
        self.C = nn.Parameter(torch.randn(d_model, d_state) * 0.5)
        self.D = nn.Parameter(torch.randn(d_model))

    def register(self, name, tensor, lr=None):
        """A trainable tensor with its own optimizer settings (lr, no weight decay) tagged on it."""
        self.register_parameter(name, nn.Parameter(tensor))
        optim = {"weight_decay": 0.0}
        if lr is not None:
            optim["lr"] = lr
        getattr(self, name)._optim = optim

    def discretize(self):
        """(dA (H, N), input weights C' (H, N))."""
        dt = torch.exp(self.log_dt)
        A = -torch.exp(self.log_A_real)
        dtA = dt.unsqueeze(-1) * A
        return torch.exp(dtA), self.C * (torch.exp(dtA) - 1.0) / A

    def kernel(self, length):
        """(H, L): the impulse response, by powers of dA."""
        dA, Cp = self.discretize()
        steps = torch.arange(length, device=dA.device)
        powers = torch.exp(torch.log(dA).unsqueeze(-1) * steps)  # (H, N, L) = dA ** l
        return torch.einsum("hn,hnl->hl", Cp, powers)

    def conv_unfold(self, u, k):
        """Causal convolution as a product with windows: y[b, h, t] = sum_j k[h, j] u[b, h, t - j]."""
        length = u.shape[-1]
        padded = F.pad(u, (length - 1, 0))
        windows = padded.unfold(-1, length, 1)  # (B, H, L, L): window t ends at u[t]
        return torch.matmul(windows, k.flip(-1).unsqueeze(-1)).squeeze(-1)

    def conv_scan(self, u):
        """The same sum by the recurrence x_t = dA x_{t-1} + u_t, unrolled: x_t = dA^t * cumsum(u_s / dA^s)."""
        dA, Cp = self.discretize()
        length = u.shape[-1]
        ratios = dA.unsqueeze(-1).expand(self.h, self.n, length)
        powers = torch.cumprod(ratios, dim=-1) / dA.unsqueeze(-1)  # dA ** t for t = 0 .. L-1
        states = powers * torch.cumsum(u.unsqueeze(2) / powers, dim=-1)  # (B, H, N, L)
        return torch.einsum("hn,bhnl->bhl", Cp, states)

    def forward(self, u):
        y = self.conv_scan(u) if self.mode == "scan" else self.conv_unfold(u, self.kernel(u.shape[-1]))
        return y + u * self.D.unsqueeze(-1)


class S4DBlock(nn.Module):
    def __init__(self, d_model, d_state, dropout, lr, mode):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.ssm = S4DReal(d_model, d_state, lr=lr, mode=mode)
        self.dropout = nn.Dropout1d(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Conv1d(d_model, 2 * d_model, kernel_size=1)

    def forward(self, x):
        """(B, H, L) -> (B, H, L)."""
        z = self.norm(x.transpose(-1, -2)).transpose(-1, -2)
        z = self.dropout(F.gelu(self.ssm(z)))
        return x + F.glu(self.out(z), dim=1)


class S4DModel(nn.Module):
    """(B, L, d_input) -> (B, L, d_output)."""

    def __init__(self, d_input=1, d_output=1, d_model=8, d_state=8, n_layers=2, dropout=0.0, lr=1e-3, mode="unfold"):
        super().__init__()
        self.encoder = nn.Linear(d_input, d_model)
        self.layers = nn.ModuleList([S4DBlock(d_model, d_state, dropout, lr, mode) for _ in range(n_layers)])
        self.decoder = nn.Linear(d_model, d_output)

    def forward(self, x):
        x = self.encoder(x).transpose(-1, -2)
        for layer in self.layers:
            x = layer(x)
        return self.decoder(x.transpose(-1, -2))


def setup_optimizer(model, lr, weight_decay, epochs):
    """Adam(W) over the ordinary parameters, one extra group per distinct ``_optim`` setting; a cosine schedule."""
    all_parameters = list(model.parameters())
    params = [p for p in all_parameters if not hasattr(p, "_optim")]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    settings = []
    for p in all_parameters:
        if hasattr(p, "_optim") and p._optim not in settings:
            settings.append(p._optim)
    for hp in settings:
        group = [p for p in all_parameters if getattr(p, "_optim", None) == hp]
        optimizer.add_param_group({"params": group, **hp})
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    return optimizer, scheduler


def target_filter(x):
    """The task: y_t = 0.7 y_{t-1} + 0.3 x_t - 0.2 x_{t-2}, per sequence (B, L, 1)."""
    y = torch.zeros_like(x)
    prev = torch.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        cur = 0.3 * x[:, t] - (0.2 * x[:, t - 2] if t >= 2 else 0.0) + 0.7 * prev
        y[:, t] = cur
        prev = cur
    return y


def train(model, batches, epochs=3, lr=1e-2, weight_decay=0.01):
    """Per step: the MSE loss; per epoch: the lrs of every group."""
    optimizer, scheduler = setup_optimizer(model, lr, weight_decay, epochs)
    history = {"loss": [], "lr": [], "groups": [(len(g["params"]), g["lr"], g["weight_decay"])
                                               for g in optimizer.param_groups]}
    for _ in range(epochs):
        model.train()
        for x in batches:
            y = target_filter(x)
            loss = F.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        scheduler.step()
        history["lr"].append([g["lr"] for g in optimizer.param_groups])
    return history
