"""Graph neural networks for node classification written as the common GitHub PyTorch code, without
torch_geometric: a graph from a stochastic block model (numpy), ``edge_index`` a (2, E) long tensor with self
loops added by ``torch.cat`` of ``torch.arange``; a GCN layer with symmetric normalisation (the degree by
``scatter_add_`` of ones or by ``torch.bincount``, ``deg.pow(-0.5)`` with its infs set to 0), messages
``x[col] * norm.view(-1, 1)`` summed into the nodes by ``index_add_``, by ``scatter_add_`` over an ``expand_as``
index, by a dense adjacency built with ``index_put_(..., accumulate=True)``, or by ``torch.sparse.mm`` of a
``torch.sparse_coo_tensor`` adjacency; a GAT layer with LeakyReLU(0.2) attention logits, a softmax over each
node's incoming edges (the max by ``scatter_reduce(..., reduce="amax", include_self=False)``, the denominators by
``index_add_``), several heads by
``view(-1, heads, out)`` joined by concatenation or ``.mean(dim=1)``; ``F.dropout(..., training=self.training)``;
masked training (``train_mask`` / ``val_mask`` boolean tensors) with ``F.log_softmax`` + ``F.nll_loss``,
``Adam(weight_decay=5e-4)``, early stopping on the validation loss that keeps ``copy.deepcopy(model.state_dict())``
(saved and loaded through ``torch.save`` / ``torch.load``), and accuracy as ``pred[mask].eq(y[mask]).sum().item() /
mask.sum().item()``. The harness runs it on torch and, with the imports swapped, on ours."""

import copy
import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Data:
    """A graph: node features x (N, F), edge_index (2, E), labels y (N,) and boolean node masks."""

    def __init__(self, x, edge_index, y, train_mask, val_mask, test_mask):
        self.x, self.edge_index, self.y = x, edge_index, y
        self.train_mask, self.val_mask, self.test_mask = train_mask, val_mask, test_mask
        self.num_nodes = x.size(0)
        self.num_features = x.size(1)
        self.num_classes = int(y.max()) + 1


def sbm_graph(n=120, k=3, dim=16, p_in=0.08, p_out=0.01, n_train=10, n_val=10, isolated=2, seed=0):
    """A stochastic-block-model graph as numpy arrays: n nodes in k equal communities, an undirected edge with
    probability p_in inside a community and p_out between two (the last ``isolated`` nodes get none), features
    drawn around a random mean per community; per class n_train training and n_val validation nodes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    prob = np.where(y[:, None] == y[None, :], p_in, p_out)
    upper = np.triu(rng.uniform(size=(n, n)) < prob, 1)
    upper[n - isolated:] = upper[:, n - isolated:] = False
    src, dst = np.nonzero(upper | upper.T)
    means = rng.normal(0, 1, (k, dim))
    x = (0.6 * means[y] + rng.normal(0, 1, (n, dim))).astype(np.float32)
    train, val = np.zeros(n, bool), np.zeros(n, bool)
    for c in range(k):
        nodes = rng.permutation(np.flatnonzero(y == c))
        train[nodes[:n_train]] = True
        val[nodes[n_train:n_train + n_val]] = True
    return x, np.stack([src, dst]).astype(np.int64), y, train, val, ~(train | val)


def make_data(x, edge_index, y, train, val, test):
    return Data(torch.from_numpy(x), torch.from_numpy(edge_index), torch.tensor(y, dtype=torch.long),
                torch.tensor(train), torch.from_numpy(val), torch.tensor(test, dtype=torch.bool))


def add_self_loops(edge_index, num_nodes):
    loop_index = torch.arange(0, num_nodes, dtype=torch.long, device=edge_index.device)
    loop_index = loop_index.unsqueeze(0).repeat(2, 1)
    return torch.cat([edge_index, loop_index], dim=1)


def gcn_norm(edge_index, num_nodes, degree="scatter"):
    """The symmetric normalisation 1 / sqrt(deg(i) deg(j)) of each edge (E,); 0 at a node without edges."""
    row, col = edge_index
    if degree == "scatter":
        deg = torch.zeros(num_nodes, dtype=torch.float).scatter_add_(0, row, torch.ones(row.size(0)))
    else:
        deg = torch.bincount(row, minlength=num_nodes).float()
    deg_inv_sqrt = deg.pow(-0.5)
    deg_inv_sqrt[deg_inv_sqrt == float("inf")] = 0
    return deg_inv_sqrt[row] * deg_inv_sqrt[col]


class GCNConv(nn.Module):
    """Kipf & Welling's layer: D^-1/2 (A + I) D^-1/2 X W + b, the sum over edges done the ``aggr`` way."""

    def __init__(self, in_channels, out_channels, aggr="index_add", degree="scatter"):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.aggr, self.degree = aggr, degree

    def forward(self, x, edge_index):
        N = x.size(0)
        edge_index = add_self_loops(edge_index, N)
        x = self.lin(x)
        row, col = edge_index
        norm = gcn_norm(edge_index, N, self.degree)
        if self.aggr == "dense":
            adj = torch.zeros(N, N).index_put_((row, col), norm, accumulate=True)
            return adj @ x + self.bias
        if self.aggr == "sparse":
            adj = torch.sparse_coo_tensor(edge_index, norm, (N, N))
            return torch.sparse.mm(adj, x) + self.bias
        msg = x[col] * norm.view(-1, 1)
        if self.aggr == "index_add":
            out = torch.zeros_like(x).index_add_(0, row, msg)
        else:
            out = torch.zeros_like(x).scatter_add_(0, row.unsqueeze(-1).expand_as(msg), msg)
        return out + self.bias


def segment_softmax(src, index, num_nodes):
    """The softmax of src (E, H) over the edges that share a target ``index`` (E,)."""
    idx = index.unsqueeze(-1).expand_as(src)
    src_max = torch.zeros(num_nodes, src.size(1)).scatter_reduce(0, idx, src, reduce="amax", include_self=False)
    out = (src - src_max[index]).exp()
    denom = torch.zeros(num_nodes, src.size(1)).index_add_(0, index, out)
    return out / (denom[index] + 1e-16)


class GATConv(nn.Module):
    """Velickovic et al.'s graph attention layer, ``heads`` heads of ``out_channels`` joined by concatenation or
    averaged."""

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0):
        super().__init__()
        self.heads, self.out_channels, self.concat = heads, out_channels, concat
        self.negative_slope, self.dropout = negative_slope, dropout
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.zeros(heads * out_channels if concat else out_channels))
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)

    def forward(self, x, edge_index, return_attention=False):
        N, H, C = x.size(0), self.heads, self.out_channels
        edge_index = add_self_loops(edge_index, N)
        row, col = edge_index  # messages flow from col (source) to row (target)
        x = self.lin(x).view(-1, H, C)
        alpha_src = (x * self.att_src).sum(dim=-1)
        alpha_dst = (x * self.att_dst).sum(dim=-1)
        alpha = F.leaky_relu(alpha_src[col] + alpha_dst[row], self.negative_slope)
        alpha = segment_softmax(alpha, row, N)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        msg = x[col] * alpha.unsqueeze(-1)
        out = torch.zeros(N, H, C, dtype=x.dtype).index_add_(0, row, msg)
        out = out.view(-1, H * C) if self.concat else out.mean(dim=1)
        out = out + self.bias
        return (out, alpha) if return_attention else out


class GCN(nn.Module):
    def __init__(self, num_features, hidden, num_classes, dropout=0.5, aggr="index_add", degree="scatter"):
        super().__init__()
        self.conv1 = GCNConv(num_features, hidden, aggr, degree)
        self.conv2 = GCNConv(hidden, num_classes, aggr, degree)
        self.dropout = dropout

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv2(x, edge_index)
        return F.log_softmax(x, dim=1)


class GAT(nn.Module):
    def __init__(self, num_features, hidden, num_classes, heads=4, out_heads=2, dropout=0.6):
        super().__init__()
        self.conv1 = GATConv(num_features, hidden, heads=heads, dropout=dropout)
        self.conv2 = GATConv(hidden * heads, num_classes, heads=out_heads, concat=False, dropout=dropout)
        self.dropout = dropout

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv2(x, edge_index)
        return F.log_softmax(x, dim=1)


def accuracy(pred, y, mask):
    return pred[mask].eq(y[mask]).sum().item() / mask.sum().item()


def train_epoch(model, optimizer, data):
    model.train()
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    loss = F.nll_loss(out[data.train_mask], data.y[data.train_mask])
    loss.backward()
    norm = torch.norm(torch.stack([p.grad.detach().norm(2) for p in model.parameters()]), 2)
    optimizer.step()
    return loss.item(), norm.item()


@torch.no_grad()
def evaluate(model, data):
    model.eval()
    out = model(data.x, data.edge_index)
    val_loss = F.nll_loss(out[data.val_mask], data.y[data.val_mask]).item()
    pred = out.argmax(dim=1)
    accs = [accuracy(pred, data.y, mask) for mask in (data.train_mask, data.val_mask, data.test_mask)]
    return val_loss, accs


def fit(model, data, epochs=200, lr=0.01, weight_decay=5e-4, patience=10):
    """Adam with early stopping on the validation loss; the best epoch's weights are restored at the end."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = {"loss": [], "norm": [], "val_loss": [], "train_acc": [], "val_acc": [], "test_acc": []}
    best_val_loss, best_state, best_epoch, bad_epochs = float("inf"), None, 0, 0
    for epoch in range(1, epochs + 1):
        loss, norm = train_epoch(model, optimizer, data)
        val_loss, (train_acc, val_acc, test_acc) = evaluate(model, data)
        for key, value in zip(history, (loss, norm, val_loss, train_acc, val_acc, test_acc)):
            history[key].append(value)
        if val_loss < best_val_loss:
            best_val_loss, best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    buffer = io.BytesIO()
    torch.save(best_state, buffer)
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer))
    val_loss, (_, val_acc, test_acc) = evaluate(model, data)
    history.update(best_epoch=best_epoch, epochs=epoch, best_val_loss=val_loss, best_val_acc=val_acc,
                   best_test_acc=test_acc)
    return history
