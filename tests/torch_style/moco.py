# ruff: noqa: UP004, UP008, UP032 - the repository's own spellings
"""facebookresearch/moco written as that repository writes it (moco/builder.py, the core of main_moco.py and
main_lincls.py), around a tiny CNN on synthetic 3x8x8 numpy images in place of torchvision's ResNet and ImageFolder.

- ``MoCo``: encoder_q / encoder_k from ``base_encoder(num_classes=dim)``, the ``mlp`` head built from
  ``fc.weight.shape[1]``, the key encoder copied through ``.data.copy_`` and frozen, the ``queue`` / ``queue_ptr``
  buffers, ``_momentum_update_key_encoder``, ``_dequeue_and_enqueue`` and the batch shuffle / unshuffle around the key
  encoder, einsum logits over the cloned queue, ``logits /= self.T`` and zero labels.
- ``pretrain`` (main_moco): SGD with momentum + weight decay, ``adjust_learning_rate`` (cosine or step schedule),
  CrossEntropyLoss, ``accuracy`` with topk, ``AverageMeter`` / ``ProgressMeter``, ``save_checkpoint`` with the queue
  in the state_dict, and ``--resume``.
- ``lincls`` (main_lincls): the pretrained ``module.encoder_q.`` weights renamed into a fresh net without ``fc``,
  all but ``fc`` frozen, ``fc`` initialised normal_(0, 0.01) / zero_, ``model.eval()`` while training, and
  ``sanity_check``.

Changes for a tiny single-process CPU run: ``concat_all_gather`` is the identity and the shuffle uses a numpy
permutation (so both libraries draw the same one), as the repository's single-GPU forks do; the model is wrapped in
``nn.DataParallel`` (main_moco's non-distributed branch, which the repo refuses) so the saved keys carry ``module.``;
``TwoCropsTransform`` applies numpy crops and flips; ``history`` records what the test compares (the repo prints)."""

import argparse
import math
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.parallel
import torch.optim
import torch.utils.data


class TinyNet(nn.Module):
    """A ResNet-like stand-in: conv -> BN -> ReLU twice, global average pool, ``fc`` (16 -> num_classes)."""

    def __init__(self, num_classes=1000):
        super(TinyNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class MoCo(nn.Module):
    """A query encoder, a momentum key encoder and a (dim, K) queue of normalised keys."""

    def __init__(self, base_encoder, dim=128, K=65536, m=0.999, T=0.07, mlp=False):
        super(MoCo, self).__init__()

        self.K = K
        self.m = m
        self.T = T

        # create the encoders
        # num_classes is the output fc dimension
        self.encoder_q = base_encoder(num_classes=dim)
        self.encoder_k = base_encoder(num_classes=dim)

        if mlp:  # hack: brute-force replacement
            dim_mlp = self.encoder_q.fc.weight.shape[1]
            self.encoder_q.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), self.encoder_q.fc)
            self.encoder_k.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), self.encoder_k.fc)

        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data.copy_(param_q.data)  # initialize
            param_k.requires_grad = False  # not update by gradient

        # create the queue
        self.register_buffer("queue", torch.randn(dim, K))
        self.queue = nn.functional.normalize(self.queue, dim=0)

        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        """
        Momentum update of the key encoder
        """
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data = param_k.data * self.m + param_q.data * (1. - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        # gather keys before updating queue
        keys = concat_all_gather(keys)

        batch_size = keys.shape[0]

        ptr = int(self.queue_ptr)
        assert self.K % batch_size == 0  # for simplicity

        # replace the keys at ptr (dequeue and enqueue)
        self.queue[:, ptr:ptr + batch_size] = keys.T
        ptr = (ptr + batch_size) % self.K  # move pointer

        self.queue_ptr[0] = ptr

    @torch.no_grad()
    def _batch_shuffle_ddp(self, x):
        """
        Batch shuffle, for making use of BatchNorm.
        """
        # gather from all gpus
        batch_size_this = x.shape[0]
        x_gather = concat_all_gather(x)
        batch_size_all = x_gather.shape[0]

        # random shuffle index
        idx_shuffle = torch.from_numpy(np.random.permutation(batch_size_all))

        # index for restoring
        idx_unshuffle = torch.argsort(idx_shuffle)

        # shuffled index for this gpu
        gpu_idx = 0
        idx_this = idx_shuffle.view(-1, batch_size_this)[gpu_idx]

        return x_gather[idx_this], idx_unshuffle

    @torch.no_grad()
    def _batch_unshuffle_ddp(self, x, idx_unshuffle):
        """
        Undo batch shuffle.
        """
        batch_size_this = x.shape[0]
        x_gather = concat_all_gather(x)

        gpu_idx = 0
        idx_this = idx_unshuffle.view(-1, batch_size_this)[gpu_idx]

        return x_gather[idx_this]

    def forward(self, im_q, im_k):
        """
        Input:
            im_q: a batch of query images
            im_k: a batch of key images
        Output:
            logits, targets
        """

        # compute query features
        q = self.encoder_q(im_q)  # queries: NxC
        q = nn.functional.normalize(q, dim=1)

        # compute key features
        with torch.no_grad():  # no gradient to keys
            self._momentum_update_key_encoder()  # update the key encoder

            # shuffle for making use of BN
            im_k, idx_unshuffle = self._batch_shuffle_ddp(im_k)

            k = self.encoder_k(im_k)  # keys: NxC
            k = nn.functional.normalize(k, dim=1)

            # undo shuffle
            k = self._batch_unshuffle_ddp(k, idx_unshuffle)

        # compute logits
        # Einstein sum is more intuitive
        # positive logits: Nx1
        l_pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)
        # negative logits: NxK
        l_neg = torch.einsum('nc,ck->nk', [q, self.queue.clone().detach()])

        # logits: Nx(1+K)
        logits = torch.cat([l_pos, l_neg], dim=1)

        # apply temperature
        logits /= self.T

        # labels: positive key indicators
        labels = torch.zeros(logits.shape[0], dtype=torch.long)

        # dequeue and enqueue
        self._dequeue_and_enqueue(k)

        return logits, labels


@torch.no_grad()
def concat_all_gather(tensor):
    """One process: the gather of all ranks' tensors is the tensor itself."""
    return tensor


def make_images(n, seed=0):
    """n images (n, 3, 8, 8) float32 and their labels (n,) int64 (the brighter channel, 3 classes)."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 3, size=n)
    images = rng.normal(0, 0.5, size=(n, 3, 8, 8)).astype(np.float32)
    images[np.arange(n), labels] += 1.0
    return images, labels.astype(np.int64)


class TwoCropsTransform:
    """Take two random crops of one image as the query and key."""

    def __init__(self, base_transform):
        self.base_transform = base_transform

    def __call__(self, x):
        q = self.base_transform(x)
        k = self.base_transform(x)
        return [q, k]


def augment(x):
    """A numpy crop (shifted 8x8 window of the edge-padded image) and horizontal flip, drawn from np.random."""
    dy, dx = np.random.randint(0, 3, size=2)
    x = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")[:, dy:dy + 8, dx:dx + 8]
    if np.random.rand() < 0.5:
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x)


class ImageDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        x = self.images[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[index]


parser = argparse.ArgumentParser(description='PyTorch ImageNet Training')
parser.add_argument('--epochs', default=200, type=int)
parser.add_argument('--start-epoch', default=0, type=int)
parser.add_argument('-b', '--batch-size', default=256, type=int)
parser.add_argument('--lr', '--learning-rate', default=0.03, type=float, dest='lr')
parser.add_argument('--schedule', default=[120, 160], nargs='*', type=int)
parser.add_argument('--momentum', default=0.9, type=float)
parser.add_argument('--wd', '--weight-decay', default=1e-4, type=float, dest='weight_decay')
parser.add_argument('-p', '--print-freq', default=10, type=int)
parser.add_argument('--resume', default='', type=str)
parser.add_argument('--pretrained', default='', type=str)
parser.add_argument('--moco-dim', default=128, type=int)
parser.add_argument('--moco-k', default=65536, type=int)
parser.add_argument('--moco-m', default=0.999, type=float)
parser.add_argument('--moco-t', default=0.07, type=float)
parser.add_argument('--mlp', action='store_true')
parser.add_argument('--cos', action='store_true')
parser.add_argument('--checkpoint', default='checkpoint.pth.tar', type=str)


def pretrain(argv, model, data, history):
    """main_moco's main_worker from the model on: SGD, the epochs of ``train``, a checkpoint each epoch."""
    args = parser.parse_args(argv)
    model = torch.nn.DataParallel(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay)

    if args.resume:
        checkpoint = torch.load(args.resume)
        args.start_epoch = checkpoint['epoch']
        model.load_state_dict(checkpoint['state_dict'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        print("=> loaded checkpoint '{}' (epoch {})".format(args.resume, checkpoint['epoch']))

    train_dataset = ImageDataset(*data, transform=TwoCropsTransform(augment))
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=args.batch_size, shuffle=False,
                                               drop_last=True)

    for epoch in range(args.start_epoch, args.epochs):
        adjust_learning_rate(optimizer, epoch, args)
        train(train_loader, model, criterion, optimizer, epoch, args, history)
        save_checkpoint({
            'epoch': epoch + 1,
            'arch': 'tinynet',
            'state_dict': model.state_dict(),
            'optimizer': optimizer.state_dict(),
        }, is_best=False, filename=args.checkpoint)
    return model


def train(train_loader, model, criterion, optimizer, epoch, args, history):
    losses = AverageMeter('Loss', ':.4e')
    top1 = AverageMeter('Acc@1', ':6.2f')
    top5 = AverageMeter('Acc@5', ':6.2f')
    progress = ProgressMeter(len(train_loader), [losses, top1, top5], prefix="Epoch: [{}]".format(epoch))

    # switch to train mode
    model.train()

    for i, (images, _) in enumerate(train_loader):
        # compute output
        output, target = model(im_q=images[0], im_k=images[1])
        loss = criterion(output, target)

        # acc1/acc5 are (K+1)-way contrast classifier accuracy
        # measure accuracy and record loss
        acc1, acc5 = accuracy(output, target, topk=(1, 5))
        losses.update(loss.item(), images[0].size(0))
        top1.update(acc1[0], images[0].size(0))
        top5.update(acc5[0], images[0].size(0))

        # compute gradient and do SGD step
        optimizer.zero_grad()
        loss.backward()
        history['grad_norm'].append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters()
                                                  if p.grad is not None)))
        optimizer.step()

        history['loss'].append(loss.item())
        history['acc'].append((float(acc1[0]), float(acc5[0])))
        history['lr'].append(optimizer.param_groups[0]['lr'])
        history['queue_ptr'].append(int(model.module.queue_ptr))
        history['queue'].append(model.module.queue.numpy().copy())
        history['state'].append({k: v.numpy().copy() for k, v in model.module.state_dict().items()})
        if i % args.print_freq == 0:
            history['lines'].append(progress.display(i))


def save_checkpoint(state, is_best, filename='checkpoint.pth.tar'):
    torch.save(state, filename)
    if is_best:
        shutil.copyfile(filename, 'model_best.pth.tar')


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


class ProgressMeter(object):
    def __init__(self, num_batches, meters, prefix=""):
        self.batch_fmtstr = self._get_batch_fmtstr(num_batches)
        self.meters = meters
        self.prefix = prefix

    def display(self, batch):
        entries = [self.prefix + self.batch_fmtstr.format(batch)]
        entries += [str(meter) for meter in self.meters]
        print('\t'.join(entries))
        return '\t'.join(entries)

    def _get_batch_fmtstr(self, num_batches):
        num_digits = len(str(num_batches // 1))
        fmt = '{:' + str(num_digits) + 'd}'
        return '[' + fmt + '/' + fmt.format(num_batches) + ']'


def adjust_learning_rate(optimizer, epoch, args):
    """Decay the learning rate based on schedule"""
    lr = args.lr
    if args.cos:  # cosine lr schedule
        lr *= 0.5 * (1. + math.cos(math.pi * epoch / args.epochs))
    else:  # stepwise lr schedule
        for milestone in args.schedule:
            lr *= 0.1 if epoch >= milestone else 1.
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr


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


def lincls(argv, data, history, num_classes=3, fc_weight=None):
    """main_lincls: a fresh net, frozen but for ``fc``, loaded from the pretrained ``module.encoder_q.`` weights."""
    args = parser.parse_args(argv)
    model = TinyNet(num_classes=num_classes)

    # freeze all layers but the last fc
    for name, param in model.named_parameters():
        if name not in ['fc.weight', 'fc.bias']:
            param.requires_grad = False
    # init the fc layer
    model.fc.weight.data.normal_(mean=0.0, std=0.01)
    model.fc.bias.data.zero_()
    if fc_weight is not None:  # our addition: torch's normal_ draw handed to the other library
        model.fc.weight.data.copy_(torch.from_numpy(fc_weight))

    # load from pre-trained, before DistributedDataParallel constructor
    print("=> loading checkpoint '{}'".format(args.pretrained))
    checkpoint = torch.load(args.pretrained, map_location="cpu")

    # rename moco pre-trained keys
    state_dict = checkpoint['state_dict']
    for k in list(state_dict.keys()):
        # retain only encoder_q up to before the embedding layer
        if k.startswith('module.encoder_q') and not k.startswith('module.encoder_q.fc'):
            # remove prefix
            state_dict[k[len("module.encoder_q."):]] = state_dict[k]
        # delete renamed or unused k
        del state_dict[k]

    args.start_epoch = 0
    msg = model.load_state_dict(state_dict, strict=False)
    assert set(msg.missing_keys) == {"fc.weight", "fc.bias"}
    print("=> loaded pre-trained model '{}'".format(args.pretrained))
    history['fc_init'] = model.fc.weight.detach().numpy().copy()

    criterion = nn.CrossEntropyLoss()
    # optimize only the linear classifier
    parameters = list(filter(lambda p: p.requires_grad, model.parameters()))
    assert len(parameters) == 2  # fc.weight, fc.bias
    optimizer = torch.optim.SGD(parameters, args.lr, momentum=args.momentum, weight_decay=args.weight_decay)

    images, labels = data
    train_loader = torch.utils.data.DataLoader(ImageDataset(images, labels), batch_size=args.batch_size,
                                               shuffle=False)
    for epoch in range(args.start_epoch, args.epochs):
        adjust_learning_rate(optimizer, epoch, args)
        # main_lincls' train: switch to eval mode (the frozen BatchNorm keeps its statistics)
        model.eval()
        for images, target in train_loader:
            output = model(images)
            loss = criterion(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, 2))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history['loss'].append(loss.item())
            history['acc'].append((float(acc1[0]), float(acc5[0])))
            history['lr'].append(optimizer.param_groups[0]['lr'])
        sanity_check(model.state_dict(), args.pretrained)
    history['fc'] = {k: v.detach().numpy().copy() for k, v in model.fc.state_dict().items()}
    return model


def sanity_check(state_dict, pretrained_weights):
    """
    Linear classifier should not change any weights other than the linear layer.
    This sanity check asserts nothing wrong happens (e.g., BN stats updated).
    """
    print("=> loading '{}' for sanity check".format(pretrained_weights))
    checkpoint = torch.load(pretrained_weights, map_location="cpu")
    state_dict_pre = checkpoint['state_dict']

    for k in list(state_dict.keys()):
        # only ignore fc layer
        if 'fc.weight' in k or 'fc.bias' in k:
            continue

        # name in pretrained model
        k_pre = 'module.encoder_q.' + k[len('module.'):] \
            if k.startswith('module.') else 'module.encoder_q.' + k

        assert ((state_dict[k].cpu() == state_dict_pre[k_pre]).all()), \
            '{} is changed in linear classifier training.'.format(k)

    print("=> sanity check passed.")
