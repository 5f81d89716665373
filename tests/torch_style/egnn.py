# ruff: noqa: A002, B007, B008, N801, RUF059, SIM108, SIM118, UP008, UP031, UP039 - the repository's own names and spelling
"""E(n) Equivariant Graph Neural Networks (Satorras, Hoogeboom & Welling 2021) written as vgsatorras/egnn writes it,
at a tiny size: ``models/gcl.py``'s ``E_GCL`` (``edge_model`` on ``torch.cat([source, target, radial, edge_attr],
dim=1)`` with an optional ``nn.Sigmoid`` attention, ``node_model`` summing messages by ``unsorted_segment_sum``,
``coord_model`` moving coordinates by ``coord_diff * self.coord_mlp(edge_feat)`` clamped to [-100, 100] and averaged
by ``unsorted_segment_mean``, ``coord2radial`` with its ``norm_diff`` normalisation, the last coordinate layer
initialised by ``xavier_uniform_(gain=0.001)``, the ``tanh`` option and its ``coords_range``), the segment helpers
by ``data.new_full(...).scatter_add_(0, segment_ids.unsqueeze(-1).expand(-1, data.size(1)), data)``,
``E_GCL_vel`` / ``EGNN_vel`` of the n-body experiment (the velocity term ``coord_mlp_vel(h) * vel``, layers held by
``add_module("gcl_%d" % i, ...)`` and called through ``self._modules["gcl_%d" % i]``) and its baselines (``GNN`` of
``GCL`` layers with ``att_mlp(torch.abs(source - target))`` attention, ``RF_vel`` of ``GCL_rf_vel`` radial-field
layers with LeakyReLU(0.2) and a Tanh ``phi``), ``E_GCL_mask`` / ``EGNN`` of
the QM9 experiment (``edge_feat * edge_mask``, ``h * node_mask``, sum pooling over ``view(-1, n_nodes, hidden)``),
and egnn_clean.py's ``get_edges_batch`` (fully connected edges of a batch with per-graph offsets).

The data are synthetic and made by numpy: charged-particle trajectories (Coulomb forces between +-1 charges,
semi-implicit Euler steps, as the repository's ``generate_dataset.py`` simulates them), read by ``NBodyDataset`` as the
repository does (``torch.Tensor(loc).transpose(2, 3)``, edge attributes from the charge products, frames 30 -> 40);
and small "molecules" (2 to 6 atoms of 4 types at random positions, a label that is a smooth invariant function of
them) padded and collated as QM9's ``collate_fn`` does (``atom_mask``, ``edge_mask`` without the diagonal, zero
columns dropped), with ``preprocess_input``'s charge powers, ``get_adj_matrix``'s cached edges, ``compute_mean_mad``
and the L1 loss on ``(label - meann) / mad``. Training is main_nbody.py's and main_qm9.py's: Adam (QM9's under
CosineAnnealingLR stepped at the start of each ``train``), the ``train(epoch, loader, partition)`` loops with their
``res['loss'] / res['counter']`` bookkeeping and log lines, best-validation model selection and the ``losess.json``
dump. ``check_equivariance`` rotates and translates the inputs and measures how far the outputs are from the rotated
outputs. The simulated arrays are float32 (the repository's .npy files hold float64, which ``torch.Tensor`` makes
float32 and ours keeps: README, Differences from PyTorch). ``record_step`` and the ``dtype`` / ``log`` / ``outf``
arguments are the harness's additions. The harness runs it on torch and, with the imports swapped, on ours."""

import json

import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader


# ----------------------------------------------------------------------------------------------- models/gcl.py
class E_GCL(nn.Module):
    """Graph Neural Net with global state and fixed number of nodes per graph."""

    def __init__(self, input_nf, output_nf, hidden_nf, edges_in_d=0, nodes_att_dim=0, act_fn=nn.ReLU(),
                 recurrent=True, coords_weight=1.0, attention=False, clamp=False, norm_diff=False, tanh=False):
        super(E_GCL, self).__init__()
        input_edge = input_nf * 2
        self.coords_weight = coords_weight
        self.recurrent = recurrent
        self.attention = attention
        self.norm_diff = norm_diff
        self.tanh = tanh
        edge_coords_nf = 1

        self.edge_mlp = nn.Sequential(
            nn.Linear(input_edge + edge_coords_nf + edges_in_d, hidden_nf),
            act_fn,
            nn.Linear(hidden_nf, hidden_nf),
            act_fn)

        self.node_mlp = nn.Sequential(
            nn.Linear(hidden_nf + input_nf + nodes_att_dim, hidden_nf),
            act_fn,
            nn.Linear(hidden_nf, output_nf))

        layer = nn.Linear(hidden_nf, 1, bias=False)
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.001)

        self.clamp = clamp
        coord_mlp = []
        coord_mlp.append(nn.Linear(hidden_nf, hidden_nf))
        coord_mlp.append(act_fn)
        coord_mlp.append(layer)
        if self.tanh:
            coord_mlp.append(nn.Tanh())
            self.coords_range = nn.Parameter(torch.ones(1)) * 3
        self.coord_mlp = nn.Sequential(*coord_mlp)

        if self.attention:
            self.att_mlp = nn.Sequential(
                nn.Linear(hidden_nf, 1),
                nn.Sigmoid())

    def edge_model(self, source, target, radial, edge_attr):
        if edge_attr is None:  # Unused.
            out = torch.cat([source, target, radial], dim=1)
        else:
            out = torch.cat([source, target, radial, edge_attr], dim=1)
        out = self.edge_mlp(out)
        if self.attention:
            att_val = self.att_mlp(out)
            out = out * att_val
        return out

    def node_model(self, x, edge_index, edge_attr, node_attr):
        row, col = edge_index
        agg = unsorted_segment_sum(edge_attr, row, num_segments=x.size(0))
        if node_attr is not None:
            agg = torch.cat([x, agg, node_attr], dim=1)
        else:
            agg = torch.cat([x, agg], dim=1)
        out = self.node_mlp(agg)
        if self.recurrent:
            out = x + out
        return out, agg

    def coord_model(self, coord, edge_index, coord_diff, edge_feat):
        row, col = edge_index
        trans = coord_diff * self.coord_mlp(edge_feat)
        trans = torch.clamp(trans, min=-100, max=100)  # never active, but it may save a run that explodes
        agg = unsorted_segment_mean(trans, row, num_segments=coord.size(0))
        coord += agg * self.coords_weight
        return coord

    def coord2radial(self, edge_index, coord):
        row, col = edge_index
        coord_diff = coord[row] - coord[col]
        radial = torch.sum((coord_diff)**2, 1).unsqueeze(1)

        if self.norm_diff:
            norm = torch.sqrt(radial) + 1
            coord_diff = coord_diff / (norm)

        return radial, coord_diff

    def forward(self, h, edge_index, coord, edge_attr=None, node_attr=None):
        row, col = edge_index
        radial, coord_diff = self.coord2radial(edge_index, coord)

        edge_feat = self.edge_model(h[row], h[col], radial, edge_attr)
        coord = self.coord_model(coord, edge_index, coord_diff, edge_feat)
        h, agg = self.node_model(h, edge_index, edge_feat, node_attr)
        return h, coord, edge_attr


class E_GCL_vel(E_GCL):
    """E_GCL with the velocity term of the n-body experiment."""

    def __init__(self, input_nf, output_nf, hidden_nf, edges_in_d=0, nodes_att_dim=0, act_fn=nn.ReLU(),
                 recurrent=True, coords_weight=1.0, attention=False, norm_diff=False, tanh=False):
        E_GCL.__init__(self, input_nf, output_nf, hidden_nf, edges_in_d=edges_in_d, nodes_att_dim=nodes_att_dim,
                       act_fn=act_fn, recurrent=recurrent, coords_weight=coords_weight, attention=attention,
                       norm_diff=norm_diff, tanh=tanh)
        self.norm_diff = norm_diff
        self.coord_mlp_vel = nn.Sequential(
            nn.Linear(input_nf, hidden_nf),
            act_fn,
            nn.Linear(hidden_nf, 1))

    def forward(self, h, edge_index, coord, vel, edge_attr=None, node_attr=None):
        row, col = edge_index
        radial, coord_diff = self.coord2radial(edge_index, coord)

        edge_feat = self.edge_model(h[row], h[col], radial, edge_attr)
        coord = self.coord_model(coord, edge_index, coord_diff, edge_feat)

        coord += self.coord_mlp_vel(h) * vel
        h, agg = self.node_model(h, edge_index, edge_feat, node_attr)
        return h, coord, edge_attr


class GCL_basic(nn.Module):
    """Graph Neural Net with global state and fixed number of nodes per graph."""

    def __init__(self):
        super(GCL_basic, self).__init__()

    def edge_model(self, source, target, edge_attr):
        pass

    def node_model(self, h, edge_index, edge_attr):
        pass

    def forward(self, x, edge_index, edge_attr=None):
        row, col = edge_index
        edge_feat = self.edge_model(x[row], x[col], edge_attr)
        x = self.node_model(x, edge_index, edge_feat)
        return x, edge_feat


class GCL(GCL_basic):
    """Graph Neural Net with global state and fixed number of nodes per graph."""

    def __init__(self, input_nf, output_nf, hidden_nf, edges_in_nf=0, act_fn=nn.ReLU(), bias=True, attention=False,
                 t_eq=False, recurrent=True):
        super(GCL, self).__init__()
        self.attention = attention
        self.t_eq = t_eq
        self.recurrent = recurrent
        input_edge_nf = input_nf * 2
        self.edge_mlp = nn.Sequential(
            nn.Linear(input_edge_nf + edges_in_nf, hidden_nf, bias=bias),
            act_fn,
            nn.Linear(hidden_nf, hidden_nf, bias=bias),
            act_fn)
        if self.attention:
            self.att_mlp = nn.Sequential(
                nn.Linear(input_nf, hidden_nf, bias=bias),
                act_fn,
                nn.Linear(hidden_nf, 1, bias=bias),
                nn.Sigmoid())

        self.node_mlp = nn.Sequential(
            nn.Linear(hidden_nf + input_nf, hidden_nf, bias=bias),
            act_fn,
            nn.Linear(hidden_nf, output_nf, bias=bias))

    def edge_model(self, source, target, edge_attr):
        edge_in = torch.cat([source, target], dim=1)
        if edge_attr is not None:
            edge_in = torch.cat([edge_in, edge_attr], dim=1)
        out = self.edge_mlp(edge_in)
        if self.attention:
            att = self.att_mlp(torch.abs(source - target))
            out = out * att
        return out

    def node_model(self, h, edge_index, edge_attr):
        row, col = edge_index
        agg = unsorted_segment_sum(edge_attr, row, num_segments=h.size(0))
        out = torch.cat([h, agg], dim=1)
        out = self.node_mlp(out)
        if self.recurrent:
            out = out + h
        return out


class GCL_rf_vel(nn.Module):
    """Radial-field layer with velocity (Kohler et al.'s equivariant flows, as the repository writes it)."""

    def __init__(self, nf=64, edge_attr_nf=0, act_fn=nn.LeakyReLU(0.2), coords_weight=1.0):
        super(GCL_rf_vel, self).__init__()
        self.coords_weight = coords_weight
        self.coord_mlp_vel = nn.Sequential(
            nn.Linear(1, nf),
            act_fn,
            nn.Linear(nf, 1))

        layer = nn.Linear(nf, 1, bias=False)
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.001)
        self.phi = nn.Sequential(nn.Linear(1 + edge_attr_nf, nf),
                                 act_fn,
                                 layer,
                                 nn.Tanh())

    def forward(self, x, vel_norm, vel, edge_index, edge_attr=None):
        row, col = edge_index
        edge_m = self.edge_model(x[row], x[col], edge_attr)
        x = self.node_model(x, edge_index, edge_m)
        x += vel * self.coord_mlp_vel(vel_norm)
        return x, edge_attr

    def edge_model(self, source, target, edge_attr):
        x_diff = source - target
        radial = torch.sqrt(torch.sum(x_diff ** 2, dim=1)).unsqueeze(1)
        e_input = torch.cat([radial, edge_attr], dim=1)
        e_out = self.phi(e_input)
        m_ij = x_diff * e_out
        return m_ij

    def node_model(self, x, edge_index, edge_m):
        row, col = edge_index
        agg = unsorted_segment_mean(edge_m, row, num_segments=x.size(0))
        x_out = x + agg * self.coords_weight
        return x_out


def unsorted_segment_sum(data, segment_ids, num_segments):
    result_shape = (num_segments, data.size(1))
    result = data.new_full(result_shape, 0)  # Init empty result tensor.
    segment_ids = segment_ids.unsqueeze(-1).expand(-1, data.size(1))
    result.scatter_add_(0, segment_ids, data)
    return result


def unsorted_segment_mean(data, segment_ids, num_segments):
    result_shape = (num_segments, data.size(1))
    segment_ids = segment_ids.unsqueeze(-1).expand(-1, data.size(1))
    result = data.new_full(result_shape, 0)  # Init empty result tensor.
    count = data.new_full(result_shape, 0)
    result.scatter_add_(0, segment_ids, data)
    count.scatter_add_(0, segment_ids, torch.ones_like(data))
    return result / count.clamp(min=1)


# -------------------------------------------------------------------------------------------- models/egnn_clean.py
def get_edges(n_nodes):
    rows, cols = [], []
    for i in range(n_nodes):
        for j in range(n_nodes):
            if i != j:
                rows.append(i)
                cols.append(j)

    edges = [rows, cols]
    return edges


def get_edges_batch(n_nodes, batch_size):
    edges = get_edges(n_nodes)
    edge_attr = torch.ones(len(edges[0]) * batch_size, 1)
    edges = [torch.LongTensor(edges[0]), torch.LongTensor(edges[1])]
    if batch_size == 1:
        return edges, edge_attr
    elif batch_size > 1:
        rows, cols = [], []
        for i in range(batch_size):
            rows.append(edges[0] + n_nodes * i)
            cols.append(edges[1] + n_nodes * i)
        edges = [torch.cat(rows), torch.cat(cols)]
    return edges, edge_attr


class EGNN_gcl(nn.Module):
    """egnn_clean.py's EGNN (embedding in, ``gcl_%d`` layers, embedding out) over models/gcl.py's E_GCL."""

    def __init__(self, in_node_nf, hidden_nf, out_node_nf, in_edge_nf=0, act_fn=nn.SiLU(), n_layers=4,
                 attention=False, norm_diff=False, tanh=False):
        super(EGNN_gcl, self).__init__()
        self.hidden_nf = hidden_nf
        self.n_layers = n_layers
        self.embedding_in = nn.Linear(in_node_nf, self.hidden_nf)
        self.embedding_out = nn.Linear(self.hidden_nf, out_node_nf)
        for i in range(0, n_layers):
            self.add_module("gcl_%d" % i, E_GCL(self.hidden_nf, self.hidden_nf, self.hidden_nf,
                                                edges_in_d=in_edge_nf, act_fn=act_fn, attention=attention,
                                                norm_diff=norm_diff, tanh=tanh))

    def forward(self, h, x, edges, edge_attr):
        h = self.embedding_in(h)
        for i in range(0, self.n_layers):
            h, x, _ = self._modules["gcl_%d" % i](h, edges, x, edge_attr=edge_attr)
        h = self.embedding_out(h)
        return h, x


# -------------------------------------------------------------------------------------------- n_body_system/
class EGNN_vel(nn.Module):
    def __init__(self, in_node_nf, in_edge_nf, hidden_nf, device='cpu', act_fn=nn.SiLU(), n_layers=4,
                 coords_weight=1.0, recurrent=False, norm_diff=False, tanh=False):
        super(EGNN_vel, self).__init__()
        self.hidden_nf = hidden_nf
        self.device = device
        self.n_layers = n_layers
        self.embedding = nn.Linear(in_node_nf, self.hidden_nf)
        for i in range(0, n_layers):
            self.add_module("gcl_%d" % i, E_GCL_vel(self.hidden_nf, self.hidden_nf, self.hidden_nf,
                                                    edges_in_d=in_edge_nf, act_fn=act_fn,
                                                    coords_weight=coords_weight, recurrent=recurrent,
                                                    norm_diff=norm_diff, tanh=tanh))
        self.to(self.device)

    def forward(self, h, x, edges, vel, edge_attr):
        h = self.embedding(h)
        for i in range(0, self.n_layers):
            h, x, _ = self._modules["gcl_%d" % i](h, edges, x, vel, edge_attr=edge_attr)
        return x


class GNN(nn.Module):
    def __init__(self, input_dim, hidden_nf, device='cpu', act_fn=nn.SiLU(), n_layers=4, attention=0, recurrent=False):
        super(GNN, self).__init__()
        self.hidden_nf = hidden_nf
        self.device = device
        self.n_layers = n_layers
        for i in range(0, n_layers):
            self.add_module("gcl_%d" % i, GCL(self.hidden_nf, self.hidden_nf, self.hidden_nf, edges_in_nf=1,
                                              act_fn=act_fn, attention=attention, recurrent=recurrent))

        self.decoder = nn.Sequential(nn.Linear(hidden_nf, hidden_nf),
                                     act_fn,
                                     nn.Linear(hidden_nf, 3))
        self.embedding = nn.Sequential(nn.Linear(input_dim, hidden_nf))
        self.to(self.device)

    def forward(self, nodes, edges, edge_attr=None):
        h = self.embedding(nodes)
        for i in range(0, self.n_layers):
            h, _ = self._modules["gcl_%d" % i](h, edges, edge_attr=edge_attr)
        return self.decoder(h)


class RF_vel(nn.Module):
    def __init__(self, hidden_nf, edge_attr_nf=0, device='cpu', act_fn=nn.SiLU(), n_layers=4):
        super(RF_vel, self).__init__()
        self.hidden_nf = hidden_nf
        self.device = device
        self.n_layers = n_layers
        for i in range(0, n_layers):
            self.add_module("gcl_%d" % i, GCL_rf_vel(nf=hidden_nf, edge_attr_nf=edge_attr_nf, act_fn=act_fn))
        self.to(self.device)

    def forward(self, vel_norm, x, edges, vel, edge_attr):
        for i in range(0, self.n_layers):
            x, _ = self._modules["gcl_%d" % i](x, vel_norm, vel, edges, edge_attr)
        return x


def simulate_charged(n_sims, n_balls=5, length=41, sample_freq=1, delta_T=0.01, seed=0):
    """generate_dataset.py's charged-particles simulation, in numpy: loc / vel (n_sims, T, 3, n_balls), the
    charge-product edges (n_sims, n_balls, n_balls) and the charges (n_sims, n_balls, 1)."""
    rng = np.random.default_rng(seed)
    locs, vels, edges_all, charges_all = [], [], [], []
    for _ in range(n_sims):
        charges = rng.choice([1.0, -1.0], size=(n_balls, 1))
        edges = charges.dot(charges.transpose())
        loc = rng.normal(size=(3, n_balls)) * 0.5
        vel = rng.normal(size=(3, n_balls))
        vel = vel * 0.5 / np.sqrt((vel ** 2).sum(axis=0)).max()
        loc_t, vel_t = [], []
        for t in range(length * sample_freq):
            diff = loc[:, :, None] - loc[:, None, :]  # (3, n, n): loc_i - loc_j
            dist = np.sqrt((diff ** 2).sum(axis=0) + 1e-2)
            forces = (edges[None] * diff / dist[None] ** 3).sum(axis=2)
            forces = np.clip(forces, -0.1 / delta_T, 0.1 / delta_T)
            vel = vel + delta_T * forces
            loc = loc + delta_T * vel
            if t % sample_freq == 0:
                loc_t.append(loc.copy())
                vel_t.append(vel.copy())
        locs.append(np.stack(loc_t))
        vels.append(np.stack(vel_t))
        edges_all.append(edges)
        charges_all.append(charges)
    return (np.stack(locs).astype(np.float32), np.stack(vels).astype(np.float32),
            np.stack(edges_all).astype(np.float32), np.stack(charges_all).astype(np.float32))


class NBodyDataset():
    """n_body_system/dataset_nbody.py, reading arrays instead of .npy files."""

    def __init__(self, arrays, partition='train', max_samples=1e8, dataset_name="nbody_small"):
        self.partition = partition
        self.dataset_name = dataset_name
        self.max_samples = int(max_samples)
        self.data, self.edges = self.load(arrays)

    def load(self, arrays):
        loc, vel, edges, charges = arrays
        loc, vel, edge_attr, edges, charges = self.preprocess(loc, vel, edges, charges)
        return (loc, vel, edge_attr, charges), edges

    def preprocess(self, loc, vel, edges, charges):
        # cast to torch and swap n_nodes <--> n_features dimensions
        loc, vel = torch.Tensor(loc).transpose(2, 3), torch.Tensor(vel).transpose(2, 3)
        n_nodes = loc.size(2)
        loc = loc[0:self.max_samples, :, :, :]  # limit number of samples
        vel = vel[0:self.max_samples, :, :, :]  # speed when starting the trajectory
        charges = charges[0:self.max_samples]
        edge_attr = []

        # Initialize edges and edge_attributes
        rows, cols = [], []
        for i in range(n_nodes):
            for j in range(n_nodes):
                if i != j:
                    edge_attr.append(edges[:, i, j])
                    rows.append(i)
                    cols.append(j)
        edges = [rows, cols]
        edge_attr = torch.Tensor(edge_attr).transpose(0, 1).unsqueeze(2)  # swap n_nodes <--> batch_size and add nf

        return torch.Tensor(loc), torch.Tensor(vel), torch.Tensor(edge_attr), edges, torch.Tensor(charges)

    def get_n_nodes(self):
        return self.data[0].size(1)

    def __getitem__(self, i):
        loc, vel, edge_attr, charges = self.data
        loc, vel, edge_attr, charges = loc[i], vel[i], edge_attr[i], charges[i]

        if self.dataset_name == "nbody":
            frame_0, frame_T = 6, 8
        elif self.dataset_name == "nbody_small":
            frame_0, frame_T = 30, 40
        else:
            raise Exception("Wrong dataset partition %s" % self.dataset_name)

        return loc[frame_0], vel[frame_0], edge_attr, charges, loc[frame_T]

    def __len__(self):
        return len(self.data[0])

    def get_edges(self, batch_size, n_nodes):
        edges = [torch.LongTensor(self.edges[0]), torch.LongTensor(self.edges[1])]
        if batch_size == 1:
            return edges
        elif batch_size > 1:
            rows, cols = [], []
            for i in range(batch_size):
                rows.append(edges[0] + n_nodes * i)
                cols.append(edges[1] + n_nodes * i)
            edges = [torch.cat(rows), torch.cat(cols)]
        return edges


def record_step(log, loss, model, pred):
    """The numbers the harness compares after each optimizer step (not in the original)."""
    if log is None:
        return
    log["step_loss"].append(loss.item())
    log["pred"].append(pred.detach().numpy().copy())
    log["grads"].append({n: None if p.grad is None else p.grad.detach().numpy().copy()
                         for n, p in model.named_parameters()})
    log["params"].append({n: p.detach().numpy().copy() for n, p in model.named_parameters()})


def train_nbody(model, optimizer, epoch, loader, device='cpu', backprop=True, dtype=torch.float32,
                model_name='egnn_vel', log=None):
    """main_nbody.py's ``train`` (``model_name`` is its ``args.model``: gnn, egnn_vel or rf_vel)."""
    loss_mse = nn.MSELoss()
    if backprop:
        model.train()
    else:
        model.eval()

    res = {'epoch': epoch, 'loss': 0, 'coord_reg': 0, 'counter': 0}

    for batch_idx, data in enumerate(loader):
        batch_size, n_nodes, _ = data[0].size()
        data = [d.to(device, dtype) for d in data]
        data = [d.view(-1, d.size(2)) for d in data]
        loc, vel, edge_attr, charges, loc_end = data

        edges = loader.dataset.get_edges(batch_size, n_nodes)
        edges = [edges[0].to(device), edges[1].to(device)]

        optimizer.zero_grad()

        if model_name == 'gnn':
            nodes = torch.cat([loc, vel], dim=1)
            loc_pred = model(nodes, edges, edge_attr)
        elif model_name == 'egnn_vel':
            nodes = torch.sqrt(torch.sum(vel ** 2, dim=1)).unsqueeze(1).detach()
            rows, cols = edges
            loc_dist = torch.sum((loc[rows] - loc[cols])**2, 1).unsqueeze(1)  # relative distances among locations
            edge_attr = torch.cat([edge_attr, loc_dist], 1).detach()  # concatenate all edge properties
            loc_pred = model(nodes, loc.detach(), edges, vel, edge_attr)
        elif model_name == 'rf_vel':
            rows, cols = edges
            vel_norm = torch.sqrt(torch.sum(vel ** 2, dim=1).unsqueeze(1)).detach()
            loc_dist = torch.sum((loc[rows] - loc[cols]) ** 2, 1).unsqueeze(1)
            edge_attr = torch.cat([edge_attr, loc_dist], 1).detach()
            loc_pred = model(vel_norm, loc.detach(), edges, vel, edge_attr)
        else:
            raise Exception("Wrong model")

        loss = loss_mse(loc_pred, loc_end)
        if backprop:
            loss.backward()
            optimizer.step()
            record_step(log, loss, model, loc_pred)
        res['loss'] += loss.item() * batch_size
        res['counter'] += batch_size

    if not backprop:
        prefix = "==> "
    else:
        prefix = ""
    print('%s epoch %d avg loss: %.5f' % (prefix + loader.dataset.partition, epoch, res['loss'] / res['counter']))

    return res['loss'] / res['counter']


def main_nbody(model, loader_train, loader_val, loader_test, epochs=3, lr=5e-4, weight_decay=1e-12,
               test_interval=1, dtype=torch.float32, model_name='egnn_vel', log=None):
    """main_nbody.py's ``main``: Adam, the train / val / test loop and the best-validation bookkeeping."""
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    results = {'epochs': [], 'losess': []}
    best_val_loss = 1e8
    best_test_loss = 1e8
    best_epoch = 0
    for epoch in range(0, epochs):
        train_nbody(model, optimizer, epoch, loader_train, dtype=dtype, model_name=model_name, log=log)
        if epoch % test_interval == 0:
            val_loss = train_nbody(model, optimizer, epoch, loader_val, backprop=False, dtype=dtype,
                                   model_name=model_name)
            test_loss = train_nbody(model, optimizer, epoch, loader_test, backprop=False, dtype=dtype,
                                    model_name=model_name)
            results['epochs'].append(epoch)
            results['losess'].append(test_loss)
            if val_loss < best_val_loss:
                best_val_loss = val_loss
                best_test_loss = test_loss
                best_epoch = epoch
            print("*** Best Val Loss: %.5f \t Best Test Loss: %.5f \t Best epoch %d"
                  % (best_val_loss, best_test_loss, best_epoch))

    return best_val_loss, best_test_loss, best_epoch


# ------------------------------------------------------------------------------------------------------ qm9/
class E_GCL_mask(E_GCL):
    """Graph Neural Net with global state and fixed number of nodes per graph."""

    def __init__(self, input_nf, output_nf, hidden_nf, edges_in_d=0, nodes_attr_dim=0, act_fn=nn.ReLU(),
                 recurrent=True, coords_weight=1.0, attention=False):
        E_GCL.__init__(self, input_nf, output_nf, hidden_nf, edges_in_d=edges_in_d, nodes_att_dim=nodes_attr_dim,
                       act_fn=act_fn, recurrent=recurrent, coords_weight=coords_weight, attention=attention)

        del self.coord_mlp
        self.act_fn = act_fn

    def coord_model(self, coord, edge_index, coord_diff, edge_feat, edge_mask):
        row, col = edge_index
        trans = coord_diff * self.coord_mlp(edge_feat) * edge_mask
        agg = unsorted_segment_sum(trans, row, num_segments=coord.size(0))
        coord += agg * self.coords_weight
        return coord

    def forward(self, h, edge_index, coord, node_mask, edge_mask, edge_attr=None, node_attr=None, n_nodes=None):
        row, col = edge_index
        radial, coord_diff = self.coord2radial(edge_index, coord)

        edge_feat = self.edge_model(h[row], h[col], radial, edge_attr)

        edge_feat = edge_feat * edge_mask

        h, agg = self.node_model(h, edge_index, edge_feat, node_attr)

        return h, coord, edge_attr


class EGNN(nn.Module):
    def __init__(self, in_node_nf, in_edge_nf, hidden_nf, device='cpu', act_fn=nn.SiLU(), n_layers=4,
                 coords_weight=1.0, attention=False, node_attr=1):
        super(EGNN, self).__init__()
        self.hidden_nf = hidden_nf
        self.device = device
        self.n_layers = n_layers

        ### Encoder
        self.embedding = nn.Linear(in_node_nf, hidden_nf)
        self.node_attr = node_attr
        if node_attr:
            n_node_attr = in_node_nf
        else:
            n_node_attr = 0
        for i in range(0, n_layers):
            self.add_module("gcl_%d" % i, E_GCL_mask(self.hidden_nf, self.hidden_nf, self.hidden_nf,
                                                     edges_in_d=in_edge_nf, nodes_attr_dim=n_node_attr,
                                                     act_fn=act_fn, recurrent=True, coords_weight=coords_weight,
                                                     attention=attention))

        self.node_dec = nn.Sequential(nn.Linear(self.hidden_nf, self.hidden_nf),
                                      act_fn,
                                      nn.Linear(self.hidden_nf, self.hidden_nf))

        self.graph_dec = nn.Sequential(nn.Linear(self.hidden_nf, self.hidden_nf),
                                       act_fn,
                                       nn.Linear(self.hidden_nf, 1))
        self.to(self.device)

    def forward(self, h0, x, edges, edge_attr, node_mask, edge_mask, n_nodes):
        h = self.embedding(h0)
        for i in range(0, self.n_layers):
            if self.node_attr:
                h, _, _ = self._modules["gcl_%d" % i](h, edges, x, node_mask, edge_mask, edge_attr=edge_attr,
                                                      node_attr=h0, n_nodes=n_nodes)
            else:
                h, _, _ = self._modules["gcl_%d" % i](h, edges, x, node_mask, edge_mask, edge_attr=edge_attr,
                                                      node_attr=None, n_nodes=n_nodes)

        h = self.node_dec(h)
        h = h * node_mask
        h = h.view(-1, n_nodes, self.hidden_nf)
        h = torch.sum(h, dim=1)
        pred = self.graph_dec(h)
        return pred.squeeze(1)


CHARGES = np.array([1, 6, 7, 8])  # H, C, N, O


def make_molecules(n_mols, max_atoms=6, seed=0):
    """``n_mols`` random molecules as QM9's processed dicts: ``num_atoms``, ``charges`` (atomic numbers, zero
    padded), ``positions`` and the target property ``homo`` (an invariant of the charges and distances)."""
    rng = np.random.default_rng(seed)
    mols = []
    for _ in range(n_mols):
        n = int(rng.integers(2, max_atoms + 1))
        charges = np.zeros(max_atoms, np.int64)
        charges[:n] = rng.choice(CHARGES, n)
        positions = np.zeros((max_atoms, 3), np.float32)
        positions[:n] = rng.normal(size=(n, 3)) * 1.2
        d = np.sqrt(((positions[:n, None] - positions[None, :n]) ** 2).sum(-1))
        z = charges[:n].astype(np.float64)
        homo = -0.25 + 0.01 * (z[:, None] * z[None, :] * np.exp(-d)).sum() / n
        mols.append({"num_atoms": n, "charges": charges, "positions": positions, "homo": np.float32(homo)})
    return mols


class ProcessedDataset:
    """qm9/data/dataset.py's ProcessedDataset: a dict of stacked tensors, the one-hot of the included species."""

    def __init__(self, mols, included_species=CHARGES):
        self.data = {key: torch.from_numpy(np.stack([m[key] for m in mols])) for key in mols[0]}
        self.included_species = torch.from_numpy(included_species)
        self.data['one_hot'] = self.data['charges'].unsqueeze(-1) == self.included_species.unsqueeze(0).unsqueeze(0)
        self.num_species = len(included_species)
        self.max_charge = int(included_species.max())

    def __len__(self):
        return len(self.data['charges'])

    def __getitem__(self, idx):
        return {key: val[idx] for key, val in self.data.items()}


def batch_stack(props):
    if not torch.is_tensor(props[0]):
        return torch.tensor(props)
    elif props[0].dim() == 0:
        return torch.stack(props)
    else:
        return torch.nn.utils.rnn.pad_sequence(props, batch_first=True, padding_value=0)


def drop_zeros(props, to_keep):
    if not torch.is_tensor(props) or props[0].dim() == 0:
        return props
    else:
        return props[:, to_keep, ...]


def collate_fn(batch):
    """qm9/data/collate.py: stack, drop the all-padding atom columns, the atom and edge masks."""
    batch = {prop: batch_stack([mol[prop] for mol in batch]) for prop in batch[0].keys()}

    to_keep = (batch['charges'].sum(0) > 0)

    batch = {key: drop_zeros(prop, to_keep) for key, prop in batch.items()}

    atom_mask = batch['charges'] > 0
    batch['atom_mask'] = atom_mask

    # Obtain edges
    batch_size, n_nodes = atom_mask.size()
    edge_mask = atom_mask.unsqueeze(1) * atom_mask.unsqueeze(2)

    # mask diagonal
    diag_mask = ~torch.eye(edge_mask.size(1), dtype=torch.bool).unsqueeze(0)
    edge_mask *= diag_mask

    batch['edge_mask'] = edge_mask.view(batch_size * n_nodes * n_nodes, 1)
    return batch


def compute_mean_mad(dataloaders, label_property):
    values = dataloaders['train'].dataset.data[label_property]
    meann = torch.mean(values)
    ma = torch.abs(values - meann)
    mad = torch.mean(ma)
    return meann, mad


edges_dic = {}


def get_adj_matrix(n_nodes, batch_size, device):
    if n_nodes in edges_dic:
        edges_dic_b = edges_dic[n_nodes]
        if batch_size in edges_dic_b:
            return edges_dic_b[batch_size]
        else:
            # get edges for a single sample
            rows, cols = [], []
            for batch_idx in range(batch_size):
                for i in range(n_nodes):
                    for j in range(n_nodes):
                        rows.append(i + batch_idx * n_nodes)
                        cols.append(j + batch_idx * n_nodes)

    else:
        edges_dic[n_nodes] = {}
        return get_adj_matrix(n_nodes, batch_size, device)

    edges = [torch.LongTensor(rows).to(device), torch.LongTensor(cols).to(device)]
    return edges


def preprocess_input(one_hot, charges, charge_power, charge_scale, device):
    charge_tensor = (charges.unsqueeze(-1) / charge_scale).pow(
        torch.arange(charge_power + 1., device=device, dtype=torch.float32))
    charge_tensor = charge_tensor.view(charges.shape + (1, charge_power + 1))
    atom_scalars = (one_hot.unsqueeze(-1) * charge_tensor).view(charges.shape[:2] + (-1,))
    return atom_scalars


def make_qm9_loaders(batch_size=4, seed=0):
    """retrieve_dataloaders: train / valid / test DataLoaders (train shuffled by a seeded generator)."""
    datasets = {'train': ProcessedDataset(make_molecules(12, seed=seed)),
                'valid': ProcessedDataset(make_molecules(8, seed=seed + 1)),
                'test': ProcessedDataset(make_molecules(8, seed=seed + 2))}
    return {split: DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
            for split, dataset in datasets.items()}


def train_qm9(model, optimizer, lr_scheduler, epoch, loader, meann, mad, charge_scale, partition='train',
              property='homo', charge_power=2, log_interval=1, device='cpu', dtype=torch.float32, log=None):
    """main_qm9.py's ``train(epoch, loader, partition)``."""
    loss_l1 = nn.L1Loss()
    lr_scheduler.step()
    res = {'loss': 0, 'counter': 0, 'loss_arr': []}
    for i, data in enumerate(loader):
        if partition == 'train':
            model.train()
            optimizer.zero_grad()

        else:
            model.eval()

        batch_size, n_nodes, _ = data['positions'].size()
        atom_positions = data['positions'].view(batch_size * n_nodes, -1).to(device, dtype)
        atom_mask = data['atom_mask'].view(batch_size * n_nodes, -1).to(device, dtype)
        edge_mask = data['edge_mask'].to(device, dtype)
        one_hot = data['one_hot'].to(device, dtype)
        charges = data['charges'].to(device, dtype)
        nodes = preprocess_input(one_hot, charges, charge_power, charge_scale, device)

        nodes = nodes.view(batch_size * n_nodes, -1)
        edges = get_adj_matrix(n_nodes, batch_size, device)
        label = data[property].to(device, dtype)

        pred = model(h0=nodes, x=atom_positions, edges=edges, edge_attr=None, node_mask=atom_mask,
                     edge_mask=edge_mask, n_nodes=n_nodes)

        if partition == 'train':
            loss = loss_l1(pred, (label - meann) / mad)
            loss.backward()
            optimizer.step()
            record_step(log, loss, model, pred)
        else:
            loss = loss_l1(mad * pred + meann, label)

        res['loss'] += loss.item() * batch_size
        res['counter'] += batch_size
        res['loss_arr'].append(loss.item())

        prefix = ""
        if partition != 'train':
            prefix = ">> %s \t" % partition

        if i % log_interval == 0:
            print(prefix + "Epoch %d \t Iteration %d \t loss %.4f"
                  % (epoch, i, sum(res['loss_arr'][-10:]) / len(res['loss_arr'][-10:])))
    return res['loss'] / res['counter']


def main_qm9(model, dataloaders, epochs=3, lr=1e-3, weight_decay=1e-16, test_interval=1, dtype=torch.float32,
             outf=None, log=None):
    """main_qm9.py's ``__main__``: Adam + CosineAnnealingLR, the epochs, best-validation selection."""
    meann, mad = compute_mean_mad(dataloaders, 'homo')
    charge_scale = dataloaders['train'].dataset.max_charge
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)

    res = {'epochs': [], 'losess': [], 'best_val': 1e10, 'best_test': 1e10, 'best_epoch': 0, 'lr': []}

    for epoch in range(0, epochs):
        train_qm9(model, optimizer, lr_scheduler, epoch, dataloaders['train'], meann, mad, charge_scale,
                  partition='train', dtype=dtype, log=log)
        res['lr'].append(optimizer.param_groups[0]['lr'])
        if epoch % test_interval == 0:
            val_loss = train_qm9(model, optimizer, lr_scheduler, epoch, dataloaders['valid'], meann, mad,
                                 charge_scale, partition='valid', dtype=dtype)
            test_loss = train_qm9(model, optimizer, lr_scheduler, epoch, dataloaders['test'], meann, mad,
                                  charge_scale, partition='test', dtype=dtype)
            res['epochs'].append(epoch)
            res['losess'].append(test_loss)
            if val_loss < res['best_val']:
                res['best_val'] = val_loss
                res['best_test'] = test_loss
                res['best_epoch'] = epoch
            print("Val loss: %.4f \t test loss: %.4f \t epoch %d" % (val_loss, test_loss, epoch))
            print("Best: val loss: %.4f \t test loss: %.4f \t epoch %d"
                  % (res['best_val'], res['best_test'], res['best_epoch']))

        if outf is not None:
            json_object = json.dumps(res, indent=4)
            with open(outf + "/losess.json", "w") as outfile:
                outfile.write(json_object)
    return res


# ------------------------------------------------------------------------------------------------ equivariance
def rotation(seed):
    """A random proper rotation (3, 3) float64 from numpy (QR of a Gaussian matrix, det +1)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def check_equivariance(model, h, x, edges, edge_attr, seed=0, vel=None):
    """Rotate and translate the inputs (``x @ Q.T + t``, velocities rotated only): returns the outputs and the
    largest deviation of the transformed run's coordinates from ``x_out @ Q.T + t`` and of its features from the
    untransformed ones."""
    Q = torch.from_numpy(rotation(seed)).to(x.dtype)
    t = torch.from_numpy(np.random.default_rng(seed + 1).normal(size=(1, 3))).to(x.dtype)
    model.eval()
    with torch.no_grad():
        if vel is None:
            h_out, x_out = model(h, x.clone(), edges, edge_attr)
            h_rot, x_rot = model(h, torch.matmul(x, Q.t()) + t, edges, edge_attr)
        else:
            h_out = h_rot = torch.zeros(1, dtype=x.dtype)
            x_out = model(h, x.clone(), edges, vel, edge_attr)
            x_rot = model(h, x @ Q.T + t, edges, vel @ Q.T, edge_attr)
    coord_err = (x_out @ Q.T + t - x_rot).abs().max().item()
    feat_err = (h_out - h_rot).abs().max().item()
    return h_out, x_out, coord_err, feat_err
