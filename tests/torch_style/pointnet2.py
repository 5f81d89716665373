"""PointNet++ (Qi et al. 2017) as yanx27/Pointnet_Pointnet2_pytorch writes it, at a tiny size (64 points, 16 then 8
centroids, widths 8-64): pointnet2_utils.py (``square_distance`` by ``-2 * matmul`` plus the sums of squares,
``index_points`` by batched advanced indexing, ``farthest_point_sample``, ``query_ball_point``, ``sample_and_group``
/ ``sample_and_group_all``, PointNetSetAbstraction / PointNetSetAbstractionMsg of Conv2d + BatchNorm2d stacks and
PointNetFeaturePropagation's inverse-distance interpolation), the classification models (pointnet2_cls_ssg and
pointnet2_cls_msg: a Linear / BatchNorm1d / Dropout head, ``F.log_softmax`` and get_loss's ``F.nll_loss``), the
part segmentation model (pointnet2_part_seg_ssg: the one-hot category ``view(B, 16, 1).repeat(1, 1, N)``), the
provider's numpy augmentations, and train_classification.py / train_partseg.py's loops (Adam + StepLR with its early
``scheduler.step()``, or the lr written into the groups with the BatchNorm momentum decay by ``model.apply``; the
test functions' instance / class accuracies and part mIoUs; the ``best_model.pth`` checkpoint dict).

Changed for a comparison between two libraries: ``farthest_point_sample`` draws its starting indices from numpy's
global generator where the original calls ``torch.randint``, the loaders do not shuffle, and the data are synthetic
numpy point clouds (spheres, cubes and cylinders with their normals; a part is "above the middle")."""

# ruff: noqa: UP008, UP031, UP034, SIM108, SIM113, SIM114, SIM118, B007, RUF059, N801 - the repository's own spellings

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

# ----------------------------------------------------------------------------------------------- pointnet2_utils.py


def pc_normalize(pc):
    centroid = np.mean(pc, axis=0)
    pc = pc - centroid
    m = np.max(np.sqrt(np.sum(pc ** 2, axis=1)))
    pc = pc / m
    return pc


def square_distance(src, dst):
    """
    Calculate Euclid distance between each two points.
    src^T * dst = xn * xm + yn * ym + zn * zm;
    sum(src^2, dim=-1) = xn*xn + yn*yn + zn*zn;
    sum(dst^2, dim=-1) = xm*xm + ym*ym + zm*zm;
    dist = (xn - xm)^2 + (yn - ym)^2 + (zn - zm)^2
         = sum(src**2,dim=-1)+sum(dst**2,dim=-1)-2*src^T*dst
    """
    B, N, _ = src.shape
    _, M, _ = dst.shape
    dist = -2 * torch.matmul(src, dst.permute(0, 2, 1))
    dist += torch.sum(src ** 2, -1).view(B, N, 1)
    dist += torch.sum(dst ** 2, -1).view(B, 1, M)
    return dist


def index_points(points, idx):
    """points [B, N, C], idx [B, S] or [B, S, K] -> indexed points [B, S, C] or [B, S, K, C]"""
    device = points.device
    B = points.shape[0]
    view_shape = list(idx.shape)
    view_shape[1:] = [1] * (len(view_shape) - 1)
    repeat_shape = list(idx.shape)
    repeat_shape[0] = 1
    batch_indices = torch.arange(B, dtype=torch.long).to(device).view(view_shape).repeat(repeat_shape)
    new_points = points[batch_indices, idx, :]
    return new_points


def farthest_point_sample(xyz, npoint):
    """xyz [B, N, 3] -> centroids [B, npoint] (the starting points from numpy; torch.randint in the original)"""
    device = xyz.device
    B, N, C = xyz.shape
    centroids = torch.zeros(B, npoint, dtype=torch.long).to(device)
    distance = torch.ones(B, N).to(device) * 1e10
    farthest = torch.from_numpy(np.random.randint(0, N, (B,))).long().to(device)
    batch_indices = torch.arange(B, dtype=torch.long).to(device)
    for i in range(npoint):
        centroids[:, i] = farthest
        centroid = xyz[batch_indices, farthest, :].view(B, 1, 3)
        dist = torch.sum((xyz - centroid) ** 2, -1)
        mask = dist < distance
        distance[mask] = dist[mask]
        farthest = torch.max(distance, -1)[1]
    return centroids


def query_ball_point(radius, nsample, xyz, new_xyz):
    """radius, nsample, xyz [B, N, 3], new_xyz [B, S, 3] -> group_idx [B, S, nsample]"""
    device = xyz.device
    B, N, C = xyz.shape
    _, S, _ = new_xyz.shape
    group_idx = torch.arange(N, dtype=torch.long).to(device).view(1, 1, N).repeat([B, S, 1])
    sqrdists = square_distance(new_xyz, xyz)
    group_idx[sqrdists > radius ** 2] = N
    group_idx = group_idx.sort(dim=-1)[0][:, :, :nsample]
    group_first = group_idx[:, :, 0].view(B, S, 1).repeat([1, 1, nsample])
    mask = group_idx == N
    group_idx[mask] = group_first[mask]
    return group_idx


def sample_and_group(npoint, radius, nsample, xyz, points, returnfps=False):
    B, N, C = xyz.shape
    S = npoint
    fps_idx = farthest_point_sample(xyz, npoint)  # [B, npoint, C]
    new_xyz = index_points(xyz, fps_idx)
    idx = query_ball_point(radius, nsample, xyz, new_xyz)
    grouped_xyz = index_points(xyz, idx)  # [B, npoint, nsample, C]
    grouped_xyz_norm = grouped_xyz - new_xyz.view(B, S, 1, C)

    if points is not None:
        grouped_points = index_points(points, idx)
        new_points = torch.cat([grouped_xyz_norm, grouped_points], dim=-1)  # [B, npoint, nsample, C+D]
    else:
        new_points = grouped_xyz_norm
    if returnfps:
        return new_xyz, new_points, grouped_xyz, fps_idx
    else:
        return new_xyz, new_points


def sample_and_group_all(xyz, points):
    device = xyz.device
    B, N, C = xyz.shape
    new_xyz = torch.zeros(B, 1, C).to(device)
    grouped_xyz = xyz.view(B, 1, N, C)
    if points is not None:
        new_points = torch.cat([grouped_xyz, points.view(B, 1, N, -1)], dim=-1)
    else:
        new_points = grouped_xyz
    return new_xyz, new_points


class PointNetSetAbstraction(nn.Module):
    def __init__(self, npoint, radius, nsample, in_channel, mlp, group_all):
        super(PointNetSetAbstraction, self).__init__()
        self.npoint = npoint
        self.radius = radius
        self.nsample = nsample
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last_channel = in_channel
        for out_channel in mlp:
            self.mlp_convs.append(nn.Conv2d(last_channel, out_channel, 1))
            self.mlp_bns.append(nn.BatchNorm2d(out_channel))
            last_channel = out_channel
        self.group_all = group_all

    def forward(self, xyz, points):
        """xyz [B, C, N], points [B, D, N] -> new_xyz [B, C, S], new_points [B, D', S]"""
        xyz = xyz.permute(0, 2, 1)
        if points is not None:
            points = points.permute(0, 2, 1)

        if self.group_all:
            new_xyz, new_points = sample_and_group_all(xyz, points)
        else:
            new_xyz, new_points = sample_and_group(self.npoint, self.radius, self.nsample, xyz, points)
        # new_xyz: sampled points position data, [B, npoint, C]
        # new_points: sampled points data, [B, npoint, nsample, C+D]
        new_points = new_points.permute(0, 3, 2, 1)  # [B, C+D, nsample,npoint]
        for i, conv in enumerate(self.mlp_convs):
            bn = self.mlp_bns[i]
            new_points = F.relu(bn(conv(new_points)))

        new_points = torch.max(new_points, 2)[0]
        new_xyz = new_xyz.permute(0, 2, 1)
        return new_xyz, new_points


class PointNetSetAbstractionMsg(nn.Module):
    def __init__(self, npoint, radius_list, nsample_list, in_channel, mlp_list):
        super(PointNetSetAbstractionMsg, self).__init__()
        self.npoint = npoint
        self.radius_list = radius_list
        self.nsample_list = nsample_list
        self.conv_blocks = nn.ModuleList()
        self.bn_blocks = nn.ModuleList()
        for i in range(len(mlp_list)):
            convs = nn.ModuleList()
            bns = nn.ModuleList()
            last_channel = in_channel + 3
            for out_channel in mlp_list[i]:
                convs.append(nn.Conv2d(last_channel, out_channel, 1))
                bns.append(nn.BatchNorm2d(out_channel))
                last_channel = out_channel
            self.conv_blocks.append(convs)
            self.bn_blocks.append(bns)

    def forward(self, xyz, points):
        xyz = xyz.permute(0, 2, 1)
        if points is not None:
            points = points.permute(0, 2, 1)

        B, N, C = xyz.shape
        S = self.npoint
        new_xyz = index_points(xyz, farthest_point_sample(xyz, S))
        new_points_list = []
        for i, radius in enumerate(self.radius_list):
            K = self.nsample_list[i]
            group_idx = query_ball_point(radius, K, xyz, new_xyz)
            grouped_xyz = index_points(xyz, group_idx)
            grouped_xyz -= new_xyz.view(B, S, 1, C)
            if points is not None:
                grouped_points = index_points(points, group_idx)
                grouped_points = torch.cat([grouped_points, grouped_xyz], dim=-1)
            else:
                grouped_points = grouped_xyz

            grouped_points = grouped_points.permute(0, 3, 2, 1)  # [B, D, K, S]
            for j in range(len(self.conv_blocks[i])):
                conv = self.conv_blocks[i][j]
                bn = self.bn_blocks[i][j]
                grouped_points = F.relu(bn(conv(grouped_points)))
            new_points = torch.max(grouped_points, 2)[0]  # [B, D', S]
            new_points_list.append(new_points)

        new_xyz = new_xyz.permute(0, 2, 1)
        new_points_concat = torch.cat(new_points_list, dim=1)
        return new_xyz, new_points_concat


class PointNetFeaturePropagation(nn.Module):
    def __init__(self, in_channel, mlp):
        super(PointNetFeaturePropagation, self).__init__()
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last_channel = in_channel
        for out_channel in mlp:
            self.mlp_convs.append(nn.Conv1d(last_channel, out_channel, 1))
            self.mlp_bns.append(nn.BatchNorm1d(out_channel))
            last_channel = out_channel

    def forward(self, xyz1, xyz2, points1, points2):
        """xyz1 [B, C, N], xyz2 [B, C, S], points1 [B, D, N], points2 [B, D, S] -> new_points [B, D', N]"""
        xyz1 = xyz1.permute(0, 2, 1)
        xyz2 = xyz2.permute(0, 2, 1)

        points2 = points2.permute(0, 2, 1)
        B, N, C = xyz1.shape
        _, S, _ = xyz2.shape

        if S == 1:
            interpolated_points = points2.repeat(1, N, 1)
        else:
            dists = square_distance(xyz1, xyz2)
            dists, idx = dists.sort(dim=-1)
            dists, idx = dists[:, :, :3], idx[:, :, :3]  # [B, N, 3]

            dist_recip = 1.0 / (dists + 1e-8)
            norm = torch.sum(dist_recip, dim=2, keepdim=True)
            weight = dist_recip / norm
            interpolated_points = torch.sum(index_points(points2, idx) * weight.view(B, N, 3, 1), dim=2)

        if points1 is not None:
            points1 = points1.permute(0, 2, 1)
            new_points = torch.cat([points1, interpolated_points], dim=-1)
        else:
            new_points = interpolated_points

        new_points = new_points.permute(0, 2, 1)
        for i, conv in enumerate(self.mlp_convs):
            bn = self.mlp_bns[i]
            new_points = F.relu(bn(conv(new_points)))
        return new_points


# ------------------------------------------------------------------------------------- models/pointnet2_cls_ssg.py


class get_model(nn.Module):
    def __init__(self, num_class, normal_channel=True):
        super(get_model, self).__init__()
        in_channel = 6 if normal_channel else 3
        self.normal_channel = normal_channel
        self.sa1 = PointNetSetAbstraction(npoint=16, radius=0.4, nsample=8, in_channel=in_channel, mlp=[8, 8, 16],
                                          group_all=False)
        self.sa2 = PointNetSetAbstraction(npoint=8, radius=0.8, nsample=8, in_channel=16 + 3, mlp=[16, 16, 32],
                                          group_all=False)
        self.sa3 = PointNetSetAbstraction(npoint=None, radius=None, nsample=None, in_channel=32 + 3,
                                          mlp=[32, 32, 64], group_all=True)
        self.fc1 = nn.Linear(64, 32)
        self.bn1 = nn.BatchNorm1d(32)
        self.drop1 = nn.Dropout(0.4)
        self.fc2 = nn.Linear(32, 16)
        self.bn2 = nn.BatchNorm1d(16)
        self.drop2 = nn.Dropout(0.4)
        self.fc3 = nn.Linear(16, num_class)

    def forward(self, xyz):
        B, _, _ = xyz.shape
        if self.normal_channel:
            norm = xyz[:, 3:, :]
            xyz = xyz[:, :3, :]
        else:
            norm = None
        l1_xyz, l1_points = self.sa1(xyz, norm)
        l2_xyz, l2_points = self.sa2(l1_xyz, l1_points)
        l3_xyz, l3_points = self.sa3(l2_xyz, l2_points)
        x = l3_points.view(B, 64)
        x = self.drop1(F.relu(self.bn1(self.fc1(x))))
        x = self.drop2(F.relu(self.bn2(self.fc2(x))))
        x = self.fc3(x)
        x = F.log_softmax(x, -1)

        return x, l3_points


class get_loss(nn.Module):
    def __init__(self):
        super(get_loss, self).__init__()

    def forward(self, pred, target, trans_feat):
        total_loss = F.nll_loss(pred, target)

        return total_loss


# ------------------------------------------------------------------------------------- models/pointnet2_cls_msg.py


class get_model_msg(nn.Module):
    def __init__(self, num_class, normal_channel=True):
        super(get_model_msg, self).__init__()
        in_channel = 3 if normal_channel else 0
        self.normal_channel = normal_channel
        self.sa1 = PointNetSetAbstractionMsg(16, [0.2, 0.4, 0.8], [4, 8, 16], in_channel,
                                             [[8, 8, 16], [8, 8, 16], [8, 12, 16]])
        self.sa2 = PointNetSetAbstractionMsg(8, [0.4, 0.8, 1.6], [4, 8, 8], 48,
                                             [[16, 16, 32], [16, 16, 32], [16, 16, 32]])
        self.sa3 = PointNetSetAbstraction(None, None, None, 96 + 3, [32, 32, 64], True)
        self.fc1 = nn.Linear(64, 32)
        self.bn1 = nn.BatchNorm1d(32)
        self.drop1 = nn.Dropout(0.4)
        self.fc2 = nn.Linear(32, 16)
        self.bn2 = nn.BatchNorm1d(16)
        self.drop2 = nn.Dropout(0.5)
        self.fc3 = nn.Linear(16, num_class)

    def forward(self, xyz):
        B, _, _ = xyz.shape
        if self.normal_channel:
            norm = xyz[:, 3:, :]
            xyz = xyz[:, :3, :]
        else:
            norm = None
        l1_xyz, l1_points = self.sa1(xyz, norm)
        l2_xyz, l2_points = self.sa2(l1_xyz, l1_points)
        l3_xyz, l3_points = self.sa3(l2_xyz, l2_points)
        x = l3_points.view(B, 64)
        x = self.drop1(F.relu(self.bn1(self.fc1(x))))
        x = self.drop2(F.relu(self.bn2(self.fc2(x))))
        x = self.fc3(x)
        x = F.log_softmax(x, -1)

        return x, l3_points


# ------------------------------------------------------------------------------- models/pointnet2_part_seg_ssg.py


class get_model_partseg(nn.Module):
    def __init__(self, num_classes, normal_channel=False):
        super(get_model_partseg, self).__init__()
        if normal_channel:
            additional_channel = 3
        else:
            additional_channel = 0
        self.normal_channel = normal_channel
        self.sa1 = PointNetSetAbstraction(npoint=16, radius=0.4, nsample=8, in_channel=6 + additional_channel,
                                          mlp=[8, 8, 16], group_all=False)
        self.sa2 = PointNetSetAbstraction(npoint=8, radius=0.8, nsample=8, in_channel=16 + 3, mlp=[16, 16, 32],
                                          group_all=False)
        self.sa3 = PointNetSetAbstraction(npoint=None, radius=None, nsample=None, in_channel=32 + 3,
                                          mlp=[32, 32, 64], group_all=True)
        self.fp3 = PointNetFeaturePropagation(in_channel=96, mlp=[32, 32])
        self.fp2 = PointNetFeaturePropagation(in_channel=48, mlp=[32, 16])
        self.fp1 = PointNetFeaturePropagation(in_channel=16 + 16 + 6 + additional_channel, mlp=[16, 16, 16])
        self.conv1 = nn.Conv1d(16, 16, 1)
        self.bn1 = nn.BatchNorm1d(16)
        self.drop1 = nn.Dropout(0.5)
        self.conv2 = nn.Conv1d(16, num_classes, 1)

    def forward(self, xyz, cls_label):
        # Set Abstraction layers
        B, C, N = xyz.shape
        if self.normal_channel:
            l0_points = xyz
            l0_xyz = xyz[:, :3, :]
        else:
            l0_points = xyz
            l0_xyz = xyz
        l1_xyz, l1_points = self.sa1(l0_xyz, l0_points)
        l2_xyz, l2_points = self.sa2(l1_xyz, l1_points)
        l3_xyz, l3_points = self.sa3(l2_xyz, l2_points)
        # Feature Propagation layers
        l2_points = self.fp3(l2_xyz, l3_xyz, l2_points, l3_points)
        l1_points = self.fp2(l1_xyz, l2_xyz, l1_points, l2_points)
        cls_label_one_hot = cls_label.view(B, 16, 1).repeat(1, 1, N)
        l0_points = self.fp1(l0_xyz, l1_xyz, torch.cat([cls_label_one_hot, l0_xyz, l0_points], 1), l1_points)
        # FC layers
        feat = F.relu(self.bn1(self.conv1(l0_points)))
        x = self.drop1(feat)
        x = self.conv2(x)
        x = F.log_softmax(x, dim=1)
        x = x.permute(0, 2, 1)
        return x, l3_points


# ---------------------------------------------------------------------------------------------------- provider.py


def random_point_dropout(batch_pc, max_dropout_ratio=0.875):
    """batch_pc: BxNx3"""
    for b in range(batch_pc.shape[0]):
        dropout_ratio = np.random.random() * max_dropout_ratio  # 0~0.875
        drop_idx = np.where(np.random.random((batch_pc.shape[1])) <= dropout_ratio)[0]
        if len(drop_idx) > 0:
            batch_pc[b, drop_idx, :] = batch_pc[b, 0, :]  # set to the first point
    return batch_pc


def random_scale_point_cloud(batch_data, scale_low=0.8, scale_high=1.25):
    B, N, C = batch_data.shape
    scales = np.random.uniform(scale_low, scale_high, B)
    for batch_index in range(B):
        batch_data[batch_index, :, :] *= scales[batch_index]
    return batch_data


def shift_point_cloud(batch_data, shift_range=0.1):
    B, N, C = batch_data.shape
    shifts = np.random.uniform(-shift_range, shift_range, (B, 3))
    for batch_index in range(B):
        batch_data[batch_index, :, :] += shifts[batch_index, :]
    return batch_data


def jitter_point_cloud(batch_data, sigma=0.01, clip=0.05):
    B, N, C = batch_data.shape
    assert clip > 0
    jittered_data = np.clip(sigma * np.random.randn(B, N, C), -1 * clip, clip)
    jittered_data += batch_data
    return jittered_data


# ---------------------------------------------------------------------------------- synthetic ModelNet / ShapeNet

SHAPES = ("sphere", "cube", "cylinder")
seg_classes = {"Sphere": [0, 1], "Cube": [2, 3], "Cylinder": [4, 5]}


def sample_shape(kind, n, rng):
    """``n`` points on a unit ``kind`` and their unit normals, (n, 6) float32, y up."""
    if kind == "sphere":
        p = rng.normal(size=(n, 3))
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        return np.concatenate([p, p], 1).astype(np.float32)
    if kind == "cube":
        p = rng.uniform(-1, 1, size=(n, 3))
        face = rng.integers(0, 3, n)
        side = rng.choice([-1.0, 1.0], n)
        p[np.arange(n), face] = side
        normal = np.zeros((n, 3))
        normal[np.arange(n), face] = side
        return np.concatenate([p, normal], 1).astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi, n)
    normal = np.stack([np.cos(theta), np.zeros(n), np.sin(theta)], 1)
    p = normal + np.stack([np.zeros(n), rng.uniform(-1, 1, n), np.zeros(n)], 1)
    return np.concatenate([p, normal], 1).astype(np.float32)


class ModelNetDataLoader(Dataset):
    """yanx27's ModelNetDataLoader on synthetic shapes: ``pc_normalize``d xyz (normals kept or dropped) and the
    label as ``label[0]`` of an int32 array."""

    def __init__(self, n_per_class, npoints=64, use_normals=True, seed=0):
        rng = np.random.default_rng(seed)
        self.npoints = npoints
        self.use_normals = use_normals
        self.list_of_points, self.list_of_labels = [], []
        for cls, kind in enumerate(SHAPES):
            for _ in range(n_per_class):
                pts = sample_shape(kind, npoints, rng)
                pts[:, 0:3] *= rng.uniform(0.7, 1.3, 3).astype(np.float32)
                self.list_of_points.append(pts)
                self.list_of_labels.append(np.array([cls]).astype(np.int32))

    def __len__(self):
        return len(self.list_of_labels)

    def _get_item(self, index):
        point_set, label = self.list_of_points[index], self.list_of_labels[index]
        point_set = point_set[0:self.npoints, :].copy()
        point_set[:, 0:3] = pc_normalize(point_set[:, 0:3])
        if not self.use_normals:
            point_set = point_set[:, 0:3]
        return point_set, label[0]

    def __getitem__(self, index):
        return self._get_item(index)


class PartNormalDataset(Dataset):
    """yanx27's PartNormalDataset on synthetic shapes: (points, cls, seg) with ``cls`` an int32 array of one
    category and ``seg`` the part labels ``seg_classes[cat][above the middle]``."""

    def __init__(self, n_per_class, npoints=64, normal_channel=False, seed=0):
        rng = np.random.default_rng(seed)
        self.npoints = npoints
        self.normal_channel = normal_channel
        self.datapath = []
        for cls, (cat, kind) in enumerate(zip(seg_classes, SHAPES)):
            for _ in range(n_per_class):
                pts = sample_shape(kind, npoints, rng)
                seg = np.array(seg_classes[cat])[(pts[:, 1] > 0).astype(np.int64)].astype(np.int32)
                self.datapath.append((pts, np.array([cls]).astype(np.int32), seg))

    def __len__(self):
        return len(self.datapath)

    def __getitem__(self, index):
        data, cls, seg = self.datapath[index]
        if not self.normal_channel:
            point_set = data[:, 0:3].copy()
        else:
            point_set = data[:, 0:6].copy()
        point_set[:, 0:3] = pc_normalize(point_set[:, 0:3])
        choice = np.arange(len(seg))[:self.npoints]
        point_set = point_set[choice, :]
        seg = seg[choice]
        return point_set, cls, seg


# ----------------------------------------------------------------------------------------- train_classification.py


def parse_args(argv):
    parser = argparse.ArgumentParser('training')
    parser.add_argument('--batch_size', type=int, default=8, help='batch size in training')
    parser.add_argument('--num_category', default=3, type=int, help='training on ModelNet10/40')
    parser.add_argument('--epoch', default=2, type=int, help='number of epoch in training')
    parser.add_argument('--learning_rate', default=0.001, type=float, help='learning rate in training')
    parser.add_argument('--optimizer', type=str, default='Adam', help='optimizer for training')
    parser.add_argument('--decay_rate', type=float, default=1e-4, help='decay rate')
    parser.add_argument('--step_size', type=int, default=1, help='decay step for lr decay')
    parser.add_argument('--lr_decay', type=float, default=0.5, help='decay rate for lr decay')
    parser.add_argument('--jitter', action='store_true', default=False, help='jitter the points too')
    parser.add_argument('--log_dir', type=str, default='.', help='experiment root')
    return parser.parse_args(argv)


def inplace_relu(m):
    classname = m.__class__.__name__
    if classname.find('ReLU') != -1:
        m.inplace = True


def grad_norm(model):
    return torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item()


def test(model, loader, num_class=40):
    mean_correct = []
    class_acc = np.zeros((num_class, 3))
    classifier = model.eval()

    for j, (points, target) in enumerate(loader):
        points = points.transpose(2, 1)
        pred, _ = classifier(points)
        pred_choice = pred.data.max(1)[1]

        for cat in np.unique(target.cpu()):
            classacc = pred_choice[target == cat].eq(target[target == cat].long().data).cpu().sum()
            class_acc[cat, 0] += classacc.item() / float(points[target == cat].size()[0])
            class_acc[cat, 1] += 1

        correct = pred_choice.eq(target.long().data).cpu().sum()
        mean_correct.append(correct.item() / float(points.size()[0]))

    class_acc[:, 2] = class_acc[:, 0] / class_acc[:, 1]
    class_acc = np.mean(class_acc[:, 2])
    instance_acc = np.mean(mean_correct)

    return instance_acc, class_acc


def train_classification(argv, classifier, train_dataset, test_dataset, history, resume=False):
    """train_classification.py's main: Adam + StepLR (stepped before the epoch, as there), the provider's
    augmentations, the test after each epoch and ``best_model.pth``. ``history`` collects losses, gradient norms,
    accuracies, learning rates and the state after every step."""
    args = parse_args(argv)
    log_string = print
    num_class = args.num_category
    trainDataLoader = DataLoader(train_dataset, batch_size=args.batch_size, shuffle=False, drop_last=True)
    testDataLoader = DataLoader(test_dataset, batch_size=args.batch_size, shuffle=False)
    criterion = get_loss()
    classifier.apply(inplace_relu)

    try:
        assert resume
        checkpoint = torch.load(args.log_dir + '/best_model.pth', weights_only=False)  # (torch >= 2.6 refuses
        # the numpy floats of this dict under its default weights_only=True: the bare except below then trains from
        # scratch without a word)
        start_epoch = checkpoint['epoch']
        classifier.load_state_dict(checkpoint['model_state_dict'])
        log_string('Use pretrain model')
    except Exception:
        log_string('No existing model, starting training from scratch...')
        start_epoch = 0

    optimizer = torch.optim.Adam(
        classifier.parameters(),
        lr=args.learning_rate,
        betas=(0.9, 0.999),
        eps=1e-08,
        weight_decay=args.decay_rate
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.step_size, gamma=args.lr_decay)
    global_epoch = 0
    global_step = 0
    best_instance_acc = 0.0
    best_class_acc = 0.0
    best_epoch = 0

    for epoch in range(start_epoch, args.epoch):
        log_string('Epoch %d (%d/%s):' % (global_epoch + 1, epoch + 1, args.epoch))
        mean_correct = []
        classifier = classifier.train()

        scheduler.step()
        history["lr"].append(optimizer.param_groups[0]['lr'])
        for batch_id, (points, target) in enumerate(trainDataLoader, 0):
            optimizer.zero_grad()

            points = points.data.numpy()
            points = random_point_dropout(points)
            points[:, :, 0:3] = random_scale_point_cloud(points[:, :, 0:3])
            points[:, :, 0:3] = shift_point_cloud(points[:, :, 0:3])
            if args.jitter:
                points[:, :, 0:3] = jitter_point_cloud(points[:, :, 0:3])
            points = torch.Tensor(points)
            points = points.transpose(2, 1)

            pred, trans_feat = classifier(points)
            loss = criterion(pred, target.long(), trans_feat)
            pred_choice = pred.data.max(1)[1]

            correct = pred_choice.eq(target.long().data).cpu().sum()
            mean_correct.append(correct.item() / float(points.size()[0]))
            loss.backward()
            history["loss"].append(loss.item())
            history["norm"].append(grad_norm(classifier))
            optimizer.step()
            history["state"].append({k: v.detach().numpy().copy() for k, v in classifier.state_dict().items()})
            global_step += 1

        train_instance_acc = np.mean(mean_correct)
        log_string('Train Instance Accuracy: %f' % train_instance_acc)

        with torch.no_grad():
            instance_acc, class_acc = test(classifier.eval(), testDataLoader, num_class=num_class)
            history["test"].append((instance_acc, class_acc))

            if (instance_acc >= best_instance_acc):
                best_instance_acc = instance_acc
                best_epoch = epoch + 1

            if (class_acc >= best_class_acc):
                best_class_acc = class_acc
            log_string('Test Instance Accuracy: %f, Class Accuracy: %f' % (instance_acc, class_acc))
            log_string('Best Instance Accuracy: %f, Class Accuracy: %f' % (
                best_instance_acc, best_class_acc))

            if (instance_acc >= best_instance_acc):
                savepath = args.log_dir + '/best_model.pth'
                log_string('Saving at %s' % savepath)
                state = {
                    'epoch': best_epoch,
                    'instance_acc': instance_acc,
                    'class_acc': class_acc,
                    'model_state_dict': classifier.state_dict(),
                    'optimizer_state_dict': optimizer.state_dict(),
                }
                torch.save(state, savepath)
            global_epoch += 1

    log_string('End of training...')
    return classifier


# ---------------------------------------------------------------------------------------------- train_partseg.py


def to_categorical(y, num_classes):
    """ 1-hot encodes a tensor """
    new_y = torch.eye(num_classes)[y.cpu().data.numpy(),]
    if (y.is_cuda):
        return new_y.cuda()
    return new_y


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv2d') != -1:
        torch.nn.init.xavier_normal_(m.weight.data)
        torch.nn.init.constant_(m.bias.data, 0.0)
    elif classname.find('Linear') != -1:
        torch.nn.init.xavier_normal_(m.weight.data)
        torch.nn.init.constant_(m.bias.data, 0.0)


def bn_momentum_adjust(m, momentum):
    if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):  # noqa: SIM101 - yanx27's
        m.momentum = momentum


def train_partseg(argv, classifier, train_dataset, test_dataset, history):
    """train_partseg.py's main: the lr written into the groups, the BatchNorm momentum by ``model.apply``, the
    scale / shift augmentations, ``to_categorical`` labels, and the test's accuracies and class / instance mIoUs."""
    args = parse_args(argv)
    log_string = print
    num_classes = 16
    num_part = 6
    trainDataLoader = DataLoader(train_dataset, batch_size=args.batch_size, shuffle=False, drop_last=True)
    testDataLoader = DataLoader(test_dataset, batch_size=args.batch_size, shuffle=False)
    criterion = get_loss()
    classifier.apply(inplace_relu)

    optimizer = torch.optim.Adam(
        classifier.parameters(),
        lr=args.learning_rate,
        betas=(0.9, 0.999),
        eps=1e-08,
        weight_decay=args.decay_rate
    )

    LEARNING_RATE_CLIP = 1e-5
    MOMENTUM_ORIGINAL = 0.1
    MOMENTUM_DECCAY = 0.5
    MOMENTUM_DECCAY_STEP = args.step_size

    global_epoch = 0
    best_class_avg_iou = 0
    best_inctance_avg_iou = 0
    npoint = train_dataset.npoints

    for epoch in range(0, args.epoch):
        mean_correct = []

        log_string('Epoch %d (%d/%s):' % (global_epoch + 1, epoch + 1, args.epoch))
        '''Adjust learning rate and BN momentum'''
        lr = max(args.learning_rate * (args.lr_decay ** (epoch // args.step_size)), LEARNING_RATE_CLIP)
        log_string('Learning rate:%f' % lr)
        history["lr"].append(lr)
        for param_group in optimizer.param_groups:
            param_group['lr'] = lr
        momentum = MOMENTUM_ORIGINAL * (MOMENTUM_DECCAY ** (epoch // MOMENTUM_DECCAY_STEP))
        if momentum < 0.01:
            momentum = 0.01
        print('BN momentum updated to: %f' % momentum)
        classifier = classifier.apply(lambda x: bn_momentum_adjust(x, momentum))  # noqa: B023 - called at once
        history["momentum"].append(classifier.sa1.mlp_bns[0].momentum)
        classifier = classifier.train()

        '''learning one epoch'''
        for i, (points, label, target) in enumerate(trainDataLoader):
            optimizer.zero_grad()

            points = points.data.numpy()
            points[:, :, 0:3] = random_scale_point_cloud(points[:, :, 0:3])
            points[:, :, 0:3] = shift_point_cloud(points[:, :, 0:3])
            if args.jitter:
                points[:, :, 0:3] = jitter_point_cloud(points[:, :, 0:3])
            points = torch.Tensor(points)
            points, label, target = points.float(), label.long(), target.long()
            points = points.transpose(2, 1)

            seg_pred, trans_feat = classifier(points, to_categorical(label, num_classes))
            seg_pred = seg_pred.contiguous().view(-1, num_part)
            target = target.view(-1, 1)[:, 0]
            pred_choice = seg_pred.data.max(1)[1]

            correct = pred_choice.eq(target.data).cpu().sum()
            mean_correct.append(correct.item() / (args.batch_size * npoint))
            loss = criterion(seg_pred, target, trans_feat)
            loss.backward()
            history["loss"].append(loss.item())
            history["norm"].append(grad_norm(classifier))
            optimizer.step()
            history["state"].append({k: v.detach().numpy().copy() for k, v in classifier.state_dict().items()})

        train_instance_acc = np.mean(mean_correct)
        log_string('Train accuracy is: %.5f' % train_instance_acc)

        with torch.no_grad():
            test_metrics = {}
            total_correct = 0
            total_seen = 0
            total_seen_class = [0 for _ in range(num_part)]
            total_correct_class = [0 for _ in range(num_part)]
            shape_ious = {cat: [] for cat in seg_classes.keys()}
            seg_label_to_cat = {}  # {0:Sphere, 1:Sphere, ...5:Cylinder}

            for cat in seg_classes.keys():
                for label in seg_classes[cat]:
                    seg_label_to_cat[label] = cat

            classifier = classifier.eval()

            for batch_id, (points, label, target) in enumerate(testDataLoader):
                cur_batch_size, NUM_POINT, _ = points.size()
                points, label, target = points.float(), label.long(), target.long()
                points = points.transpose(2, 1)
                seg_pred, _ = classifier(points, to_categorical(label, num_classes))
                cur_pred_val = seg_pred.cpu().data.numpy()
                cur_pred_val_logits = cur_pred_val
                cur_pred_val = np.zeros((cur_batch_size, NUM_POINT)).astype(np.int32)
                target = target.cpu().data.numpy()
                history["test_logits"].append(cur_pred_val_logits.copy())

                for i in range(cur_batch_size):
                    cat = seg_label_to_cat[target[i, 0]]
                    logits = cur_pred_val_logits[i, :, :]
                    cur_pred_val[i, :] = np.argmax(logits[:, seg_classes[cat]], 1) + seg_classes[cat][0]

                correct = np.sum(cur_pred_val == target)
                total_correct += correct
                total_seen += (cur_batch_size * NUM_POINT)

                for l in range(num_part):
                    total_seen_class[l] += np.sum(target == l)
                    total_correct_class[l] += (np.sum((cur_pred_val == l) & (target == l)))

                for i in range(cur_batch_size):
                    segp = cur_pred_val[i, :]
                    segl = target[i, :]
                    cat = seg_label_to_cat[segl[0]]
                    part_ious = [0.0 for _ in range(len(seg_classes[cat]))]
                    for l in seg_classes[cat]:
                        if (np.sum(segl == l) == 0) and (
                                np.sum(segp == l) == 0):  # part is not present, no prediction as well
                            part_ious[l - seg_classes[cat][0]] = 1.0
                        else:
                            part_ious[l - seg_classes[cat][0]] = np.sum((segl == l) & (segp == l)) / float(
                                np.sum((segl == l) | (segp == l)))
                    shape_ious[cat].append(np.mean(part_ious))

            all_shape_ious = []
            for cat in shape_ious.keys():
                for iou in shape_ious[cat]:
                    all_shape_ious.append(iou)
                shape_ious[cat] = np.mean(shape_ious[cat])
            mean_shape_ious = np.mean(list(shape_ious.values()))
            test_metrics['accuracy'] = total_correct / float(total_seen)
            test_metrics['class_avg_accuracy'] = np.mean(
                np.array(total_correct_class) / np.array(total_seen_class, dtype=np.float64))
            for cat in sorted(shape_ious.keys()):
                log_string('eval mIoU of %s %f' % (cat + ' ' * (14 - len(cat)), shape_ious[cat]))
            test_metrics['class_avg_iou'] = mean_shape_ious
            test_metrics['inctance_avg_iou'] = np.mean(all_shape_ious)
            history["test"].append(test_metrics)

        log_string('Epoch %d test Accuracy: %f  Class avg mIOU: %f   Inctance avg mIOU: %f' % (
            epoch + 1, test_metrics['accuracy'], test_metrics['class_avg_iou'], test_metrics['inctance_avg_iou']))
        if (test_metrics['class_avg_iou'] > best_class_avg_iou):
            best_class_avg_iou = test_metrics['class_avg_iou']
        if (test_metrics['inctance_avg_iou'] > best_inctance_avg_iou):
            best_inctance_avg_iou = test_metrics['inctance_avg_iou']
        log_string('Best class avg mIOU is: %.5f' % best_class_avg_iou)
        log_string('Best inctance avg mIOU is: %.5f' % best_inctance_avg_iou)
        global_epoch += 1
    return classifier
