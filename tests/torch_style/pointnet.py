"""PointNet (Qi et al. 2017) classification and part segmentation, written as fxia22/pointnet.pytorch and its many
copies write it, at a tiny size (widths 16 / 32 / 64 where the paper has 64 / 128 / 1024): the ``STN3d`` and
``STNkd`` T-nets (Conv1d + BatchNorm1d + ReLU per point, ``torch.max(x, 2, keepdim=True)[0]``, ``x.view(-1, 64)``, a
fully connected head and the identity added as ``Variable(torch.from_numpy(np.array([1,0,0,0,1,0,0,0,1])...))
.view(1, 9).repeat(batchsize, 1)``), the input and feature transforms applied with ``torch.bmm(x.transpose(2, 1),
trans).transpose(2, 1)``, the feature-transform regularizer ``mean ||A A^T - I||_F``, ``PointNetCls`` (log_softmax
+ nll_loss, Dropout) and ``PointNetDenseCls`` (per-point log_softmax over ``x.transpose(2,1).contiguous()
.view(-1, k)``).

The data are synthetic point clouds made by numpy: ``n_points`` points sampled on the surface of a sphere, a cube or
a cylinder (3 classes), the per-point part label being "above the middle" (1) or not (0). The Dataset centres and
scales each cloud as fxia22's ShapeNetDataset does, and augments it with a rotation about the up axis (y) and a
jitter drawn by numpy and applied with torch ops in float64 (``point_set[:, [0, 2]] = torch.mm(...)``), then casts
it to its ``dtype`` (float64 for a ``model.double()``). Training is Adam + StepLR with fxia22's loop
(``pred.data.max(1)[1]``, ``pred_choice.eq(target.data).cpu().sum()``) and yanx27/Pointnet_Pointnet2_pytorch's
BatchNorm momentum decay (``model.apply(lambda x: bn_momentum_adjust(x, momentum))``), evaluation in eval mode
(yanx27's per-class accuracy: ``np.unique(target.cpu())``, ``pred_choice[target == cat]``), and yanx27's checkpoint
dict (epoch, model and optimizer state) saved per epoch with ``torch.save`` and resumed from. The harness runs it on
torch and, with the imports swapped, on ours."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

SHAPES = ("sphere", "cube", "cylinder")


def sample_shape(kind, n, rng):
    """``n`` points (n, 3) float32 on the surface of a unit ``kind``, y up."""
    if kind == "sphere":
        p = rng.normal(size=(n, 3))
        return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)
    if kind == "cube":
        p = rng.uniform(-1, 1, size=(n, 3))
        face = rng.integers(0, 3, n)
        p[np.arange(n), face] = rng.choice([-1.0, 1.0], n)
        return p.astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(theta), rng.uniform(-1, 1, n), np.sin(theta)], 1).astype(np.float32)


def make_clouds(n_per_class, n_points=96, seed=0):
    """``3 * n_per_class`` clouds (N, n_points, 3) float32, squashed or stretched at random, with their class labels
    (N,) int64 and per-point part labels (N, n_points) int64."""
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for cls, kind in enumerate(SHAPES):
        for _ in range(n_per_class):
            clouds.append(sample_shape(kind, n_points, rng) * rng.uniform(0.7, 1.3, 3).astype(np.float32))
            labels.append(cls)
    clouds = np.stack(clouds)
    parts = (clouds[:, :, 1] > 0).astype(np.int64)
    return clouds, np.array(labels, np.int64), parts


class PointCloudDataset(Dataset):
    def __init__(self, clouds, labels, parts, npoints=64, data_augmentation=True, seed=0, dtype=torch.float32):
        self.clouds = clouds
        self.labels = labels
        self.parts = parts
        self.npoints = npoints
        self.data_augmentation = data_augmentation
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype

    def __len__(self):
        return len(self.clouds)

    def __getitem__(self, index):
        point_set = self.clouds[index]
        seg = self.parts[index]
        choice = self.rng.choice(len(seg), self.npoints, replace=True)
        point_set = point_set[choice, :]
        point_set = point_set - np.expand_dims(np.mean(point_set, axis=0), 0)  # center
        dist = np.max(np.sqrt(np.sum(point_set ** 2, axis=1)), 0)
        point_set = point_set / dist  # scale
        point_set = torch.from_numpy(point_set.astype(np.float64))
        if self.data_augmentation:
            theta = self.rng.uniform(0, np.pi * 2)
            rotation_matrix = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
            rotation_matrix = torch.from_numpy(rotation_matrix)
            point_set[:, [0, 2]] = torch.mm(point_set[:, [0, 2]], rotation_matrix)  # random rotation
            jitter = self.rng.normal(0, 0.02, size=tuple(point_set.shape))
            point_set += torch.from_numpy(jitter)  # random jitter
        seg = torch.from_numpy(seg[choice])
        cls = torch.from_numpy(np.array([self.labels[index]]).astype(np.int64))
        return point_set.to(self.dtype), cls, seg


class STN3d(nn.Module):
    def __init__(self):
        super(STN3d, self).__init__()  # noqa: UP008 - fxia22's spelling
        self.conv1 = torch.nn.Conv1d(3, 16, 1)
        self.conv2 = torch.nn.Conv1d(16, 32, 1)
        self.conv3 = torch.nn.Conv1d(32, 64, 1)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 9)
        self.relu = nn.ReLU()

        self.bn1 = nn.BatchNorm1d(16)
        self.bn2 = nn.BatchNorm1d(32)
        self.bn3 = nn.BatchNorm1d(64)
        self.bn4 = nn.BatchNorm1d(32)
        self.bn5 = nn.BatchNorm1d(16)

    def forward(self, x):
        batchsize = x.size()[0]
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = torch.max(x, 2, keepdim=True)[0]
        x = x.view(-1, 64)

        x = F.relu(self.bn4(self.fc1(x)))
        x = F.relu(self.bn5(self.fc2(x)))
        x = self.fc3(x)

        iden = torch.autograd.Variable(torch.from_numpy(np.array([1, 0, 0, 0, 1, 0, 0, 0, 1]).astype(np.float32)))
        iden = iden.view(1, 9).repeat(batchsize, 1)
        if x.is_cuda:
            iden = iden.cuda()
        x = x + iden
        x = x.view(-1, 3, 3)
        return x


class STNkd(nn.Module):
    def __init__(self, k=16):
        super(STNkd, self).__init__()  # noqa: UP008
        self.conv1 = torch.nn.Conv1d(k, 16, 1)
        self.conv2 = torch.nn.Conv1d(16, 32, 1)
        self.conv3 = torch.nn.Conv1d(32, 64, 1)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, k * k)
        self.relu = nn.ReLU()

        self.bn1 = nn.BatchNorm1d(16)
        self.bn2 = nn.BatchNorm1d(32)
        self.bn3 = nn.BatchNorm1d(64)
        self.bn4 = nn.BatchNorm1d(32)
        self.bn5 = nn.BatchNorm1d(16)

        self.k = k

    def forward(self, x):
        batchsize = x.size()[0]
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = torch.max(x, 2, keepdim=True)[0]
        x = x.view(-1, 64)

        x = F.relu(self.bn4(self.fc1(x)))
        x = F.relu(self.bn5(self.fc2(x)))
        x = self.fc3(x)

        iden = torch.autograd.Variable(torch.from_numpy(np.eye(self.k).flatten().astype(np.float32)))
        iden = iden.view(1, self.k * self.k).repeat(batchsize, 1)
        if x.is_cuda:
            iden = iden.cuda()
        x = x + iden
        x = x.view(-1, self.k, self.k)
        return x


class PointNetfeat(nn.Module):
    def __init__(self, global_feat=True, feature_transform=False):
        super(PointNetfeat, self).__init__()  # noqa: UP008
        self.stn = STN3d()
        self.conv1 = torch.nn.Conv1d(3, 16, 1)
        self.conv2 = torch.nn.Conv1d(16, 32, 1)
        self.conv3 = torch.nn.Conv1d(32, 64, 1)
        self.bn1 = nn.BatchNorm1d(16)
        self.bn2 = nn.BatchNorm1d(32)
        self.bn3 = nn.BatchNorm1d(64)
        self.global_feat = global_feat
        self.feature_transform = feature_transform
        if self.feature_transform:
            self.fstn = STNkd(k=16)

    def forward(self, x):
        n_pts = x.size()[2]
        trans = self.stn(x)
        x = x.transpose(2, 1)
        x = torch.bmm(x, trans)
        x = x.transpose(2, 1)
        x = F.relu(self.bn1(self.conv1(x)))

        if self.feature_transform:
            trans_feat = self.fstn(x)
            x = x.transpose(2, 1)
            x = torch.bmm(x, trans_feat)
            x = x.transpose(2, 1)
        else:
            trans_feat = None

        pointfeat = x
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        x = torch.max(x, 2, keepdim=True)[0]
        x = x.view(-1, 64)
        if self.global_feat:
            return x, trans, trans_feat
        else:
            x = x.view(-1, 64, 1).repeat(1, 1, n_pts)
            return torch.cat([x, pointfeat], 1), trans, trans_feat


class PointNetCls(nn.Module):
    def __init__(self, k=2, feature_transform=False, dropout=0.3):
        super(PointNetCls, self).__init__()  # noqa: UP008
        self.feature_transform = feature_transform
        self.feat = PointNetfeat(global_feat=True, feature_transform=feature_transform)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, k)
        self.dropout = nn.Dropout(p=dropout)
        self.bn1 = nn.BatchNorm1d(32)
        self.bn2 = nn.BatchNorm1d(16)
        self.relu = nn.ReLU()

    def forward(self, x):
        x, trans, trans_feat = self.feat(x)
        x = F.relu(self.bn1(self.fc1(x)))
        x = F.relu(self.bn2(self.dropout(self.fc2(x))))
        x = self.fc3(x)
        return F.log_softmax(x, dim=1), trans, trans_feat


class PointNetDenseCls(nn.Module):
    def __init__(self, k=2, feature_transform=False):
        super(PointNetDenseCls, self).__init__()  # noqa: UP008
        self.k = k
        self.feature_transform = feature_transform
        self.feat = PointNetfeat(global_feat=False, feature_transform=feature_transform)
        self.conv1 = torch.nn.Conv1d(80, 32, 1)
        self.conv2 = torch.nn.Conv1d(32, 16, 1)
        self.conv3 = torch.nn.Conv1d(16, 8, 1)
        self.conv4 = torch.nn.Conv1d(8, self.k, 1)
        self.bn1 = nn.BatchNorm1d(32)
        self.bn2 = nn.BatchNorm1d(16)
        self.bn3 = nn.BatchNorm1d(8)

    def forward(self, x):
        batchsize = x.size()[0]
        n_pts = x.size()[2]
        x, trans, trans_feat = self.feat(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.conv4(x)
        x = x.transpose(2, 1).contiguous()
        x = F.log_softmax(x.view(-1, self.k), dim=-1)
        x = x.view(batchsize, n_pts, self.k)
        return x, trans, trans_feat


def feature_transform_regularizer(trans):
    d = trans.size()[1]
    I = torch.eye(d)[None, :, :]
    if trans.is_cuda:
        I = I.cuda()
    loss = torch.mean(torch.norm(torch.bmm(trans, trans.transpose(2, 1)) - I, dim=(1, 2)))
    return loss


def grad_norm(model):
    return torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item()


def bn_momentum_adjust(m, momentum):
    if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):  # noqa: SIM101 - yanx27's
        m.momentum = momentum


def train(model, dataset, testset, nepoch=3, batch_size=8, task="cls", checkpoint=None, resume=None):
    """fxia22's train_classification.py (``task="cls"``) or train_segmentation.py (``task="seg"``) loop: Adam(lr
    1e-3) + StepLR(step_size=2, gamma=0.5), and yanx27's BatchNorm momentum decay (``model.apply``). After each
    epoch a checkpoint dict goes to ``checkpoint_<epoch>.pth``; ``resume`` names one to go on from. Returns the
    history of losses, accuracies, gradient norms, transforms of the first batch, learning rates, BatchNorm
    momenta and test losses / accuracies (eval mode)."""
    dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    testdataloader = DataLoader(testset, batch_size=batch_size, shuffle=False)
    optimizer = optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    start_epoch = 0
    if resume is not None:
        saved = torch.load(resume)
        start_epoch = saved['epoch'] + 1
        model.load_state_dict(saved['model_state_dict'])
        optimizer.load_state_dict(saved['optimizer_state_dict'])
        scheduler.load_state_dict(saved['scheduler_state_dict'])
    num_batch = len(dataset) / batch_size
    history = {"loss": [], "acc": [], "norm": [], "trans": [], "trans_feat": [], "lr": [], "test_acc": [],
               "test_loss": [], "momentum": []}
    for epoch in range(start_epoch, nepoch):
        momentum = max(0.1 * (0.5 ** (epoch // 1)), 0.01)
        model = model.apply(lambda x: bn_momentum_adjust(x, momentum))  # noqa: B023 - called at once
        history["momentum"].append(model.feat.bn1.momentum)
        for i, data in enumerate(dataloader, 0):
            points, target, seg = data
            target = target[:, 0] if task == "cls" else seg
            points = points.transpose(2, 1)
            optimizer.zero_grad()
            model = model.train()
            pred, trans, trans_feat = model(points)
            if task == "seg":
                pred = pred.view(-1, model.k)
                target = target.view(-1, 1)[:, 0]
            loss = F.nll_loss(pred, target)
            if model.feature_transform:
                loss += feature_transform_regularizer(trans_feat) * 0.001
            loss.backward()
            history["norm"].append(grad_norm(model))
            optimizer.step()
            pred_choice = pred.data.max(1)[1]
            correct = pred_choice.eq(target.data).cpu().sum()
            accuracy = correct.item() / float(target.size(0))
            print('[%d: %d/%d] train loss: %f accuracy: %f' % (  # noqa: UP031 - fxia22's format
                epoch, i, num_batch, loss.item(), accuracy))
            history["loss"].append(loss.item())
            history["acc"].append(accuracy)
            if i == 0:
                history["trans"].append(trans.detach().cpu().numpy().copy())
                if trans_feat is not None:
                    history["trans_feat"].append(trans_feat.detach().cpu().numpy().copy())
        scheduler.step()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["test_loss"].append(test_loss(model, testdataloader, task))
        history["test_acc"].append(test(model, testdataloader, task))
        if checkpoint is not None:
            state = {
                'epoch': epoch,
                'model_state_dict': model.state_dict(),
                'optimizer_state_dict': optimizer.state_dict(),
                'scheduler_state_dict': scheduler.state_dict(),
            }
            torch.save(state, "%s_%d.pth" % (checkpoint, epoch))  # noqa: UP031
    return history


def test_loss(model, testdataloader, task="cls"):
    """The mean nll_loss over the test set in eval mode, under no_grad."""
    model = model.eval()
    total = 0.0
    with torch.no_grad():
        for points, target, seg in testdataloader:
            pred, _, _ = model(points.transpose(2, 1))
            if task == "cls":
                total += F.nll_loss(pred, target[:, 0], reduction="sum").item()
            else:
                total += F.nll_loss(pred.view(-1, model.k), seg.view(-1), reduction="sum").item() / seg.size(1)
    return total / len(testdataloader.dataset)


def test(model, testdataloader, task="cls"):
    """fxia22's final accuracy and yanx27's mean per-class accuracy (classification), or the mean part IoU
    (segmentation), in eval mode."""
    total_correct = 0
    total_testset = 0
    shape_ious = []
    class_acc = np.zeros((len(SHAPES), 3))
    for _i, data in enumerate(testdataloader, 0):
        points, target, seg = data
        points = points.transpose(2, 1)
        model = model.eval()
        pred, _, _ = model(points)
        pred_choice = pred.data.max(-1)[1]
        if task == "cls":
            target = target[:, 0]
            correct = pred_choice.eq(target.data).cpu().sum()
            total_correct += correct.item()
            total_testset += points.size()[0]
            for cat in np.unique(target.cpu()):
                classacc = pred_choice[target == cat].eq(target[target == cat].long().data).cpu().sum()
                class_acc[cat, 0] += classacc.item() / float(points[target == cat].size()[0])
                class_acc[cat, 1] += 1
        else:
            pred_np = pred_choice.cpu().data.numpy()
            target_np = seg.cpu().data.numpy()
            for shape_idx in range(target_np.shape[0]):
                part_ious = []
                for part in range(model.k):
                    inter = np.sum(np.logical_and(pred_np[shape_idx] == part, target_np[shape_idx] == part))
                    union = np.sum(np.logical_or(pred_np[shape_idx] == part, target_np[shape_idx] == part))
                    part_ious.append(1.0 if union == 0 else inter / float(union))
                shape_ious.append(np.mean(part_ious))
    if task == "cls":
        class_acc[:, 2] = class_acc[:, 0] / class_acc[:, 1]
        return total_correct / float(total_testset), float(np.mean(class_acc[:, 2]))
    return float(np.mean(shape_ious))
