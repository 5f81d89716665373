"""guoyang9/NCF (Neural Collaborative Filtering, He et al.) as its PyTorch code writes it, shrunk to tiny sizes on
synthetic numpy implicit feedback: config.py's settings as a namespace, data_utils.py's ``load_all`` (a scipy
``dok_matrix`` of train pairs) and ``NCFData`` with ``ng_sample`` drawing negatives by ``np.random.randint``,
model.py's ``NCF`` (GMF / MLP / NeuMF-end / NeuMF-pre: the GMF and MLP embedding tables, the Dropout + Linear + ReLU
tower in ``nn.Sequential(*MLP_modules)``, ``torch.cat((output_GMF, output_MLP), -1)``, ``_init_weight_``'s normal /
xavier / kaiming(a=1, sigmoid) init and zeroed biases, or the copy of pretrained GMF / MLP weights with the
0.5-weighted predict layer), evaluate.py's ``hit`` / ``ndcg`` / ``metrics`` by ``torch.topk`` + ``torch.take``, and
main.py's loop (BCEWithLogitsLoss, Adam or SGD for NeuMF-pre, negatives resampled each epoch, the HR / NDCG line,
the best epoch saved and the pretrained models read back for NeuMF-pre). One change from guoyang9: the models are
saved as state dicts (``torch.save(model.state_dict(), ...)`` / ``load_state_dict(torch.load(...))``) where it
pickles the whole module, which torch 2.13's ``weights_only=True`` default refuses to load (ours too)."""

import os
import types

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data as data

# ------------------------------------------------------------------------------------------------ config.py

config = types.SimpleNamespace(
    dataset='synthetic', model='NeuMF-end', model_path='./models/',
    lr=0.001, dropout=0.0, batch_size=32, epochs=2, top_k=10, factor_num=8, num_layers=3,
    num_ng=2, test_num_ng=19, out=True)


# -------------------------------------------------------------------------------------------- data_utils.py

def make_ratings(user_num=12, item_num=36, per_user=7, test_num_ng=19, seed=3):
    """Synthetic implicit feedback in the layout of NCF's files: the train pairs, and per user the held-out positive
    followed by ``test_num_ng`` items the user never saw."""
    rng = np.random.RandomState(seed)
    train, test = [], []
    for u in range(user_num):
        block = (u % 3) * (item_num // 3)
        items = rng.choice(item_num // 3, per_user, replace=False) + block
        train += [[u, int(i)] for i in items[:-1]]
        unseen = np.setdiff1d(np.arange(item_num), items)
        test.append(([u, int(items[-1])], [int(j) for j in rng.choice(unseen, test_num_ng, replace=False)]))
    return train, test


def load_all(ratings, test_num=100):
    """ We load all the three file here to save time in each epoch. """
    train, test = ratings
    train_data = [list(x) for x in train]
    user_num = max(x[0] for x in train_data) + 1
    item_num = max(max(x[1] for x in train_data), max(j for _, negs in test for j in negs)) + 1

    # load ratings as a dok matrix
    train_mat = sp.dok_matrix((user_num, item_num), dtype=np.float32)
    for x in train_data:
        train_mat[x[0], x[1]] = 1.0

    test_data = []
    for (u, i), negs in test:
        test_data.append([u, i])
        for j in negs:
            test_data.append([u, j])
    return train_data, test_data, user_num, item_num, train_mat


class NCFData(data.Dataset):
    def __init__(self, features, num_item, train_mat=None, num_ng=0, is_training=None):
        super(NCFData, self).__init__()  # noqa: UP008
        """ Note that the labels are only useful when training, we thus
            add them in the ng_sample() function.
        """
        self.features_ps = features
        self.num_item = num_item
        self.train_mat = train_mat
        self.num_ng = num_ng
        self.is_training = is_training
        self.labels = [0 for _ in range(len(features))]

    def ng_sample(self):
        assert self.is_training, 'no need to sampling when testing'

        self.features_ng = []
        for x in self.features_ps:
            u = x[0]
            for t in range(self.num_ng):  # noqa: B007
                j = np.random.randint(self.num_item)
                while (u, j) in self.train_mat:
                    j = np.random.randint(self.num_item)
                self.features_ng.append([u, j])

        labels_ps = [1 for _ in range(len(self.features_ps))]
        labels_ng = [0 for _ in range(len(self.features_ng))]

        self.features_fill = self.features_ps + self.features_ng
        self.labels_fill = labels_ps + labels_ng

    def __len__(self):
        return (self.num_ng + 1) * len(self.labels)

    def __getitem__(self, idx):
        features = self.features_fill if self.is_training else self.features_ps
        labels = self.labels_fill if self.is_training else self.labels

        user = features[idx][0]
        item = features[idx][1]
        label = labels[idx]
        return user, item, label


# ------------------------------------------------------------------------------------------------- model.py

class NCF(nn.Module):
    def __init__(self, user_num, item_num, factor_num, num_layers, dropout, model, GMF_model=None, MLP_model=None):
        super(NCF, self).__init__()  # noqa: UP008
        """
        user_num: number of users;
        item_num: number of items;
        factor_num: number of predictive factors;
        num_layers: the number of layers in MLP model;
        dropout: dropout rate between fully connected layers;
        model: 'MLP', 'GMF', 'NeuMF-end', and 'NeuMF-pre';
        GMF_model: pre-trained GMF weights;
        MLP_model: pre-trained MLP weights.
        """
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

        if self.model in ['MLP', 'GMF']:  # noqa: SIM108 - guoyang9's spelling
            predict_size = factor_num
        else:
            predict_size = factor_num * 2
        self.predict_layer = nn.Linear(predict_size, 1)

        self._init_weight_()

    def _init_weight_(self):
        """ We leave the weights initialization here. """
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
            # embedding layers
            self.embed_user_GMF.weight.data.copy_(self.GMF_model.embed_user_GMF.weight)
            self.embed_item_GMF.weight.data.copy_(self.GMF_model.embed_item_GMF.weight)
            self.embed_user_MLP.weight.data.copy_(self.MLP_model.embed_user_MLP.weight)
            self.embed_item_MLP.weight.data.copy_(self.MLP_model.embed_item_MLP.weight)

            # mlp layers
            for (m1, m2) in zip(self.MLP_layers, self.MLP_model.MLP_layers):
                if isinstance(m1, nn.Linear) and isinstance(m2, nn.Linear):
                    m1.weight.data.copy_(m2.weight)
                    m1.bias.data.copy_(m2.bias)

            # predict layers
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


# ---------------------------------------------------------------------------------------------- evaluate.py

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
    HR, NDCG = [], []

    for user, item, label in test_loader:  # noqa: B007
        predictions = model(user, item)
        _, indices = torch.topk(predictions, top_k)
        recommends = torch.take(item, indices).cpu().numpy().tolist()

        gt_item = item[0].item()
        HR.append(hit(gt_item, recommends))
        NDCG.append(ndcg(gt_item, recommends))

    return np.mean(HR), np.mean(NDCG)


# -------------------------------------------------------------------------------------------------- main.py

def build_model(user_num, item_num, model_name=None):
    """main.py's model choice: NeuMF-pre reads the pretrained GMF and MLP saved by earlier runs."""
    model_name = model_name or config.model
    if model_name == 'NeuMF-pre':
        GMF_model_path = config.model_path + 'GMF.pth'
        MLP_model_path = config.model_path + 'MLP.pth'
        assert os.path.exists(GMF_model_path), 'lack of GMF model'
        assert os.path.exists(MLP_model_path), 'lack of MLP model'
        GMF_model = NCF(user_num, item_num, config.factor_num, config.num_layers, config.dropout, 'GMF')
        MLP_model = NCF(user_num, item_num, config.factor_num, config.num_layers, config.dropout, 'MLP')
        GMF_model.load_state_dict(torch.load(GMF_model_path))
        MLP_model.load_state_dict(torch.load(MLP_model_path))
    else:
        GMF_model = None
        MLP_model = None
    return NCF(user_num, item_num, config.factor_num, config.num_layers, config.dropout, model_name,
               GMF_model, MLP_model)


def main(ratings, model, history=None, log=print):
    """main.py after the model is built: the loaders, the loss and optimizer, the epochs with their evaluation, and
    the best model's state dict saved. ``history`` collects each step's loss, gradient norm and parameters."""
    history = {} if history is None else history
    train_data, test_data, user_num, item_num, train_mat = load_all(ratings)  # noqa: RUF059
    train_dataset = NCFData(train_data, item_num, train_mat, config.num_ng, True)
    test_dataset = NCFData(test_data, item_num, train_mat, 0, False)
    train_loader = data.DataLoader(train_dataset, batch_size=config.batch_size, shuffle=False, num_workers=0)
    test_loader = data.DataLoader(test_dataset, batch_size=config.test_num_ng + 1, shuffle=False, num_workers=0)

    loss_function = nn.BCEWithLogitsLoss()
    if config.model == 'NeuMF-pre':
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
    else:
        optimizer = optim.Adam(model.parameters(), lr=config.lr)

    count, best_hr = 0, 0
    for epoch in range(config.epochs):
        model.train()  # Enable dropout (if have).
        train_loader.dataset.ng_sample()

        for user, item, label in train_loader:
            label = label.float()

            model.zero_grad()
            prediction = model(user, item)
            loss = loss_function(prediction, label)
            loss.backward()
            optimizer.step()
            history.setdefault("loss", []).append(loss.item())
            history.setdefault("grad_norm", []).append(
                torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item())
            history.setdefault("params", []).append(
                {k: v.detach().numpy().copy() for k, v in model.named_parameters()})
            count += 1

        model.eval()
        HR, NDCG = metrics(model, test_loader, config.top_k)
        history.setdefault("HR", []).append(HR)
        history.setdefault("NDCG", []).append(NDCG)

        log("Epoch {:03d}, step {}".format(epoch, count))  # noqa: UP032
        log("HR: {:.3f}\tNDCG: {:.3f}".format(np.mean(HR), np.mean(NDCG)))  # noqa: UP032

        if HR > best_hr:  # noqa: SIM300 - guoyang9's spelling
            best_hr, best_ndcg, best_epoch = HR, NDCG, epoch
            if config.out:
                if not os.path.exists(config.model_path):
                    os.mkdir(config.model_path)
                torch.save(model.state_dict(), '{}{}.pth'.format(config.model_path, config.model))  # noqa: UP032

    if best_hr > 0:
        log("End. Best epoch {:03d}: HR = {:.3f}, NDCG = {:.3f}".format(best_epoch, best_hr, best_ndcg))  # noqa: UP032
    return history
