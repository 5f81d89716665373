"""BYOL (Grill et al. 2020) written as lucidrains' byol-pytorch (byol_pytorch/byol_pytorch.py) writes it, with its
README's training loop, at a tiny size: 3 x 16 x 16 synthetic images, a small ResNet-like ``net`` whose ``avgpool``
output (found by name, or as ``children()[-2]``) a forward hook catches and flattens, the projector built lazily
from that hidden's shape by ``@singleton('projector')``, the target encoder a ``copy.deepcopy`` of the online one
under ``@singleton('target_encoder')`` with its gradients off, the online predictor, the symmetric loss, and the
target updated as an EMA of the online parameters (``use_momentum=False``: the SimSiam MLP and no target copy).

torchvision is not available, so the default augmentation is written here with the same pieces (ColorJitter under
``RandomApply``, RandomGrayscale, RandomHorizontalFlip, GaussianBlur under ``RandomApply``, RandomResizedCrop,
Normalize), each drawing its random parameters once per batch (as torchvision's transforms do on a batch tensor) from
a numpy generator, and applying them by slicing, arithmetic, ``F.conv2d`` and ``F.interpolate``. ``RandomApply``
draws from Python's ``random``, as the original's does."""

import copy
import random
from functools import wraps

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# helper functions


def default(val, def_val):
    return def_val if val is None else val


def flatten(t):
    return t.reshape(t.shape[0], -1)


def singleton(cache_key):
    def inner_fn(fn):
        @wraps(fn)
        def wrapper(self, *args, **kwargs):
            instance = getattr(self, cache_key)
            if instance is not None:
                return instance

            instance = fn(self, *args, **kwargs)
            setattr(self, cache_key, instance)
            return instance
        return wrapper
    return inner_fn


def get_module_device(module):
    return next(module.parameters()).device


def set_requires_grad(model, val):
    for p in model.parameters():
        p.requires_grad = val

# loss fn


def loss_fn(x, y):
    x = F.normalize(x, dim=-1, p=2)
    y = F.normalize(y, dim=-1, p=2)
    return 2 - 2 * (x * y).sum(dim=-1)

# augmentation utils


class RandomApply(nn.Module):
    def __init__(self, fn, p):
        super().__init__()
        self.fn = fn
        self.p = p

    def forward(self, x):
        if random.random() > self.p:
            return x
        return self.fn(x)


def grayscale(img):
    r, g, b = img.unbind(dim=-3)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(dim=-3)


def blend(img1, img2, ratio):
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, 1)


class ColorJitter(nn.Module):
    """Brightness, contrast and saturation factors drawn from [1 - s, 1 + s], in a random order; the hue shift
    (torchvision's RGB -> HSV round trip) is left out."""

    def __init__(self, brightness, contrast, saturation, rng):
        super().__init__()
        self.ranges = (brightness, contrast, saturation)
        self.rng = rng

    def forward(self, img):
        factors = [self.rng.uniform(1 - s, 1 + s) for s in self.ranges]
        for i in self.rng.permutation(3):
            if i == 0:
                img = blend(img, torch.zeros_like(img), factors[0])
            elif i == 1:
                mean = torch.mean(grayscale(img), dim=(-3, -2, -1), keepdim=True)
                img = blend(img, mean, factors[1])
            else:
                img = blend(img, grayscale(img), factors[2])
        return img


class RandomGrayscale(nn.Module):
    def __init__(self, p, rng):
        super().__init__()
        self.p = p
        self.rng = rng

    def forward(self, img):
        if self.rng.random() < self.p:
            return grayscale(img).expand(-1, 3, -1, -1)
        return img


class RandomHorizontalFlip(nn.Module):
    def __init__(self, rng, p=0.5):
        super().__init__()
        self.p = p
        self.rng = rng

    def forward(self, img):
        if self.rng.random() < self.p:
            return torch.flip(img, dims=[3])
        return img


class GaussianBlur(nn.Module):
    def __init__(self, kernel_size, sigma, rng):
        super().__init__()
        self.kernel_size = kernel_size
        self.sigma = sigma
        self.rng = rng

    def forward(self, img):
        sigma = self.rng.uniform(*self.sigma)
        half = (self.kernel_size - 1) * 0.5
        pdf = np.exp(-0.5 * (np.linspace(-half, half, self.kernel_size) / sigma) ** 2)
        kernel1d = torch.tensor(pdf / pdf.sum(), dtype=torch.float32)
        kernel2d = torch.mm(kernel1d[:, None], kernel1d[None, :])
        kernel = kernel2d.expand(img.shape[-3], 1, self.kernel_size, self.kernel_size)
        pad = self.kernel_size // 2
        img = F.pad(img, [pad, pad, pad, pad], mode="reflect")
        return F.conv2d(img, kernel, groups=img.shape[-3])


class RandomResizedCrop(nn.Module):
    def __init__(self, size, rng, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
        super().__init__()
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.rng = rng

    def get_params(self, height, width):
        area = height * width
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            target_area = area * self.rng.uniform(*self.scale)
            aspect_ratio = np.exp(self.rng.uniform(*log_ratio))
            w = int(round(np.sqrt(target_area * aspect_ratio)))  # noqa: RUF046 - torchvision's spelling
            h = int(round(np.sqrt(target_area / aspect_ratio)))  # noqa: RUF046
            if 0 < w <= width and 0 < h <= height:
                i = int(self.rng.integers(0, height - h + 1))
                j = int(self.rng.integers(0, width - w + 1))
                return i, j, h, w
        return 0, 0, height, width

    def forward(self, img):
        i, j, h, w = self.get_params(img.shape[-2], img.shape[-1])
        img = img[:, :, i:i + h, j:j + w]
        return F.interpolate(img, size=self.size, mode="bilinear", align_corners=False)


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, img):
        return (img - self.mean.view(-1, 1, 1)) / self.std.view(-1, 1, 1)


def default_augmentation(image_size, rng):
    """The original's DEFAULT_AUG, its transforms drawing from ``rng``."""
    return torch.nn.Sequential(
        RandomApply(
            ColorJitter(0.8, 0.8, 0.8, rng),
            p=0.3
        ),
        RandomGrayscale(p=0.2, rng=rng),
        RandomHorizontalFlip(rng),
        RandomApply(
            GaussianBlur(3, (1.0, 2.0), rng),
            p=0.2
        ),
        RandomResizedCrop((image_size, image_size), rng),
        Normalize(
            mean=torch.tensor([0.485, 0.456, 0.406]),
            std=torch.tensor([0.229, 0.224, 0.225])),
    )

# exponential moving average


class EMA():  # noqa: UP039 - the original's spelling
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def update_average(self, old, new):
        if old is None:
            return new
        return old * self.beta + (1 - self.beta) * new


def update_moving_average(ema_updater, ma_model, current_model):
    for ma_params, current_params in zip(ma_model.parameters(), current_model.parameters()):
        old_weight, up_weight = ma_params.data, current_params.data
        ma_params.data = ema_updater.update_average(old_weight, up_weight)

# MLP class for projector and predictor


def MLP(dim, projection_size, hidden_size=4096):  # noqa: N802 - the original's names
    return nn.Sequential(
        nn.Linear(dim, hidden_size),
        nn.BatchNorm1d(hidden_size),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_size, projection_size)
    )


def SimSiamMLP(dim, projection_size, hidden_size=4096):  # noqa: N802
    return nn.Sequential(
        nn.Linear(dim, hidden_size, bias=False),
        nn.BatchNorm1d(hidden_size),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_size, hidden_size, bias=False),
        nn.BatchNorm1d(hidden_size),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_size, projection_size, bias=False),
        nn.BatchNorm1d(projection_size, affine=False)
    )

# a wrapper class for the base neural network
# will manage the interception of the hidden layer output
# and pipe it into the projecter and predictor nets


class NetWrapper(nn.Module):
    def __init__(self, net, projection_size, projection_hidden_size, layer=-2, use_simsiam_mlp=False):
        super().__init__()
        self.net = net
        self.layer = layer

        self.projector = None
        self.projection_size = projection_size
        self.projection_hidden_size = projection_hidden_size

        self.use_simsiam_mlp = use_simsiam_mlp

        self.hidden = {}
        self.hook_registered = False

    def _find_layer(self):
        if type(self.layer) == str:  # noqa: E721 - the original's spelling
            modules = dict([*self.net.named_modules()])
            return modules.get(self.layer, None)  # noqa: SIM910
        elif type(self.layer) == int:  # noqa: E721
            children = [*self.net.children()]
            return children[self.layer]
        return None

    def _hook(self, _, input, output):  # noqa: A002
        device = input[0].device
        self.hidden[device] = flatten(output)

    def _register_hook(self):
        layer = self._find_layer()
        assert layer is not None, f'hidden layer ({self.layer}) not found'
        handle = layer.register_forward_hook(self._hook)  # noqa: F841 (the original keeps it unused)
        self.hook_registered = True

    @singleton('projector')
    def _get_projector(self, hidden):
        _, dim = hidden.shape
        create_mlp_fn = MLP if not self.use_simsiam_mlp else SimSiamMLP
        projector = create_mlp_fn(dim, self.projection_size, self.projection_hidden_size)
        return projector.to(hidden)

    def get_representation(self, x):
        if self.layer == -1:
            return self.net(x)

        if not self.hook_registered:
            self._register_hook()

        self.hidden.clear()
        _ = self.net(x)
        hidden = self.hidden[x.device]
        self.hidden.clear()

        assert hidden is not None, f'hidden layer {self.layer} never emitted an output'
        return hidden

    def forward(self, x, return_projection=True):
        representation = self.get_representation(x)

        if not return_projection:
            return representation

        projector = self._get_projector(representation)
        projection = projector(representation)
        return projection, representation

# main class


class BYOL(nn.Module):
    def __init__(
        self,
        net,
        image_size,
        hidden_layer=-2,
        projection_size=256,
        projection_hidden_size=4096,
        augment_fn=None,
        augment_fn2=None,
        moving_average_decay=0.99,
        use_momentum=True,
        rng=None
    ):
        super().__init__()
        self.net = net

        # default SimCLR augmentation

        DEFAULT_AUG = default_augmentation(image_size, default(rng, np.random.default_rng()))

        self.augment1 = default(augment_fn, DEFAULT_AUG)
        self.augment2 = default(augment_fn2, self.augment1)

        self.online_encoder = NetWrapper(
            net,
            projection_size,
            projection_hidden_size,
            layer=hidden_layer,
            use_simsiam_mlp=not use_momentum
        )

        self.use_momentum = use_momentum
        self.target_encoder = None
        self.target_ema_updater = EMA(moving_average_decay)

        self.online_predictor = MLP(projection_size, projection_size, projection_hidden_size)

        # get device of network and make wrapper same device
        device = get_module_device(net)
        self.to(device)

        # send a mock image tensor to instantiate singleton parameters
        self.forward(torch.randn(2, 3, image_size, image_size, device=device))

    @singleton('target_encoder')
    def _get_target_encoder(self):
        target_encoder = copy.deepcopy(self.online_encoder)
        set_requires_grad(target_encoder, False)
        return target_encoder

    def reset_moving_average(self):
        del self.target_encoder
        self.target_encoder = None

    def update_moving_average(self):
        assert self.use_momentum, 'you do not need to update the moving average, since you have turned off momentum ' \
            'for the target encoder'
        assert self.target_encoder is not None, 'target encoder has not been created yet'
        update_moving_average(self.target_ema_updater, self.target_encoder, self.online_encoder)

    def forward(self, x, return_embedding=False, return_projection=True):
        assert not (self.training and x.shape[0] == 1), 'you must have greater than 1 sample when training, due to ' \
            'the batchnorm in the projection layer'

        if return_embedding:
            return self.online_encoder(x, return_projection=return_projection)

        image_one, image_two = self.augment1(x), self.augment2(x)

        images = torch.cat((image_one, image_two), dim=0)

        online_projections, _ = self.online_encoder(images)
        online_predictions = self.online_predictor(online_projections)

        online_pred_one, online_pred_two = online_predictions.chunk(2, dim=0)

        with torch.no_grad():
            target_encoder = self._get_target_encoder() if self.use_momentum else self.online_encoder

            target_projections, _ = target_encoder(images)
            target_projections = target_projections.detach()

            target_proj_one, target_proj_two = target_projections.chunk(2, dim=0)

        loss_one = loss_fn(online_pred_one, target_proj_two.detach())
        loss_two = loss_fn(online_pred_two, target_proj_one.detach())

        loss = loss_one + loss_two
        return loss.mean()

# a small ResNet-like net to learn from (the README takes torchvision's resnet50)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self, width=8, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def make_images(n, size=16, seed=0):
    """(n, 3, size, size) float32 images in [0, 1]: coloured blobs and stripes with pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for _ in range(n):
        cy, cx, freq = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(1, 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * xx + rng.uniform(0, 6))
        img = rng.uniform(0.2, 1, (3, 1, 1)) * blob + rng.uniform(0, 0.5, (3, 1, 1)) * stripes
        images.append(np.clip(img + rng.normal(0, 0.03, (3, size, size)), 0, 1))
    return np.stack(images).astype(np.float32)


def make_learner(hidden_layer='avgpool', use_momentum=True, seed=0, image_size=16):
    """The README's learner over a fresh TinyResNet, its augmentations drawing from numpy seeded ``seed`` and
    Python's ``random`` seeded ``seed``."""
    random.seed(seed)
    resnet = TinyResNet()
    return BYOL(resnet, image_size=image_size, hidden_layer=hidden_layer, projection_size=16,
                projection_hidden_size=32, use_momentum=use_momentum, rng=np.random.default_rng(seed))


def snapshot(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def train(learner, images, steps, lr=3e-4, batch_size=8, save_path=None, seed=1):
    """The README's loop: Adam over ``learner.parameters()``, the loss, backward, step and the moving average; logs
    each step's loss, gradient norm and the online / target encoders' state, then the embeddings of the first batch
    and ``torch.save`` of the improved net's state_dict."""
    random.seed(seed)
    opt = torch.optim.Adam(learner.parameters(), lr=lr)
    log = {"loss": [], "grad_norm": [], "online": [], "target": []}
    for step in range(steps):
        start = step * batch_size % len(images)
        batch = torch.from_numpy(images[start:start + batch_size])
        loss = learner(batch)
        opt.zero_grad()
        loss.backward()
        grads = [p.grad.norm() ** 2 for p in learner.parameters() if p.grad is not None]
        log["grad_norm"].append(torch.stack(grads).sum().sqrt().item())
        opt.step()
        if learner.use_momentum:
            learner.update_moving_average()  # update moving average of target encoder
            log["target"].append(snapshot(learner.target_encoder))
        log["loss"].append(loss.item())
        log["online"].append(snapshot(learner.online_encoder))
    log["predictor"] = snapshot(learner.online_predictor)
    learner.eval()
    with torch.no_grad():
        projection, embedding = learner(torch.from_numpy(images[:batch_size]), return_embedding=True)
        alone = learner(torch.from_numpy(images[:batch_size]), return_embedding=True, return_projection=False)
    learner.train()
    log["embedding"] = (projection.numpy(), embedding.numpy(), alone.numpy())
    if save_path is not None:
        # save your improved network
        torch.save(learner.net.state_dict(), save_path)
    return log
