"""Neural style transfer (Gatys et al. 2016) as the PyTorch tutorial writes it, on small synthetic images. A
VGG-like feature net (nn.Sequential of Conv2d 3x3 padding=1, ReLU(inplace=False), AvgPool2d / MaxPool2d) with fixed
weights; a ``Normalization`` module whose mean / std are ``torch.tensor(...).view(-1, 1, 1)``; ContentLoss and
StyleLoss modules that keep ``self.loss = F.mse_loss(input, self.target)`` against a ``.detach()``-ed target,
inserted into a new nn.Sequential built by iterating ``cnn.children()`` with ``add_module`` and trimmed by
``model[:i + 1]``; the gram matrix by ``features.view(a * b, c * d)`` and ``torch.mm(features, features.t())``.

- ``run_style_transfer``: the input image ``requires_grad_(True)``, ``model.eval()`` and
  ``model.requires_grad_(False)``, ``optim.LBFGS([input_img])`` with a closure that clamps the image in place under
  ``torch.no_grad()``, zeroes the gradient, sums weighted style and content losses and backpropagates.
- ``run_with_hooks``: the same losses from features collected by ``register_forward_hook`` on the feature net's
  layers (no inserted modules), optimised by ``optim.Adam`` on the image.

Every closure's losses and the image after each step are recorded."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.set_default_device(device)


def image_loader(array, dtype=torch.float):
    """A (3, H, W) numpy image in [0, 1] as a (1, 3, H, W) batch on ``device``."""
    image = torch.from_numpy(array).unsqueeze(0)
    return image.to(device, dtype)


def make_cnn(pool="max"):
    """A small VGG-like feature extractor: conv-relu-conv-relu-pool-conv-relu-conv-relu."""
    Pool = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(8, 8, kernel_size=3, padding=1), nn.ReLU(inplace=False),
        Pool(kernel_size=2, stride=2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=False),
        Pool(kernel_size=2, stride=2),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=False),
    )


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


def gram_matrix(x):
    a, b, c, d = x.size()  # a: batch, b: feature maps, (c, d): their size
    features = x.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, x):
        G = gram_matrix(x)
        self.loss = F.mse_loss(G, self.target)
        return x


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


CONTENT_LAYERS = ["conv_4"]
STYLE_LAYERS = ["conv_1", "conv_2", "conv_3", "conv_4", "conv_5"]


def get_style_model_and_losses(cnn, normalization_mean, normalization_std, style_img, content_img,
                               content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS):
    cnn = copy.deepcopy(cnn)
    normalization = Normalization(normalization_mean, normalization_std)
    content_losses = []
    style_losses = []
    model = nn.Sequential(normalization)

    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            name = f"pool_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")

        model.add_module(name, layer)

        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)

        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)

    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    model = model[:(i + 1)]
    return model, style_losses, content_losses


def get_input_optimizer(input_img):
    optimizer = optim.LBFGS([input_img], max_iter=MAX_ITER)
    return optimizer


MAX_ITER = 20


def run_style_transfer(cnn, normalization_mean, normalization_std, content_img, style_img, input_img,
                       num_steps=30, style_weight=1000000, content_weight=1, tv_weight=0.0):
    """LBFGS on the image, the tutorial's ``while run[0] <= num_steps`` loop; returns (image, history): every
    closure's style / content / total loss, and the image and LBFGS's returned loss after each step."""
    assert style_img.size() == content_img.size()
    model, style_losses, content_losses = get_style_model_and_losses(cnn, normalization_mean, normalization_std,
                                                                     style_img, content_img)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = get_input_optimizer(input_img)
    history = {"style": [], "content": [], "tv": [], "loss": [], "images": [], "step_loss": [], "model": model}

    run = [0]
    while run[0] <= num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)

            optimizer.zero_grad()
            model(input_img)
            style_score = 0
            content_score = 0

            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss

            style_score *= style_weight
            content_score *= content_weight
            tv_score = tv_weight * total_variation(input_img)

            loss = style_score + content_score + tv_score
            loss.backward()

            run[0] += 1
            history["style"].append(style_score.item())
            history["content"].append(content_score.item())
            history["tv"].append(tv_score.item())
            history["loss"].append(loss.item())
            return style_score + content_score + tv_score

        history["step_loss"].append(optimizer.step(closure).item())
        history["images"].append(input_img.detach().cpu().clone().squeeze(0))

    with torch.no_grad():
        input_img.clamp_(0, 1)

    return input_img, history


def total_variation(img):
    """The anisotropic total variation: summed absolute differences of horizontal and vertical neighbours."""
    return (torch.sum(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]))
            + torch.sum(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :])))


def run_with_hooks(cnn, normalization_mean, normalization_std, content_img, style_img, input_img, num_steps=10,
                   lr=0.02, style_weight=1000.0, content_weight=1.0, content_index=6, style_indices=(0, 2, 5, 7)):
    """Features from forward hooks on the feature net's conv layers; Adam on a clone of the image."""
    normalization = Normalization(normalization_mean, normalization_std)
    features = {}

    def save(index):
        def hook(module, inputs, output):
            features[index] = output
        return hook

    handles = [cnn[j].register_forward_hook(save(j)) for j in set(style_indices) | {content_index}]
    cnn.eval()
    for p in cnn.parameters():
        p.requires_grad = False

    with torch.no_grad():
        cnn(normalization(content_img))
        content_target = features[content_index].detach()
        cnn(normalization(style_img))
        style_targets = {j: gram_matrix(features[j]).detach() for j in style_indices}

    input_img = input_img.clone().requires_grad_(True)
    optimizer = optim.Adam([input_img], lr=lr)
    history = {"style": [], "content": [], "loss": [], "grad_norm": [], "images": []}
    for _ in range(num_steps):
        optimizer.zero_grad()
        cnn(normalization(input_img))
        content_score = content_weight * F.mse_loss(features[content_index], content_target)
        style_score = style_weight * sum(F.mse_loss(gram_matrix(features[j]), style_targets[j])
                                         for j in style_indices)
        loss = content_score + style_score
        loss.backward()
        history["grad_norm"].append(input_img.grad.norm().item())
        optimizer.step()
        with torch.no_grad():
            input_img.clamp_(0, 1)
        history["style"].append(style_score.item())
        history["content"].append(content_score.item())
        history["loss"].append(loss.item())
        history["images"].append(input_img.detach().clone())

    for handle in handles:
        handle.remove()
    return input_img.detach(), history
