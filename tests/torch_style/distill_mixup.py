"""Knowledge distillation with mixup and CutMix written as ordinary PyTorch code, the way public repositories write
it: a small conv teacher trained with mixup (hongyi-zhang's mixup-cifar10: ``np.random.beta(alpha, alpha)``,
``mixed_x = lam * x + (1 - lam) * x[index, :]``, ``lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)``)
or CutMix (clovaai's CutMix-PyTorch: ``rand_bbox`` with ``np.int`` spelt ``int`` and ``np.clip``, the box pasted by
slice assignment, ``lam`` corrected to the box's area), ``nn.CrossEntropyLoss(label_smoothing=0.1)``, SGD with
momentum, Nesterov and weight decay under ``OneCycleLR`` stepped per batch or ``CosineAnnealingWarmRestarts``
stepped with a fractional epoch (``scheduler.step(epoch + i / iters)``); then an MLP student distilled from it
(Hinton's loss as knowledge-distillation-pytorch's ``loss_fn_kd`` writes it: ``nn.KLDivLoss(reduction='batchmean')``
of temperature-softened outputs times ``alpha * T * T`` plus ``F.cross_entropy * (1 - alpha)``; also the old
``nn.KLDivLoss(size_average=False)`` divided by the batch size and the ``log_target=True`` form), the teacher in
``eval()`` under ``torch.no_grad()``, optionally on mixed inputs; ``test`` in pytorch/examples' mnist spelling
(``reduction='sum'``, ``argmax(dim=1, keepdim=True)``, ``pred.eq(target.view_as(pred)).sum().item()``) and the
imagenet example's ``accuracy`` (``output.topk(maxk, 1, True, True)``, ``correct[:k].reshape(-1).float().sum(0,
keepdim=True)``). One change for the harness: ``torch.randperm`` and the batch order are numpy's (seeded through
``np.random.seed``), so both libraries mix the same pairs."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Teacher(nn.Module):
    def __init__(self, num_classes=5):
        super(Teacher, self).__init__()  # noqa: UP008 - the repositories' spelling
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class Student(nn.Module):
    def __init__(self, num_classes=5, hidden=24):
        super(Student, self).__init__()  # noqa: UP008
        self.fc1 = nn.Linear(3 * 8 * 8, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = x.view(-1, 3 * 8 * 8)
        return self.fc2(F.relu(self.fc1(x)))


def make_data(n=96, num_classes=5, seed=0):
    """(n, 3, 8, 8) float32 images: a class-dependent blob position and colour plus noise; int64 labels."""
    rng = np.random.RandomState(seed)
    y = rng.randint(num_classes, size=n)
    x = rng.randn(n, 3, 8, 8).astype(np.float32) * 0.5
    for i, c in enumerate(y):
        x[i, c % 3, 2 * (c % 4):2 * (c % 4) + 3, 2 * (c // 2):2 * (c // 2) + 3] += 1.5
    return torch.from_numpy(x), torch.from_numpy(y)


def mixup_data(x, y, alpha=1.0):
    '''Returns mixed inputs, pairs of targets, and lambda'''
    if alpha > 0:  # noqa: SIM108 - mixup-cifar10's spelling
        lam = np.random.beta(alpha, alpha)
    else:
        lam = 1

    batch_size = x.size()[0]
    index = torch.from_numpy(np.random.permutation(batch_size))  # torch.randperm(batch_size) in the original

    mixed_x = lam * x + (1 - lam) * x[index, :]
    y_a, y_b = y, y[index]
    return mixed_x, y_a, y_b, lam


def mixup_criterion(criterion, pred, y_a, y_b, lam):
    return lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)


def rand_bbox(size, lam):
    W = size[2]
    H = size[3]
    cut_rat = np.sqrt(1. - lam)
    cut_w = int(W * cut_rat)  # np.int in the original
    cut_h = int(H * cut_rat)

    # uniform
    cx = np.random.randint(W)
    cy = np.random.randint(H)

    bbx1 = np.clip(cx - cut_w // 2, 0, W)
    bby1 = np.clip(cy - cut_h // 2, 0, H)
    bbx2 = np.clip(cx + cut_w // 2, 0, W)
    bby2 = np.clip(cy + cut_h // 2, 0, H)

    return bbx1, bby1, bbx2, bby2


def cutmix_data(input, target, beta=1.0):  # noqa: A002 - CutMix-PyTorch's name
    lam = np.random.beta(beta, beta)
    rand_index = torch.from_numpy(np.random.permutation(input.size()[0]))  # torch.randperm(...).cuda()
    target_a = target
    target_b = target[rand_index]
    bbx1, bby1, bbx2, bby2 = rand_bbox(input.size(), lam)
    input[:, :, bbx1:bbx2, bby1:bby2] = input[rand_index, :, bbx1:bbx2, bby1:bby2]
    # adjust lambda to exactly match pixel ratio
    lam = 1 - ((bbx2 - bbx1) * (bby2 - bby1) / (input.size()[-1] * input.size()[-2]))
    return input, target_a, target_b, lam


def loss_fn_kd(outputs, labels, teacher_outputs, alpha, T, kind='batchmean'):
    """Hinton's distillation loss; ``kind`` picks the spelling of the KL term."""
    if kind == 'batchmean':
        kl = nn.KLDivLoss(reduction='batchmean')(F.log_softmax(outputs / T, dim=1),
                                                 F.softmax(teacher_outputs / T, dim=1))
    elif kind == 'size_average':
        kl = nn.KLDivLoss(size_average=False)(F.log_softmax(outputs / T, dim=1),
                                              F.softmax(teacher_outputs / T, dim=1)) / outputs.shape[0]
    else:
        kl = nn.KLDivLoss(reduction='batchmean', log_target=True)(F.log_softmax(outputs / T, dim=1),
                                                                  F.log_softmax(teacher_outputs / T, dim=1))
    KD_loss = kl * (alpha * T * T) + F.cross_entropy(outputs, labels) * (1. - alpha)
    return KD_loss


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


def test(model, x, y, out, batch_size=32):
    model.eval()
    test_loss = 0
    correct = 0
    top1 = top3 = 0.
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            data, target = x[i:i + batch_size], y[i:i + batch_size]
            output = model(data)
            test_loss += F.cross_entropy(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
            acc1, acc3 = accuracy(output, target, topk=(1, 3))
            top1 += acc1[0].item() * len(data) / len(x)
            top3 += acc3[0].item() * len(data) / len(x)
    test_loss /= len(x)
    out["test_loss"].append(test_loss)
    out["correct"].append(correct)
    out["top1"].append(top1)
    out["top3"].append(top3)
    out["lines"].append('Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)'.format(  # noqa: UP032
        test_loss, correct, len(x), 100. * correct / len(x)))


def grad_norm(model):
    return sum(p.grad.pow(2).sum().item() for p in model.parameters() if p.grad is not None) ** 0.5


def make_optimizer(model, epochs, iters, lr, schedule):
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if schedule == 'onecycle':
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=iters)
    else:
        scheduler = optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=2, eta_min=1e-4)
    return optimizer, scheduler


def train_teacher(model, epochs=3, batch_size=16, lr=0.1, aug='mixup', schedule='onecycle', seed=0, resume_at=None):
    """The teacher on mixed batches; the series recorded per step, the test metrics per epoch. With ``resume_at``
    the model, optimizer, scheduler and numpy generator are saved after that many epochs and the run goes on in
    fresh objects loaded from the checkpoint."""
    np.random.seed(seed)
    x, y = make_data()
    x_test, y_test = make_data(48, seed=1)
    iters = len(x) // batch_size
    optimizer, scheduler = make_optimizer(model, epochs, iters, lr, schedule)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    out = {k: [] for k in ("loss", "lr", "momentum", "grad", "lam", "train_correct", "test_loss", "correct", "top1",
                           "top3", "lines")}
    for epoch in range(epochs):
        model.train()
        perm = np.random.permutation(len(x))
        for i in range(iters):
            idx = torch.from_numpy(perm[i * batch_size:(i + 1) * batch_size])
            inputs, targets = x[idx], y[idx]
            if aug == 'mixup':
                inputs, targets_a, targets_b, lam = mixup_data(inputs, targets, 1.0)
            else:
                inputs, targets_a, targets_b, lam = cutmix_data(inputs, targets, 1.0)
            outputs = model(inputs)
            loss = mixup_criterion(criterion, outputs, targets_a, targets_b, lam)
            optimizer.zero_grad()
            loss.backward()
            out["grad"].append(grad_norm(model))
            optimizer.step()
            out["lr"].append(optimizer.param_groups[0]['lr'])
            out["momentum"].append(optimizer.param_groups[0]['momentum'])
            if schedule == 'onecycle':
                scheduler.step()
            else:
                scheduler.step(epoch + i / iters)
            _, predicted = torch.max(outputs.data, 1)
            out["train_correct"].append((lam * predicted.eq(targets_a.data).cpu().sum().float()
                                         + (1 - lam) * predicted.eq(targets_b.data).cpu().sum().float()).item())
            out["loss"].append(loss.item())
            out["lam"].append(float(lam))
        test(model, x_test, y_test, out)
        if epoch + 1 == resume_at:
            model, optimizer, scheduler = resume(model, optimizer, scheduler, epoch, epochs, iters, lr, schedule)
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out


def resume(model, optimizer, scheduler, epoch, epochs, iters, lr, schedule):
    buffer = io.BytesIO()
    torch.save({'epoch': epoch, 'state_dict': model.state_dict(), 'optimizer': optimizer.state_dict(),
                'scheduler': scheduler.state_dict(), 'rng': np.random.get_state()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=False)
    model = type(model)()
    model.load_state_dict(checkpoint['state_dict'])
    optimizer, scheduler = make_optimizer(model, epochs, iters, lr, schedule)
    optimizer.load_state_dict(checkpoint['optimizer'])
    scheduler.load_state_dict(checkpoint['scheduler'])
    np.random.set_state(checkpoint['rng'])
    return model, optimizer, scheduler


def train_student(student, teacher, epochs=3, batch_size=16, lr=0.05, alpha=0.9, T=4.0, kind='batchmean',
                  mix=False, schedule='onecycle', seed=1):
    """The student distilled from a teacher kept in eval mode; with ``mix`` both see the same mixup batch."""
    np.random.seed(seed)
    x, y = make_data()
    x_test, y_test = make_data(48, seed=1)
    iters = len(x) // batch_size
    optimizer, scheduler = make_optimizer(student, epochs, iters, lr, schedule)
    out = {k: [] for k in ("loss", "lr", "grad", "test_loss", "correct", "top1", "top3", "lines")}
    teacher.eval()
    for epoch in range(epochs):
        student.train()
        perm = np.random.permutation(len(x))
        for i in range(iters):
            idx = torch.from_numpy(perm[i * batch_size:(i + 1) * batch_size])
            train_batch, labels_batch = x[idx], y[idx]
            if mix:
                train_batch, labels_a, labels_b, lam = mixup_data(train_batch, labels_batch, 0.4)
            output_batch = student(train_batch)
            with torch.no_grad():
                output_teacher_batch = teacher(train_batch)
            if mix:
                loss = mixup_criterion(lambda p, t: loss_fn_kd(p, t, output_teacher_batch, alpha, T, kind),  # noqa: B023
                                       output_batch, labels_a, labels_b, lam)
            else:
                loss = loss_fn_kd(output_batch, labels_batch, output_teacher_batch, alpha, T, kind)
            optimizer.zero_grad()
            loss.backward()
            out["grad"].append(grad_norm(student))
            optimizer.step()
            out["lr"].append(scheduler.get_last_lr()[0])
            if schedule == 'onecycle':
                scheduler.step()
            else:
                scheduler.step(epoch + i / iters)
            out["loss"].append(loss.item())
        test(student, x_test, y_test, out)
    out["params"] = {k: v.detach().numpy().copy() for k, v in student.state_dict().items()}
    return out
