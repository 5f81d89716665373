"""Two models in the spellings their papers' reference code uses:

- a SchNet-style interatomic potential (Schuett et al. 2017) fitted to energies and forces of a Lennard-Jones toy
  system: edge vectors by ``index_select``, distances by ``norm``, a Gaussian radial basis, a cosine cutoff,
  shifted softplus, continuous-filter convolutions summed onto atoms by ``index_add``, per-molecule energies by
  ``scatter_add``, and forces as ``-autograd.grad(energy, positions, create_graph=True)``, so the loss on forces
  backpropagates through a gradient (double backward);
- a learning-to-rank scorer trained with ListNet (softmax cross-entropy between score and label distributions over
  each list) and with LambdaRank's pairwise weights, whose |delta NDCG| comes from ranks by ``argsort`` (stable)
  and log2 discounts; NDCG@k by ``topk`` and ``gather``.

Each ``run_*`` takes numpy data and returns a log of plain numbers and arrays.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --- SchNet ---------------------------------------------------------------------------------------------------------
class ShiftedSoftplus(nn.Module):
    def forward(self, x):
        return F.softplus(x) - math.log(2.0)


class GaussianSmearing(nn.Module):
    def __init__(self, start=0.0, stop=3.0, num_gaussians=12):
        super().__init__()
        offset = torch.linspace(start, stop, num_gaussians)
        self.coeff = -0.5 / (offset[1] - offset[0]).item() ** 2
        self.register_buffer("offset", offset)

    def forward(self, dist):
        dist = dist.view(-1, 1) - self.offset.view(1, -1)
        return torch.exp(self.coeff * torch.pow(dist, 2))


class CFConv(nn.Module):
    def __init__(self, channels, num_gaussians, cutoff):
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(num_gaussians, channels), ShiftedSoftplus(),
                                    nn.Linear(channels, channels))
        self.lin1 = nn.Linear(channels, channels, bias=False)
        self.lin2 = nn.Linear(channels, channels)
        self.cutoff = cutoff

    def forward(self, h, edge_index, dist, rbf):
        c = 0.5 * (torch.cos(dist * math.pi / self.cutoff) + 1.0)
        w = self.filter(rbf) * c.view(-1, 1)
        source, target = edge_index
        messages = self.lin1(h).index_select(0, source) * w
        out = torch.zeros_like(h).index_add(0, target, messages)
        return self.lin2(out)


class SchNet(nn.Module):
    def __init__(self, types=3, channels=16, interactions=2, num_gaussians=12, cutoff=3.0):
        super().__init__()
        self.embedding = nn.Embedding(types, channels)
        self.distance_expansion = GaussianSmearing(0.0, cutoff, num_gaussians)
        self.convs = nn.ModuleList(CFConv(channels, num_gaussians, cutoff) for _ in range(interactions))
        self.act = ShiftedSoftplus()
        self.head = nn.Sequential(nn.Linear(channels, channels // 2), ShiftedSoftplus(), nn.Linear(channels // 2, 1))

    def forward(self, z, pos, edge_index, batch, molecules):
        source, target = edge_index
        vectors = pos.index_select(0, target) - pos.index_select(0, source)
        dist = vectors.norm(dim=-1)
        rbf = self.distance_expansion(dist)
        h = self.embedding(z)
        for conv in self.convs:
            h = h + conv(self.act(h), edge_index, dist, rbf)
        atom_energy = self.head(h).squeeze(-1)
        return torch.zeros(molecules, dtype=pos.dtype).scatter_add(0, batch, atom_energy)


def lennard_jones(pos, atoms):
    """Energies (M,) and forces (M, atoms, 3) of molecules pos (M, atoms, 3), epsilon 1 and sigma 1."""
    diff = pos[:, :, None, :] - pos[:, None, :, :]
    r2 = (diff ** 2).sum(-1) + np.eye(atoms)
    inv6 = r2 ** -3 * (1 - np.eye(atoms))
    energy = 2.0 * (inv6 ** 2 - inv6).sum((1, 2))
    coeff = 24.0 * (2 * inv6 ** 2 - inv6) / r2
    forces = (coeff[..., None] * diff).sum(2)
    return energy, forces


def molecules_batch(rng, molecules=6, atoms=4):
    pos = rng.uniform(0.0, 1.6, (molecules, atoms, 3))
    pos += 1.2 * np.arange(atoms)[None, :, None] * np.array([1.0, 0.0, 0.0])  # spread along x, so none overlap
    energy, forces = lennard_jones(pos, atoms)
    pairs = np.array([(i, j) for i in range(atoms) for j in range(atoms) if i != j]).T
    edges = np.concatenate([pairs + m * atoms for m in range(molecules)], axis=1)
    return {"z": rng.integers(0, 3, molecules * atoms), "pos": pos.reshape(-1, 3).astype(np.float32),
            "edge_index": edges, "batch": np.repeat(np.arange(molecules), atoms),
            "energy": np.tanh(energy / 10).astype(np.float32), "forces": forces.reshape(-1, 3).astype(np.float32)}


def run_schnet(model, batches, rho=0.1):
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, amsgrad=True)
    log = {"energy_loss": [], "force_loss": [], "forces": []}
    for data in batches:
        pos = torch.from_numpy(data["pos"]).requires_grad_(True)
        z, edge_index, batch = (torch.from_numpy(data[k]) for k in ("z", "edge_index", "batch"))
        energy = model(z, pos, edge_index, batch, len(data["energy"]))
        forces = -torch.autograd.grad(energy.sum(), pos, create_graph=True)[0]
        log["forces"].append(forces.detach().numpy().copy())
        energy_loss = F.mse_loss(energy, torch.from_numpy(data["energy"]))
        force_loss = F.l1_loss(forces, 0.01 * torch.from_numpy(data["forces"]).clamp(-50, 50))
        optimizer.zero_grad()
        (energy_loss + rho * force_loss).backward()
        optimizer.step()
        log["energy_loss"].append(energy_loss.item())
        log["force_loss"].append(force_loss.item())
    return log


# --- learning to rank -----------------------------------------------------------------------------------------------
class Scorer(nn.Module):
    def __init__(self, features=6):
        super().__init__()
        # (no output bias: both losses see score differences only, so its gradient would be rounding noise)
        self.net = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 1, bias=False))

    def forward(self, x):  # (lists, items, features) -> (lists, items)
        return self.net(x).squeeze(-1)


def listnet_loss(scores, labels):
    return -(F.softmax(labels, dim=1) * F.log_softmax(scores, dim=1)).sum(1).mean()


def dcg(gains, k=None):
    discounts = 1.0 / torch.log2(torch.arange(gains.size(1), dtype=torch.float32) + 2.0)
    if k is not None:
        discounts = discounts * (torch.arange(gains.size(1)) < k).float()
    return (gains * discounts).sum(1)


def ndcg_at(scores, labels, k):
    _, order = scores.topk(k, dim=1)
    gains = (2 ** labels.gather(1, order) - 1)
    ideal = (2 ** labels.sort(dim=1, descending=True).values - 1)
    return (dcg(gains) / dcg(ideal, k).clamp(min=1e-10)).mean()


def lambdarank_loss(scores, labels, sigma=1.0):
    ranks = scores.detach().argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)
    discount = 1.0 / torch.log2(ranks.float() + 2.0)
    gains = 2 ** labels - 1
    ideal = dcg(gains.sort(dim=1, descending=True).values).clamp(min=1e-10)
    delta = (gains.unsqueeze(2) - gains.unsqueeze(1)) * (discount.unsqueeze(2) - discount.unsqueeze(1))
    delta = delta.abs() / ideal.view(-1, 1, 1)
    better = (labels.unsqueeze(2) > labels.unsqueeze(1)).float()
    diff = scores.unsqueeze(2) - scores.unsqueeze(1)
    return (better * delta * F.softplus(-sigma * diff)).sum((1, 2)).mean()


def run_ranker(model, batches, loss_name):
    loss_fn = listnet_loss if loss_name == "listnet" else lambdarank_loss
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.05, lr_decay=1e-3)
    log = {"loss": [], "ndcg": []}
    for x, labels in batches:
        x, labels = torch.from_numpy(x), torch.from_numpy(labels)
        scores = model(x)
        loss = loss_fn(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log["loss"].append(loss.item())
        log["ndcg"].append(ndcg_at(scores.detach(), labels, 3).item())
    return log


def ranking_batch(rng, lists=8, items=7, features=6):
    x = rng.standard_normal((lists, items, features)).astype(np.float32)
    relevance = x[..., 0] + 0.5 * x[..., 1] + 0.3 * rng.standard_normal((lists, items))
    labels = np.digitize(relevance, [-0.5, 0.5, 1.2]).astype(np.float32)  # 0..3, ties within lists
    return x, labels


def run(weights=None):
    """Both on fixed numpy data; the initial weights under ``"weights"``, loaded from ``weights`` when given."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    models = {"schnet": SchNet(), "listnet": Scorer(), "lambdarank": Scorer()}
    initial = {name: {k: v.detach().numpy().copy() for k, v in m.state_dict().items()} for name, m in models.items()}
    if weights is not None:
        for name, m in models.items():
            m.load_state_dict({k: torch.from_numpy(v) for k, v in weights[name].items()})
    rankings = [ranking_batch(rng) for _ in range(4)]
    return {
        "schnet": run_schnet(models["schnet"], [molecules_batch(rng) for _ in range(4)]),
        "listnet": run_ranker(models["listnet"], rankings, "listnet"),
        "lambdarank": run_ranker(models["lambdarank"], rankings, "lambdarank"),
        "params": {name: {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
                   for name, m in models.items()},
        "weights": initial,
    }
