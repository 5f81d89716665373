# ruff: noqa: A001, A002, B007, E501, F841, I001, RUF059, UP004, UP008, UP031 - the repositories' own names, lines and spellings
"""MAML as dragen1860/MAML-Pytorch writes it (learner.py's functional ``Learner``, meta.py's ``Meta`` with its
``forward`` and ``finetunning``, omniglot_train.py's loop) and as cbfinn/maml's PyTorch ports write the sinusoid
regression (the ``DataGenerator``'s amplitude / phase draws, inputa / inputb splits, MSE inner loops), shrunk to
tiny sizes on synthetic numpy data.

- ``Learner``: a config list of ('conv2d' / 'convt2d' / 'linear' / 'bn' / 'relu' / 'leakyrelu' / 'tanh' /
  'sigmoid' / 'max_pool2d' / 'avg_pool2d' / 'upsample' / 'flatten' / 'reshape', param) built into
  an ``nn.ParameterList`` of kaiming_normal_ weights and zero biases, the BatchNorm running statistics held as
  ``requires_grad=False`` Parameters in ``vars_bn``; ``forward(x, vars=None, bn_training=True)`` runs ``F.conv2d`` /
  ``F.conv_transpose2d`` / ``F.linear`` / ``F.batch_norm(training=bn_training)`` (the running statistics passed in
  and updated) / ``F.relu(inplace=True)`` / ``F.leaky_relu`` / ``F.max_pool2d`` / ``F.avg_pool2d`` /
  ``F.upsample_nearest`` / ``view`` on the given list of fast weights; its own ``zero_grad`` and ``parameters``.
  ``omniglot_config`` is the conv -> relu -> bn -> max_pool network; ``layers_config`` runs the other layer kinds.
- ``Meta``: per task, the support loss's ``torch.autograd.grad`` over the net's parameters (``create_graph=True``
  for second order; the first-order variant takes detached grads without a graph), the fast weights by
  ``list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, ...)))``, the query losses and accuracies
  (``softmax(...).argmax`` + ``torch.eq(...).sum().item()``) before and after each inner step, the averaged last
  query loss through Adam's ``zero_grad`` / ``backward`` / ``step``; ``finetunning`` on a ``deepcopy`` of the net.
- ``OmniglotNShot``-like batches of tiny random "characters" (a prototype image per class plus noise, shuffled as
  the repo's loader shuffles) and omniglot_train.py's loop with its printed lines and the test-accuracy average.
- ``SinusoidGenerator`` / ``SinusoidMAML`` / ``train_sinusoid``: cbfinn's sinusoid task as the ports write it, a
  1-40-40-1 ReLU ``Learner`` and ``F.mse_loss``, the meta-loss the sum of the last query losses over the meta-batch
  size, ``stop_grad`` as the first-order variant, and a ``deepcopy`` test-time fine-tune reporting losses per step.

Changes for a tiny CPU run: sizes, ``device`` is the CPU, the loaders draw from numpy instead of reading images,
``self.log`` / ``history`` record what the test compares (the repo prints)."""

import argparse
from copy import deepcopy

import numpy as np
import torch
from torch import nn
from torch import optim
from torch.nn import functional as F


class Learner(nn.Module):
    """
    a functional net: its weights are a ParameterList, and forward runs on any list of weights of the same shapes
    """

    def __init__(self, config, imgc, imgsz):
        """
        :param config: network config file, type:list of (string, list)
        :param imgc: 1 or 3
        :param imgsz:  28 or 84
        """
        super(Learner, self).__init__()

        self.config = config

        # this dict contains all tensors needed to be optimized
        self.vars = nn.ParameterList()
        # running_mean and running_var
        self.vars_bn = nn.ParameterList()

        for i, (name, param) in enumerate(self.config):
            if name == 'conv2d':
                # [ch_out, ch_in, kernelsz, kernelsz]
                w = nn.Parameter(torch.ones(*param[:4]))
                # gain=1 according to cbfin's implementation
                torch.nn.init.kaiming_normal_(w)
                self.vars.append(w)
                # [ch_out]
                self.vars.append(nn.Parameter(torch.zeros(param[0])))

            elif name == 'convt2d':
                # [ch_in, ch_out, kernelsz, kernelsz, stride, padding]
                w = nn.Parameter(torch.ones(*param[:4]))
                # gain=1 according to cbfinn's implementation
                torch.nn.init.kaiming_normal_(w)
                self.vars.append(w)
                # [ch_in, ch_out]
                self.vars.append(nn.Parameter(torch.zeros(param[1])))

            elif name == 'linear':
                # [ch_out, ch_in]
                w = nn.Parameter(torch.ones(*param))
                # gain=1 according to cbfinn's implementation
                torch.nn.init.kaiming_normal_(w)
                self.vars.append(w)
                # [ch_out]
                self.vars.append(nn.Parameter(torch.zeros(param[0])))

            elif name == 'bn':
                # [ch_out]
                w = nn.Parameter(torch.ones(param[0]))
                self.vars.append(w)
                # [ch_out]
                self.vars.append(nn.Parameter(torch.zeros(param[0])))

                # must set requires_grad=False
                running_mean = nn.Parameter(torch.zeros(param[0]), requires_grad=False)
                running_var = nn.Parameter(torch.ones(param[0]), requires_grad=False)
                self.vars_bn.extend([running_mean, running_var])

            elif name in ['tanh', 'relu', 'upsample', 'avg_pool2d', 'max_pool2d',
                          'flatten', 'reshape', 'leakyrelu', 'sigmoid']:
                continue
            else:
                raise NotImplementedError

    def extra_repr(self):
        info = ''

        for name, param in self.config:
            if name == 'conv2d':
                tmp = 'conv2d:(ch_in:%d, ch_out:%d, k:%dx%d, stride:%d, padding:%d)' \
                      % (param[1], param[0], param[2], param[3], param[4], param[5],)
                info += tmp + '\n'

            elif name == 'convt2d':
                tmp = 'convTranspose2d:(ch_in:%d, ch_out:%d, k:%dx%d, stride:%d, padding:%d)' \
                      % (param[0], param[1], param[2], param[3], param[4], param[5],)
                info += tmp + '\n'

            elif name == 'linear':
                tmp = 'linear:(in:%d, out:%d)' % (param[1], param[0])
                info += tmp + '\n'
            elif name == 'leakyrelu':
                tmp = 'leakyrelu:(slope:%f)' % (param[0])
                info += tmp + '\n'

            elif name == 'avg_pool2d':
                tmp = 'avg_pool2d:(k:%d, stride:%d, padding:%d)' % (param[0], param[1], param[2])
                info += tmp + '\n'
            elif name == 'max_pool2d':
                tmp = 'max_pool2d:(k:%d, stride:%d, padding:%d)' % (param[0], param[1], param[2])
                info += tmp + '\n'
            elif name in ['flatten', 'tanh', 'relu', 'upsample', 'reshape', 'sigmoid', 'use_logits', 'bn']:
                tmp = name + ':' + str(tuple(param))
                info += tmp + '\n'
            else:
                raise NotImplementedError

        return info

    def forward(self, x, vars=None, bn_training=True):
        """
        This function can be called by finetunning, however, in finetunning, we dont wish to update
        running_mean/running_var. Thought weights/bias of bn is updated, it has been separated by fast_weights.
        Indeed, to not update running_mean/running_var, we need set update_bn_statistics=False
        but weight/bias will be updated and not dirty initial theta parameters via fast_weiths.
        :param x: [b, 1, 28, 28]
        :param vars:
        :param bn_training: set False to not update
        :return: x, loss, likelihood, kld
        """

        if vars is None:
            vars = self.vars

        idx = 0
        bn_idx = 0

        for name, param in self.config:
            if name == 'conv2d':
                w, b = vars[idx], vars[idx + 1]
                # remember to keep synchrozied of forward_encoder and forward_decoder!
                x = F.conv2d(x, w, b, stride=param[4], padding=param[5])
                idx += 2
                # print(name, param, '\tout:', x.shape)
            elif name == 'convt2d':
                w, b = vars[idx], vars[idx + 1]
                x = F.conv_transpose2d(x, w, b, stride=param[4], padding=param[5])
                idx += 2
                # print(name, param, '\tout:', x.shape)
            elif name == 'linear':
                w, b = vars[idx], vars[idx + 1]
                x = F.linear(x, w, b)
                idx += 2
                # print('forward:', idx, x.norm().item())
            elif name == 'bn':
                w, b = vars[idx], vars[idx + 1]
                running_mean, running_var = self.vars_bn[bn_idx], self.vars_bn[bn_idx+1]
                x = F.batch_norm(x, running_mean, running_var, weight=w, bias=b, training=bn_training)
                idx += 2
                bn_idx += 2

            elif name == 'flatten':
                # print(x.shape)
                x = x.view(x.size(0), -1)
            elif name == 'reshape':
                # [b, 8] => [b, 2, 2, 2]
                x = x.view(x.size(0), *param)
            elif name == 'relu':
                x = F.relu(x, inplace=param[0])
            elif name == 'leakyrelu':
                x = F.leaky_relu(x, negative_slope=param[0], inplace=param[1])
            elif name == 'tanh':
                x = F.tanh(x)
            elif name == 'sigmoid':
                x = torch.sigmoid(x)
            elif name == 'upsample':
                x = F.upsample_nearest(x, scale_factor=param[0])
            elif name == 'max_pool2d':
                x = F.max_pool2d(x, param[0], param[1], param[2])
            elif name == 'avg_pool2d':
                x = F.avg_pool2d(x, param[0], param[1], param[2])

            else:
                raise NotImplementedError

        # make sure variable is used properly
        assert idx == len(vars)
        assert bn_idx == len(self.vars_bn)

        return x

    def zero_grad(self, vars=None):
        """

        :param vars:
        :return:
        """
        with torch.no_grad():
            if vars is None:
                for p in self.vars:
                    if p.grad is not None:
                        p.grad.zero_()
            else:
                for p in vars:
                    if p.grad is not None:
                        p.grad.zero_()

    def parameters(self):
        """
        override this function since initial parameters will return with a generator.
        :return:
        """
        return self.vars


class Meta(nn.Module):
    """
    Meta Learner
    """
    def __init__(self, args, config):
        """

        :param args:
        """
        super(Meta, self).__init__()

        self.update_lr = args.update_lr
        self.meta_lr = args.meta_lr
        self.n_way = args.n_way
        self.k_spt = args.k_spt
        self.k_qry = args.k_qry
        self.task_num = args.task_num
        self.update_step = args.update_step
        self.update_step_test = args.update_step_test
        self.first_order = args.first_order

        self.net = Learner(config, args.imgc, args.imgsz)
        self.meta_optim = optim.Adam(self.net.parameters(), lr=self.meta_lr)
        self.log = []  # our addition: the query losses of each meta-step

    def clip_grad_by_norm_(self, grad, max_norm):
        """
        in-place gradient clipping.
        :param grad: list of gradients
        :param max_norm: maximum norm allowable
        :return:
        """

        total_norm = 0
        counter = 0
        for g in grad:
            param_norm = g.data.norm(2)
            total_norm += param_norm.item() ** 2
            counter += 1
        total_norm = total_norm ** (1. / 2)

        clip_coef = max_norm / (total_norm + 1e-6)
        if clip_coef < 1:
            for g in grad:
                g.data.mul_(clip_coef)

        return total_norm/counter

    def inner_grad(self, loss, weights):
        """The support loss's gradient: through a graph for second order, detached for first order."""
        if self.first_order:
            grad = torch.autograd.grad(loss, weights, create_graph=False)
            return [g.detach() for g in grad]
        return torch.autograd.grad(loss, weights, create_graph=True)

    def forward(self, x_spt, y_spt, x_qry, y_qry):
        """

        :param x_spt:   [b, setsz, c_, h, w]
        :param y_spt:   [b, setsz]
        :param x_qry:   [b, querysz, c_, h, w]
        :param y_qry:   [b, querysz]
        :return:
        """
        task_num, setsz, c_, h, w = x_spt.size()
        querysz = x_qry.size(1)

        losses_q = [0 for _ in range(self.update_step + 1)]  # losses_q[i] is the loss on step i
        corrects = [0 for _ in range(self.update_step + 1)]

        for i in range(task_num):

            # 1. run the i-th task and compute loss for k=0
            logits = self.net(x_spt[i], vars=None, bn_training=True)
            loss = F.cross_entropy(logits, y_spt[i])
            grad = self.inner_grad(loss, self.net.parameters())
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, self.net.parameters())))

            # this is the loss and accuracy before first update
            with torch.no_grad():
                # [setsz, nway]
                logits_q = self.net(x_qry[i], self.net.parameters(), bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[0] += loss_q

                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                correct = torch.eq(pred_q, y_qry[i]).sum().item()
                corrects[0] = corrects[0] + correct

            # this is the loss and accuracy after the first update
            with torch.no_grad():
                # [setsz, nway]
                logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[1] += loss_q
                # [setsz]
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                correct = torch.eq(pred_q, y_qry[i]).sum().item()
                corrects[1] = corrects[1] + correct

            for k in range(1, self.update_step):
                # 1. run the i-th task and compute loss for k=1~K-1
                logits = self.net(x_spt[i], fast_weights, bn_training=True)
                loss = F.cross_entropy(logits, y_spt[i])
                # 2. compute grad on theta_pi
                grad = self.inner_grad(loss, fast_weights)
                # 3. theta_pi = theta_pi - train_lr * grad
                fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, fast_weights)))

                logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
                # loss_q will be overwritten and just keep the loss_q on last update step.
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[k + 1] += loss_q

                with torch.no_grad():
                    pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                    correct = torch.eq(pred_q, y_qry[i]).sum().item()  # convert to numpy
                    corrects[k + 1] = corrects[k + 1] + correct

        # end of all tasks
        # sum over all losses on query set across all tasks
        loss_q = losses_q[-1] / task_num

        # optimize theta parameters
        self.meta_optim.zero_grad()
        loss_q.backward()
        # print('meta update')
        # for p in self.net.parameters()[:5]:
        # 	print(torch.norm(p).item())
        self.meta_optim.step()

        self.log.append([l.item() / task_num for l in losses_q])
        accs = np.array(corrects) / (querysz * task_num)

        return accs

    def finetunning(self, x_spt, y_spt, x_qry, y_qry):
        """

        :param x_spt:   [setsz, c_, h, w]
        :param y_spt:   [setsz]
        :param x_qry:   [querysz, c_, h, w]
        :param y_qry:   [querysz]
        :return:
        """
        assert len(x_spt.shape) == 4

        querysz = x_qry.size(0)

        corrects = [0 for _ in range(self.update_step_test + 1)]

        # in order to not ruin the state of running_mean/variance and bn_weight/bias
        # we finetunning on the copied model instead of self.net
        net = deepcopy(self.net)

        # 1. run the i-th task and compute loss for k=0
        logits = net(x_spt)
        loss = F.cross_entropy(logits, y_spt)
        grad = torch.autograd.grad(loss, net.parameters())
        fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, net.parameters())))

        # this is the loss and accuracy before first update
        with torch.no_grad():
            # [setsz, nway]
            logits_q = net(x_qry, net.parameters(), bn_training=True)
            # [setsz]
            pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
            # scalar
            correct = torch.eq(pred_q, y_qry).sum().item()
            corrects[0] = corrects[0] + correct

        # this is the loss and accuracy after the first update
        with torch.no_grad():
            # [setsz, nway]
            logits_q = net(x_qry, fast_weights, bn_training=True)
            # [setsz]
            pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
            # scalar
            correct = torch.eq(pred_q, y_qry).sum().item()
            corrects[1] = corrects[1] + correct

        for k in range(1, self.update_step_test):
            # 1. run the i-th task and compute loss for k=1~K-1
            logits = net(x_spt, fast_weights, bn_training=True)
            loss = F.cross_entropy(logits, y_spt)
            # 2. compute grad on theta_pi
            grad = torch.autograd.grad(loss, fast_weights)
            # 3. theta_pi = theta_pi - train_lr * grad
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, fast_weights)))

            logits_q = net(x_qry, fast_weights, bn_training=True)
            # loss_q will be overwritten and just keep the loss_q on last update step.
            loss_q = F.cross_entropy(logits_q, y_qry)

            with torch.no_grad():
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                correct = torch.eq(pred_q, y_qry).sum().item()  # convert to numpy
                corrects[k + 1] = corrects[k + 1] + correct

        del net

        accs = np.array(corrects) / querysz

        return accs


class OmniglotNShot:
    """N-way K-shot batches of tiny random "characters": each class a prototype image, each sample it plus noise."""

    def __init__(self, batchsz, n_way, k_shot, k_query, imgsz, n_cls=12, seed=0):
        rng = np.random.RandomState(seed)
        self.x_train = (rng.rand(n_cls, imgsz, imgsz) > 0.6).astype(np.float32)
        self.batchsz = batchsz
        self.n_cls = n_cls
        self.n_way = n_way  # n way
        self.k_shot = k_shot  # k shot
        self.k_query = k_query  # k query
        self.resize = imgsz
        self.rng = rng

    def load_data_cache(self):
        """
        Collects several batches data for N-shot learning
        :return: A list with [support_set_x, support_set_y, target_x, target_y] ready to be fed to our networks
        """
        setsz = self.k_shot * self.n_way
        querysz = self.k_query * self.n_way
        x_spts, y_spts, x_qrys, y_qrys = [], [], [], []
        for i in range(self.batchsz):  # one batch means one set

            x_spt, y_spt, x_qry, y_qry = [], [], [], []
            selected_cls = np.random.choice(self.n_cls, self.n_way, False)

            for j, cur_class in enumerate(selected_cls):
                noise = 0.3 * np.random.randn(self.k_shot + self.k_query, self.resize, self.resize)
                imgs = (self.x_train[cur_class] + noise).astype(np.float32)
                # meta-training and meta-test
                x_spt.append(imgs[:self.k_shot])
                x_qry.append(imgs[self.k_shot:])
                y_spt.append([j for _ in range(self.k_shot)])
                y_qry.append([j for _ in range(self.k_query)])

            # shuffle inside a batch
            perm = np.random.permutation(self.n_way * self.k_shot)
            x_spt = np.array(x_spt).reshape(self.n_way * self.k_shot, 1, self.resize, self.resize)[perm]
            y_spt = np.array(y_spt).reshape(self.n_way * self.k_shot)[perm]
            perm = np.random.permutation(self.n_way * self.k_query)
            x_qry = np.array(x_qry).reshape(self.n_way * self.k_query, 1, self.resize, self.resize)[perm]
            y_qry = np.array(y_qry).reshape(self.n_way * self.k_query)[perm]

            # append [sptsz, 1, 84, 84] => [b, setsz, 1, 84, 84]
            x_spts.append(x_spt)
            y_spts.append(y_spt)
            x_qrys.append(x_qry)
            y_qrys.append(y_qry)

        # [b, setsz, 1, 84, 84]
        x_spts = np.array(x_spts).astype(np.float32).reshape(self.batchsz, setsz, 1, self.resize, self.resize)
        y_spts = np.array(y_spts).astype(int).reshape(self.batchsz, setsz)
        # [b, qrysz, 1, 84, 84]
        x_qrys = np.array(x_qrys).astype(np.float32).reshape(self.batchsz, querysz, 1, self.resize, self.resize)
        y_qrys = np.array(y_qrys).astype(int).reshape(self.batchsz, querysz)

        return [x_spts, y_spts, x_qrys, y_qrys]

    def next(self, mode='train'):
        """
        Gets next batch from the dataset with name.
        :param mode: The name of the splitting (one of "train", "val", "test")
        :return:
        """
        return self.load_data_cache()


def omniglot_config(n_way, imgc=1, imgsz=8):
    """meta.py's conv -> relu -> bn -> max_pool blocks (the miniImagenet spelling), two of them, and a linear head."""
    return [
        ('conv2d', [4, imgc, 3, 3, 1, 1]),
        ('relu', [True]),
        ('bn', [4]),
        ('max_pool2d', [2, 2, 0]),
        ('conv2d', [4, 4, 3, 3, 1, 1]),
        ('relu', [True]),
        ('bn', [4]),
        ('max_pool2d', [2, 2, 0]),
        ('flatten', []),
        ('linear', [n_way, 4 * (imgsz // 4) * (imgsz // 4)])
    ]


def layers_config(n_way, imgc=1, imgsz=8):
    """The Learner's other layer kinds: a strided conv, leakyrelu in place, bn, a transposed conv back to imgsz,
    tanh, avg_pool2d, upsample, max_pool2d, sigmoid, a reshape round trip and the head."""
    return [
        ('conv2d', [4, imgc, 3, 3, 2, 1]),
        ('leakyrelu', [0.2, True]),
        ('bn', [4]),
        ('convt2d', [4, 2, 2, 2, 2, 0]),
        ('tanh', []),
        ('avg_pool2d', [2, 2, 0]),
        ('upsample', [2]),
        ('max_pool2d', [2, 2, 0]),
        ('sigmoid', []),
        ('flatten', []),
        ('reshape', [2, imgsz // 2, imgsz // 2]),
        ('flatten', []),
        ('linear', [n_way, 2 * (imgsz // 2) * (imgsz // 2)])
    ]


argparser = argparse.ArgumentParser()
argparser.add_argument('--epoch', type=int, help='epoch number', default=40000)
argparser.add_argument('--n_way', type=int, help='n way', default=5)
argparser.add_argument('--k_spt', type=int, help='k shot for support set', default=1)
argparser.add_argument('--k_qry', type=int, help='k shot for query set', default=15)
argparser.add_argument('--imgsz', type=int, help='imgsz', default=28)
argparser.add_argument('--imgc', type=int, help='imgc', default=1)
argparser.add_argument('--task_num', type=int, help='meta batch size, namely task num', default=32)
argparser.add_argument('--meta_lr', type=float, help='meta-level outer learning rate', default=1e-3)
argparser.add_argument('--update_lr', type=float, help='task-level inner update learning rate', default=0.4)
argparser.add_argument('--update_step', type=int, help='task-level inner update steps', default=5)
argparser.add_argument('--update_step_test', type=int, help='update steps for finetunning', default=10)
argparser.add_argument('--first_order', action='store_true', help='detached inner gradients (FOMAML)')
argparser.add_argument('--print_every', type=int, default=50)
argparser.add_argument('--test_every', type=int, default=500)
argparser.add_argument('--test_tasks', type=int, default=1000)


def make_meta(argv, config=omniglot_config):
    """The Meta learner omniglot_train.py builds from its args and config."""
    args = argparser.parse_args(argv)
    return Meta(args, config(args.n_way, args.imgc, args.imgsz))


def omniglot_main(argv, maml, history):
    """omniglot_train.py's loop: meta-train on db_train.next(), print every print_every steps, and every
    test_every steps average finetunning's accuracies over test_tasks tasks."""
    args = argparser.parse_args(argv)

    device = torch.device('cpu')
    maml = maml.to(device)

    tmp = filter(lambda x: x.requires_grad, maml.parameters())
    num = sum(map(lambda x: np.prod(x.shape), tmp))
    print(maml)
    print('Total trainable tensors:', num)
    history['num'] = int(num)

    db_train = OmniglotNShot(batchsz=args.task_num, n_way=args.n_way, k_shot=args.k_spt, k_query=args.k_qry,
                             imgsz=args.imgsz)

    for step in range(args.epoch):

        x_spt, y_spt, x_qry, y_qry = db_train.next()
        x_spt, y_spt, x_qry, y_qry = torch.from_numpy(x_spt).to(device), torch.from_numpy(y_spt).to(device), \
                                     torch.from_numpy(x_qry).to(device), torch.from_numpy(y_qry).to(device)

        # set traning=True to update running_mean, running_variance, bn_weights, bn_bias
        accs = maml(x_spt, y_spt, x_qry, y_qry)
        history['accs'].append(accs.tolist())
        history['grads'].append([p.grad.numpy().copy() for p in maml.net.parameters()])
        history['params'].append([p.detach().numpy().copy() for p in maml.net.parameters()])
        history['bn'].append([p.detach().numpy().copy() for p in maml.net.vars_bn])

        if step % args.print_every == 0:
            print('step:', step, '\ttraining acc:', accs)

        if step % args.test_every == 0:
            accs = []
            for _ in range(args.test_tasks // args.task_num):
                # test
                x_spt, y_spt, x_qry, y_qry = db_train.next('test')
                x_spt, y_spt, x_qry, y_qry = torch.from_numpy(x_spt).to(device), torch.from_numpy(y_spt).to(device), \
                                             torch.from_numpy(x_qry).to(device), torch.from_numpy(y_qry).to(device)

                # split to single task each time
                for x_spt_one, y_spt_one, x_qry_one, y_qry_one in zip(x_spt, y_spt, x_qry, y_qry):
                    test_acc = maml.finetunning(x_spt_one, y_spt_one, x_qry_one, y_qry_one)
                    accs.append( test_acc )

            # [b, update_step+1]
            accs = np.array(accs).mean(axis=0).astype(np.float16)
            print('Test acc:', accs)
            history['test_accs'].append(accs.tolist())
    history['losses'] = maml.log
    return maml


class SinusoidGenerator(object):
    """
    cbfinn/maml's DataGenerator for the sinusoid task
    """
    def __init__(self, num_samples_per_class, batch_size):
        self.batch_size = batch_size
        self.num_samples_per_class = num_samples_per_class
        self.amp_range = [0.1, 5.0]
        self.phase_range = [0, np.pi]
        self.input_range = [-5.0, 5.0]
        self.dim_input = 1
        self.dim_output = 1

    def generate_sinusoid_batch(self, train=True, input_idx=None):
        # Note train arg is not used (but it is used for omniglot method.
        # input_idx is used during qualitative testing --the number of examples used for the grad update
        amp = np.random.uniform(self.amp_range[0], self.amp_range[1], [self.batch_size])
        phase = np.random.uniform(self.phase_range[0], self.phase_range[1], [self.batch_size])
        outputs = np.zeros([self.batch_size, self.num_samples_per_class, self.dim_output])
        init_inputs = np.zeros([self.batch_size, self.num_samples_per_class, self.dim_input])
        for func in range(self.batch_size):
            init_inputs[func] = np.random.uniform(self.input_range[0], self.input_range[1], [self.num_samples_per_class, 1])
            if input_idx is not None:
                init_inputs[:, input_idx:, 0] = np.linspace(self.input_range[0], self.input_range[1], num=self.num_samples_per_class - input_idx, retstep=False)
            outputs[func] = amp[func] * np.sin(init_inputs[func] - phase[func])
        return init_inputs, outputs, amp, phase


class SinusoidMAML(nn.Module):
    """cbfinn's MAML on the sinusoid as the PyTorch ports write it: a Learner MLP, MSE inner steps on inputa, the
    query losses on inputb after each, Adam on the sum of the last ones over the meta-batch size."""

    def __init__(self, dim_hidden=40, update_lr=0.01, meta_lr=1e-3, num_updates=1, stop_grad=False):
        super(SinusoidMAML, self).__init__()
        config = [
            ('linear', [dim_hidden, 1]),
            ('relu', [True]),
            ('linear', [dim_hidden, dim_hidden]),
            ('relu', [True]),
            ('linear', [1, dim_hidden]),
        ]
        self.net = Learner(config, 1, 1)
        self.update_lr = update_lr
        self.num_updates = num_updates
        self.stop_grad = stop_grad
        self.meta_optim = optim.Adam(self.net.parameters(), lr=meta_lr)

    def task_metalearn(self, inputa, labela, inputb, labelb, num_updates):
        """One task: the pre-update query loss, then num_updates inner steps each followed by the query loss."""
        weights = list(self.net.parameters())
        lossesb = [F.mse_loss(self.net(inputb, weights), labelb)]
        fast_weights = weights
        for j in range(num_updates):
            loss = F.mse_loss(self.net(inputa, fast_weights), labela)
            grads = torch.autograd.grad(loss, fast_weights, create_graph=not self.stop_grad)
            if self.stop_grad:
                grads = [grad.detach() for grad in grads]
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grads, fast_weights)))
            lossesb.append(F.mse_loss(self.net(inputb, fast_weights), labelb))
        return lossesb

    def forward(self, inputa, labela, inputb, labelb):
        meta_batch_size = inputa.size(0)
        total_losses = [0 for _ in range(self.num_updates + 1)]
        for i in range(meta_batch_size):
            lossesb = self.task_metalearn(inputa[i], labela[i], inputb[i], labelb[i], self.num_updates)
            for j in range(self.num_updates + 1):
                total_losses[j] = total_losses[j] + lossesb[j]
        total_losses = [l / meta_batch_size for l in total_losses]
        self.meta_optim.zero_grad()
        total_losses[-1].backward()
        self.meta_optim.step()
        return [l.item() for l in total_losses]

    def test(self, inputa, labela, inputb, labelb, num_updates):
        """Test time: a deepcopy of the net adapted for num_updates steps without a graph; the query losses."""
        net = deepcopy(self.net)
        fast_weights = list(net.parameters())
        losses = []
        for j in range(num_updates):
            with torch.no_grad():
                losses.append(F.mse_loss(net(inputb, fast_weights), labelb).item())
            loss = F.mse_loss(net(inputa, fast_weights), labela)
            grads = torch.autograd.grad(loss, fast_weights)
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grads, fast_weights)))
        with torch.no_grad():
            losses.append(F.mse_loss(net(inputb, fast_weights), labelb).item())
        return losses


def train_sinusoid(model, iterations, update_batch_size, meta_batch_size, history, test_updates=3):
    """cbfinn's main.py train loop on the sinusoid: K support points (inputa) and K query points (inputb) per
    function, a meta-step per batch, then a test batch adapted for test_updates steps."""
    data_generator = SinusoidGenerator(update_batch_size * 2, meta_batch_size)
    for itr in range(iterations):
        batch_x, batch_y, amp, phase = data_generator.generate_sinusoid_batch()
        inputa = torch.from_numpy(batch_x[:, :update_batch_size, :]).float()
        labela = torch.from_numpy(batch_y[:, :update_batch_size, :]).float()
        inputb = torch.from_numpy(batch_x[:, update_batch_size:, :]).float()
        labelb = torch.from_numpy(batch_y[:, update_batch_size:, :]).float()
        losses = model(inputa, labela, inputb, labelb)
        history['losses'].append(losses)
        history['grads'].append([p.grad.numpy().copy() for p in model.net.parameters()])
        history['params'].append([p.detach().numpy().copy() for p in model.net.parameters()])
        print('Iteration ' + str(itr) + ': ' + str(np.mean(losses[0])) + ', ' + str(np.mean(losses[-1])))
    batch_x, batch_y, amp, phase = data_generator.generate_sinusoid_batch(train=False, input_idx=update_batch_size)
    inputa = torch.from_numpy(batch_x[0, :update_batch_size, :]).float()
    labela = torch.from_numpy(batch_y[0, :update_batch_size, :]).float()
    inputb = torch.from_numpy(batch_x[0, update_batch_size:, :]).float()
    labelb = torch.from_numpy(batch_y[0, update_batch_size:, :]).float()
    history['test'] = model.test(inputa, labela, inputb, labelb, test_updates)
    return model
