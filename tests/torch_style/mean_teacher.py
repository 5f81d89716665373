# ruff: noqa: A001, A002, B007, B011, UP008, UP031, UP032 - the repository's own names and spelling
"""CuriousAI's mean-teacher (pytorch/main.py, mean_teacher/losses.py, ramps.py, data.py, a small convnet / MLP from
architectures.py) as that repository writes it for torch 0.3 / 0.4, with its later ``.item()`` spelling, on synthetic
8x8 images: a student trained by SGD + Nesterov on the labelled cross-entropy plus a ramped-up consistency cost to
an EMA teacher fed a second noisy view of the same minibatch.

Inputs: images (N, 1, 8, 8) float32 with 4 classes; a minibatch holds ``batch_size - labeled_batch_size`` unlabelled
images (target ``NO_LABEL``) and ``labeled_batch_size`` labelled ones."""

import itertools
import math
import os
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
from torch.utils.data import DataLoader, Dataset, Sampler

NO_LABEL = -1
NUM_CLASSES = 4
CLASSES = ["bar", "cross", "dot", "ring"]


class Args:
    """The command-line defaults that matter here (cli.py), scaled to the tiny problem."""

    def __init__(self, **kwargs):
        self.arch = "convnet"
        self.epochs = 4
        self.start_epoch = 0
        self.batch_size = 16
        self.labeled_batch_size = 6
        self.lr = 0.1
        self.initial_lr = 0.01
        self.lr_rampup = 1
        self.lr_rampdown_epochs = 5
        self.momentum = 0.9
        self.nesterov = True
        self.weight_decay = 2e-4
        self.ema_decay = 0.97
        self.consistency = 10.0
        self.consistency_type = "mse"
        self.consistency_rampup = 3
        self.logit_distance_cost = 0.01
        self.print_freq = 2
        self.checkpoint_epochs = 1
        self.evaluation_epochs = 1
        self.resume = ""
        self.__dict__.update(kwargs)


# ---- ramps.py
def sigmoid_rampup(current, rampup_length):
    """Exponential rampup from https://arxiv.org/abs/1610.02242"""
    if rampup_length == 0:
        return 1.0
    else:
        current = np.clip(current, 0.0, rampup_length)
        phase = 1.0 - current / rampup_length
        return float(np.exp(-5.0 * phase * phase))


def linear_rampup(current, rampup_length):
    """Linear rampup"""
    assert current >= 0 and rampup_length >= 0
    if current >= rampup_length:
        return 1.0
    else:
        return current / rampup_length


def cosine_rampdown(current, rampdown_length):
    """Cosine rampdown from https://arxiv.org/abs/1608.03983"""
    assert 0 <= current <= rampdown_length
    return float(.5 * (np.cos(np.pi * current / rampdown_length) + 1))


# ---- losses.py
def softmax_mse_loss(input_logits, target_logits):
    """Takes softmax on both sides and returns MSE loss, summed over the batch (the caller divides)."""
    assert input_logits.size() == target_logits.size()
    input_softmax = F.softmax(input_logits, dim=1)
    target_softmax = F.softmax(target_logits, dim=1)
    num_classes = input_logits.size()[1]
    return F.mse_loss(input_softmax, target_softmax, size_average=False) / num_classes


def softmax_kl_loss(input_logits, target_logits):
    """Takes softmax on both sides and returns KL divergence, summed over the batch."""
    assert input_logits.size() == target_logits.size()
    input_log_softmax = F.log_softmax(input_logits, dim=1)
    target_softmax = F.softmax(target_logits, dim=1)
    return F.kl_div(input_log_softmax, target_softmax, size_average=False)


def symmetric_mse_loss(input1, input2):
    """Like F.mse_loss but sends gradients to both directions."""
    assert input1.size() == input2.size()
    num_classes = input1.size()[1]
    return torch.sum((input1 - input2)**2) / num_classes


# ---- data.py
class TransformTwice:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, inp):
        out1 = self.transform(inp)
        out2 = self.transform(inp)
        return out1, out2


def add_noise(img):
    """The augmentation: a random one-pixel translation and gaussian noise, both drawn by numpy."""
    shift = np.random.randint(-1, 2, size=2)
    img = np.roll(img, tuple(shift), axis=(1, 2))
    return (img + np.random.normal(0, 0.15, size=img.shape)).astype(np.float32)


class ShapesFolder(Dataset):
    """An ImageFolder look-alike: ``imgs`` is a list of (path, class index), ``class_to_idx`` maps names."""

    def __init__(self, n, seed, transform=None):
        rng = np.random.RandomState(seed)
        self.classes = CLASSES
        self.class_to_idx = {c: i for i, c in enumerate(CLASSES)}
        self.imgs, self.pixels = [], []
        for idx in range(n):
            label = idx % NUM_CLASSES
            img = np.zeros((8, 8), np.float32)
            if label == 0:
                img[3:5, 1:7] = 1
            elif label == 1:
                img[3:5, 1:7] = 1
                img[1:7, 3:5] = 1
            elif label == 2:
                img[3:5, 3:5] = 1
            else:
                img[1:7, 1:7] = 1
                img[2:6, 2:6] = 0
            self.pixels.append(img[None] + rng.normal(0, 0.1, (1, 8, 8)).astype(np.float32))
            self.imgs.append(("train/{}/img{:04d}.png".format(CLASSES[label], idx), label))
        self.transform = transform

    def __getitem__(self, index):
        _, target = self.imgs[index]
        img = self.pixels[index]
        if self.transform is not None:
            img = self.transform(img)
        return img, target

    def __len__(self):
        return len(self.imgs)


def relabel_dataset(dataset, labels):
    unlabeled_idxs = []
    for idx in range(len(dataset.imgs)):
        path, _ = dataset.imgs[idx]
        filename = os.path.basename(path)
        if filename in labels:
            label_idx = dataset.class_to_idx[labels[filename]]
            dataset.imgs[idx] = path, label_idx
            del labels[filename]
        else:
            dataset.imgs[idx] = path, NO_LABEL
            unlabeled_idxs.append(idx)

    if len(labels) != 0:
        message = "List of unlabeled contains {} unknown files: {}, ..."
        some_missing = ', '.join(list(labels.keys())[:5])
        raise LookupError(message.format(len(labels), some_missing))

    labeled_idxs = sorted(set(range(len(dataset.imgs))) - set(unlabeled_idxs))

    return labeled_idxs, unlabeled_idxs


class TwoStreamBatchSampler(Sampler):
    """Iterate two sets of indices

    An 'epoch' is one iteration through the primary indices.
    During the epoch, the secondary indices are iterated through
    as many times as needed.
    """
    def __init__(self, primary_indices, secondary_indices, batch_size, secondary_batch_size):
        self.primary_indices = primary_indices
        self.secondary_indices = secondary_indices
        self.secondary_batch_size = secondary_batch_size
        self.primary_batch_size = batch_size - secondary_batch_size

        assert len(self.primary_indices) >= self.primary_batch_size > 0
        assert len(self.secondary_indices) >= self.secondary_batch_size > 0

    def __iter__(self):
        primary_iter = iterate_once(self.primary_indices)
        secondary_iter = iterate_eternally(self.secondary_indices)
        return (
            primary_batch + secondary_batch
            for (primary_batch, secondary_batch)
            in zip(grouper(primary_iter, self.primary_batch_size),
                   grouper(secondary_iter, self.secondary_batch_size))
        )

    def __len__(self):
        return len(self.primary_indices) // self.primary_batch_size


def iterate_once(iterable):
    return np.random.permutation(iterable)


def iterate_eternally(indices):
    def infinite_shuffles():
        while True:
            yield np.random.permutation(indices)
    return itertools.chain.from_iterable(infinite_shuffles())


def grouper(iterable, n):
    "Collect data into fixed-length chunks or blocks"
    # grouper('ABCDEFG', 3) --> ABC DEF"
    args = [iter(iterable)] * n
    return zip(*args)


# ---- architectures.py
class ConvNet(nn.Module):
    """Two conv blocks and two linear heads: the class logits and the consistency logits. (N, 1, 8, 8) -> 2 x (N, 4)"""

    def __init__(self, num_classes=NUM_CLASSES):
        super(ConvNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.0)
        self.fc1 = nn.Linear(16, num_classes)
        self.fc2 = nn.Linear(16, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2. / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def forward(self, x):
        x = F.max_pool2d(F.leaky_relu(self.bn1(self.conv1(x)), 0.1), 2)
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.1)
        x = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        x = self.drop(x)
        return self.fc1(x), self.fc2(x)


class MLP(nn.Module):
    """A one-output model (logit_distance_cost < 0). (N, 1, 8, 8) -> (N, 4)"""

    def __init__(self, num_classes=NUM_CLASSES):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.view(x.size(0), -1))))


ARCHS = {"convnet": ConvNet, "mlp": MLP}


# ---- utils.py
class AverageMeterSet:
    def __init__(self):
        self.meters = {}

    def __getitem__(self, key):
        return self.meters[key]

    def update(self, name, value, n=1):
        if name not in self.meters:
            self.meters[name] = AverageMeter()
        self.meters[name].update(value, n)

    def reset(self):
        for meter in self.meters.values():
            meter.reset()

    def values(self, postfix=''):
        return {name + postfix: meter.val for name, meter in self.meters.items()}

    def averages(self, postfix='/avg'):
        return {name + postfix: meter.avg for name, meter in self.meters.items()}


class AverageMeter:
    """Computes and stores the average and current value"""

    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __format__(self, format):
        return "{self.val:{format}} ({self.avg:{format}})".format(self=self, format=format)


# ---- main.py
class MeanTeacher:
    """main.py's globals (args, global_step, best_prec1, the LOG) held on one object; ``log`` collects the lines."""

    def __init__(self, args, model, ema_model):
        self.args = args
        self.model, self.ema_model = model, ema_model
        self.global_step = 0
        self.best_prec1 = 0
        self.lines = []
        self.trace = {"lr": [], "cons_weight": [], "class_loss": [], "ema_class_loss": [], "cons_loss": [],
                      "res_loss": [], "loss": [], "top1": [], "ema_top1": [], "student": [], "teacher": []}
        self.optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum,
                                         weight_decay=args.weight_decay, nesterov=args.nesterov)

    def update_ema_variables(self, alpha):
        # Use the true average until the exponential average is more correct
        alpha = min(1 - 1 / (self.global_step + 1), alpha)
        for ema_param, param in zip(self.ema_model.parameters(), self.model.parameters()):
            ema_param.data.mul_(alpha).add_(1 - alpha, param.data)

    def get_current_consistency_weight(self, epoch):
        # Consistency ramp-up from https://arxiv.org/abs/1610.02242
        return self.args.consistency * sigmoid_rampup(epoch, self.args.consistency_rampup)

    def adjust_learning_rate(self, epoch, step_in_epoch, total_steps_in_epoch):
        args = self.args
        lr = args.lr
        epoch = epoch + step_in_epoch / total_steps_in_epoch

        # LR warm-up to handle large minibatch sizes from https://arxiv.org/abs/1706.02677
        lr = linear_rampup(epoch, args.lr_rampup) * (args.lr - args.initial_lr) + args.initial_lr

        # Cosine LR rampdown from https://arxiv.org/abs/1608.03983 (but one cycle only)
        if args.lr_rampdown_epochs:
            assert args.lr_rampdown_epochs >= args.epochs
            lr *= cosine_rampdown(epoch, args.lr_rampdown_epochs)

        for param_group in self.optimizer.param_groups:
            param_group['lr'] = lr

    def train(self, train_loader, epoch):
        args, model, ema_model, optimizer = self.args, self.model, self.ema_model, self.optimizer
        class_criterion = nn.CrossEntropyLoss(size_average=False, ignore_index=NO_LABEL)
        if args.consistency_type == 'mse':
            consistency_criterion = softmax_mse_loss
        elif args.consistency_type == 'kl':
            consistency_criterion = softmax_kl_loss
        else:
            assert False, args.consistency_type
        residual_logit_criterion = symmetric_mse_loss

        meters = AverageMeterSet()

        # switch to train mode
        model.train()
        ema_model.train()

        for i, ((input, ema_input), target) in enumerate(train_loader):
            self.adjust_learning_rate(epoch, i, len(train_loader))
            meters.update('lr', optimizer.param_groups[0]['lr'])

            input_var = torch.autograd.Variable(input)
            ema_input_var = torch.autograd.Variable(ema_input, volatile=True)
            target_var = torch.autograd.Variable(target)

            minibatch_size = len(target_var)
            labeled_minibatch_size = target_var.data.ne(NO_LABEL).sum()
            assert labeled_minibatch_size > 0
            meters.update('labeled_minibatch_size', labeled_minibatch_size)

            ema_model_out = ema_model(ema_input_var)
            model_out = model(input_var)

            if isinstance(model_out, Variable):
                assert args.logit_distance_cost < 0
                logit1 = model_out
                ema_logit = ema_model_out
            else:
                assert len(model_out) == 2
                assert len(ema_model_out) == 2
                logit1, logit2 = model_out
                ema_logit, _ = ema_model_out

            ema_logit = Variable(ema_logit.detach().data, requires_grad=False)

            if args.logit_distance_cost >= 0:
                class_logit, cons_logit = logit1, logit2
                res_loss = args.logit_distance_cost * residual_logit_criterion(class_logit, cons_logit) / minibatch_size
                meters.update('res_loss', res_loss.item())
            else:
                class_logit, cons_logit = logit1, logit1
                res_loss = 0

            class_loss = class_criterion(class_logit, target_var) / minibatch_size
            meters.update('class_loss', class_loss.item())

            ema_class_loss = class_criterion(ema_logit, target_var) / minibatch_size
            meters.update('ema_class_loss', ema_class_loss.item())

            if args.consistency:
                consistency_weight = self.get_current_consistency_weight(epoch)
                meters.update('cons_weight', consistency_weight)
                consistency_loss = consistency_weight * consistency_criterion(cons_logit, ema_logit) / minibatch_size
                meters.update('cons_loss', consistency_loss.item())
            else:
                consistency_loss = 0
                meters.update('cons_loss', 0)

            loss = class_loss + consistency_loss + res_loss
            assert not (np.isnan(loss.item()) or loss.item() > 1e5), 'Loss explosion: {}'.format(loss.item())
            meters.update('loss', loss.item())

            prec1, prec5 = accuracy(class_logit.data, target_var.data, topk=(1, 2))
            meters.update('top1', prec1[0], labeled_minibatch_size)
            meters.update('error1', 100. - prec1[0], labeled_minibatch_size)
            meters.update('top5', prec5[0], labeled_minibatch_size)
            meters.update('error5', 100. - prec5[0], labeled_minibatch_size)

            ema_prec1, ema_prec5 = accuracy(ema_logit.data, target_var.data, topk=(1, 2))
            meters.update('ema_top1', ema_prec1[0], labeled_minibatch_size)
            meters.update('ema_top5', ema_prec5[0], labeled_minibatch_size)

            # compute gradient and do SGD step
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.global_step += 1
            self.update_ema_variables(args.ema_decay)

            for key in ("lr", "cons_weight", "class_loss", "ema_class_loss", "cons_loss", "res_loss", "loss"):
                self.trace[key].append(float(meters[key].val) if key in meters.meters else 0.0)
            self.trace["top1"].append(float(meters['top1'].val))
            self.trace["ema_top1"].append(float(meters['ema_top1'].val))
            self.trace["student"].append({k: v.data.numpy().copy() for k, v in model.state_dict().items()})
            self.trace["teacher"].append({k: v.data.numpy().copy() for k, v in ema_model.state_dict().items()})

            if i % args.print_freq == 0:
                self.lines.append(
                    'Epoch: [{0}][{1}/{2}]\t'
                    'Class {meters[class_loss]:.4f}\t'
                    'Cons {meters[cons_loss]:.4f}\t'
                    'Prec@1 {meters[top1]:.3f}\t'
                    'Prec@5 {meters[top5]:.3f}'.format(
                        epoch, i, len(train_loader), meters=meters))

    def validate(self, eval_loader, model):
        class_criterion = nn.CrossEntropyLoss(size_average=False, ignore_index=NO_LABEL)
        meters = AverageMeterSet()

        # switch to evaluate mode
        model.eval()

        for i, (input, target) in enumerate(eval_loader):
            input_var = torch.autograd.Variable(input, volatile=True)
            target_var = torch.autograd.Variable(target, volatile=True)

            minibatch_size = len(target_var)
            labeled_minibatch_size = target_var.data.ne(NO_LABEL).sum()
            assert labeled_minibatch_size > 0
            meters.update('labeled_minibatch_size', labeled_minibatch_size)

            # compute output
            output1 = model(input_var)
            if isinstance(output1, tuple):
                output1, _ = output1
            class_loss = class_criterion(output1, target_var) / minibatch_size

            # measure accuracy and record loss
            prec1, prec5 = accuracy(output1.data, target_var.data, topk=(1, 2))
            meters.update('class_loss', class_loss.item(), minibatch_size)
            meters.update('top1', prec1[0], labeled_minibatch_size)
            meters.update('error1', 100.0 - prec1[0], labeled_minibatch_size)
            meters.update('top5', prec5[0], labeled_minibatch_size)
            meters.update('error5', 100.0 - prec5[0], labeled_minibatch_size)

        self.lines.append(' * Prec@1 {top1.avg:.3f}\tPrec@5 {top5.avg:.3f}'.format(
            top1=meters['top1'], top5=meters['top5']))
        return meters['top1'].avg

    def save_checkpoint(self, state, is_best, dirpath, epoch):
        filename = 'checkpoint.{}.ckpt'.format(epoch)
        checkpoint_path = os.path.join(dirpath, filename)
        best_path = os.path.join(dirpath, 'best.ckpt')
        torch.save(state, checkpoint_path)
        self.lines.append("--- checkpoint saved to %s ---" % checkpoint_path)
        if is_best:
            shutil.copyfile(checkpoint_path, best_path)
            self.lines.append("--- checkpoint copied to %s ---" % best_path)

    def resume(self, path):
        checkpoint = torch.load(path)
        self.args.start_epoch = checkpoint['epoch']
        self.global_step = checkpoint['global_step']
        self.best_prec1 = checkpoint['best_prec1']
        self.model.load_state_dict(checkpoint['state_dict'])
        self.ema_model.load_state_dict(checkpoint['ema_state_dict'])
        self.optimizer.load_state_dict(checkpoint['optimizer'])
        self.lines.append("=> loaded checkpoint '{}' (epoch {})".format(path, checkpoint['epoch']))

    def main(self, train_loader, eval_loader, checkpoint_path, stop_after=None):
        """Train from ``args.start_epoch`` to ``args.epochs`` (or stop after epoch ``stop_after``), validating the
        student and the teacher and saving a checkpoint after every epoch."""
        args = self.args
        for epoch in range(args.start_epoch, args.epochs):
            self.train(train_loader, epoch)
            if args.evaluation_epochs and (epoch + 1) % args.evaluation_epochs == 0:
                self.lines.append("Evaluating the primary model:")
                prec1 = self.validate(eval_loader, self.model)
                self.lines.append("Evaluating the EMA model:")
                ema_prec1 = self.validate(eval_loader, self.ema_model)
                is_best = ema_prec1 > self.best_prec1
                self.best_prec1 = max(ema_prec1, self.best_prec1)
                self.trace.setdefault("prec1", []).append((float(prec1), float(ema_prec1)))
            else:
                is_best = False

            if args.checkpoint_epochs and (epoch + 1) % args.checkpoint_epochs == 0:
                self.save_checkpoint({
                    'epoch': epoch + 1,
                    'global_step': self.global_step,
                    'arch': args.arch,
                    'state_dict': self.model.state_dict(),
                    'ema_state_dict': self.ema_model.state_dict(),
                    'best_prec1': self.best_prec1,
                    'optimizer': self.optimizer.state_dict(),
                }, is_best, checkpoint_path, epoch)
            if stop_after is not None and epoch + 1 == stop_after:
                break
        return self.trace


def create_model(arch, ema=False):
    model = ARCHS[arch](num_classes=NUM_CLASSES)
    if ema:
        for param in model.parameters():
            param.detach_()
    return model


def create_data_loaders(args, n_train=96, n_labeled=24, n_eval=32):
    """The labelled files are listed by name (the repo's labels/*.txt), everything else loses its label."""
    dataset = ShapesFolder(n_train, seed=1, transform=TransformTwice(add_noise))
    labels = {os.path.basename(path): CLASSES[label] for path, label in dataset.imgs[:n_labeled]}
    labeled_idxs, unlabeled_idxs = relabel_dataset(dataset, labels)
    batch_sampler = TwoStreamBatchSampler(unlabeled_idxs, labeled_idxs, args.batch_size, args.labeled_batch_size)
    train_loader = DataLoader(dataset, batch_sampler=batch_sampler, num_workers=0, pin_memory=True)
    eval_loader = DataLoader(ShapesFolder(n_eval, seed=2), batch_size=args.batch_size, shuffle=False,
                             num_workers=0, pin_memory=True, drop_last=False)
    return train_loader, eval_loader


def accuracy(output, target, topk=(1,)):
    """Computes the precision@k for the specified values of k"""
    maxk = max(topk)
    labeled_minibatch_size = max(target.ne(NO_LABEL).sum(), 1e-8)

    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))

    res = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        res.append(correct_k.mul_(100.0 / labeled_minibatch_size))
    return res
