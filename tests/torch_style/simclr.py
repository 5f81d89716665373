"""SimCLR (Chen et al. 2020) written as sthalles/SimCLR (2020-2021) writes it, with the utilities that such repos copy
from pytorch/examples' imagenet/main.py, at a tiny size: 3 x 16 x 16 synthetic images of 8 classes (coloured
stripes of a class's angle and frequency), a small ResNet (``BasicBlock``s, ``AdaptiveAvgPool2d((1, 1))``,
``torch.flatten(x, 1)``) whose ``fc`` becomes the projection head ``nn.Sequential(nn.Linear(dim_mlp, dim_mlp),
nn.ReLU(), backbone.fc)``, sthalles's ``info_nce_loss`` (the positives and negatives picked out of the similarity
matrix with boolean masks), ``accuracy(output, target, topk)``, ``AverageMeter`` / ``ProgressMeter`` printing 0-d
tensors through format specs, ``torch.cuda.amp``'s ``GradScaler`` / ``autocast`` disabled as on a CPU, Adam with
weight decay and ``CosineAnnealingLR(T_max=len(train_loader))`` stepped once an epoch after the warmup (logged
through the deprecated ``scheduler.get_lr()``, as sthalles does), and the checkpoint dict ``{'epoch', 'arch',
'state_dict', 'optimizer'}`` saved at the end and resumed imagenet-style (the scheduler rebuilt with
``last_epoch=``, as the dict has no scheduler state).

The two views of each image are made on the whole batch with tensor ops (``ContrastiveLearningViewGenerator`` as the
DataLoader's ``collate_fn``): random crops by slicing resized back with ``F.interpolate(..., mode='bilinear')``,
flips with ``torch.flip`` under a ``torch.rand(n) < 0.5`` mask through ``torch.where``, brightness / contrast /
saturation jitter with ``mul`` / ``add`` / ``clamp(0, 1)``, random grayscale (``0.299 r + 0.587 g + 0.114 b``
expanded back to 3 channels) and gaussian noise. Its ``rand`` / ``randn`` are ``torch.rand`` / ``torch.randn`` by
default; ``NumpySource`` gives the same calls drawn from a numpy generator (reseeded each epoch), so that two
libraries see the same views.

The linear evaluation is sthalles's notebook: the checkpoint's ``backbone.`` keys (not the head) loaded with
``strict=False`` into a fresh ResNet with a class ``fc``, every other parameter frozen (``assert len(parameters) ==
2``), Adam over ``model.parameters()`` with weight decay, trained in train mode (so BatchNorm's running statistics
move while its weights are frozen), top-1 / top-5 with ``accuracy``."""

import os
import shutil
from argparse import Namespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.cuda.amp import GradScaler, autocast
from torch.utils.data import DataLoader, Dataset


def make_images(n_per_class, n_classes=8, size=16, seed=0):
    """``n_classes * n_per_class`` images (N, 3, size, size) float32 in [0, 1] and their labels (N,) int64: each class
    has stripes of its own angle, frequency and colour, each image a random phase, contrast and pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    colours = rng.uniform(0.2, 1.0, (n_classes, 3))
    images, labels = [], []
    for c in range(n_classes):
        angle, freq = np.pi * c / n_classes, 1.5 + c % 3
        for _ in range(n_per_class):
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 6))
            img = colours[c][:, None, None] * wave * rng.uniform(0.6, 1.0) + rng.normal(0, 0.05, (3, size, size))
            images.append(np.clip(img, 0, 1))
            labels.append(c)
    return np.stack(images).astype(np.float32), np.array(labels, np.int64)


class ImageDataset(Dataset):
    def __init__(self, images, labels):
        self.images = images
        self.labels = labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return torch.from_numpy(self.images[index]), int(self.labels[index])


class NumpySource:
    """``rand(*size)`` / ``randn(*size)`` as torch's, drawn from numpy's generator seeded ``(seed, epoch)``."""

    def __init__(self, seed):
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch):
        self.rng = np.random.default_rng((self.seed, epoch))

    def rand(self, *size):
        size = size[0] if len(size) == 1 and isinstance(size[0], tuple) else size
        return torch.from_numpy(self.rng.random(size, dtype=np.float32))

    def randn(self, *size):
        size = size[0] if len(size) == 1 and isinstance(size[0], tuple) else size
        return torch.from_numpy(self.rng.standard_normal(size, dtype=np.float32))


class BatchAugment:
    """SimCLR's augmentation of a batch (N, 3, H, W) in [0, 1] with tensor ops: crop and resize, flip, colour jitter
    (with probability 0.8), grayscale (0.2), gaussian noise."""

    def __init__(self, size, s=1.0, rand=torch.rand, randn=torch.randn):
        self.size = size
        self.s = s
        self.rand = rand
        self.randn = randn

    def __call__(self, x):
        x = self.random_resized_crop(x)
        x = self.random_horizontal_flip(x)
        x = self.color_jitter(x, p=0.8)
        x = self.random_grayscale(x, p=0.2)
        return x + 0.02 * self.randn(x.shape)

    def random_resized_crop(self, x):
        n, _, h, w = x.shape
        ch = (h // 2 + self.rand(n) * (h // 2 + 1)).long()
        cw = (w // 2 + self.rand(n) * (w // 2 + 1)).long()
        top = (self.rand(n) * (h - ch + 1)).long()
        left = (self.rand(n) * (w - cw + 1)).long()
        crops = []
        for i in range(n):
            t, l = int(top[i]), int(left[i])
            crop = x[i:i + 1, :, t:t + int(ch[i]), l:l + int(cw[i])]
            crops.append(F.interpolate(crop, size=(self.size, self.size), mode='bilinear', align_corners=False))
        return torch.cat(crops, dim=0)

    def random_horizontal_flip(self, x):
        flip = self.rand(x.shape[0]) < 0.5
        return torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)

    @staticmethod
    def grayscale(x):
        r, g, b = x.unbind(dim=1)
        return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)

    def color_jitter(self, x, p):
        n = x.shape[0]
        brightness = 1 + 0.8 * self.s * (2 * self.rand(n, 1, 1, 1) - 1)
        contrast = 1 + 0.8 * self.s * (2 * self.rand(n, 1, 1, 1) - 1)
        saturation = 1 + 0.8 * self.s * (2 * self.rand(n, 1, 1, 1) - 1)
        y = x.mul(brightness).clamp(0, 1)
        mean = self.grayscale(y).mean(dim=(1, 2, 3), keepdim=True)
        y = (y - mean).mul(contrast).add(mean).clamp(0, 1)
        gray = self.grayscale(y)
        y = (y - gray).mul(saturation).add(gray).clamp(0, 1)
        apply = (self.rand(n) < p).float().view(-1, 1, 1, 1)
        return apply * y + (1 - apply) * x

    def random_grayscale(self, x, p):
        mask = self.rand(x.shape[0]) < p
        return torch.where(mask.view(-1, 1, 1, 1), self.grayscale(x).expand(-1, 3, -1, -1), x)


class ContrastiveLearningViewGenerator(object):  # noqa: UP004 - sthalles's spelling
    """Take two random crops of one image as the query and key: here of a whole batch, as the DataLoader's
    collate_fn, returning ([view, view], labels)."""

    def __init__(self, base_transform, n_views=2, source=None):
        self.base_transform = base_transform
        self.n_views = n_views
        self.source = source

    def set_epoch(self, epoch):
        if self.source is not None:
            self.source.set_epoch(epoch)

    def __call__(self, batch):
        images = torch.stack([image for image, _ in batch])
        labels = torch.tensor([label for _, label in batch])
        return [self.base_transform(images) for i in range(self.n_views)], labels


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1):
        super(BasicBlock, self).__init__()  # noqa: UP008 - torchvision's spelling
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet at a tiny size: (N, 3, H, W) -> (N, num_classes)."""

    def __init__(self, widths=(8, 16), num_classes=10):
        super(ResNet, self).__init__()  # noqa: UP008
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(widths[0], widths[0])
        self.layer2 = BasicBlock(widths[0], widths[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[1] * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet_tiny(num_classes=10):
    return ResNet((8, 16), num_classes)


def resnet_small(num_classes=10):
    return ResNet((8, 24), num_classes)


class InvalidBackboneError(Exception):
    """Raised when the choice of backbone Convnet is invalid."""


class ResNetSimCLR(nn.Module):

    def __init__(self, base_model, out_dim):
        super(ResNetSimCLR, self).__init__()  # noqa: UP008 - sthalles's spelling
        self.resnet_dict = {"resnet_tiny": resnet_tiny(num_classes=out_dim),
                            "resnet_small": resnet_small(num_classes=out_dim)}

        self.backbone = self._get_basemodel(base_model)
        dim_mlp = self.backbone.fc.in_features

        # add mlp projection head
        self.backbone.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), self.backbone.fc)

    def _get_basemodel(self, model_name):
        try:
            model = self.resnet_dict[model_name]
        except KeyError:
            raise InvalidBackboneError(  # noqa: B904 - sthalles's
                "Invalid backbone architecture. Check the config file and pass one of: resnet_tiny or resnet_small")
        else:
            return model

    def forward(self, x):
        return self.backbone(x)


def save_checkpoint(state, is_best, filename='checkpoint.pth.tar'):
    torch.save(state, filename)
    if is_best:
        shutil.copyfile(filename, 'model_best.pth.tar')


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


class AverageMeter(object):  # noqa: UP004 - imagenet's spelling
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


class ProgressMeter(object):  # noqa: UP004
    def __init__(self, num_batches, meters, prefix=""):
        self.batch_fmtstr = self._get_batch_fmtstr(num_batches)
        self.meters = meters
        self.prefix = prefix

    def display(self, batch):
        entries = [self.prefix + self.batch_fmtstr.format(batch)]
        entries += [str(meter) for meter in self.meters]
        print('\t'.join(entries))

    def _get_batch_fmtstr(self, num_batches):
        num_digits = len(str(num_batches // 1))
        fmt = '{:' + str(num_digits) + 'd}'
        return '[' + fmt + '/' + fmt.format(num_batches) + ']'


class ScalarWriter:
    """The SummaryWriter calls sthalles makes, kept as lists of floats: {tag: [(step, value)]}."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.scalars = {}

    def add_scalar(self, tag, value, global_step=None):
        self.scalars.setdefault(tag, []).append((global_step, float(value)))


class SimCLR(object):  # noqa: UP004

    def __init__(self, *args, **kwargs):
        self.args = kwargs['args']
        self.model = kwargs['model'].to(self.args.device)
        self.optimizer = kwargs['optimizer']
        self.scheduler = kwargs['scheduler']
        self.writer = ScalarWriter(self.args.log_dir)
        self.criterion = torch.nn.CrossEntropyLoss().to(self.args.device)
        self.grad_norms = []

    def info_nce_loss(self, features):

        labels = torch.cat([torch.arange(self.args.batch_size) for i in range(self.args.n_views)], dim=0)
        labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
        labels = labels.to(self.args.device)

        features = F.normalize(features, dim=1)

        similarity_matrix = torch.matmul(features, features.T)
        # assert similarity_matrix.shape == (
        #     self.args.n_views * self.args.batch_size, self.args.n_views * self.args.batch_size)
        # assert similarity_matrix.shape == labels.shape

        # discard the main diagonal from both: labels and similarities matrix
        mask = torch.eye(labels.shape[0], dtype=torch.bool).to(self.args.device)
        labels = labels[~mask].view(labels.shape[0], -1)
        similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)
        # assert similarity_matrix.shape == labels.shape

        # select and combine multiple positives
        positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)

        # select only the negatives the negatives
        negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)

        logits = torch.cat([positives, negatives], dim=1)
        labels = torch.zeros(logits.shape[0], dtype=torch.long).to(self.args.device)

        logits = logits / self.args.temperature
        return logits, labels

    def train(self, train_loader, start_epoch=0):

        scaler = GradScaler(enabled=self.args.fp16_precision)

        n_iter = start_epoch * len(train_loader)
        print(f"Start SimCLR training for {self.args.epochs} epochs.")
        print(f"Training with cpu: {self.args.disable_cuda}.")

        for epoch_counter in range(start_epoch, self.args.epochs):
            train_loader.collate_fn.set_epoch(epoch_counter)
            losses = AverageMeter('Loss', ':.4e')
            top1 = AverageMeter('Acc@1', ':6.2f')
            top5 = AverageMeter('Acc@5', ':6.2f')
            progress = ProgressMeter(len(train_loader), [losses, top1, top5],
                                     prefix="Epoch: [{}]".format(epoch_counter))  # noqa: UP032 - imagenet's
            for i, (images, _) in enumerate(train_loader):
                images = torch.cat(images, dim=0)

                images = images.to(self.args.device)

                with autocast(enabled=self.args.fp16_precision):
                    features = self.model(images)
                    logits, labels = self.info_nce_loss(features)
                    loss = self.criterion(logits, labels)

                self.optimizer.zero_grad()

                scaler.scale(loss).backward()
                self.grad_norms.append(torch.norm(torch.stack([torch.norm(p.grad.detach(), 2)
                                                               for p in self.model.parameters()]), 2).item())

                scaler.step(self.optimizer)
                scaler.update()

                acc1, acc5 = accuracy(logits, labels, topk=(1, 5))
                losses.update(loss.item(), images.size(0))
                top1.update(acc1[0], images.size(0))
                top5.update(acc5[0], images.size(0))
                if i % self.args.print_freq == 0:
                    progress.display(i)

                if n_iter % self.args.log_every_n_steps == 0:
                    top1_acc, top5_acc = accuracy(logits, labels, topk=(1, 5))
                    self.writer.add_scalar('loss', loss, global_step=n_iter)
                    self.writer.add_scalar('acc/top1', top1_acc[0], global_step=n_iter)
                    self.writer.add_scalar('acc/top5', top5_acc[0], global_step=n_iter)
                    self.writer.add_scalar('learning_rate', self.scheduler.get_lr()[0], global_step=n_iter)

                n_iter += 1

            # warmup for the first 10 epochs
            if epoch_counter >= self.args.warmup_epochs:
                self.scheduler.step()
            print(f"Epoch: {epoch_counter}\tLoss: {loss}\tTop1 accuracy: {top1_acc[0]}")
            print(' * Acc@1 {top1.avg:.3f} Acc@5 {top5.avg:.3f}'.format(top1=top1, top5=top5))  # noqa: UP032 - imagenet's

        print("Training has finished.")
        # save model checkpoints
        checkpoint_name = 'checkpoint_{:04d}.pth.tar'.format(self.args.epochs)  # noqa: UP032
        save_checkpoint({
            'epoch': self.args.epochs,
            'arch': self.args.arch,
            'state_dict': self.model.state_dict(),
            'optimizer': self.optimizer.state_dict(),
        }, is_best=False, filename=os.path.join(self.writer.log_dir, checkpoint_name))
        print(f"Model checkpoint and metadata has been saved at {self.writer.log_dir}.")
        return os.path.join(self.writer.log_dir, checkpoint_name)


def default_args(**changes):
    """sthalles's run.py arguments, at this program's size (``warmup_epochs`` is his hard-coded 10)."""
    args = Namespace(arch='resnet_tiny', epochs=3, batch_size=8, lr=0.0003, weight_decay=1e-4, seed=0,
                     disable_cuda=True, fp16_precision=False, out_dim=16, log_every_n_steps=2, temperature=0.07,
                     n_views=2, warmup_epochs=10, print_freq=2, resume='', log_dir='runs', device='cpu')
    for k, v in changes.items():
        setattr(args, k, v)
    return args


def pretrain(model, images, args, source=None):
    """sthalles's run.py main(): the contrastive loader, Adam, the cosine schedule, ``SimCLR.train``; with
    ``args.resume`` (a checkpoint path), imagenet's resume first. Returns the SimCLR object and the checkpoint path."""
    augment = BatchAugment(images.shape[-1]) if source is None else \
        BatchAugment(images.shape[-1], rand=source.rand, randn=source.randn)
    train_dataset = ImageDataset(images, np.zeros(len(images), np.int64))
    train_loader = DataLoader(train_dataset, batch_size=args.batch_size, shuffle=False, num_workers=0,
                              pin_memory=True, drop_last=True,
                              collate_fn=ContrastiveLearningViewGenerator(augment, args.n_views, source))

    optimizer = torch.optim.Adam(model.parameters(), args.lr, weight_decay=args.weight_decay)
    start_epoch, last_epoch = 0, -1
    if args.resume:
        if os.path.isfile(args.resume):
            print("=> loading checkpoint '{}'".format(os.path.basename(args.resume)))  # noqa: UP032
            checkpoint = torch.load(args.resume)
            start_epoch = checkpoint['epoch']
            model.load_state_dict(checkpoint['state_dict'])
            optimizer.load_state_dict(checkpoint['optimizer'])
            last_epoch = max(start_epoch - args.warmup_epochs, 0) - 1
            print("=> loaded checkpoint '{}' (epoch {})"
                  .format(os.path.basename(args.resume), checkpoint['epoch']))
        else:
            print("=> no checkpoint found at '{}'".format(args.resume))  # noqa: UP032

    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(train_loader), eta_min=0,
                                                           last_epoch=last_epoch)

    simclr = SimCLR(model=model, optimizer=optimizer, scheduler=scheduler, args=args)
    path = simclr.train(train_loader, start_epoch)
    return simclr, path


def linear_eval(model, checkpoint_path, train_set, test_set, epochs=3, batch_size=16):
    """sthalles's mini-batch logistic regression evaluator notebook: ``model`` (a fresh backbone with a class
    ``fc``) gets the checkpoint's backbone weights, all but ``fc`` frozen, Adam; per epoch the train top-1 and test
    top-1 / top-5. Returns the model and the losses and accuracies as floats."""
    checkpoint = torch.load(checkpoint_path, map_location='cpu')
    state_dict = checkpoint['state_dict']

    for k in list(state_dict.keys()):

        if k.startswith('backbone.'):  # noqa: SIM102 - the notebook's
            if k.startswith('backbone') and not k.startswith('backbone.fc'):
                # remove prefix
                state_dict[k[len("backbone."):]] = state_dict[k]
        del state_dict[k]

    log = model.load_state_dict(state_dict, strict=False)
    assert log.missing_keys == ['fc.weight', 'fc.bias']

    # freeze all layers but the last fc
    for name, param in model.named_parameters():
        if name not in ['fc.weight', 'fc.bias']:
            param.requires_grad = False

    parameters = list(filter(lambda p: p.requires_grad, model.parameters()))
    assert len(parameters) == 2  # fc.weight, fc.bias

    train_loader = DataLoader(ImageDataset(*train_set), batch_size=batch_size, shuffle=False)
    test_loader = DataLoader(ImageDataset(*test_set), batch_size=batch_size, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=0.0008)
    criterion = torch.nn.CrossEntropyLoss().to('cpu')

    history = {"loss": [], "train_top1": [], "top1": [], "top5": []}
    for epoch in range(epochs):
        top1_train_accuracy = 0
        for counter, (x_batch, y_batch) in enumerate(train_loader):  # noqa: B007 - used after the loop
            logits = model(x_batch)
            loss = criterion(logits, y_batch)
            top1 = accuracy(logits, y_batch, topk=(1,))
            top1_train_accuracy += top1[0]

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())

        top1_train_accuracy /= (counter + 1)
        top1_accuracy = 0
        top5_accuracy = 0
        for counter, (x_batch, y_batch) in enumerate(test_loader):  # noqa: B007
            logits = model(x_batch)

            top1, top5 = accuracy(logits, y_batch, topk=(1, 5))
            top1_accuracy += top1[0]
            top5_accuracy += top5[0]

        top1_accuracy /= (counter + 1)
        top5_accuracy /= (counter + 1)
        print(f"Epoch {epoch}\tTop1 Train accuracy {top1_train_accuracy.item()}\tTop1 Test accuracy: "
              f"{top1_accuracy.item()}\tTop5 test acc: {top5_accuracy.item()}")
        history["train_top1"].append(top1_train_accuracy.item())
        history["top1"].append(top1_accuracy.item())
        history["top5"].append(top5_accuracy.item())
    return model, history
