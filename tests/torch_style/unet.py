"""A small U-Net for binary segmentation, written as the common GitHub PyTorch code (after milesial/Pytorch-UNet):
a ``DoubleConv`` block ((3x3 conv without bias => BatchNorm2d => ReLU(inplace=True)) twice), ``Down`` (MaxPool2d(2)
then DoubleConv), ``Up`` by ConvTranspose2d(kernel_size=2, stride=2) or by bilinear ``nn.Upsample(align_corners=True)``
then DoubleConv, the upsampled map padded to its skip's size with ``F.pad`` (diffY / diffX from ``.size()``) and
joined by ``torch.cat([skip, x], dim=1)``, and a 1x1 conv head. The images are synthetic 1x32x32 discs and squares
with noise, made by numpy and served by a ``Dataset`` through a ``DataLoader``.

The loss is ``nn.BCEWithLogitsLoss(pos_weight=...)`` plus a soft Dice loss; training is AdamW with weight decay under
OneCycleLR (stepped per optimizer step, so it also cycles Adam's beta1), gradient accumulation over 2 batches and
``clip_grad_norm_`` (its returned total norm recorded); evaluation under ``torch.no_grad()`` in eval mode (BatchNorm's
running statistics) gives the loss and thresholded IoU / Dice / pixel accuracy. A checkpoint dict of model,
optimizer, scheduler and epoch goes through ``torch.save`` / ``torch.load`` mid-training, and training goes on from
fresh objects loaded from it. The model and batches may be float64 (``model.double()``, the Dataset's ``dtype``) and
channels-last (``.to(memory_format=torch.channels_last)``, as milesial's train.py). The harness runs it on torch
and, with the imports swapped, on ours."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.data import DataLoader, Dataset


def make_shapes(n, size=32, seed=0, noise=0.3):
    """``n`` noisy grey images (n, size, size) float32, each holding one disc or square, and their 0/1 masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        r = rng.uniform(size * 0.12, size * 0.25)
        if rng.random() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        else:
            mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
        masks[i] = mask
        images[i] = mask * rng.uniform(0.6, 1.0) + rng.normal(0, noise, (size, size))
    return images, masks


class ShapesDataset(Dataset):
    def __init__(self, images, masks, dtype=torch.float32):
        self.images = images
        self.masks = masks
        self.dtype = dtype

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        image = torch.from_numpy(self.images[idx]).unsqueeze(0).to(self.dtype)
        mask = torch.from_numpy(self.masks[idx]).unsqueeze(0).to(self.dtype)
        return image, mask


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv; ``in_channels`` come from below, ``skip_channels`` across."""

    def __init__(self, in_channels, skip_channels, out_channels, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels + skip_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels // 2 + skip_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        # input is CHW
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super(OutConv, self).__init__()  # noqa: UP008 - the example's spelling
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels=1, n_classes=1, width=8):
        super().__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.inc = DoubleConv(n_channels, width)
        self.down1 = Down(width, width * 2)
        self.down2 = Down(width * 2, width * 4)
        self.up1 = Up(width * 4, width * 2, width * 2, bilinear=False)
        self.up2 = Up(width * 2, width, width, bilinear=True)
        self.outc = OutConv(width, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        logits = self.outc(x)
        return logits


class DiceLoss(nn.Module):
    def __init__(self, smooth=1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits, targets):
        probs = torch.sigmoid(logits).flatten(1)
        targets = targets.flatten(1)
        intersection = (probs * targets).sum(dim=1)
        dice = (2.0 * intersection + self.smooth) / (probs.sum(dim=1) + targets.sum(dim=1) + self.smooth)
        return 1 - dice.mean()


class BCEDiceLoss(nn.Module):
    def __init__(self, pos_weight=2.0, dice_weight=1.0):
        super().__init__()
        self.bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight]))
        self.dice = DiceLoss()
        self.dice_weight = dice_weight

    def forward(self, logits, targets):
        return self.bce(logits, targets) + self.dice_weight * self.dice(logits, targets)


def make_optimizer(model, loader, epochs, accum_steps=2, max_lr=1e-2):
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=1e-2)
    steps_per_epoch = math.ceil(len(loader) / accum_steps)
    scheduler = OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           pct_start=0.3)
    return optimizer, scheduler


def train_one_epoch(model, loader, criterion, optimizer, scheduler, history, accum_steps=2, max_norm=1.0,
                    memory_format=torch.contiguous_format):
    model.train()
    optimizer.zero_grad()
    for i, (images, masks) in enumerate(loader):
        images = images.to(memory_format=memory_format)
        logits = model(images)
        loss = criterion(logits, masks)
        (loss / accum_steps).backward()
        history["loss"].append(loss.item())
        if (i + 1) % accum_steps == 0 or (i + 1) == len(loader):
            total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            history["norm"].append(total_norm.item())
            optimizer.step()
            optimizer.zero_grad()
            scheduler.step()
            history["lr"].append(scheduler.get_last_lr()[0])
            history["beta1"].append(optimizer.param_groups[0]["betas"][0])
    return loss, total_norm


def evaluate(model, loader, criterion):
    """Mean loss, IoU, Dice (a 0-d tensor, summed as milesial's evaluate does) and pixel accuracy over ``loader``."""
    model.eval()
    total_loss, iou_sum, dice_score, correct, pixels, n = 0.0, 0.0, 0, 0, 0, 0
    with torch.no_grad():
        for images, masks in loader:
            logits = model(images)
            total_loss += criterion(logits, masks).item() * images.size(0)
            preds = (torch.sigmoid(logits) > 0.5).float()
            intersection = (preds * masks).sum(dim=(1, 2, 3))
            union = preds.sum(dim=(1, 2, 3)) + masks.sum(dim=(1, 2, 3)) - intersection
            iou_sum += ((intersection + 1e-6) / (union + 1e-6)).sum().item()
            dice = (2 * intersection + 1e-6) / (preds.sum(dim=(1, 2, 3)) + masks.sum(dim=(1, 2, 3)) + 1e-6)
            dice_score += dice.sum()
            correct += (preds == masks).sum().item()
            pixels += masks.numel()
            n += images.size(0)
    model.train()
    return {"loss": total_loss / n, "iou": iou_sum / n, "dice": dice_score / n, "acc": correct / pixels}


def save_checkpoint(path, model, optimizer, scheduler, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, train_loader, epochs, dtype, memory_format):
    checkpoint = torch.load(path)
    model = UNet().to(dtype).to(memory_format=memory_format)
    model.load_state_dict(checkpoint["model"])
    optimizer, scheduler = make_optimizer(model, train_loader, epochs)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return model, optimizer, scheduler, checkpoint["epoch"] + 1


def fit(model, train_set, val_set, epochs=3, batch_size=4, checkpoint=None, stop_after=None,
        memory_format=torch.contiguous_format):
    """Train ``epochs`` epochs, validating after each; with ``checkpoint`` (a path), save after epoch ``stop_after``
    and go on from a fresh model, optimizer and scheduler loaded from the file. ``memory_format=torch.channels_last``
    trains in NHWC strides, as milesial's train.py does."""
    model = model.to(memory_format=memory_format)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=False)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False)
    criterion = BCEDiceLoss()
    optimizer, scheduler = make_optimizer(model, train_loader, epochs)
    history = {"loss": [], "norm": [], "lr": [], "beta1": [], "val": [], "running_mean": [], "running_var": []}
    epoch = 0
    while epoch < epochs:
        loss, total_norm = train_one_epoch(model, train_loader, criterion, optimizer, scheduler, history,
                                           memory_format=memory_format)
        bn = model.inc.double_conv[1]
        history["running_mean"].append(bn.running_mean.clone().numpy())
        history["running_var"].append(bn.running_var.clone().numpy())
        val = evaluate(model, val_loader, criterion)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}, grad norm {total_norm:.3f}, "
              f"val loss {val['loss']:.4f}, val dice {val['dice']:.3f}, lr {scheduler.get_last_lr()[0]:.2e}")
        history["val"].append({k: float(v) for k, v in val.items()})
        if epoch == stop_after:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch)
            model, optimizer, scheduler, epoch = load_checkpoint(checkpoint, train_loader, epochs, train_set.dtype,
                                                                 memory_format)
        else:
            epoch += 1
    return model, history


def predict(model, images):
    """Masks (N, 1, H, W) for images of any size (the pads line up odd sizes), in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
        return logits, (torch.sigmoid(logits) > 0.5).float()
