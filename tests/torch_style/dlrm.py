"""facebookresearch/dlrm's ``dlrm_s_pytorch.py`` at tiny sizes: DLRM_Net (``create_mlp``'s Linear + ReLU / Sigmoid
stacks with the explicit numpy normal init copied in through ``LL.weight.data = torch.tensor(W,
requires_grad=True)``, ``create_emb``'s ``nn.EmbeddingBag(n, m, mode="sum", sparse=True)`` from numpy uniform,
``apply_emb`` in the offsets form with optional (fixed or learned) ``per_sample_weights``, ``interact_features``
"dot" (``bmm`` of the stacked features, the strictly-lower-triangular ``Z[:, li, lj]``, optionally with the diagonal)
and "cat", the output clamped by ``loss_threshold``), the loss wrappers (MSE, ``BCELoss(reduction="mean")`` and the
weighted ``wbce`` with its float64 ``loss_ws`` from ``np.fromstring``), ``LRPolicyScheduler`` (warmup, decay start,
polynomial decay), the random data generator (``generate_uniform_input_batch``'s numpy offsets and unique indices,
rounded targets), the training loop with SGD or Adagrad on dense and sparse parameters (or SparseAdam for the
embeddings plus Adam for the MLPs, as some forks do), accuracy by ``np.round``, the "Finished ... it" log lines, and
the checkpoint save / load round trip (``torch.save`` of the epoch / iter / state_dict / opt_state_dict dict,
``torch.load(map_location=...)``). One change for the harness: the run records each step's losses, gradients,
parameters and lrs."""

# ruff: noqa: UP008, UP032, SIM108, SIM300 - the repository's own spellings
import io
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import _LRScheduler

ra = np.random


class LRPolicyScheduler(_LRScheduler):
    def __init__(self, optimizer, num_warmup_steps, decay_start_step, num_decay_steps):
        self.num_warmup_steps = num_warmup_steps
        self.decay_start_step = decay_start_step
        self.decay_end_step = decay_start_step + num_decay_steps
        self.num_decay_steps = num_decay_steps

        if self.decay_start_step < self.num_warmup_steps:
            sys.exit("Learning rate warmup must finish before the decay starts")

        super(LRPolicyScheduler, self).__init__(optimizer)

    def get_lr(self):
        step_count = self._step_count
        if step_count < self.num_warmup_steps:
            # warmup
            scale = 1.0 - (self.num_warmup_steps - step_count) / self.num_warmup_steps
            lr = [base_lr * scale for base_lr in self.base_lrs]
            self.last_lr = lr
        elif self.decay_start_step <= step_count and step_count < self.decay_end_step:
            # decay
            decayed_steps = step_count - self.decay_start_step
            scale = ((self.num_decay_steps - decayed_steps) / self.num_decay_steps) ** 2
            min_lr = 0.0000001
            lr = [max(min_lr, base_lr * scale) for base_lr in self.base_lrs]
            self.last_lr = lr
        else:
            if self.num_decay_steps > 0:
                # freeze at last, either because we're after decay
                # or because we're between warmup and decay
                lr = self.last_lr
            else:
                # do not adjust
                lr = self.base_lrs
        return lr


class DLRM_Net(nn.Module):  # noqa: N801 - the repo's name
    def create_mlp(self, ln, sigmoid_layer):
        # build MLP layer by layer
        layers = nn.ModuleList()
        for i in range(0, ln.size - 1):
            n = ln[i]
            m = ln[i + 1]

            # construct fully connected operator
            LL = nn.Linear(int(n), int(m), bias=True)

            # initialize the weights
            mean = 0.0  # std_dev = np.sqrt(variance)
            std_dev = np.sqrt(2 / (m + n))  # np.sqrt(1 / m) # np.sqrt(1 / n)
            W = np.random.normal(mean, std_dev, size=(m, n)).astype(np.float32)
            std_dev = np.sqrt(1 / m)  # np.sqrt(2 / (m + 1))
            bt = np.random.normal(mean, std_dev, size=m).astype(np.float32)
            LL.weight.data = torch.tensor(W, requires_grad=True)
            LL.bias.data = torch.tensor(bt, requires_grad=True)
            layers.append(LL)

            # construct sigmoid or relu operator
            if i == sigmoid_layer:
                layers.append(nn.Sigmoid())
            else:
                layers.append(nn.ReLU())

        return torch.nn.Sequential(*layers)

    def create_emb(self, m, ln, weighted_pooling=None):
        emb_l = nn.ModuleList()
        v_W_l = []
        for i in range(0, ln.size):
            n = ln[i]
            EE = nn.EmbeddingBag(n, m, mode="sum", sparse=True)
            # initialize embeddings
            W = np.random.uniform(low=-np.sqrt(1 / n), high=np.sqrt(1 / n), size=(n, m)).astype(np.float32)
            EE.weight.data = torch.tensor(W, requires_grad=True)
            if weighted_pooling is None:
                v_W_l.append(None)
            else:
                v_W_l.append(torch.ones(n, dtype=torch.float32))
            emb_l.append(EE)
        return emb_l, v_W_l

    def __init__(self, m_spa=None, ln_emb=None, ln_bot=None, ln_top=None, arch_interaction_op=None,
                 arch_interaction_itself=False, sigmoid_bot=-1, sigmoid_top=-1, loss_threshold=0.0,
                 weighted_pooling=None, loss_function="bce", loss_weights="1.0-1.0"):
        super(DLRM_Net, self).__init__()

        # save arguments
        self.output_d = 0
        self.arch_interaction_op = arch_interaction_op
        self.arch_interaction_itself = arch_interaction_itself
        self.loss_threshold = loss_threshold
        self.loss_function = loss_function
        if weighted_pooling is not None and weighted_pooling != "fixed":
            self.weighted_pooling = "learned"
        else:
            self.weighted_pooling = weighted_pooling
        # create operators
        self.emb_l, w_list = self.create_emb(m_spa, ln_emb, weighted_pooling)
        if self.weighted_pooling == "learned":
            self.v_W_l = nn.ParameterList()
            for w in w_list:
                self.v_W_l.append(nn.Parameter(w))
        else:
            self.v_W_l = w_list
        self.bot_l = self.create_mlp(ln_bot, sigmoid_bot)
        self.top_l = self.create_mlp(ln_top, sigmoid_top)

        # specify the loss function
        if self.loss_function == "mse":
            self.loss_fn = torch.nn.MSELoss(reduction="mean")
        elif self.loss_function == "bce":
            self.loss_fn = torch.nn.BCELoss(reduction="mean")
        elif self.loss_function == "wbce":
            self.loss_ws = torch.tensor(np.fromstring(loss_weights, dtype=float, sep="-"))
            self.loss_fn = torch.nn.BCELoss(reduction="none")
        else:
            sys.exit("ERROR: --loss-function=" + self.loss_function + " is not supported")

    def apply_mlp(self, x, layers):
        return layers(x)

    def apply_emb(self, lS_o, lS_i, emb_l, v_W_l):
        # embeddings lookup, in the offsets form: bag k of table t is lS_i[t][lS_o[t][k]:lS_o[t][k + 1]]
        ly = []
        for k, sparse_index_group_batch in enumerate(lS_i):
            sparse_offset_group_batch = lS_o[k]

            if v_W_l[k] is not None:
                per_sample_weights = v_W_l[k].gather(0, sparse_index_group_batch)
            else:
                per_sample_weights = None

            E = emb_l[k]
            V = E(sparse_index_group_batch, sparse_offset_group_batch, per_sample_weights=per_sample_weights)

            ly.append(V)
        return ly

    def interact_features(self, x, ly):
        if self.arch_interaction_op == "dot":
            # concatenate dense and sparse features
            (batch_size, d) = x.shape
            T = torch.cat([x] + ly, dim=1).view((batch_size, -1, d))
            # perform a dot product
            Z = torch.bmm(T, torch.transpose(T, 1, 2))
            # append dense feature with the interactions (into a row vector)
            _, ni, nj = Z.shape
            offset = 1 if self.arch_interaction_itself else 0
            li = torch.tensor([i for i in range(ni) for j in range(i + offset)])
            lj = torch.tensor([j for i in range(nj) for j in range(i + offset)])
            Zflat = Z[:, li, lj]
            # concatenate dense features and interactions
            R = torch.cat([x] + [Zflat], dim=1)
        elif self.arch_interaction_op == "cat":
            # concatenation features (into a row vector)
            R = torch.cat([x] + ly, dim=1)
        else:
            sys.exit("ERROR: --arch-interaction-op=" + self.arch_interaction_op + " is not supported")
        return R

    def forward(self, dense_x, lS_o, lS_i):
        return self.sequential_forward(dense_x, lS_o, lS_i)

    def sequential_forward(self, dense_x, lS_o, lS_i):
        # process dense features (using bottom mlp), resulting in a row vector
        x = self.apply_mlp(dense_x, self.bot_l)
        # process sparse features(using embeddings), resulting in a list of row vectors
        ly = self.apply_emb(lS_o, lS_i, self.emb_l, self.v_W_l)
        # interact features (dense and sparse)
        z = self.interact_features(x, ly)
        # obtain probability of a click (using top mlp)
        p = self.apply_mlp(z, self.top_l)
        # clamp output if needed
        if 0.0 < self.loss_threshold and self.loss_threshold < 1.0:
            z = torch.clamp(p, min=self.loss_threshold, max=(1.0 - self.loss_threshold))
        else:
            z = p
        return z


# ------------------------------------------------------------------------------------------------ random data


def generate_uniform_input_batch(m_den, ln_emb, n, num_indices_per_lookup, num_indices_per_lookup_fixed):
    # dense feature
    Xt = torch.tensor(ra.rand(n, m_den).astype(np.float32))

    # sparse feature (sparse indices)
    lS_emb_offsets = []
    lS_emb_indices = []
    # for each embedding generate a list of n lookups,
    # where each lookup is composed of multiple sparse indices
    for size in ln_emb:
        lS_batch_offsets = []
        lS_batch_indices = []
        offset = 0
        for _ in range(n):
            # num of sparse indices to be used per embedding (between
            if num_indices_per_lookup_fixed:
                sparse_group_size = np.int64(num_indices_per_lookup)
            else:
                # random between [1,num_indices_per_lookup])
                r = ra.random(1)
                sparse_group_size = np.int64(np.round(max([1.0], r[0] * min(size, num_indices_per_lookup))))
            # sparse indices to be used per embedding
            r = ra.random(sparse_group_size)
            sparse_group = np.unique(np.round(r * (size - 1)).astype(np.int64))
            # reset sparse_group_size in case some index duplicates were removed
            sparse_group_size = np.int32(sparse_group.size)
            # store lengths and indices
            lS_batch_offsets += [offset]
            lS_batch_indices += sparse_group.tolist()
            # update offset for next iteration
            offset += sparse_group_size
        lS_emb_offsets.append(torch.tensor(lS_batch_offsets))
        lS_emb_indices.append(torch.tensor(lS_batch_indices))

    return (Xt, lS_emb_offsets, lS_emb_indices)


def generate_random_output_batch(n, num_targets, round_targets=False):
    # target (probability of a click)
    if round_targets:
        P = np.round(ra.rand(n, num_targets).astype(np.float32)).astype(np.float32)
    else:
        P = ra.rand(n, num_targets).astype(np.float32)

    return torch.tensor(P)


class RandomDataset:
    """dlrm_data_pytorch's RandomDataset in its simplest form: batch ``index`` is generated from
    ``np.random.seed(index)`` (``reset_seed_on_access``), so both libraries get the same numbers."""

    def __init__(self, m_den, ln_emb, data_size, num_batches, mini_batch_size, num_indices_per_lookup,
                 num_indices_per_lookup_fixed, num_targets=1, round_targets=True):
        self.m_den, self.ln_emb = m_den, ln_emb
        self.data_size, self.num_batches, self.batch_size = data_size, num_batches, mini_batch_size
        self.num_indices_per_lookup = num_indices_per_lookup
        self.num_indices_per_lookup_fixed = num_indices_per_lookup_fixed
        self.num_targets, self.round_targets = num_targets, round_targets

    def __getitem__(self, index):
        ra.seed(index)
        n = min(self.batch_size, self.data_size - (index * self.batch_size))
        (X, lS_o, lS_i) = generate_uniform_input_batch(self.m_den, self.ln_emb, n, self.num_indices_per_lookup,
                                                      self.num_indices_per_lookup_fixed)
        T = generate_random_output_batch(n, self.num_targets, self.round_targets)
        return (X, lS_o, lS_i, T)

    def __len__(self):
        return self.num_batches


# ----------------------------------------------------------------------------------------------------- training


def make_model(weighted_pooling=None, interaction="dot", itself=False, loss_function="bce", loss_threshold=0.0,
               seed=123):
    """dlrm_s_pytorch's ``main``: the architecture strings parsed by np.fromstring, the DLRM_Net built after
    ``np.random.seed(args.numpy_rand_seed)``."""
    np.random.seed(seed)
    m_spa = 4
    ln_emb = np.fromstring("10-7-13", dtype=int, sep="-")
    ln_bot = np.fromstring("5-6-4", dtype=int, sep="-")
    num_fea = ln_emb.size + 1  # num sparse + num dense features
    m_den_out = ln_bot[ln_bot.size - 1]
    if interaction == "dot":
        num_int = (num_fea * (num_fea + 1)) // 2 + m_den_out if itself else (num_fea * (num_fea - 1)) // 2 + m_den_out
    else:
        num_int = num_fea * m_den_out
    arch_mlp_top_adjusted = str(num_int) + "-" + "8-4-1"
    ln_top = np.fromstring(arch_mlp_top_adjusted, dtype=int, sep="-")
    return DLRM_Net(m_spa, ln_emb, ln_bot, ln_top, arch_interaction_op=interaction,
                    arch_interaction_itself=itself, sigmoid_bot=-1, sigmoid_top=ln_top.size - 2,
                    loss_threshold=loss_threshold, weighted_pooling=weighted_pooling,
                    loss_function=loss_function, loss_weights="1.0-3.0")


def loss_fn_wrap(dlrm, Z, T):
    if dlrm.loss_function == "mse" or dlrm.loss_function == "bce":
        return dlrm.loss_fn(Z, T)
    elif dlrm.loss_function == "wbce":
        loss_ws_ = dlrm.loss_ws[T.data.view(-1).long()].view_as(T)
        loss_fn_ = dlrm.loss_fn(Z, T)
        loss_sc_ = loss_ws_ * loss_fn_
        return loss_sc_.mean()


def make_optimizers(dlrm, optimizer, lr):
    opts = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}
    if optimizer in opts:
        return [opts[optimizer](dlrm.parameters(), lr=lr)]
    # the forks' split: SparseAdam over the sparse EmbeddingBags, Adam over the rest
    sparse = list(dlrm.emb_l.parameters())
    dense = [p for n, p in dlrm.named_parameters() if not n.startswith("emb_l.")]
    return [torch.optim.SparseAdam(sparse, lr=lr), torch.optim.Adam(dense, lr=lr)]


def grad_record(dlrm):
    """Per parameter: the gradient's norm (a sparse one's through ``to_dense()``), and for a sparse one its coalesced
    indices and values."""
    norms, indices, values = {}, {}, {}
    for name, p in dlrm.named_parameters():
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            g = p.grad.coalesce()
            indices[name] = g.indices().numpy().copy()
            values[name] = g.values().numpy().copy()
            norms[name] = p.grad.to_dense().norm().item()
        else:
            norms[name] = p.grad.norm().item()
    return norms, indices, values


def save_and_load(dlrm, optimizers, schedulers, k, j, nbatches, train_loss, train_accu, lr, optimizer, options):
    """The ``--save-model`` dict through an in-memory file, then ``--load-model`` into a fresh net and optimizers."""
    buffer = io.BytesIO()
    torch.save({"epoch": k, "nepochs": 2, "nbatches": nbatches, "iter": j + 1,
                "state_dict": dlrm.state_dict(), "train_acc": train_accu, "train_loss": train_loss,
                "opt_state_dict": [opt.state_dict() for opt in optimizers],
                "sched_state_dict": [s.state_dict() for s in schedulers]}, buffer)
    buffer.seek(0)
    ld_model = torch.load(buffer, map_location=torch.device("cpu"))
    dlrm = make_model(**options)
    dlrm.load_state_dict(ld_model["state_dict"])
    optimizers = make_optimizers(dlrm, optimizer, lr)
    schedulers = [LRPolicyScheduler(opt, 3, 6, 6) for opt in optimizers]
    for opt, s, ost, sst in zip(optimizers, schedulers, ld_model["opt_state_dict"], ld_model["sched_state_dict"]):
        opt.load_state_dict(ost)
        s.load_state_dict(sst)
    ld_j, ld_k = ld_model["iter"], ld_model["epoch"]
    ld_train_loss = ld_model["train_loss"]
    ld_acc = ld_model["train_acc"]
    print("Saved at: epoch = {:d}/{:d}, batch = {:d}/{:d}, ntbatch = {:d}".format(ld_k, 2, ld_j, nbatches, nbatches))
    print("Training state: loss = {:.6f}, accuracy = {:3.3f} %".format(ld_train_loss, ld_acc * 100))
    return dlrm, optimizers, schedulers


def train(dlrm, optimizer="sgd", lr=0.1, nepochs=2, nbatches=6, mini_batch_size=8, print_freq=2,
          num_indices_per_lookup=4, num_indices_per_lookup_fixed=False, resume_at=None, options=None):
    train_data = RandomDataset(5, np.fromstring("10-7-13", dtype=int, sep="-"), nbatches * mini_batch_size,
                               nbatches, mini_batch_size, num_indices_per_lookup, num_indices_per_lookup_fixed)
    optimizers = make_optimizers(dlrm, optimizer, lr)
    schedulers = [LRPolicyScheduler(opt, 3, 6, 6) for opt in optimizers]
    log = {"loss": [], "out": [], "norms": [], "indices": [], "values": [], "params": [], "lr": [],
           "lines": [], "accuracy": []}
    total_loss, total_accu, total_iter, total_samp = 0, 0, 0, 0
    step = 0
    for k in range(nepochs):
        for j in range(nbatches):
            if step == resume_at:
                train_loss = total_loss / max(total_samp, 1)
                dlrm, optimizers, schedulers = save_and_load(
                    dlrm, optimizers, schedulers, k, j - 1, nbatches, train_loss,
                    total_accu / max(total_samp, 1), lr, optimizer, options or {})
            X, lS_o, lS_i, T = train_data[j]

            # forward pass
            Z = dlrm(X, lS_o, lS_i)

            # loss
            E = loss_fn_wrap(dlrm, Z, T)

            # compute loss and accuracy
            L = E.detach().cpu().numpy()  # numpy array
            S = Z.detach().cpu().numpy()  # numpy array
            T = T.detach().cpu().numpy()  # numpy array
            mbs = T.shape[0]  # = args.mini_batch_size except maybe for last
            A = np.sum((np.round(S, 0) == T).astype(np.uint8))

            # scaled error gradient propagation
            for opt in optimizers:
                opt.zero_grad()
            E.backward()
            norms, indices, values = grad_record(dlrm)

            # optimizer
            for opt in optimizers:
                opt.step()
            for s in schedulers:
                s.step()

            total_loss += L * mbs
            total_iter += 1
            total_samp += mbs
            total_accu += A

            log["loss"].append(float(L))
            log["out"].append(S.copy())
            log["norms"].append(norms)
            log["indices"].append(indices)
            log["values"].append(values)
            log["params"].append({n: p.detach().numpy().copy() for n, p in dlrm.named_parameters()})
            log["lr"].append([s.get_last_lr() for s in schedulers])
            log["accuracy"].append(int(A))
            step += 1

            should_print = ((j + 1) % print_freq == 0) or (j + 1 == nbatches)
            if should_print:
                gT = -1
                train_loss = total_loss / total_samp
                total_loss = 0
                acc = total_accu / total_samp
                total_accu = 0
                str_run_type = "training"
                line = ("Finished {} it {}/{} of epoch {}, {:.2f} ms/it,".format(str_run_type, j + 1, nbatches, k, gT)
                        + " loss {:.6f}".format(train_loss) + " accuracy {:3.3f} %".format(acc * 100))
                print(line, flush=True)
                log["lines"].append(line)
                total_iter = 0
                total_samp = 0
    log["state"] = {n: v.numpy().copy() for n, v in dlrm.state_dict().items()}
    return log
