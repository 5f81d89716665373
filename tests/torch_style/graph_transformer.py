"""Graph attention written by hand on an edge list (no torch_scatter / PyG), the way blog posts and course notebooks
re-derive PyG's GATv2Conv and TransformerConv: ``edge_index`` (2, E) rows are (source, target); node features are
gathered per edge with ``index_select``; the per-target softmax subtracts a max taken by
``Tensor.scatter_reduce(reduce="amax", include_self=False)`` and sums with ``index_add_``; messages are summed into the
targets with ``index_add_``, a mean aggregation divides by in-degrees from ``torch.bincount``, and a global mean pool
over a ``batch`` vector gives one row per graph. Graphs are batched by offsetting their edge lists, made undirected
and deduplicated with ``torch.unique(dim=1)``, and given self-loops. A small classifier (GATv2 layer, a graph
transformer layer with edge features and a gated root skip, a mean-aggregation layer, pooling, an MLP head) is
trained with Adam on a few random graphs."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def to_undirected(edge_index):
    """(2, E) -> (2, E') with both directions of every edge, each pair once, sorted."""
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return torch.unique(both, dim=1)


def add_self_loops(edge_index, num_nodes):
    """Drop existing loops, then append one (i, i) per node."""
    keep = edge_index[0] != edge_index[1]
    loops = torch.arange(num_nodes, device=edge_index.device).unsqueeze(0).repeat(2, 1)
    return torch.cat([edge_index[:, keep], loops], dim=1)


def make_graph(features, edges, label):
    """numpy node features (n, F) and an edge list (2, e) -> (x, undirected edge_index, edge_attr (E, 3), label);
    an edge's attributes are the absolute differences of its ends' first three features."""
    x = torch.from_numpy(features)
    edge_index = to_undirected(torch.from_numpy(edges))
    edge_attr = (x[edge_index[0]] - x[edge_index[1]])[:, :3].abs()
    return x, edge_index, edge_attr, label


def collate_graphs(graphs):
    """[(x (n_i, F), edge_index (2, e_i), edge_attr (e_i, D), label)] -> one big graph with a batch vector."""
    xs, edges, attrs, batch, labels = [], [], [], [], []
    offset = 0
    for i, (x, edge_index, edge_attr, label) in enumerate(graphs):
        xs.append(x)
        edges.append(edge_index + offset)
        attrs.append(edge_attr)
        batch.append(torch.full((x.shape[0],), i, dtype=torch.long))
        labels.append(label)
        offset += x.shape[0]
    return (torch.cat(xs), torch.cat(edges, dim=1), torch.cat(attrs), torch.cat(batch),
            torch.tensor(labels, dtype=torch.long))


def scatter_softmax(scores, index, num_nodes):
    """Softmax of ``scores`` (E, H) over the edges sharing a target ``index`` (E,)."""
    heads = scores.shape[1]
    group = index.unsqueeze(-1).expand_as(scores)
    largest = torch.zeros(num_nodes, heads, dtype=scores.dtype).scatter_reduce(
        0, group, scores, reduce="amax", include_self=False)
    weights = torch.exp(scores - largest.index_select(0, index))
    total = torch.zeros(num_nodes, heads, dtype=scores.dtype).index_add_(0, index, weights)
    return weights / (total.index_select(0, index) + 1e-16)


class GATv2Layer(nn.Module):
    """GATv2: score = att . leaky_relu(W_s x_j + W_t x_i); (N, F) -> (N, heads * out) or (N, out) averaged."""

    def __init__(self, in_dim, out_dim, heads=2, concat=True, dropout=0.0, negative_slope=0.2):
        super().__init__()
        self.heads, self.out_dim, self.concat = heads, out_dim, concat
        self.lin_src = nn.Linear(in_dim, heads * out_dim, bias=False)
        self.lin_dst = nn.Linear(in_dim, heads * out_dim, bias=False)
        self.att = nn.Parameter(torch.empty(1, heads, out_dim))
        self.bias = nn.Parameter(torch.zeros(heads * out_dim if concat else out_dim))
        self.dropout, self.negative_slope = dropout, negative_slope
        nn.init.xavier_uniform_(self.att)
        self.last_attention = None

    def forward(self, x, edge_index):
        src, dst = edge_index
        n = x.shape[0]
        x_src = self.lin_src(x).view(n, self.heads, self.out_dim)
        x_dst = self.lin_dst(x).view(n, self.heads, self.out_dim)
        x_j = x_src.index_select(0, src)
        hidden = F.leaky_relu(x_j + x_dst.index_select(0, dst), self.negative_slope)
        alpha = scatter_softmax((hidden * self.att).sum(dim=-1), dst, n)
        self.last_attention = alpha.detach()
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        out = torch.zeros_like(x_dst).index_add_(0, dst, x_j * alpha.unsqueeze(-1))
        out = out.reshape(n, -1) if self.concat else out.mean(dim=1)
        return out + self.bias


class GraphTransformerLayer(nn.Module):
    """TransformerConv-style: q from the target, k / v from the source plus an edge embedding; multi-head scaled
    dot products, scatter softmax, a root skip mixed in by a learned gate. (N, F), (E, D) -> (N, heads * out)."""

    def __init__(self, in_dim, out_dim, heads=2, edge_dim=3, dropout=0.0):
        super().__init__()
        self.heads, self.out_dim, self.dropout = heads, out_dim, dropout
        self.query = nn.Linear(in_dim, heads * out_dim)
        self.key = nn.Linear(in_dim, heads * out_dim)
        self.value = nn.Linear(in_dim, heads * out_dim)
        self.edge = nn.Linear(edge_dim, heads * out_dim, bias=False)
        self.skip = nn.Linear(in_dim, heads * out_dim)
        self.gate = nn.Linear(3 * heads * out_dim, 1, bias=False)

    def forward(self, x, edge_index, edge_attr):
        src, dst = edge_index
        n, h, c = x.shape[0], self.heads, self.out_dim
        q = self.query(x).view(n, h, c).index_select(0, dst)
        e = self.edge(edge_attr).view(-1, h, c)
        k = self.key(x).view(n, h, c).index_select(0, src) + e
        v = self.value(x).view(n, h, c).index_select(0, src) + e
        alpha = scatter_softmax((q * k).sum(-1) / math.sqrt(c), dst, n)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        out = torch.zeros(n, h, c, dtype=x.dtype).index_add_(0, dst, v * alpha.unsqueeze(-1)).view(n, h * c)
        root = self.skip(x)
        beta = torch.sigmoid(self.gate(torch.cat([out, root, out - root], dim=-1)))
        return beta * root + (1 - beta) * out


class MeanAggregation(nn.Module):
    """h_i = W_self x_i + W_nbr mean_{j -> i} x_j; the mean over in-degrees by ``bincount`` (nodes without
    in-edges get a zero mean)."""

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.lin_self = nn.Linear(in_dim, out_dim)
        self.lin_nbr = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x, edge_index):
        src, dst = edge_index
        total = torch.zeros_like(x).index_add_(0, dst, x[src])
        degree = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1).unsqueeze(-1).to(x.dtype)
        return self.lin_self(x) + self.lin_nbr(total / degree)


def global_mean_pool(x, batch, num_graphs):
    """(N, D) node rows grouped by ``batch`` (N,) -> (num_graphs, D) means."""
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1)
    sums = torch.zeros(num_graphs, x.shape[1], dtype=x.dtype).index_add_(0, batch, x)
    return sums / counts.unsqueeze(-1).to(x.dtype)


class GraphClassifier(nn.Module):
    def __init__(self, in_dim=4, hidden=8, heads=2, edge_dim=3, n_classes=2, dropout=0.0):
        super().__init__()
        self.gat = GATv2Layer(in_dim, hidden, heads=heads, dropout=dropout)
        self.norm1 = nn.LayerNorm(heads * hidden)
        self.transformer = GraphTransformerLayer(heads * hidden, hidden, heads=heads, edge_dim=edge_dim,
                                                 dropout=dropout)
        self.norm2 = nn.LayerNorm(heads * hidden)
        self.mean = MeanAggregation(heads * hidden, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, n_classes))

    def forward(self, x, edge_index, edge_attr, batch, num_graphs):
        loops = add_self_loops(edge_index, x.shape[0])
        h = F.elu(self.norm1(self.gat(x, loops)))
        h = h + F.elu(self.norm2(self.transformer(h, edge_index, edge_attr)))
        h = F.relu(self.mean(h, edge_index))
        return self.head(global_mean_pool(h, batch, num_graphs))


def train(model, batches, epochs=3, lr=0.01):
    """batches: lists of graphs (numpy-made tensors); per step the loss and the accuracy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    history = {"loss": [], "correct": []}
    for _ in range(epochs):
        model.train()
        for graphs in batches:
            x, edge_index, edge_attr, batch, labels = collate_graphs(graphs)
            logits = model(x, edge_index, edge_attr, batch, len(graphs))
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
            history["correct"].append(int((logits.argmax(-1) == labels).sum()))
    return history
