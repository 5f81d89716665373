"""Three vision programs as their public PyTorch ports write them, shrunk to tiny sizes on numpy batches:
MobileNetV2 / V3-style inverted residuals (depthwise ``groups=hidden`` convolutions, ReLU6 / Hardswish, squeeze-and-
excite with ``adaptive_avg_pool2d`` and ``hardsigmoid(inplace=True)``, drop-path by ``bernoulli_``, the
``_make_divisible`` widths, kaiming ``fan_out`` init, ``channels_last``) trained with Nesterov SGD under OneCycleLR,
label smoothing and gradient clipping; ESPCN super-resolution (``PixelShuffle``, PSNR by ``log10``) with Adam; and a
DeepLab-style ASPP head (dilated 3x3 convolutions, image pooling brought back by bilinear ``interpolate``,
``Dropout2d``, ``align_corners=True`` upsampling, ``cross_entropy(ignore_index=255)``, accuracy and a ``bincount``
confusion matrix for mIoU) with AdamW. ``run(weights)`` returns what the test compares; ``weights`` (torch's
initial ones) makes ours start where torch's run started, and ``p`` (0 in the test) is the dropout / drop-path
rate, whose masks the two libraries draw differently."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _make_divisible(v, divisor=8, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, groups=1, act=nn.ReLU6):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes, momentum=0.01, eps=1e-3),
            act(inplace=True),
        )


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, _make_divisible(c // r), 1)
        self.fc2 = nn.Conv2d(_make_divisible(c // r), c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.silu(self.fc1(s))
        return x * F.hardsigmoid(self.fc2(s), inplace=True)


def drop_path(x, p, training):
    if p == 0.0 or not training:
        return x
    keep = 1 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep)
    return x.div(keep) * mask


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, se=False, act=nn.ReLU6, drop=0.0):
        super().__init__()
        hidden = int(round(inp * expand_ratio))  # noqa: RUF046 - the port's spelling
        self.use_res = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, 1, act=act))
        layers.append(ConvBNReLU(hidden, hidden, stride=stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup, momentum=0.01, eps=1e-3)]
        self.conv = nn.Sequential(*layers)
        self.drop = drop

    def forward(self, x):
        if self.use_res:
            return x + drop_path(self.conv(x), self.drop, self.training)
        return self.conv(x)


class MobileNet(nn.Module):
    def __init__(self, num_classes=10, width_mult=0.5):
        super().__init__()
        cfg = [[1, 16, 1, 1, False], [6, 24, 2, 2, True], [6, 32, 2, 2, False], [6, 64, 1, 2, True]]
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(128 * max(1.0, width_mult))
        features = [ConvBNReLU(3, input_channel, stride=2, act=nn.Hardswish)]
        i = 0
        for t, c, n, s, se in cfg:
            out = _make_divisible(c * width_mult)
            for j in range(n):
                features.append(InvertedResidual(input_channel, out, s if j == 0 else 1, t, se=se,
                                                 act=nn.Hardswish if se else nn.ReLU6, drop=0.1 * i / 6))
                input_channel = out
                i += 1
        features.append(ConvBNReLU(input_channel, self.last_channel, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


class ESPCN(nn.Module):
    def __init__(self, scale=3, ch=1):
        super().__init__()
        self.first = nn.Sequential(nn.Conv2d(ch, 32, 5, padding=5 // 2), nn.Tanh(), nn.Conv2d(32, 16, 3, padding=1),
                                   nn.Tanh())
        self.last = nn.Sequential(nn.Conv2d(16, ch * scale ** 2, 3, padding=1), nn.PixelShuffle(scale))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m.in_channels == 32:
                    nn.init.normal_(m.weight.data, mean=0.0, std=0.001)
                    nn.init.zeros_(m.bias.data)
                else:
                    nn.init.normal_(m.weight.data, mean=0.0,
                                    std=math.sqrt(2 / (m.out_channels * m.weight.data[0][0].numel())))
                    nn.init.zeros_(m.bias.data)

    def forward(self, x):
        return self.last(self.first(x))


class ASPP(nn.Module):
    def __init__(self, cin, cout, rates=(1, 2, 3)):
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, cout, 1 if r == 1 else 3, padding=0 if r == 1 else r, dilation=r, bias=False),
                          nn.BatchNorm2d(cout), nn.ReLU())
            for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(cout * (len(rates) + 1), cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout2d(0.1))

    def forward(self, x):
        size = x.shape[-2:]
        res = [b(x) for b in self.branches]
        res.append(F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(res, dim=1))


class SegNet(nn.Module):
    def __init__(self, ncls=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.aspp = ASPP(16, 16)
        self.head = nn.Conv2d(16, ncls, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        out = self.head(self.aspp(self.stem(x)))
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=True)


def run(weights=None, steps=3, p=0.0):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    def randn(*shape):
        return torch.tensor(rng.standard_normal(shape).astype(np.float32))
    nets = {"mobile": MobileNet(), "sr": ESPCN(), "seg": SegNet()}
    for m in nets["mobile"].modules():
        if isinstance(m, InvertedResidual):
            m.drop = p
        if isinstance(m, (nn.Dropout, nn.Dropout2d)):
            m.p = p
    for m in nets["seg"].modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d)):
            m.p = p
    if weights is not None:
        for k, n in nets.items():
            n.load_state_dict(weights[k])
    log = {"weights": {k: {a: b.detach().numpy().copy() for a, b in n.state_dict().items()} for k, n in nets.items()}}
    net = nets["mobile"].to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)
    losses = []
    for _ in range(steps):
        x = randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        y = torch.tensor(rng.integers(0, 10, 4))
        out = net(x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 2.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        log["eval"] = net(randn(2, 3, 32, 32)).numpy().copy()
    log["mobilenet_loss"] = losses
    log["bn_mean"] = net.features[0][1].running_mean.numpy().copy()
    log["nbt"] = int(net.features[0][1].num_batches_tracked)
    sr = nets["sr"]
    opt = torch.optim.Adam(sr.parameters(), lr=1e-3)
    lr_img = torch.tensor(rng.random((2, 1, 8, 8), dtype=np.float32))
    hr = torch.tensor(rng.random((2, 1, 24, 24), dtype=np.float32))
    ls = []
    for _ in range(steps):
        pred = sr(lr_img)
        loss = F.mse_loss(pred, hr)
        psnr = 10 * torch.log10(1 / loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ls.append((loss.item(), psnr.item()))
    log["espcn"] = ls
    seg = nets["seg"]
    opt = torch.optim.AdamW(seg.parameters(), lr=1e-3)
    ls = []
    for _ in range(steps):
        x = randn(2, 3, 16, 16)
        t = torch.tensor(rng.integers(0, 5, (2, 16, 16)))
        t[:, :2] = 255
        out = seg(x)
        loss = F.cross_entropy(out, t, ignore_index=255)
        pred = out.argmax(1)
        valid = t != 255
        acc = (pred[valid] == t[valid]).float().mean()
        inter = torch.bincount(t[valid] * 5 + pred[valid], minlength=25).reshape(5, 5)
        iou = inter.diag() / (inter.sum(0) + inter.sum(1) - inter.diag()).clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ls.append((loss.item(), acc.item(), iou.mean().item()))
    log["seg"] = ls
    return log
