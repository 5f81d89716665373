"""Two input-gradient programs as their public repositories write them, on a small CNN and numpy images.

- jacobgil/pytorch-grad-cam's core: ``ActivationsAndGradients`` (forward hooks on the target layers keeping the
  detached activations and, through ``output.register_hook``, the gradients, prepended; ``release`` removes the
  hooks), ``BaseCAM``'s forward (argmax targets when none are given, ``model.zero_grad()``, the summed
  ``ClassifierOutputTarget`` scores backpropagated with ``retain_graph=True``, the numpy CAM per layer, ReLU by
  ``np.maximum``, ``scale_cam_image`` with a bilinear ``F.interpolate`` in place of ``cv2.resize``, the layers
  averaged), and GradCAM / GradCAM++ / XGradCAM / EigenCAM (``get_2d_projection``'s ``np.linalg.svd``).
- DeepDream as the tutorials write it: the image a leaf with ``requires_grad``, activations from a forward hook or a
  truncated ``nn.Sequential``, ``loss = activations.norm()`` (or ``.mean()``), the gradient divided by its mean
  absolute value, ascent through ``image.data +=``, clamping to the normalised pixel range, random jitter by
  ``torch.roll`` and its inverse, and octaves by a bilinear ``F.interpolate`` carrying the detail between them."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class SmallCNN(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 24, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(24, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# ---------------------------------------------------------------- pytorch-grad-cam

class ActivationsAndGradients:
    """Class for extracting activations and registering gradients from targetted intermediate layers."""

    def __init__(self, model, target_layers, reshape_transform):
        self.model = model
        self.gradients = []
        self.activations = []
        self.reshape_transform = reshape_transform
        self.handles = []
        for target_layer in target_layers:
            self.handles.append(target_layer.register_forward_hook(self.save_activation))
            # Because of https://github.com/pytorch/pytorch/issues/61519, we don't use backward hook
            self.handles.append(target_layer.register_forward_hook(self.save_gradient))

    def save_activation(self, module, inp, output):
        activation = output
        if self.reshape_transform is not None:
            activation = self.reshape_transform(activation)
        self.activations.append(activation.cpu().detach())

    def save_gradient(self, module, inp, output):
        if not hasattr(output, "requires_grad") or not output.requires_grad:
            # You can only register hooks on tensor requires grad.
            return

        # Gradients are computed in reverse order
        def _store_grad(grad):
            if self.reshape_transform is not None:
                grad = self.reshape_transform(grad)
            self.gradients = [grad.cpu().detach()] + self.gradients

        output.register_hook(_store_grad)

    def __call__(self, x):
        self.gradients = []
        self.activations = []
        return self.model(x)

    def release(self):
        for handle in self.handles:
            handle.remove()


class ClassifierOutputTarget:
    def __init__(self, category):
        self.category = category

    def __call__(self, model_output):
        return model_output[..., self.category]


def scale_cam_image(cam, target_size=None):
    result = []
    for img in cam:
        img = img - np.min(img)
        img = img / (1e-7 + np.max(img))
        if target_size is not None:
            width, height = target_size
            img = F.interpolate(torch.from_numpy(img)[None, None], size=(height, width), mode="bilinear",
                                align_corners=False)[0, 0].numpy()
        result.append(img)
    result = np.float32(result)
    return result


def get_2d_projection(activation_batch):
    # TBD: use pytorch batch svd implementation
    activation_batch[np.isnan(activation_batch)] = 0
    projections = []
    for activations in activation_batch:
        reshaped_activations = (activations).reshape(activations.shape[0], -1).transpose()
        # Centering before the SVD seems to be important here,
        # Otherwise the image returned is negative
        reshaped_activations = reshaped_activations - reshaped_activations.mean(axis=0)
        _, _, VT = np.linalg.svd(reshaped_activations, full_matrices=True)
        projection = reshaped_activations @ VT[0, :]
        projection = projection.reshape(activations.shape[1:])
        projections.append(projection)
    return np.float32(projections)


class BaseCAM:
    def __init__(self, model, target_layers, reshape_transform=None, uses_gradients=True):
        self.model = model.eval()
        self.target_layers = target_layers
        self.device = next(self.model.parameters()).device
        self.reshape_transform = reshape_transform
        self.uses_gradients = uses_gradients
        self.activations_and_grads = ActivationsAndGradients(self.model, target_layers, reshape_transform)

    def get_cam_weights(self, input_tensor, target_layers, targets, activations, grads):
        raise Exception("Not Implemented")

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        weights = self.get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        # 2D conv
        weighted_activations = weights[:, :, None, None] * activations
        return get_2d_projection(weighted_activations) if eigen_smooth else weighted_activations.sum(axis=1)

    def forward(self, input_tensor, targets=None, eigen_smooth=False):
        input_tensor = input_tensor.to(self.device)
        self.outputs = outputs = self.activations_and_grads(input_tensor)

        if targets is None:
            target_categories = np.argmax(outputs.cpu().data.numpy(), axis=-1)
            targets = [ClassifierOutputTarget(category) for category in target_categories]

        if self.uses_gradients:
            self.model.zero_grad()
            loss = sum([target(output) for target, output in zip(targets, outputs)])
            loss.backward(retain_graph=True)

        # In most of the saliency attribution papers, the saliency is
        # computed with a single target layer.
        # Commonly it is the last convolutional layer.
        # Here we support passing a list with multiple target layers.
        # It will compute the saliency image for every image,
        # and then aggregate them (with a default mean aggregation).
        cam_per_layer = self.compute_cam_per_layer(input_tensor, targets, eigen_smooth)
        return self.aggregate_multi_layers(cam_per_layer)

    def get_target_width_height(self, input_tensor):
        width, height = input_tensor.size(-1), input_tensor.size(-2)
        return width, height

    def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):
        activations_list = [a.cpu().data.numpy() for a in self.activations_and_grads.activations]
        grads_list = [g.cpu().data.numpy() for g in self.activations_and_grads.gradients]
        target_size = self.get_target_width_height(input_tensor)

        cam_per_target_layer = []
        # Loop over the saliency image from every layer
        for i in range(len(self.target_layers)):
            target_layer = self.target_layers[i]
            layer_activations = None
            layer_grads = None
            if i < len(activations_list):
                layer_activations = activations_list[i]
            if i < len(grads_list):
                layer_grads = grads_list[i]

            cam = self.get_cam_image(input_tensor, target_layer, targets, layer_activations, layer_grads,
                                     eigen_smooth)
            cam = np.maximum(cam, 0)
            scaled = scale_cam_image(cam, target_size)
            cam_per_target_layer.append(scaled[:, None, :])

        return cam_per_target_layer

    def aggregate_multi_layers(self, cam_per_target_layer):
        cam_per_target_layer = np.concatenate(cam_per_target_layer, axis=1)
        cam_per_target_layer = np.maximum(cam_per_target_layer, 0)
        result = np.mean(cam_per_target_layer, axis=1)
        return scale_cam_image(result)

    def __call__(self, input_tensor, targets=None, eigen_smooth=False):
        return self.forward(input_tensor, targets, eigen_smooth)

    def __del__(self):
        self.activations_and_grads.release()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.activations_and_grads.release()
        if isinstance(exc_value, IndexError):
            # Handle IndexError here...
            print(f"An exception occurred in CAM with block: {exc_type}. Message: {exc_value}")
            return True


class GradCAM(BaseCAM):
    def get_cam_weights(self, input_tensor, target_layer, target_category, activations, grads):
        return np.mean(grads, axis=(2, 3))


class GradCAMPlusPlus(BaseCAM):
    def get_cam_weights(self, input_tensor, target_layers, target_category, activations, grads):
        grads_power_2 = grads**2
        grads_power_3 = grads_power_2 * grads
        # Equation 19 in https://arxiv.org/abs/1710.11063
        sum_activations = np.sum(activations, axis=(2, 3))
        eps = 0.000001
        aij = grads_power_2 / (2 * grads_power_2 + sum_activations[:, :, None, None] * grads_power_3 + eps)
        # Now bring back the ReLU from eq.7 in the paper,
        # And zero out aijs where the activations are 0
        aij = np.where(grads != 0, aij, 0)

        weights = np.maximum(grads, 0) * aij
        weights = np.sum(weights, axis=(2, 3))
        return weights


class XGradCAM(BaseCAM):
    def get_cam_weights(self, input_tensor, target_layer, target_category, activations, grads):
        sum_activations = np.sum(activations, axis=(2, 3))
        eps = 1e-7
        weights = grads * activations / (sum_activations[:, :, None, None] + eps)
        weights = weights.sum(axis=(2, 3))
        return weights


class EigenCAM(BaseCAM):
    def __init__(self, model, target_layers, reshape_transform=None):
        super().__init__(model, target_layers, reshape_transform, uses_gradients=False)

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        return get_2d_projection(activations)


METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM, "eigencam": EigenCAM}


def run_cams(model, images, categories=None):
    """Every method on the (N, 3, H, W) numpy ``images``, for the last conv's ReLU and for it with the block before;
    returns {name: (N, H, W) cams} and the gradients / activations / outputs the hooks saw."""
    input_tensor = torch.from_numpy(images)
    targets = None if categories is None else [ClassifierOutputTarget(c) for c in categories]
    log = {}
    for name, method in METHODS.items():
        for layers in ("last", "two"):
            target_layers = [model.features[-1]] if layers == "last" else [model.features[4], model.features[-1]]
            with method(model=model, target_layers=target_layers) as cam:
                log[f"{name}/{layers}"] = cam(input_tensor=input_tensor, targets=targets)
                hooks = cam.activations_and_grads
                log[f"{name}/{layers}/activations"] = [a.numpy() for a in hooks.activations]
                log[f"{name}/{layers}/gradients"] = [g.numpy() for g in hooks.gradients]
                log[f"{name}/{layers}/outputs"] = cam.outputs.detach().numpy()
    model(input_tensor)  # the hooks were removed on leaving the with-block: nothing more is recorded
    log["recorded_after_release"] = [len(hooks.activations), len(hooks.gradients)]
    log["weight_grad"] = model.classifier.weight.grad.numpy().copy()
    return log


# ---------------------------------------------------------------- DeepDream

def preprocess(array):
    """A (H, W, 3) numpy image in [0, 1] as a normalised (1, 3, H, W) batch."""
    return torch.from_numpy(((array - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32))


def deprocess(image):
    array = image[0].detach().numpy().transpose(1, 2, 0) * STD + MEAN
    return np.clip(array, 0.0, 1.0)


LOWER = torch.tensor((-MEAN / STD).reshape(1, 3, 1, 1))
UPPER = torch.tensor(((1 - MEAN) / STD).reshape(1, 3, 1, 1))


def clip(image_tensor):
    return torch.max(torch.min(image_tensor, UPPER), LOWER)


class LayerActivations:
    features = None

    def __init__(self, layer):
        self.hook = layer.register_forward_hook(self.hook_fn)

    def hook_fn(self, module, inp, output):
        self.features = output

    def remove(self):
        self.hook.remove()


def dream_step(model, image, activations, lr, shifts, loss_kind, history):
    """One ascent step on the leaf ``image``: jitter by roll, forward, the normalised gradient, unroll, clamp."""
    ox, oy = shifts
    image.data = torch.roll(image.data, shifts=(ox, oy), dims=(-2, -1))
    model.zero_grad()
    out = model(image) if activations is None else (model(image), activations.features)[1]
    loss = out.norm() if loss_kind == "norm" else out.mean()
    loss.backward()
    g = image.grad.data
    g = g / (g.abs().mean() + 1e-8)
    image.data += lr * g
    image.data = torch.roll(image.data, shifts=(-ox, -oy), dims=(-2, -1))
    image.data = clip(image.data)
    history["loss"].append(loss.item())
    history["grad"].append(image.grad.detach().numpy().copy())
    history["image"].append(image.detach().numpy().copy())
    image.grad.data.zero_()


def dream(model, image, iterations, lr, jitter, rng, activations=None, loss_kind="norm", history=None):
    image = image.clone().detach()
    image.requires_grad = True
    for _ in range(iterations):
        shifts = rng.randint(-jitter, jitter + 1, 2)  # numpy integers, as the tutorials pass them to roll
        dream_step(model, image, activations, lr, shifts, loss_kind, history)
    return image.detach()


def deep_dream(model, array, iterations=3, lr=0.05, octave_scale=1.4, num_octaves=3, jitter=2, seed=0,
               layer=None, loss_kind="norm"):
    """Octaves of a (H, W, 3) image: the smallest dreamed first, each detail upsampled onto the next octave.
    With ``layer`` the activations come from a forward hook on it over the whole model; otherwise ``model`` is
    already the truncated feature extractor."""
    rng = np.random.RandomState(seed)
    history = {"loss": [], "grad": [], "image": [], "octaves": []}
    activations = None if layer is None else LayerActivations(layer)
    image = preprocess(array)
    octaves = [image]
    for _ in range(num_octaves - 1):
        octaves.append(F.interpolate(octaves[-1], scale_factor=1 / octave_scale, mode="bilinear",
                                     align_corners=False))
    detail = torch.zeros_like(octaves[-1])
    for octave, octave_base in enumerate(octaves[::-1]):
        if octave > 0:
            detail = F.interpolate(detail, size=octave_base.shape[-2:], mode="bilinear", align_corners=False)
        input_image = octave_base + detail
        dreamed_image = dream(model, input_image, iterations, lr, jitter, rng, activations, loss_kind, history)
        detail = dreamed_image - octave_base
        history["octaves"].append(tuple(dreamed_image.shape))
    if activations is not None:
        activations.remove()
    history["result"] = deprocess(dreamed_image)
    return history


def truncated(model, index):
    """The feature extractor up to and including ``features[index]``, in eval mode with frozen parameters."""
    net = nn.Sequential(*list(model.features.children())[:index + 1]).eval()
    for param in net.parameters():
        param.requires_grad = False
    return net
