"""Time-series forecasting written as the common GitHub PyTorch code, on synthetic sine-plus-noise series. A
sliding-window ``Dataset`` returns (past, future) float tensors, read by ``DataLoader(batch_size, shuffle=False,
drop_last=True)``.

- ``TransformerForecaster``: a seq2seq ``nn.Transformer(batch_first=True)`` with a learned input projection
  (nn.Linear), a sinusoidal positional-encoding buffer and ``nn.Transformer.generate_square_subsequent_mask(T)`` as
  tgt_mask; trained with teacher forcing (the decoder reads the last past value then the true future shifted by
  one), forecasting autoregressively under ``torch.no_grad()`` with ``torch.cat`` of its predictions.
- ``LSTMForecaster``: a two-layer ``nn.LSTM(batch_first=True)`` encoder whose last hidden state a Linear head maps
  to the whole horizon.

Training is AdamW under a LambdaLR warmup, ``clip_grad_norm_``, ``model.train()/eval()``; evaluation reports MAE and
RMSE (``torch.sqrt`` of the MSE), and a ``torch.save(model.state_dict())`` / ``load_state_dict(torch.load(path))``
round trip must forecast the same."""

import math

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class WindowDataset(Dataset):
    """Sliding windows over a (N, C) numpy series: (past (input_len, C), future (horizon, C)) float tensors."""

    def __init__(self, series, input_len, horizon):
        self.series = series
        self.input_len = input_len
        self.horizon = horizon

    def __len__(self):
        return len(self.series) - self.input_len - self.horizon + 1

    def __getitem__(self, idx):
        past = self.series[idx:idx + self.input_len]
        future = self.series[idx + self.input_len:idx + self.input_len + self.horizon]
        return torch.tensor(past, dtype=torch.float32), torch.tensor(future, dtype=torch.float32)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[:, :x.size(1)]


class TransformerForecaster(nn.Module):
    def __init__(self, n_features=1, d_model=16, nhead=2, num_layers=2, dim_feedforward=32):
        super().__init__()
        self.input_proj = nn.Linear(n_features, d_model)
        self.pos = PositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers=num_layers,
                                          num_decoder_layers=num_layers, dim_feedforward=dim_feedforward,
                                          dropout=0.0, batch_first=True)
        self.out = nn.Linear(d_model, n_features)

    def forward(self, src, tgt):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
        src = self.pos(self.input_proj(src))
        tgt = self.pos(self.input_proj(tgt))
        return self.out(self.transformer(src, tgt, tgt_mask=tgt_mask))

    def training_forward(self, past, future):
        """Teacher forcing: the decoder reads the last past value, then the true future shifted by one."""
        tgt = torch.cat([past[:, -1:], future[:, :-1]], dim=1)
        return self(past, tgt)

    @torch.no_grad()
    def forecast(self, past, horizon):
        tgt = past[:, -1:]
        for _ in range(horizon):
            out = self(past, tgt)
            tgt = torch.cat([tgt, out[:, -1:]], dim=1)
        return tgt[:, 1:]

    @torch.no_grad()
    def forecast_cached(self, past, horizon):
        """The same forecast, encoding the past once: the decoder alone runs in the loop, over the memory."""
        memory = self.transformer.encoder(self.pos(self.input_proj(past)))
        tgt = past[:, -1:]
        for _ in range(horizon):
            mask = self.transformer.generate_square_subsequent_mask(tgt.size(1))
            out = self.transformer.decoder(self.pos(self.input_proj(tgt)), memory, tgt_mask=mask, tgt_is_causal=True)
            tgt = torch.cat([tgt, self.out(out[:, -1:])], dim=1)
        return tgt[:, 1:]


class LSTMForecaster(nn.Module):
    def __init__(self, n_features=1, hidden_size=16, horizon=4):
        super().__init__()
        self.horizon = horizon
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers=2, batch_first=True, dropout=0.0)
        self.head = nn.Linear(hidden_size, horizon * n_features)

    def forward(self, past):
        _, (h_n, _) = self.lstm(past)  # h_n: (num_layers, batch, hidden)
        return self.head(h_n[-1]).view(past.size(0), self.horizon, -1)

    def training_forward(self, past, future):
        return self(past)

    @torch.no_grad()
    def forecast(self, past, horizon):
        return self(past)[:, :horizon]


def make_series(n, n_features=1, seed=0):
    """Sine waves plus noise as a (n, n_features) float32 numpy array."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    periods = 12.0 + 5.0 * np.arange(n_features)
    return (np.sin(2 * np.pi * t / periods) + 0.1 * rng.standard_normal((n, n_features))).astype(np.float32)


def evaluate(model, loader, horizon):
    model.eval()
    abs_err, sq_err, count, predictions = 0.0, 0.0, 0, []
    with torch.no_grad():
        for past, future in loader:
            pred = model.forecast(past, horizon)
            abs_err += torch.abs(pred - future).sum().item()
            sq_err += ((pred - future) ** 2).sum().item()
            count += future.numel()
            predictions.append(pred)
    mae = abs_err / count
    rmse = torch.sqrt(torch.tensor(sq_err / count)).item()
    return mae, rmse, torch.cat(predictions)


def train(model, train_loader, val_loader, horizon, epochs=2, lr=3e-3, warmup=5, loss="l1", max_norm=1.0,
          path=None):
    criterion = nn.L1Loss() if loss == "l1" else nn.MSELoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    history = {"loss": [], "lr": [], "norm": [], "mae": [], "rmse": []}
    for _ in range(epochs):
        model.train()
        for past, future in train_loader:
            optimizer.zero_grad()
            pred = model.training_forward(past, future)
            loss_value = criterion(pred, future)
            loss_value.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            scheduler.step()
            history["loss"].append(loss_value.item())
            history["norm"].append(norm.item())
            history["lr"].append(scheduler.get_last_lr()[0])
        mae, rmse, predictions = evaluate(model, val_loader, horizon)
        history["mae"].append(mae)
        history["rmse"].append(rmse)
    history["predictions"] = predictions.numpy()
    if path is not None:
        torch.save(model.state_dict(), path)
        model.load_state_dict(torch.load(path))
        history["reloaded"] = evaluate(model, val_loader, horizon)[2].numpy()
    return history


def run(model, series, input_len=12, horizon=4, batch_size=8, epochs=3, lr=1e-2, loss="l1", path=None):
    split = int(len(series) * 0.75)
    train_loader = DataLoader(WindowDataset(series[:split], input_len, horizon), batch_size=batch_size,
                              shuffle=False, drop_last=True)
    val_loader = DataLoader(WindowDataset(series[split:], input_len, horizon), batch_size=batch_size,
                            shuffle=False, drop_last=True)
    return train(model, train_loader, val_loader, horizon, epochs=epochs, lr=lr, loss=loss, path=path)
