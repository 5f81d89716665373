"""Recommenders and a mixture density network written as ordinary PyTorch code, after the 2018-2021 GitHub repos and
blog posts. Recommenders: fast.ai-style matrix factorization with user / item bias embeddings and sigmoid range
scaling (``nn.Embedding(..., sparse=True)`` + ``optim.SparseAdam(list(model.parameters()))``, or sparse factors
under SparseAdam and dense biases under Adam, two optimizers over split parameter lists), guoyang9/NCF's GMF / MLP /
NeuMF (``nn.init.normal_(std=0.01)``, ``xavier_uniform_``, ``kaiming_uniform_(a=1, nonlinearity='sigmoid')``, the
pretrained NeuMF built through ``.data.copy_``) on implicit feedback with numpy negative sampling in the Dataset's
``ng_sample``, BCEWithLogitsLoss, and HR@10 / NDCG@10 from ``torch.topk`` + ``torch.take``; and guoyang9/BPR's
pairwise loss (``-(pos - neg).sigmoid().log().sum()`` or ``F.logsigmoid``) under SGD with weight decay. The MDN:
hardmaru's notebook (tanh hidden layer, softmax / exp heads, the Gaussian density written out, ``-log(sum(pi *
p))``) and sagelywizard's pytorch-mdn (``nn.Softmax(dim=1)`` pi head, ``exp`` or ``elu + 1 + 1e-15`` sigma,
``view(-1, num_gaussians, out_features)``, the ``torch.prod`` loss or the stable ``logsumexp`` of ``log_softmax`` and
``Normal.log_prob``), on numpy's inverse-sine data, trained with Adam and ``clip_grad_norm_``, and sampled by
``Categorical(pi).sample()`` / ``torch.multinomial`` + ``gather``. One change for the harness: every random draw
(batch order, negatives, sampled components, noise) can come from a numpy generator or be passed in, so both
libraries see the same numbers; the harness runs it on torch and, with the imports swapped, on ours."""

import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical, Normal
from torch.utils.data import DataLoader, Dataset, Sampler

# ----------------------------------------------------------------------------------------------- explicit ratings


def make_ratings(n_users=24, n_items=30, n_ratings=256, seed=0):
    """Ratings 1-5 from a rank-3 taste model; the last 2 users and 3 items are never rated (their rows must stay)."""
    rng = np.random.RandomState(seed)
    U, V = rng.randn(n_users, 3), rng.randn(n_items, 3)
    users = rng.randint(0, n_users - 2, n_ratings)
    items = rng.randint(0, n_items - 3, n_ratings)
    ratings = np.clip(np.round(3 + (U[users] * V[items]).sum(1) + 0.3 * rng.randn(n_ratings)), 1, 5)
    return users, items, ratings.astype(np.float32)


class RatingsDataset(Dataset):
    def __init__(self, users, items, ratings):
        self.users, self.items, self.ratings = users, items, ratings

    def __len__(self):
        return len(self.ratings)

    def __getitem__(self, idx):
        return self.users[idx], self.items[idx], self.ratings[idx]


class EpochPermutations(Sampler):
    """A new numpy permutation at every epoch (``shuffle=True`` with a generator both libraries share)."""

    def __init__(self, n, rng):
        self.n, self.rng = n, rng

    def __iter__(self):
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self):
        return self.n


class MatrixFactorization(nn.Module):
    def __init__(self, n_users, n_items, n_factors=8, y_range=(0.5, 5.5), sparse=True, sparse_bias=None):
        super(MatrixFactorization, self).__init__()  # noqa: UP008 - the repos' spelling
        sparse_bias = sparse if sparse_bias is None else sparse_bias
        self.u_weight = nn.Embedding(n_users, n_factors, sparse=sparse)
        self.i_weight = nn.Embedding(n_items, n_factors, sparse=sparse)
        self.u_bias = nn.Embedding(n_users, 1, sparse=sparse_bias)
        self.i_bias = nn.Embedding(n_items, 1, sparse=sparse_bias)
        self.y_range = y_range
        for emb in (self.u_weight, self.i_weight):
            emb.weight.data.uniform_(0, 0.05)
        for emb in (self.u_bias, self.i_bias):
            emb.weight.data.zero_()

    def forward(self, users, items):
        u = self.u_weight(users)
        i = self.i_weight(items)
        x = (u * i).sum(1) + self.u_bias(users).squeeze() + self.i_bias(items).squeeze()
        min_r, max_r = self.y_range
        return torch.sigmoid(x) * (max_r - min_r) + min_r


def grad_record(model):
    """Per parameter: the dense gradient's norm, and for a sparse one its coalesced rows and values."""
    norms, rows, values = {}, {}, {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            g = p.grad.coalesce()
            rows[name] = g._indices()[0].numpy().copy()
            values[name] = g._values().numpy().copy()
            norms[name] = p.grad.to_dense().norm().item()
        else:
            norms[name] = p.grad.norm().item()
    return norms, rows, values


def mf_optimizers(model, lr, two_optimizers):
    if two_optimizers:
        sparse_params = list(model.u_weight.parameters()) + list(model.i_weight.parameters())
        dense_params = list(model.u_bias.parameters()) + list(model.i_bias.parameters())
        return [optim.SparseAdam(sparse_params, lr=lr), optim.Adam(dense_params, lr=lr)]
    return [optim.SparseAdam(list(model.parameters()), lr=lr)]


def resume(model, optimizers, lr, two_optimizers):
    """A checkpoint through torch.save / torch.load, loaded into a fresh model and fresh optimizers."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizers": [opt.state_dict() for opt in optimizers]}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer)
    model = MatrixFactorization(model.u_weight.num_embeddings, model.i_weight.num_embeddings,
                                model.u_weight.embedding_dim, model.y_range, model.u_weight.sparse,
                                model.u_bias.sparse)
    model.load_state_dict(checkpoint["model"])
    optimizers = mf_optimizers(model, lr, two_optimizers)
    for opt, state in zip(optimizers, checkpoint["optimizers"]):
        opt.load_state_dict(state)
    return model, optimizers


def train_mf(model, data, sampler, epochs=4, batch_size=32, lr=0.05, two_optimizers=False, resume_at=None):
    loader = DataLoader(RatingsDataset(*data), batch_size=batch_size, sampler=sampler)
    optimizers = mf_optimizers(model, lr, two_optimizers)
    loss_fn = nn.MSELoss()
    log = {"loss": [], "norms": [], "rows": [], "values": [], "moved": [], "batch_users": []}
    for epoch in range(epochs):  # noqa: B007
        for users, items, ratings in loader:
            if len(log["loss"]) == resume_at:
                model, optimizers = resume(model, optimizers, lr, two_optimizers)
            before = {k: v.clone() for k, v in model.state_dict().items()}
            for opt in optimizers:
                opt.zero_grad()
            preds = model(users, items)
            loss = loss_fn(preds, ratings)
            loss.backward()
            for opt in optimizers:
                opt.step()
            norms, rows, values = grad_record(model)
            log["loss"].append(loss.item())
            log["norms"].append(norms)
            log["rows"].append(rows)
            log["values"].append(values)
            log["moved"].append({k: (v != before[k]).any(1).nonzero().view(-1).numpy().tolist()
                                 for k, v in model.state_dict().items()})
            log["batch_users"].append(sorted(set(users.tolist())))
    log["state"] = [{f"{i}.{k}": np.asarray(v.numpy() if hasattr(v, "numpy") else v)
                     for i, p in enumerate(opt.param_groups[0]["params"]) for k, v in opt.state[p].items()}
                    for opt in optimizers]
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    return log


# ----------------------------------------------------------------------------------------------- implicit feedback


def make_implicit(n_users=16, n_items=40, per_user=8, n_test_neg=20, seed=1):
    """Each user's positives (a taste cluster of items), the last one held out for testing with ``n_test_neg``
    unseen negatives. Returns the train pairs [[u, i], ...], the set of train pairs, and the test rows, the held-out
    positive first for each user (the layout of NCF's test file)."""
    rng = np.random.RandomState(seed)
    train, test = [], []
    for u in range(n_users):
        cluster = (u % 4) * (n_items // 4)
        items = rng.choice(n_items // 4, per_user, replace=False) + cluster
        train += [[u, int(i)] for i in items[:-1]]
        unseen = np.setdiff1d(np.arange(n_items), items)
        test += [[u, int(items[-1])]] + [[u, int(j)] for j in rng.choice(unseen, n_test_neg, replace=False)]
    return train, {(u, i) for u, i in train}, test


class NCFData(Dataset):
    def __init__(self, features, num_item, train_mat=None, num_ng=0, is_training=None, rng=None):
        super(NCFData, self).__init__()  # noqa: UP008
        self.features_ps = features
        self.num_item = num_item
        self.train_mat = train_mat
        self.num_ng = num_ng
        self.is_training = is_training
        self.labels = [0 for _ in range(len(features))]
        self.rng = rng

    def ng_sample(self):
        assert self.is_training, 'no need to sampling when testing'
        self.features_ng = []
        for x in self.features_ps:
            u = x[0]
            for t in range(self.num_ng):  # noqa: B007
                j = self.rng.randint(self.num_item)
                while (u, j) in self.train_mat:
                    j = self.rng.randint(self.num_item)
                self.features_ng.append([u, j])
        self.features_fill = self.features_ps + self.features_ng
        self.labels_fill = [1] * len(self.features_ps) + [0] * len(self.features_ng)

    def __len__(self):
        return (self.num_ng + 1) * len(self.labels)

    def __getitem__(self, idx):
        features = self.features_fill if self.is_training else self.features_ps
        labels = self.labels_fill if self.is_training else self.labels
        return features[idx][0], features[idx][1], labels[idx]


class BPRData(NCFData):
    """(user, positive, negative) triplets for BPR; at test time (user, item, item)."""

    def ng_sample(self):
        super(BPRData, self).ng_sample()  # noqa: UP008
        self.features_fill = [[u, i, j] for (u, i), (_, j) in
                              zip([x for x in self.features_ps for _ in range(self.num_ng)], self.features_ng)]

    def __len__(self):
        return self.num_ng * len(self.features_ps) if self.is_training else len(self.features_ps)

    def __getitem__(self, idx):
        if self.is_training:
            return tuple(self.features_fill[idx])
        u, i = self.features_ps[idx]
        return u, i, i


class NCF(nn.Module):
    def __init__(self, user_num, item_num, factor_num, num_layers, dropout, model, GMF_model=None, MLP_model=None):
        super(NCF, self).__init__()  # noqa: UP008
        self.dropout = dropout
        self.model = model
        self.GMF_model = GMF_model
        self.MLP_model = MLP_model

        self.embed_user_GMF = nn.Embedding(user_num, factor_num)
        self.embed_item_GMF = nn.Embedding(item_num, factor_num)
        self.embed_user_MLP = nn.Embedding(user_num, factor_num * (2 ** (num_layers - 1)))
        self.embed_item_MLP = nn.Embedding(item_num, factor_num * (2 ** (num_layers - 1)))

        MLP_modules = []
        for i in range(num_layers):
            input_size = factor_num * (2 ** (num_layers - i))
            MLP_modules.append(nn.Dropout(p=self.dropout))
            MLP_modules.append(nn.Linear(input_size, input_size // 2))
            MLP_modules.append(nn.ReLU())
        self.MLP_layers = nn.Sequential(*MLP_modules)

        predict_size = factor_num if self.model in ['MLP', 'GMF'] else factor_num * 2
        self.predict_layer = nn.Linear(predict_size, 1)
        self._init_weight_()

    def _init_weight_(self):
        if not self.model == 'NeuMF-pre':  # noqa: SIM201 - guoyang9's spelling
            nn.init.normal_(self.embed_user_GMF.weight, std=0.01)
            nn.init.normal_(self.embed_user_MLP.weight, std=0.01)
            nn.init.normal_(self.embed_item_GMF.weight, std=0.01)
            nn.init.normal_(self.embed_item_MLP.weight, std=0.01)
            for m in self.MLP_layers:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
            nn.init.kaiming_uniform_(self.predict_layer.weight, a=1, nonlinearity='sigmoid')
            for m in self.modules():
                if isinstance(m, nn.Linear) and m.bias is not None:
                    m.bias.data.zero_()
        else:
            self.embed_user_GMF.weight.data.copy_(self.GMF_model.embed_user_GMF.weight)
            self.embed_item_GMF.weight.data.copy_(self.GMF_model.embed_item_GMF.weight)
            self.embed_user_MLP.weight.data.copy_(self.MLP_model.embed_user_MLP.weight)
            self.embed_item_MLP.weight.data.copy_(self.MLP_model.embed_item_MLP.weight)
            for (m1, m2) in zip(self.MLP_layers, self.MLP_model.MLP_layers):
                if isinstance(m1, nn.Linear) and isinstance(m2, nn.Linear):
                    m1.weight.data.copy_(m2.weight)
                    m1.bias.data.copy_(m2.bias)
            predict_weight = torch.cat([self.GMF_model.predict_layer.weight,
                                        self.MLP_model.predict_layer.weight], dim=1)
            precit_bias = self.GMF_model.predict_layer.bias + self.MLP_model.predict_layer.bias
            self.predict_layer.weight.data.copy_(0.5 * predict_weight)
            self.predict_layer.bias.data.copy_(0.5 * precit_bias)

    def forward(self, user, item):
        if not self.model == 'MLP':  # noqa: SIM201 - guoyang9's spelling
            embed_user_GMF = self.embed_user_GMF(user)
            embed_item_GMF = self.embed_item_GMF(item)
            output_GMF = embed_user_GMF * embed_item_GMF
        if not self.model == 'GMF':  # noqa: SIM201 - guoyang9's spelling
            embed_user_MLP = self.embed_user_MLP(user)
            embed_item_MLP = self.embed_item_MLP(item)
            interaction = torch.cat((embed_user_MLP, embed_item_MLP), -1)
            output_MLP = self.MLP_layers(interaction)

        if self.model == 'GMF':
            concat = output_GMF
        elif self.model == 'MLP':
            concat = output_MLP
        else:
            concat = torch.cat((output_GMF, output_MLP), -1)

        prediction = self.predict_layer(concat)
        return prediction.view(-1)


class BPR(nn.Module):
    def __init__(self, user_num, item_num, factor_num):
        super(BPR, self).__init__()  # noqa: UP008
        self.embed_user = nn.Embedding(user_num, factor_num)
        self.embed_item = nn.Embedding(item_num, factor_num)
        nn.init.normal_(self.embed_user.weight, std=0.01)
        nn.init.normal_(self.embed_item.weight, std=0.01)

    def forward(self, user, item_i, item_j):
        user = self.embed_user(user)
        item_i = self.embed_item(item_i)
        item_j = self.embed_item(item_j)
        prediction_i = (user * item_i).sum(dim=-1)
        prediction_j = (user * item_j).sum(dim=-1)
        return prediction_i, prediction_j


def hit(gt_item, pred_items):
    if gt_item in pred_items:
        return 1
    return 0


def ndcg(gt_item, pred_items):
    if gt_item in pred_items:
        index = pred_items.index(gt_item)
        return np.reciprocal(np.log2(index + 2))
    return 0


def metrics(model, test_loader, top_k):
    """HR@k and NDCG@k over the test users (one batch each: the held-out positive first), with the ranked lists."""
    HR, NDCG, ranked = [], [], []
    for user, item, other in test_loader:
        if isinstance(model, BPR):
            predictions, _ = model(user, item, other)
        else:
            predictions = model(user, item)
        _, indices = torch.topk(predictions, top_k)
        recommends = torch.take(item, indices).cpu().numpy().tolist()
        gt_item = item[0].item()
        HR.append(hit(gt_item, recommends))
        NDCG.append(ndcg(gt_item, recommends))
        ranked.append(recommends)
    return np.mean(HR), np.mean(NDCG), ranked


def implicit_loaders(data, rng, num_ng=2, batch_size=32, bpr=False, n_items=40, n_test_neg=20):
    train, train_mat, test = data
    cls = BPRData if bpr else NCFData
    train_dataset = cls(train, n_items, train_mat, num_ng, True, rng)
    test_dataset = cls(test, n_items, train_mat, 0, False)
    train_loader = DataLoader(train_dataset, batch_size=batch_size,
                              sampler=EpochPermutations(len(train_dataset), rng))
    test_loader = DataLoader(test_dataset, batch_size=n_test_neg + 1, shuffle=False)
    return train_loader, test_loader


def train_implicit(model, data, rng, epochs=2, lr=0.01, optimizer="adam", bpr_loss="sigmoid_log", top_k=10):
    """guoyang9's main.py: negatives resampled each epoch, then HR / NDCG on the test users."""
    bpr = isinstance(model, BPR)
    train_loader, test_loader = implicit_loaders(data, rng, bpr=bpr)
    loss_function = nn.BCEWithLogitsLoss()
    if optimizer == "adam":
        optimizer = optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = optim.SGD(model.parameters(), lr=lr, weight_decay=0.001 if bpr else 0)
    log = {"loss": [], "norm": [], "HR": [], "NDCG": [], "ranked": [], "pred": []}
    for epoch in range(epochs):  # noqa: B007
        model.train()
        train_loader.dataset.ng_sample()
        for user, item, label in train_loader:
            model.zero_grad()
            if bpr:
                prediction_i, prediction_j = model(user, item, label)
                if bpr_loss == "sigmoid_log":
                    loss = - (prediction_i - prediction_j).sigmoid().log().sum()
                else:
                    loss = -F.logsigmoid(prediction_i - prediction_j).sum()
            else:
                label = label.float()
                prediction = model(user, item)
                loss = loss_function(prediction, label)
            loss.backward()
            optimizer.step()
            log["loss"].append(loss.item())
            log["norm"].append(math.sqrt(sum(p.grad.norm().item() ** 2 for p in model.parameters()
                                                     if p.grad is not None)))
        model.eval()
        with torch.no_grad():
            HR, NDCG, ranked = metrics(model, test_loader, top_k)
            user, item, other = next(iter(test_loader))
            log["pred"].append((model(user, item, other)[0] if bpr else model(user, item)).numpy().copy())
        log["HR"].append(HR)
        log["NDCG"].append(NDCG)
        log["ranked"].append(ranked)
        print("HR: {:.3f}\tNDCG: {:.3f}".format(np.mean(HR), np.mean(NDCG)))  # noqa: UP032
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    return log


def make_pretrain(n_users=16, n_items=40, factor_num=8, num_layers=2):
    """GMF and MLP to pretrain, one container (the harness hands ours torch's initial weights through it)."""
    return nn.ModuleDict({"GMF": NCF(n_users, n_items, factor_num, num_layers, 0.0, 'GMF'),
                          "MLP": NCF(n_users, n_items, factor_num, num_layers, 0.0, 'MLP')})


def neumf_pre(models, data, rng, n_users=16, n_items=40, factor_num=8, num_layers=2):
    """Pretrain GMF and MLP with Adam, then NeuMF-pre initialised from them, fine-tuned with SGD."""
    logs = {name: train_implicit(models[name], data, rng, epochs=1) for name in ("GMF", "MLP")}
    model = NCF(n_users, n_items, factor_num, num_layers, 0.0, 'NeuMF-pre', models["GMF"], models["MLP"])
    logs["NeuMF-pre"] = train_implicit(model, data, rng, epochs=2, lr=0.05, optimizer="sgd")
    return logs


# ----------------------------------------------------------------------------------------------- the MDN


def inverse_sine(n_samples=200, seed=2):
    """hardmaru's data: y = 7 sin(0.75 x) + 0.5 x + noise, then x and y swapped (a one-to-many map)."""
    rng = np.random.RandomState(seed)
    epsilon = rng.normal(size=(n_samples))
    x_data = rng.uniform(-10.5, 10.5, n_samples)
    y_data = 7 * np.sin(0.75 * x_data) + 0.5 * x_data + epsilon
    x_data, y_data = y_data, x_data
    x_tensor = torch.from_numpy(np.float32(x_data).reshape(n_samples, 1))
    y_tensor = torch.from_numpy(np.float32(y_data).reshape(n_samples, 1))
    return x_tensor, y_tensor


oneDivSqrtTwoPI = 1.0 / np.sqrt(2.0 * np.pi)  # noqa: N816 - hardmaru's name
ONEOVERSQRT2PI = 1.0 / math.sqrt(2 * math.pi)


class MDNet(nn.Module):
    """hardmaru's network: (N, 1) -> pi, sigma, mu each (N, n_gaussians)."""

    def __init__(self, n_hidden, n_gaussians):
        super(MDNet, self).__init__()  # noqa: UP008
        self.z_h = nn.Sequential(nn.Linear(1, n_hidden), nn.Tanh())
        self.z_pi = nn.Linear(n_hidden, n_gaussians)
        self.z_sigma = nn.Linear(n_hidden, n_gaussians)
        self.z_mu = nn.Linear(n_hidden, n_gaussians)

    def forward(self, x):
        z_h = self.z_h(x)
        pi = nn.functional.softmax(self.z_pi(z_h), -1)
        sigma = torch.exp(self.z_sigma(z_h))
        mu = self.z_mu(z_h)
        return pi, sigma, mu


def gaussian_distribution(y, mu, sigma):
    result = (y.expand_as(mu) - mu) * torch.reciprocal(sigma)
    result = - 0.5 * (result * result)
    return (torch.exp(result) * torch.reciprocal(sigma)) * oneDivSqrtTwoPI


def mdn_loss_fn(pi, sigma, mu, y):
    result = gaussian_distribution(y, mu, sigma) * pi
    result = torch.sum(result, dim=1)
    result = - torch.log(result)
    return torch.mean(result)


class MDN(nn.Module):
    """sagelywizard's layer: (B, D_in) -> pi (B, G) (or log pi), sigma and mu (B, G, O)."""

    def __init__(self, in_features, out_features, num_gaussians, log_pi=False, elu_sigma=False):
        super(MDN, self).__init__()  # noqa: UP008
        self.in_features = in_features
        self.out_features = out_features
        self.num_gaussians = num_gaussians
        self.log_pi, self.elu_sigma = log_pi, elu_sigma
        self.pi = nn.Sequential(nn.Linear(in_features, num_gaussians), nn.Softmax(dim=1))
        self.sigma = nn.Linear(in_features, out_features * num_gaussians)
        self.mu = nn.Linear(in_features, out_features * num_gaussians)

    def forward(self, minibatch):
        if self.log_pi:  # noqa: SIM108
            pi = F.log_softmax(self.pi[0](minibatch), dim=1)
        else:
            pi = self.pi(minibatch)
        if self.elu_sigma:  # noqa: SIM108
            sigma = F.elu(self.sigma(minibatch)) + 1 + 1e-15
        else:
            sigma = torch.exp(self.sigma(minibatch))
        sigma = sigma.view(-1, self.num_gaussians, self.out_features)
        mu = self.mu(minibatch)
        mu = mu.view(-1, self.num_gaussians, self.out_features)
        return pi, sigma, mu


def gaussian_probability(sigma, mu, target):
    target = target.unsqueeze(1).expand_as(sigma)
    ret = ONEOVERSQRT2PI * torch.exp(-0.5 * ((target - mu) / sigma)**2) / sigma
    return torch.prod(ret, 2)


def mdn_loss(pi, sigma, mu, target):
    prob = pi * gaussian_probability(sigma, mu, target)
    nll = -torch.log(torch.sum(prob, dim=1))
    return torch.mean(nll)


def mdn_loss_stable(log_pi, sigma, mu, target):
    log_prob = Normal(mu, sigma).log_prob(target.unsqueeze(1).expand_as(mu)).sum(-1)
    return -torch.logsumexp(log_pi + log_prob, dim=1).mean()


def sample(pi, sigma, mu, pis=None, noise=None):
    """One draw per row: component ``pis`` (B,) (drawn from Categorical(pi) when not given), its mu + sigma * noise
    (noise (O, B) drawn when not given). Returns the draws (B, O) and the gathered sigma, mu (B,)."""
    if pis is None:
        pis = Categorical(pi).sample()
    pis = pis.view(pi.size(0), 1, 1)
    if noise is None:
        noise = torch.randn((sigma.size(2), sigma.size(0)), requires_grad=False)
    variance_samples = sigma.gather(1, pis).detach().squeeze()
    mean_samples = mu.detach().gather(1, pis).squeeze()
    return (noise * variance_samples + mean_samples).transpose(0, 1), variance_samples, mean_samples


def sample_multinomial(pi, sigma, mu, k=None, noise=None):
    """hardmaru-style draws from (B, G) heads: component k (B,) by ``torch.multinomial``; returns (B,), sigma, mu."""
    if k is None:
        k = torch.multinomial(pi, 1).view(-1)
    if noise is None:
        noise = torch.randn(pi.size(0))
    rows = torch.arange(pi.size(0))
    return mu[rows, k].detach() + sigma[rows, k].detach() * noise, sigma[rows, k].detach(), mu[rows, k].detach()


def make_mdn(kind):
    if kind == "hardmaru":
        return MDNet(20, 5)
    return nn.Sequential(nn.Linear(1, 20), nn.Tanh(), MDN(20, 1, 5, log_pi=kind == "stable", elu_sigma=kind == "elu"))


def train_mdn(model, kind, x, y, steps=40, lr=0.01, batch_size=100, clip=5.0):
    """Adam on minibatches in order; the loss each step, the gradient norm clip_grad_norm_ saw, final params."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = {"hardmaru": mdn_loss_fn, "stable": mdn_loss_stable}.get(kind, mdn_loss)
    log = {"loss": [], "norm": []}
    n = x.size(0)
    for step in range(steps):
        start = (step * batch_size) % n
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        pi, sigma, mu = model(xb)
        loss = loss_fn(pi, sigma, mu, yb)
        optimizer.zero_grad()
        loss.backward()
        log["norm"].append(float(nn.utils.clip_grad_norm_(model.parameters(), clip)))
        optimizer.step()
        log["loss"].append(loss.item())
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    return log


def draw(model, kind, x, picks=None, noise=None):
    """Draws at ``x`` (B, 1): with the components ``picks`` (B,) and ``noise`` given, or the library's own."""
    with torch.no_grad():
        pi, sigma, mu = model(x)
        if kind == "hardmaru":
            return sample_multinomial(pi, sigma, mu, picks, noise)
        if kind == "stable":
            pi = pi.exp()
        return sample(pi, sigma, mu, picks, noise)
