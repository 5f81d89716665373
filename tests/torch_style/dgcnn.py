"""DGCNN (Wang et al. 2019, "Dynamic Graph CNN for Learning on Point Clouds") as WangYueFt/dgcnn's pytorch/model.py
and main.py write it: ``knn`` by ``-2 x^T x`` plus squared norms and ``topk``, ``get_graph_feature``'s flat gather with
``idx_base``, EdgeConv blocks of Conv2d + BatchNorm2d + LeakyReLU(0.2) max-pooled over the neighbours, the global
``adaptive_max_pool1d`` / ``adaptive_avg_pool1d`` concatenation, and ``cal_loss``'s label smoothing by ``scatter``;
SGD with momentum and weight decay under CosineAnnealingLR, per-epoch overall and class-balanced accuracy, on
synthetic point clouds (spheres, cubes and cylinders).
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def knn(x, k):
    inner = -2 * torch.matmul(x.transpose(2, 1), x)
    xx = torch.sum(x ** 2, dim=1, keepdim=True)
    pairwise_distance = -xx - inner - xx.transpose(2, 1)
    idx = pairwise_distance.topk(k=k, dim=-1)[1]  # (batch_size, num_points, k)
    return idx


def get_graph_feature(x, k=20, idx=None):
    batch_size = x.size(0)
    num_points = x.size(2)
    x = x.view(batch_size, -1, num_points)
    if idx is None:
        idx = knn(x, k=k)  # (batch_size, num_points, k)
    idx_base = torch.arange(0, batch_size).view(-1, 1, 1) * num_points
    idx = idx + idx_base
    idx = idx.view(-1)
    _, num_dims, _ = x.size()
    x = x.transpose(2, 1).contiguous()  # (batch_size, num_points, num_dims)
    feature = x.view(batch_size * num_points, -1)[idx, :]
    feature = feature.view(batch_size, num_points, k, num_dims)
    x = x.view(batch_size, num_points, 1, num_dims).repeat(1, 1, k, 1)
    feature = torch.cat((feature - x, x), dim=3).permute(0, 3, 1, 2).contiguous()
    return feature


class DGCNN(nn.Module):
    def __init__(self, k=4, emb_dims=32, dropout=0.5, output_channels=3):
        super(DGCNN, self).__init__()  # noqa: UP008 - the repository's spelling
        self.k = k
        self.bn1 = nn.BatchNorm2d(8)
        self.bn2 = nn.BatchNorm2d(8)
        self.bn3 = nn.BatchNorm2d(16)
        self.bn5 = nn.BatchNorm1d(emb_dims)
        self.conv1 = nn.Sequential(nn.Conv2d(6, 8, kernel_size=1, bias=False), self.bn1,
                                   nn.LeakyReLU(negative_slope=0.2))
        self.conv2 = nn.Sequential(nn.Conv2d(8 * 2, 8, kernel_size=1, bias=False), self.bn2,
                                   nn.LeakyReLU(negative_slope=0.2))
        self.conv3 = nn.Sequential(nn.Conv2d(8 * 2, 16, kernel_size=1, bias=False), self.bn3,
                                   nn.LeakyReLU(negative_slope=0.2))
        self.conv5 = nn.Sequential(nn.Conv1d(32, emb_dims, kernel_size=1, bias=False), self.bn5,
                                   nn.LeakyReLU(negative_slope=0.2))
        self.linear1 = nn.Linear(emb_dims * 2, 16, bias=False)
        self.bn6 = nn.BatchNorm1d(16)
        self.dp1 = nn.Dropout(p=dropout)
        self.linear3 = nn.Linear(16, output_channels)

    def forward(self, x):
        batch_size = x.size(0)
        x = get_graph_feature(x, k=self.k)
        x = self.conv1(x)
        x1 = x.max(dim=-1, keepdim=False)[0]

        x = get_graph_feature(x1, k=self.k)
        x = self.conv2(x)
        x2 = x.max(dim=-1, keepdim=False)[0]

        x = get_graph_feature(x2, k=self.k)
        x = self.conv3(x)
        x3 = x.max(dim=-1, keepdim=False)[0]

        x = torch.cat((x1, x2, x3), dim=1)

        x = self.conv5(x)
        x1 = F.adaptive_max_pool1d(x, 1).view(batch_size, -1)
        x2 = F.adaptive_avg_pool1d(x, 1).view(batch_size, -1)
        x = torch.cat((x1, x2), 1)

        x = F.leaky_relu(self.bn6(self.linear1(x)), negative_slope=0.2)
        x = self.dp1(x)
        x = self.linear3(x)
        return x


def cal_loss(pred, gold, smoothing=True):
    """Calculate cross entropy loss, apply label smoothing if needed."""
    gold = gold.contiguous().view(-1)
    if smoothing:
        eps = 0.2
        n_class = pred.size(1)
        one_hot = torch.zeros_like(pred).scatter(1, gold.view(-1, 1), 1)
        one_hot = one_hot * (1 - eps) + (1 - one_hot) * eps / (n_class - 1)
        log_prb = F.log_softmax(pred, dim=1)
        loss = -(one_hot * log_prb).sum(dim=1).mean()
    else:
        loss = F.cross_entropy(pred, gold, reduction='mean')
    return loss


def balanced_accuracy(true, pred, classes):
    per_class = [np.mean(pred[true == c] == c) for c in range(classes) if np.any(true == c)]
    return float(np.mean(per_class))


def shapes(rng, count, points=24):
    """(count, points, 3) float32 clouds of three kinds, scaled and jittered, with their labels."""
    labels = rng.integers(0, 3, count)
    clouds = []
    for label in labels:
        u = rng.uniform(-1, 1, (points, 3))
        if label == 0:
            u /= np.linalg.norm(u, axis=1, keepdims=True)  # sphere surface
        elif label == 2:
            u[:, :2] /= np.linalg.norm(u[:, :2], axis=1, keepdims=True)  # cylinder
        clouds.append(u * rng.uniform(0.8, 1.2) + 0.02 * rng.standard_normal((points, 3)))
    return np.array(clouds, np.float32), labels.astype(np.int64)


def train(model, train_set, test_set, epochs=3, batch_size=8):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs, eta_min=1e-3)
    log = {"loss": [], "train_acc": [], "test_acc": [], "test_bal": [], "lr": []}
    for _ in range(epochs):
        model.train()
        x_all, y_all = train_set
        preds, trues = [], []
        for start in range(0, len(y_all), batch_size):
            data = torch.from_numpy(x_all[start:start + batch_size]).permute(0, 2, 1)
            label = torch.from_numpy(y_all[start:start + batch_size])
            opt.zero_grad()
            logits = model(data)
            loss = cal_loss(logits, label)
            loss.backward()
            opt.step()
            log["loss"].append(loss.item())
            preds.append(logits.max(dim=1)[1].detach().numpy())
            trues.append(label.numpy())
        scheduler.step()
        log["lr"].append(opt.param_groups[0]["lr"])
        log["train_acc"].append(float(np.mean(np.concatenate(preds) == np.concatenate(trues))))
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(test_set[0]).permute(0, 2, 1))
        pred = logits.max(dim=1)[1].numpy()
        log["test_acc"].append(float(np.mean(pred == test_set[1])))
        log["test_bal"].append(balanced_accuracy(test_set[1], pred, 3))
    return log


def run(weights=None):
    """Train on fixed clouds (dropout 0: the libraries' generators differ); initial weights under ``"weights"``,
    loaded from ``weights`` when given."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = DGCNN(dropout=0.0)
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if weights is not None:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    train_set, test_set = shapes(rng, 32), shapes(rng, 24)
    x = torch.from_numpy(train_set[0][:2]).permute(0, 2, 1)
    log = {"knn": knn(x, 4).numpy(), "graph_feature": get_graph_feature(x, k=4).numpy()}
    log.update(train(model, train_set, test_set))
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    log["weights"] = initial
    return log
