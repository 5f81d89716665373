"""Metric learning and knowledge distillation written as ordinary PyTorch code, after the common GitHub
repositories (batch-hard triplet mining as in "In Defense of the Triplet Loss", Hinton-style distillation), on
clustered Gaussian points in 16-D with 8 classes made by numpy.

- ``train_embedding``: an MLP of nn.Linear, nn.BatchNorm1d, nn.PReLU and nn.Dropout whose output is
  ``F.normalize``-d; PK batches from a ``Sampler`` (numpy draws the classes and members) through a ``DataLoader``
  over a ``TensorDataset``; the pairwise distances by ``torch.cdist``, by the expanded ``(a - b).pow(2).sum(-1)``,
  by the ``|a|^2 - 2 a.b + |b|^2`` Gram form, or by open-reid's ``dist.addmm_(1, -2, x, y.t())`` (torch's deprecated
  overload); batch-hard mining with label-equality masks, ``masked_fill`` with +-inf and ``.max(dim=1)`` /
  ``.min(dim=1)``, and again as reid-strong-baseline writes it (``dist_mat[is_pos].contiguous().view(N, -1)``,
  ``labels.new().resize_as_(labels).copy_(...)``, ``gather``); ``F.relu(d_ap - d_an + margin).mean()`` plus
  nn.TripletMarginLoss, nn.CosineEmbeddingLoss, nn.MarginRankingLoss and nn.SoftMarginLoss on the same embeddings;
  SGD with Nesterov momentum and weight decay (none on biases, BatchNorm and PReLU weights) under MultiStepLR.
  ``evaluate``: recall@k by ``topk`` of a similarity matrix whose diagonal is filled (``fill_diagonal_``) or masked,
  R-precision by ``argsort`` + ``gather``, nearest-centroid accuracy from class means by ``index_add_`` /
  ``bincount``.
- ``distill``: a teacher MLP trained briefly with cross-entropy, then fixed (eval mode, ``torch.no_grad()``); a
  student trained on ``nn.KLDivLoss(reduction="batchmean")`` of temperature-softened outputs times T^2 (also the
  ``log_target=True`` form, ``F.kl_div`` and the default ``reduction="mean"``) plus ``F.cross_entropy(...,
  label_smoothing=0.1)``, with Adam(amsgrad=True) and CosineAnnealingLR, and a checkpoint saved to and resumed from
  a BytesIO mid-way.

The harness runs it on torch and, with the imports swapped, on ours."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR
from torch.utils.data import DataLoader, Sampler, TensorDataset


def make_clusters(n_per_class, n_classes=8, dim=16, spread=1.0, seed=0):
    """(n_per_class * n_classes, dim) float32 points around random class centres, and their int64 labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(0, spread, (len(y), dim))
    return x.astype(np.float32), y.astype(np.int64)


# ---------------------------------------------------------------- embedding network with triplet mining
class EmbeddingNet(nn.Module):
    def __init__(self, in_dim=16, hidden=32, emb_dim=8, dropout=0.0):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.PReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
        )
        self.fc = nn.Linear(hidden, emb_dim)

    def forward(self, x):
        return F.normalize(self.fc(self.backbone(x)), p=2, dim=1)


class BalancedBatchSampler(Sampler):
    """Batches of ``n_classes`` classes times ``n_samples`` members each, drawn by numpy."""

    def __init__(self, labels, n_classes, n_samples, n_batches, seed=0):
        self.labels = np.asarray(labels)
        self.classes = np.unique(self.labels)
        self.n_classes, self.n_samples, self.n_batches = n_classes, n_samples, n_batches
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        for _ in range(self.n_batches):
            batch = []
            for c in self.rng.choice(self.classes, self.n_classes, replace=False):
                members = np.flatnonzero(self.labels == c)
                batch.extend(self.rng.choice(members, self.n_samples, replace=False).tolist())
            yield batch

    def __len__(self):
        return self.n_batches


def pairwise_distance(emb, how="cdist", eps=1e-12):
    """(B, B) Euclidean distances between the rows of ``emb`` (B, D)."""
    if how == "cdist":
        return torch.cdist(emb, emb, p=2)
    if how == "expanded":
        return (emb.unsqueeze(1) - emb.unsqueeze(0)).pow(2).sum(-1).clamp(min=eps).sqrt()
    if how == "addmm":  # open-reid's euclidean_dist, with the old addmm_(beta, alpha, mat1, mat2) overload
        m, n = emb.size(0), emb.size(0)
        xx = torch.pow(emb, 2).sum(1, keepdim=True).expand(m, n)
        yy = torch.pow(emb, 2).sum(1, keepdim=True).expand(n, m).t()
        dist = xx + yy
        dist.addmm_(1, -2, emb, emb.t())
        return dist.clamp(min=eps).sqrt()
    if how != "gram":
        raise ValueError(f"unknown distance {how!r}")
    dot = torch.matmul(emb, emb.t())
    square_norm = torch.diag(dot)
    d = square_norm.unsqueeze(0) - 2.0 * dot + square_norm.unsqueeze(1)
    d = F.relu(d)
    mask = d.eq(0).float()  # sqrt's gradient at 0 is infinite: nudge, then zero those entries again
    d = torch.sqrt(d + mask * 1e-16)
    return d * (1.0 - mask)


def batch_hard_triplet_loss(emb, labels, margin, how="cdist"):
    """For each anchor its hardest (farthest) positive and hardest (nearest) negative in the batch."""
    dist = pairwise_distance(emb, how)
    labels_equal = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(labels.size(0), dtype=torch.bool, device=labels.device)
    positive_mask = labels_equal & ~eye
    hardest_positive, positive_idx = dist.masked_fill(~positive_mask, float("-inf")).max(dim=1)
    hardest_negative, negative_idx = dist.masked_fill(labels_equal, float("inf")).min(dim=1)
    triplet = F.relu(hardest_positive - hardest_negative + margin)
    active = (triplet > 1e-16).float().sum() / labels.size(0)
    return triplet.mean(), hardest_positive, hardest_negative, positive_idx, negative_idx, active


def hard_example_mining(dist_mat, labels):
    """reid-strong-baseline's form: each row's positives / negatives gathered into (N, K) / (N, N - K) (every class
    K times in the batch), the hardest picked, and their indices in the batch recovered through the same masks."""
    N = dist_mat.size(0)
    is_pos = labels.expand(N, N).eq(labels.expand(N, N).t())
    is_neg = labels.expand(N, N).ne(labels.expand(N, N).t())
    dist_ap, relative_p_inds = torch.max(dist_mat[is_pos].contiguous().view(N, -1), 1, keepdim=True)
    dist_an, relative_n_inds = torch.min(dist_mat[is_neg].contiguous().view(N, -1), 1, keepdim=True)
    ind = labels.new().resize_as_(labels).copy_(torch.arange(0, N).long()).unsqueeze(0).expand(N, N)
    p_inds = torch.gather(ind[is_pos].contiguous().view(N, -1), 1, relative_p_inds)
    n_inds = torch.gather(ind[is_neg].contiguous().view(N, -1), 1, relative_n_inds)
    return dist_ap.squeeze(1), dist_an.squeeze(1), p_inds.squeeze(1), n_inds.squeeze(1)


def embedding_losses(emb, labels, margin, how, criteria):
    triplet_criterion, cosine_criterion, ranking_criterion, soft_margin = criteria
    hard, d_ap, d_an, pos_idx, neg_idx, active = batch_hard_triplet_loss(emb, labels, margin, how)
    dist_ap, dist_an, p_inds, n_inds = hard_example_mining(pairwise_distance(emb, how), labels)
    assert torch.equal(p_inds, pos_idx) and torch.equal(n_inds, neg_idx)
    y = dist_an.new().resize_as_(dist_an).fill_(1)
    soft = soft_margin(dist_an - dist_ap, y)
    # the same mined triplets through the library's losses
    tml = triplet_criterion(emb, emb[pos_idx], emb[neg_idx])
    shifted = torch.roll(torch.arange(labels.size(0)), shifts=1)
    target = torch.where(labels == labels[shifted], torch.ones_like(labels), -torch.ones_like(labels))
    cos = cosine_criterion(emb, emb[shifted], target.float())
    rank = ranking_criterion(d_an, d_ap, torch.ones_like(d_an))
    total = hard + 0.5 * tml + 0.2 * cos + 0.2 * rank + 0.2 * soft
    parts = {"hard": hard, "tml": tml, "cos": cos, "rank": rank, "soft": soft, "active": active}
    return total, parts, pos_idx, neg_idx


@torch.no_grad()
def evaluate(model, x, y, n_classes, ks=(1, 2, 4)):
    was_training = model.training
    model.eval()
    emb = model(x)
    n = emb.size(0)
    sim = emb @ emb.T
    sim.fill_diagonal_(float("-inf"))  # a point is not its own neighbour
    _, idx = torch.topk(sim, k=max(ks), dim=1)
    neighbour_labels = y[idx]
    hits = neighbour_labels == y.unsqueeze(1)
    out = {f"recall@{k}": hits[:, :k].any(dim=1).float().mean().item() for k in ks}
    masked = (emb @ emb.t()).masked_fill(torch.eye(n, dtype=torch.bool), -1e4)
    assert torch.equal(torch.topk(masked, k=max(ks), dim=1).indices, idx)
    order = masked.argsort(dim=1, descending=True)
    ranked = torch.gather(y.unsqueeze(0).expand(n, n), 1, order)
    per_class = torch.bincount(y, minlength=n_classes)
    r = (per_class[y] - 1).clamp(min=1)  # R-precision: the R nearest, R the number of other class members
    within_r = torch.arange(n).unsqueeze(0) < r.unsqueeze(1)
    out["r_precision"] = ((ranked == y.unsqueeze(1)) & within_r).sum(dim=1).div(r).mean().item()
    sums = torch.zeros(n_classes, emb.size(1)).index_add_(0, y, emb)
    centroids = F.normalize(sums / per_class.float().unsqueeze(1), dim=1)
    pred = (emb @ centroids.T).argmax(dim=1)
    out["centroid_acc"] = (pred == y).float().mean().item()
    out["neighbours"] = idx.numpy().copy()
    model.train(was_training)
    return out


def train_embedding(model, x, y, epochs=3, batches_per_epoch=4, how="cdist", margin=0.3, lr=0.05, seed=0):
    n_classes = int(y.max()) + 1
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = BalancedBatchSampler(y, n_classes=4, n_samples=4, n_batches=batches_per_epoch, seed=seed)
    loader = DataLoader(dataset, batch_sampler=sampler)
    decay, no_decay = [], []  # no weight decay on biases, BatchNorm and PReLU weights
    for _, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    optimizer = optim.SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=0.9,
                          nesterov=True, weight_decay=5e-4)
    scheduler = MultiStepLR(optimizer, milestones=[1, 2], gamma=0.5)
    criteria = (nn.TripletMarginLoss(margin=margin, p=2), nn.CosineEmbeddingLoss(margin=0.1),
                nn.MarginRankingLoss(margin=margin), nn.SoftMarginLoss())
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    out = {"loss": [], "hard": [], "tml": [], "cos": [], "rank": [], "soft": [], "active": [], "norm": [], "lr": [],
           "pos_idx": [], "neg_idx": [], "eval": [evaluate(model, x_all, y_all, n_classes)]}
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            emb = model(xb)
            loss, parts, pos_idx, neg_idx = embedding_losses(emb, yb, margin, how, criteria)
            optimizer.zero_grad()
            loss.backward()
            norm = torch.norm(torch.stack([p.grad.detach().norm(2) for p in model.parameters()]), 2)
            optimizer.step()
            out["loss"].append(loss.item())
            for key, value in parts.items():
                out[key].append(value.item())
            out["norm"].append(norm.item())
            out["pos_idx"].append(pos_idx.tolist())
            out["neg_idx"].append(neg_idx.tolist())
        scheduler.step()
        out["lr"].append([group["lr"] for group in optimizer.param_groups] + scheduler.get_last_lr())
        out["eval"].append(evaluate(model, x_all, y_all, n_classes))
    out["state"] = {k: v.detach().numpy().copy() for k, v in [*model.named_parameters(), *model.named_buffers()]}
    return out


# ---------------------------------------------------------------- knowledge distillation
class MLP(nn.Module):
    def __init__(self, in_dim=16, hidden=64, n_classes=8, dropout=0.0):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                    nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.layers(x)


def accuracy(logits, y):
    return logits.argmax(dim=1).eq(y).float().mean().item()


def train_teacher(teacher, x, y, steps=15, lr=1e-2):
    optimizer = optim.Adam(teacher.parameters(), lr=lr)
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(teacher(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def distillation_loss(student_logits, teacher_logits, y, T, alpha=0.5, log_target=False):
    if log_target:
        kd = nn.KLDivLoss(reduction="batchmean", log_target=True)(
            F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1))
    else:
        kd = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(student_logits / T, dim=1),
                                                 F.softmax(teacher_logits / T, dim=1))
    ce = F.cross_entropy(student_logits, y, label_smoothing=0.1)
    return alpha * kd * T * T + (1 - alpha) * ce, kd, ce


def distill(teacher, student, x, y, x_test, y_test, epochs=4, batch_size=32, T=4.0, lr=1e-2, seed=0,
            resume_after=None):
    """Trains ``student`` against the fixed ``teacher``; after ``resume_after`` epochs the student, optimizer and
    scheduler are saved to a BytesIO and loaded into fresh ones, which go on."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    optimizer = optim.Adam(student.parameters(), lr=lr, amsgrad=True, weight_decay=1e-4)
    steps_per_epoch = len(x) // batch_size
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch, eta_min=1e-4)
    rng = np.random.default_rng(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    x_test, y_test = torch.from_numpy(x_test), torch.from_numpy(y_test)
    with torch.no_grad():
        teacher_acc = accuracy(teacher(x_test), y_test)
    out = {"loss": [], "kd": [], "kd_log_target": [], "kd_functional": [], "kd_mean": [], "ce": [], "norm": [],
           "lr": [], "train_acc": [], "test_acc": [], "test_loss": [], "teacher_acc": teacher_acc}
    for epoch in range(epochs):
        student.train()
        perm = torch.from_numpy(rng.permutation(len(x)))
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            xb, yb = xt[idx], yt[idx]
            with torch.no_grad():
                teacher_logits = teacher(xb)
            logits = student(xb)
            loss, kd, ce = distillation_loss(logits, teacher_logits, yb, T, log_target=i % 2 == 1)
            other = distillation_loss(logits.detach(), teacher_logits, yb, T, log_target=i % 2 == 0)[1]
            functional = F.kl_div(F.log_softmax(logits.detach() / T, dim=-1), F.softmax(teacher_logits / T, dim=-1),
                                  reduction="batchmean")
            # knowledge-distillation-pytorch's loss_fn_kd: KLDivLoss's default reduction, the mean over elements
            elementwise = nn.KLDivLoss()(F.log_softmax(logits.detach() / T, dim=1),
                                         F.softmax(teacher_logits / T, dim=1))
            optimizer.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(student.parameters(), max_norm=float("inf"))
            optimizer.step()
            scheduler.step()
            out["loss"].append(loss.item())
            out["kd"].append(kd.item())
            out["kd_log_target"].append(other.item())
            out["kd_functional"].append(functional.item())
            out["kd_mean"].append(elementwise.item())
            out["ce"].append(ce.item())
            out["norm"].append(norm.item())
            out["lr"].append(scheduler.get_last_lr()[0])
            out["train_acc"].append(accuracy(logits, yb))
        student.eval()
        with torch.no_grad():
            test_logits = student(x_test)
            out["test_loss"].append(F.cross_entropy(test_logits, y_test).item())
            out["test_acc"].append(accuracy(test_logits, y_test))
        if resume_after is not None and epoch + 1 == resume_after:
            buffer = io.BytesIO()
            torch.save({"epoch": epoch, "model_state_dict": student.state_dict(),
                        "optimizer_state_dict": optimizer.state_dict(),
                        "scheduler_state_dict": scheduler.state_dict()}, buffer)
            buffer.seek(0)
            checkpoint = torch.load(buffer)
            student = type(student)(hidden=student.layers[0].out_features)
            student.load_state_dict(checkpoint["model_state_dict"])
            optimizer = optim.Adam(student.parameters(), lr=lr, amsgrad=True, weight_decay=1e-4)
            optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
            scheduler = CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch, eta_min=1e-4)
            scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
            out["resumed_epoch"] = checkpoint["epoch"]
    out["params"] = {k: v.detach().numpy().copy() for k, v in student.named_parameters()}
    return out
