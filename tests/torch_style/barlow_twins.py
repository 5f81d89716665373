# ruff: noqa: UP004, UP008, SIM102, SIM115, B011 - the repository's own spellings
"""facebookresearch/barlowtwins written as that repository writes it (main.py, evaluate.py and hubconf.py's model
loading), around a tiny torchvision-style ResNet on synthetic 3x16x16 numpy images in place of resnet50 and
ImageFolder.

- ``off_diagonal``: the flattened off-diagonal of a square matrix by ``flatten()[:-1].view(n - 1, n + 1)[:, 1:]``.
- ``BarlowTwins``: the backbone with ``fc = nn.Identity()``, the projector built from ``args.projector`` ("a-b-c") as
  Linear(bias=False) / BatchNorm1d / ReLU layers, the affine-free ``bn`` on both embeddings, the cross-correlation
  ``c = self.bn(z1).T @ self.bn(z2)`` divided in place by the batch size (``all_reduce`` only under an initialised
  process group), ``on_diag`` / ``off_diag`` by in-place ``add_`` / ``pow_`` and ``on_diag + lambd * off_diag``.
- ``LARS``: main.py's optimizer (weight decay and the trust ratio skipped for 1-d parameters through the filters,
  nested ``torch.where``, the ``mu`` momentum buffer in ``self.state``).
- ``main_worker`` (main.py): the ``param_weights`` / ``param_biases`` groups, the checkpoint auto-resume, per-step
  ``adjust_learning_rate`` (warmup + cosine to 0.001 of ``batch_size / 256``, scaled per group), the
  ``torch.cuda.amp`` GradScaler / autocast loop (disabled without CUDA, in both libraries: fp32 and an unscaled
  loss), the JSON stats lines printed and written to ``stats.txt``, the checkpoint dict each epoch and the final
  ``backbone.state_dict()``.
- ``resnet50`` (hubconf.py): the backbone with ``fc = Identity()`` loading those weights with ``strict=False``.
- ``linear_eval`` (evaluate.py): the weights loaded into a fresh net with ``strict=False`` and the missing ``fc``
  asserted, ``fc`` initialised normal_(0, 0.01) / zero_, ``--weights freeze`` (``requires_grad_(False)``, eval mode,
  the sanity check against the file) or ``finetune`` (train mode, a backbone group), SGD with weight decay,
  CosineAnnealingLR, ``AverageMeter`` / top-1 / top-5 ``accuracy``, the best accuracies, checkpoints and a resume.

Changes for a tiny single-process CPU run: no ``torch.distributed`` process group (so ``all_reduce`` / ``reduce``
are skipped and the model is wrapped in ``nn.DataParallel``, keeping main.py's ``module.`` keys and
``model.module.backbone``); the batches stay on the CPU (no ``.cuda(gpu, non_blocking=True)``), the loader
does not shuffle and warmup's 10 epochs are a flag; ``Transform`` makes its two views with numpy; the data is handed
in as arrays; the JSON ``time`` field is kept; evaluate's ``best_acc`` Namespace is saved as its ``vars`` dict
(ours pickles no objects) and rebuilt on resume; ``history`` records what the test compares."""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn, optim

parser = argparse.ArgumentParser(description='Barlow Twins Training')
parser.add_argument('--workers', default=0, type=int, metavar='N')
parser.add_argument('--epochs', default=1000, type=int, metavar='N')
parser.add_argument('--batch-size', default=2048, type=int, metavar='N')
parser.add_argument('--learning-rate-weights', default=0.2, type=float, metavar='LR')
parser.add_argument('--learning-rate-biases', default=0.0048, type=float, metavar='LR')
parser.add_argument('--weight-decay', default=1e-6, type=float, metavar='W')
parser.add_argument('--lambd', default=0.0051, type=float, metavar='L')
parser.add_argument('--projector', default='8192-8192-8192', type=str, metavar='MLP')
parser.add_argument('--print-freq', default=100, type=int, metavar='N')
parser.add_argument('--warmup-epochs', default=10, type=int, metavar='N')  # main.py's literal 10, as a flag
parser.add_argument('--checkpoint-dir', default='./checkpoint/', type=Path, metavar='DIR')


# ---------------------------------------------------------------- torchvision-style ResNet (tiny)

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super(BasicBlock, self).__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, width=8):
        super(ResNet, self).__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet_tiny(**kwargs):
    """resnet18's shape with one BasicBlock per stage and 8 base channels (64 features)."""
    return ResNet(BasicBlock, [1, 1, 1, 1], **kwargs)


FEATURES = 64


# ---------------------------------------------------------------- main.py

def main(argv, data, history, model=None):
    """main.py's main: the args, then main_worker on the one process."""
    args = parser.parse_args(argv)
    args.rank = 0
    args.world_size = 1
    return main_worker(0, args, data, history, model)


def main_worker(gpu, args, data, history, model=None):
    if args.rank == 0:
        args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        stats_file = open(args.checkpoint_dir / 'stats.txt', 'a', buffering=1)
        print(' '.join(sys.argv))
        print(' '.join(sys.argv), file=stats_file)

    if model is None:  # the test hands in a model holding torch's initial weights
        model = BarlowTwins(args)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    param_weights = []
    param_biases = []
    for param in model.parameters():
        if param.ndim == 1:
            param_biases.append(param)
        else:
            param_weights.append(param)
    parameters = [{'params': param_weights}, {'params': param_biases}]
    model = torch.nn.DataParallel(model)
    optimizer = LARS(parameters, lr=0, weight_decay=args.weight_decay,
                     weight_decay_filter=True,
                     lars_adaptation_filter=True)

    # automatically resume from checkpoint if it exists
    if (args.checkpoint_dir / 'checkpoint.pth').is_file():
        ckpt = torch.load(args.checkpoint_dir / 'checkpoint.pth',
                          map_location='cpu')
        start_epoch = ckpt['epoch']
        model.load_state_dict(ckpt['model'])
        optimizer.load_state_dict(ckpt['optimizer'])
    else:
        start_epoch = 0

    dataset = ImageDataset(data, Transform())
    assert args.batch_size % args.world_size == 0
    per_device_batch_size = args.batch_size // args.world_size
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=per_device_batch_size, num_workers=args.workers,
        pin_memory=True, shuffle=False)

    start_time = time.time()
    scaler = torch.cuda.amp.GradScaler()
    for epoch in range(start_epoch, args.epochs):
        dataset.set_epoch(epoch)
        for step, ((y1, y2), _) in enumerate(loader, start=epoch * len(loader)):
            adjust_learning_rate(args, optimizer, loader, step)
            optimizer.zero_grad()
            with torch.cuda.amp.autocast():
                loss = model.forward(y1, y2)
            scaler.scale(loss).backward()
            history['grad_norm'].append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters())))
            scaler.step(optimizer)
            scaler.update()
            history['loss'].append(loss.item())
            history['lr'].append((optimizer.param_groups[0]['lr'], optimizer.param_groups[1]['lr']))
            history['state'].append({k: v.detach().numpy().copy() for k, v in model.module.state_dict().items()})
            if step % args.print_freq == 0:
                if args.rank == 0:
                    stats = dict(epoch=epoch, step=step,
                                 lr_weights=optimizer.param_groups[0]['lr'],
                                 lr_biases=optimizer.param_groups[1]['lr'],
                                 loss=loss.item(),
                                 time=int(time.time() - start_time))
                    print(json.dumps(stats))
                    print(json.dumps(stats), file=stats_file)
        if args.rank == 0:
            # save checkpoint
            state = dict(epoch=epoch + 1, model=model.state_dict(),
                         optimizer=optimizer.state_dict())
            torch.save(state, args.checkpoint_dir / 'checkpoint.pth')
    if args.rank == 0:
        # save final model
        torch.save(model.module.backbone.state_dict(),
                   args.checkpoint_dir / 'resnet50.pth')
        stats_file.close()
    return model


def adjust_learning_rate(args, optimizer, loader, step):
    max_steps = args.epochs * len(loader)
    warmup_steps = args.warmup_epochs * len(loader)
    base_lr = args.batch_size / 256
    if step < warmup_steps:
        lr = base_lr * step / warmup_steps
    else:
        step -= warmup_steps
        max_steps -= warmup_steps
        q = 0.5 * (1 + math.cos(math.pi * step / max_steps))
        end_lr = base_lr * 0.001
        lr = base_lr * q + end_lr * (1 - q)
    optimizer.param_groups[0]['lr'] = lr * args.learning_rate_weights
    optimizer.param_groups[1]['lr'] = lr * args.learning_rate_biases


def off_diagonal(x):
    # return a flattened view of the off-diagonal elements of a square matrix
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


class BarlowTwins(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.backbone = resnet_tiny(zero_init_residual=True)
        self.backbone.fc = nn.Identity()

        # projector
        sizes = [FEATURES] + list(map(int, args.projector.split('-')))
        layers = []
        for i in range(len(sizes) - 2):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=False))
            layers.append(nn.BatchNorm1d(sizes[i + 1]))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(sizes[-2], sizes[-1], bias=False))
        self.projector = nn.Sequential(*layers)

        # normalization layer for the representations z1 and z2
        self.bn = nn.BatchNorm1d(sizes[-1], affine=False)

    def forward(self, y1, y2):
        z1 = self.projector(self.backbone(y1))
        z2 = self.projector(self.backbone(y2))

        # empirical cross-correlation matrix
        c = self.bn(z1).T @ self.bn(z2)

        # sum the cross-correlation matrix between all gpus
        c.div_(self.args.batch_size)
        if torch.distributed.is_initialized():  # one process: nothing to sum
            torch.distributed.all_reduce(c)

        on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
        off_diag = off_diagonal(c).pow_(2).sum()
        loss = on_diag + self.args.lambd * off_diag
        return loss


class LARS(optim.Optimizer):
    def __init__(self, params, lr, weight_decay=0, momentum=0.9, eta=0.001,
                 weight_decay_filter=False, lars_adaptation_filter=False):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                        eta=eta, weight_decay_filter=weight_decay_filter,
                        lars_adaptation_filter=lars_adaptation_filter)
        super().__init__(params, defaults)

    def exclude_bias_and_norm(self, p):
        return p.ndim == 1

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g['params']:
                dp = p.grad

                if dp is None:
                    continue

                if g['weight_decay_filter'] is None or not self.exclude_bias_and_norm(p):
                    dp = dp.add(p, alpha=g['weight_decay'])

                if g['lars_adaptation_filter'] is None or not self.exclude_bias_and_norm(p):
                    param_norm = torch.norm(p)
                    update_norm = torch.norm(dp)
                    one = torch.ones_like(param_norm)
                    q = torch.where(param_norm > 0.,
                                    torch.where(update_norm > 0,
                                                (g['eta'] * param_norm / update_norm), one), one)
                    dp = dp.mul(q)

                param_state = self.state[p]
                if 'mu' not in param_state:
                    param_state['mu'] = torch.zeros_like(p)
                mu = param_state['mu']
                mu.mul_(g['momentum']).add_(dp)

                p.add_(mu, alpha=-g['lr'])


class Transform:
    """Two views of one image, numpy stand-ins for main.py's torchvision pipelines: a random crop of the edge-padded
    image, a horizontal flip, a brightness / contrast jitter and (view 1 only, as main.py's p=0.2) solarization, from
    a RandomState seeded by (epoch, index) so a resumed epoch draws what the uninterrupted one did."""

    def __init__(self):
        self.epoch = 0

    def view(self, x, rng, solarize):
        dy, dx = rng.randint(0, 5, size=2)
        x = np.pad(x, ((0, 0), (2, 2), (2, 2)), mode='edge')[:, dy:dy + 16, dx:dx + 16]
        if rng.rand() < 0.5:
            x = x[:, :, ::-1]
        brightness, contrast = rng.uniform(0.6, 1.4, size=2)
        x = (x - x.mean()) * contrast + x.mean() * brightness
        if solarize and rng.rand() < 0.2:
            x = np.where(x < 1.0, x, 2.0 - x)
        return np.ascontiguousarray(x, dtype=np.float32)

    def __call__(self, x, index):
        rng = np.random.RandomState(1000 * self.epoch + index)
        y1 = self.view(x, rng, solarize=False)
        y2 = self.view(x, rng, solarize=True)
        return y1, y2


class ImageDataset(torch.utils.data.Dataset):
    """ImageFolder's stand-in over (images, labels) numpy arrays."""

    def __init__(self, data, transform=None):
        self.images, self.labels = data
        self.transform = transform

    def set_epoch(self, epoch):
        self.transform.epoch = epoch

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        x = self.images[index]
        if self.transform is not None:
            x = self.transform(x, index)
        return x, self.labels[index]


def make_images(n, seed=0, classes=6):
    """n images (n, 3, 16, 16) float32 and labels (n,) int64: a class-coloured blob at a class position."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, classes, size=n)
    images = rng.normal(0, 0.3, size=(n, 3, 16, 16)).astype(np.float32)
    for i, label in enumerate(labels):
        r, c = 2 + 2 * (label % 3), 2 + 5 * (label // 3)
        images[i, label % 3, r:r + 6, c:c + 6] += 1.5
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------- hubconf.py

def resnet50(pretrained=True, path=None, **kwargs):
    """hubconf's entry point, reading a local file where it downloads the released weights."""
    model = resnet_tiny(**kwargs)
    model.fc = torch.nn.Identity()
    if pretrained:
        state_dict = torch.load(path, map_location='cpu')
        model.load_state_dict(state_dict, strict=False)
    return model


# ---------------------------------------------------------------- evaluate.py

eval_parser = argparse.ArgumentParser(description='Evaluate resnet50 features on ImageNet')
eval_parser.add_argument('pretrained', type=Path, metavar='FILE')
eval_parser.add_argument('--weights', default='freeze', type=str, choices=('finetune', 'freeze'))
eval_parser.add_argument('--workers', default=0, type=int, metavar='N')
eval_parser.add_argument('--epochs', default=100, type=int, metavar='N')
eval_parser.add_argument('--batch-size', default=256, type=int, metavar='N')
eval_parser.add_argument('--lr-backbone', default=0.0, type=float, metavar='LR')
eval_parser.add_argument('--lr-classifier', default=0.3, type=float, metavar='LR')
eval_parser.add_argument('--weight-decay', default=1e-6, type=float, metavar='W')
eval_parser.add_argument('--print-freq', default=100, type=int, metavar='N')
eval_parser.add_argument('--checkpoint-dir', default='./checkpoint/lincls/', type=Path, metavar='DIR')
eval_parser.add_argument('--num-classes', default=6, type=int)


def linear_eval(argv, train_data, val_data, history, fc_weight=None):
    """evaluate.py's main_worker on the one process."""
    args = eval_parser.parse_args(argv)
    args.rank, args.world_size = 0, 1
    if args.rank == 0:
        args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        stats_file = open(args.checkpoint_dir / 'stats.txt', 'a', buffering=1)
        print(' '.join(sys.argv))
        print(' '.join(sys.argv), file=stats_file)

    model = resnet_tiny(num_classes=args.num_classes)
    state_dict = torch.load(args.pretrained, map_location='cpu')
    missing_keys, unexpected_keys = model.load_state_dict(state_dict, strict=False)
    assert missing_keys == ['fc.weight', 'fc.bias'] and unexpected_keys == []
    model.fc.weight.data.normal_(mean=0.0, std=0.01)
    model.fc.bias.data.zero_()
    if fc_weight is not None:  # our addition: torch's normal_ draw handed to the other library
        model.fc.weight.data.copy_(torch.from_numpy(fc_weight))
    history['fc_init'] = model.fc.weight.detach().numpy().copy()
    if args.weights == 'freeze':
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
    classifier_parameters, model_parameters = [], []
    for name, param in model.named_parameters():
        if name in {'fc.weight', 'fc.bias'}:
            classifier_parameters.append(param)
        else:
            model_parameters.append(param)
    model = torch.nn.DataParallel(model)

    criterion = nn.CrossEntropyLoss()

    param_groups = [dict(params=classifier_parameters, lr=args.lr_classifier)]
    if args.weights == 'finetune':
        param_groups.append(dict(params=model_parameters, lr=args.lr_backbone))
    optimizer = optim.SGD(param_groups, 0, momentum=0.9, weight_decay=args.weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)

    # automatically resume from checkpoint if it exists
    if (args.checkpoint_dir / 'checkpoint.pth').is_file():
        ckpt = torch.load(args.checkpoint_dir / 'checkpoint.pth',
                          map_location='cpu')
        start_epoch = ckpt['epoch']
        best_acc = argparse.Namespace(**ckpt['best_acc'])
        model.load_state_dict(ckpt['model'])
        optimizer.load_state_dict(ckpt['optimizer'])
        scheduler.load_state_dict(ckpt['scheduler'])
    else:
        start_epoch = 0
        best_acc = argparse.Namespace(top1=0, top5=0)

    train_dataset = ImageDataset(train_data)
    val_dataset = ImageDataset(val_data)
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size // args.world_size, num_workers=args.workers,
        pin_memory=True, shuffle=False)
    val_loader = torch.utils.data.DataLoader(
        val_dataset, batch_size=args.batch_size, num_workers=args.workers, pin_memory=True)

    start_time = time.time()
    for epoch in range(start_epoch, args.epochs):
        # train
        if args.weights == 'finetune':
            model.train()
        elif args.weights == 'freeze':
            model.eval()
        else:
            assert False
        for step, (images, target) in enumerate(train_loader, start=epoch * len(train_loader)):
            output = model(images)
            loss = criterion(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history['loss'].append(loss.item())
            history['lr'].append([pg['lr'] for pg in optimizer.param_groups])
            if step % args.print_freq == 0:
                if args.rank == 0:
                    pg = optimizer.param_groups
                    lr_classifier = pg[0]['lr']
                    lr_backbone = pg[1]['lr'] if len(pg) == 2 else 0
                    stats = dict(epoch=epoch, step=step, lr_backbone=lr_backbone,
                                 lr_classifier=lr_classifier, loss=loss.item(),
                                 time=int(time.time() - start_time))
                    print(json.dumps(stats))
                    print(json.dumps(stats), file=stats_file)

        # evaluate
        model.eval()
        if args.rank == 0:
            top1 = AverageMeter('Acc@1')
            top5 = AverageMeter('Acc@5')
            with torch.no_grad():
                for images, target in val_loader:
                    output = model(images)
                    acc1, acc5 = accuracy(output, target, topk=(1, 5))
                    top1.update(acc1[0].item(), images.size(0))
                    top5.update(acc5[0].item(), images.size(0))
            best_acc.top1 = max(best_acc.top1, top1.avg)
            best_acc.top5 = max(best_acc.top5, top5.avg)
            stats = dict(epoch=epoch, acc1=top1.avg, acc5=top5.avg, best_acc1=best_acc.top1, best_acc5=best_acc.top5)
            print(json.dumps(stats))
            print(json.dumps(stats), file=stats_file)
            history['acc'].append(stats)

        # sanity check
        if args.weights == 'freeze':
            reference_state_dict = torch.load(args.pretrained, map_location='cpu')
            model_state_dict = model.module.state_dict()
            for k in reference_state_dict:
                assert torch.equal(model_state_dict[k].cpu(), reference_state_dict[k]), k

        scheduler.step()
        if args.rank == 0:
            state = dict(
                epoch=epoch + 1, best_acc=vars(best_acc), model=model.state_dict(),
                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
            torch.save(state, args.checkpoint_dir / 'checkpoint.pth')
    history['state'] = {k: v.detach().numpy().copy() for k, v in model.module.state_dict().items()}
    stats_file.close()
    return model


class AverageMeter(object):
    """Computes and stores the average and current value"""
    def __init__(self, name, fmt=':f'):
        self.name = name
        self.fmt = fmt
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

    def __str__(self):
        fmtstr = '{name} {val' + self.fmt + '} ({avg' + self.fmt + '})'
        return fmtstr.format(**self.__dict__)


def accuracy(output, target, topk=(1,)):
    """Computes the accuracy over the k top predictions for the specified values of k"""
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)

        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))

        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res
