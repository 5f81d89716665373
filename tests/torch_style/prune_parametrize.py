"""PyTorch's Pruning Tutorial and Parametrizations Tutorial on a LeNet-like model (tiny sizes, synthetic numpy data),
with a short training loop through each: the tutorials' calls in their order, each step's state recorded.

The harness passes the numpy data (and, where the tutorial draws a random mask, the mask) so that both libraries
see the same numbers.
"""

import contextlib
import io

import torch
import torch.nn.functional as F
import torch.nn.utils.parametrize as P
import torch.nn.utils.prune as prune
from torch import nn
from torch.nn.utils import parametrizations


class LeNet(nn.Module):
    """The tutorial's LeNet, on 1x12x12 images."""

    def __init__(self) -> None:
        super(LeNet, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 1 * 1, 12)
        self.fc2 = nn.Linear(12, 10)
        self.fc3 = nn.Linear(10, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def arr(t):
    return t.detach().numpy().copy()


def hook_names(module):
    """The pre-hooks' classes, a container unpacked: what printing ``module._forward_pre_hooks`` shows."""
    out = []
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, prune.PruningContainer):
            out.append(["PruningContainer"] + [type(m).__name__ for m in hook])
        else:
            out.append(type(hook).__name__)
    return out


class FooBarPruningMethod(prune.BasePruningMethod):
    """Prune every other entry in a tensor"""
    PRUNING_TYPE = 'unstructured'

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask


def foobar_unstructured(module, name):
    FooBarPruningMethod.apply(module, name)
    return module


def pruning_tutorial(model, mask=None):
    """The pruning tutorial on ``model.conv1`` and the whole model; ``mask`` (numpy) stands in for
    ``random_unstructured``'s draw when given."""
    log = {}
    module = model.conv1
    log["params0"] = [n for n, _ in module.named_parameters()]
    log["buffers0"] = [n for n, _ in module.named_buffers()]
    if mask is None:
        prune.random_unstructured(module, name="weight", amount=0.3)
    else:
        prune.custom_from_mask(module, name="weight", mask=torch.tensor(mask))
    log["params1"] = [n for n, _ in module.named_parameters()]
    log["buffers1"] = [n for n, _ in module.named_buffers()]
    log["mask1"] = arr(module.weight_mask)
    log["weight1"] = arr(module.weight)
    log["hooks1"] = hook_names(module)
    prune.l1_unstructured(module, name="bias", amount=3)
    log["bias_mask"] = arr(module.bias_mask)
    log["bias"] = arr(module.bias)
    log["hooks2"] = hook_names(module)
    prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
    log["mask3"] = arr(module.weight_mask)
    log["weight3"] = arr(module.weight)
    for hook in module._forward_pre_hooks.values():
        if hook._tensor_name == "weight":  # select out the correct hook
            break
    log["container"] = [type(m).__name__ for m in list(hook)]
    log["state_keys"] = list(model.state_dict().keys())
    log["is_pruned"] = prune.is_pruned(model)
    prune.remove(module, 'weight')
    log["params4"] = [n for n, _ in module.named_parameters()]
    log["buffers4"] = [n for n, _ in module.named_buffers()]
    log["weight4"] = arr(module.weight)
    log["weight4_is_param"] = isinstance(module.weight, nn.Parameter)
    log["hooks4"] = hook_names(module)
    return log


def prune_many(new_model):
    """Pruning multiple parameters in a model: 20% of every conv, 40% of every linear layer."""
    for name, module in new_model.named_modules():  # noqa: B007 - the tutorial's spelling
        # prune 20% of connections in all 2D-conv layers
        if isinstance(module, torch.nn.Conv2d):
            prune.l1_unstructured(module, name='weight', amount=0.2)
        # prune 40% of connections in all linear layers
        elif isinstance(module, torch.nn.Linear):
            prune.l1_unstructured(module, name='weight', amount=0.4)
    return list(dict(new_model.named_buffers()).keys())


def print_sparsity(model):
    """The tutorial's report, one print per layer and the global one."""
    print(
        "Sparsity in conv1.weight: {:.2f}%".format(
            100. * float(torch.sum(model.conv1.weight == 0))
            / float(model.conv1.weight.nelement())
        )
    )
    print(
        "Sparsity in conv2.weight: {:.2f}%".format(
            100. * float(torch.sum(model.conv2.weight == 0))
            / float(model.conv2.weight.nelement())
        )
    )
    print(
        "Sparsity in fc1.weight: {:.2f}%".format(
            100. * float(torch.sum(model.fc1.weight == 0))
            / float(model.fc1.weight.nelement())
        )
    )
    print(
        "Sparsity in fc2.weight: {:.2f}%".format(
            100. * float(torch.sum(model.fc2.weight == 0))
            / float(model.fc2.weight.nelement())
        )
    )
    print(
        "Sparsity in fc3.weight: {:.2f}%".format(
            100. * float(torch.sum(model.fc3.weight == 0))
            / float(model.fc3.weight.nelement())
        )
    )
    print(
        "Global sparsity: {:.2f}%".format(
            100. * float(
                torch.sum(model.conv1.weight == 0)
                + torch.sum(model.conv2.weight == 0)
                + torch.sum(model.fc1.weight == 0)
                + torch.sum(model.fc2.weight == 0)
                + torch.sum(model.fc3.weight == 0)
            )
            / float(
                model.conv1.weight.nelement()
                + model.conv2.weight.nelement()
                + model.fc1.weight.nelement()
                + model.fc2.weight.nelement()
                + model.fc3.weight.nelement()
            )
        )
    )


def global_pruning(model):
    """Global pruning of 20% of the weights by L1 over all layers together, the sparsity report, the custom method."""
    parameters_to_prune = (
        (model.conv1, 'weight'),
        (model.conv2, 'weight'),
        (model.fc1, 'weight'),
        (model.fc2, 'weight'),
        (model.fc3, 'weight'),
    )
    prune.global_unstructured(
        parameters_to_prune,
        pruning_method=prune.L1Unstructured,
        amount=0.2,
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_sparsity(model)
    foobar_unstructured(model.fc3, name='bias')
    return {"lines": out.getvalue().splitlines(), "fc3_bias_mask": arr(model.fc3.bias_mask),
            "masks": {n: arr(getattr(model, n).weight_mask) for n in ("conv1", "conv2", "fc1", "fc2", "fc3")},
            "state_keys": list(model.state_dict().keys()), "is_pruned": prune.is_pruned(model)}


def reload_pruned(model, make_model):
    """A pruned model's state_dict, saved and loaded into a fresh model given identity pruning first."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = make_model()
    for _, module in fresh.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            prune.identity(module, "weight")
    prune.identity(fresh.fc3, "bias")
    fresh.load_state_dict(torch.load(buffer))
    return fresh


def train(model, xs, ys, opt="adam", lr=1e-2):
    """A few steps of cross-entropy training; losses, gradient norms by name, and parameters after each step."""
    optimizer = (torch.optim.Adam if opt == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    log = {"loss": [], "grad": [], "params": [], "zeros": []}
    model.train()
    for x, y in zip(xs, ys):
        optimizer.zero_grad()
        out = model(torch.from_numpy(x))
        loss = F.cross_entropy(out, torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        log["loss"].append(loss.item())
        log["grad"].append({n: p.grad.norm().item() for n, p in model.named_parameters()})
        log["params"].append({n: arr(p) for n, p in model.named_parameters()})
        log["zeros"].append([int((m.weight == 0).sum()) for m in model.modules()
                             if isinstance(m, (nn.Conv2d, nn.Linear))])
    with torch.no_grad():
        model(torch.from_numpy(xs[0]))  # the pre-hooks recompute the weights from the last step
    log["weights"] = {n: arr(m.weight) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    return log


# ---------------------------------------------------------------- the parametrizations tutorial
class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class Skew(nn.Module):
    def forward(self, X):
        A = X.triu(1)
        return A - A.transpose(-1, -2)

    def right_inverse(self, A):
        # We assume that A is skew-symmetric
        # We take the upper-triangular elements, as these are those used in the forward
        return A.triu(1)


class MatrixExponential(nn.Module):
    def forward(self, X):
        return torch.matrix_exp(X)

    def right_inverse(self, A):
        raise NotImplementedError("the tutorial's map has no inverse")


def parametrizations_tutorial(layer_sym, layer_orth, X, x):
    """Symmetric, Skew + MatrixExponential chained, right_inverse assignment, caching, removal."""
    log = {}
    P.register_parametrization(layer_sym, "weight", Symmetric())
    A = layer_sym.weight
    log["sym"] = arr(A)
    log["sym_is_symmetric"] = bool(torch.allclose(A, A.T))
    log["sym_original"] = arr(layer_sym.parametrizations.weight.original)
    log["is_parametrized"] = [P.is_parametrized(layer_sym), P.is_parametrized(layer_sym, "weight"),
                              P.is_parametrized(layer_sym, "bias")]
    log["sym_params"] = [n for n, _ in layer_sym.named_parameters()]
    log["sym_keys"] = list(layer_sym.state_dict().keys())

    P.register_parametrization(layer_orth, "weight", Skew())
    P.register_parametrization(layer_orth, "weight", MatrixExponential())
    Q = layer_orth.weight
    log["orth"] = arr(Q)
    log["orth_QtQ"] = arr(Q.T @ Q)
    log["orth_params"] = [n for n, _ in layer_orth.named_parameters()]
    log["orth_keys"] = list(layer_orth.state_dict().keys())

    # right_inverse: assigning a skew matrix to a Skew-parametrized layer
    layer_skew = nn.Linear(X.shape[0], X.shape[0])
    P.register_parametrization(layer_skew, "weight", Skew())
    S = torch.from_numpy(X)
    S = S - S.T
    layer_skew.weight = S
    log["skew_original"] = arr(layer_skew.parametrizations.weight.original)
    log["skew_weight"] = arr(layer_skew.weight)
    log["skew_equal"] = bool(torch.allclose(layer_skew.weight, S))

    # caching
    with P.cached():
        foo = layer_orth(torch.from_numpy(x))
        bar = layer_orth(foo)
    log["cached"] = arr(bar)
    log["uncached"] = arr(layer_orth(layer_orth(torch.from_numpy(x))))

    # removing
    P.remove_parametrizations(layer_orth, "weight", leave_parametrized=True)
    log["orth_removed_params"] = [n for n, _ in layer_orth.named_parameters()]
    log["orth_removed"] = arr(layer_orth.weight)
    log["orth_removed_type"] = type(layer_orth).__name__
    P.remove_parametrizations(layer_sym, "weight", leave_parametrized=False)
    log["sym_removed"] = arr(layer_sym.weight)
    log["sym_removed_params"] = [n for n, _ in layer_sym.named_parameters()]
    log["still_parametrized"] = [P.is_parametrized(layer_sym), P.is_parametrized(layer_orth)]
    return log


class ParamNet(nn.Module):
    """LeNet with the built-in parametrizations: spectral_norm convs, an orthogonal, a weight-normed and a
    symmetric linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = parametrizations.spectral_norm(nn.Conv2d(1, 6, 3))
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = parametrizations.orthogonal(nn.Linear(16, 12))
        self.fc2 = parametrizations.weight_norm(nn.Linear(12, 12))
        self.fc3 = nn.Linear(12, 4)
        P.register_parametrization(self.fc2, "weight", Symmetric())

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def builtin_report(model):
    """The built-in parametrizations' state: keys, originals, the orthogonal map, the spectral norm of conv1."""
    with torch.no_grad():
        w = model.conv1.weight
        sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()
        q = model.fc1.weight
        qqt = q @ q.T
    return {"keys": list(model.state_dict().keys()),
            "params": [n for n, _ in model.named_parameters()],
            "sigma": sigma, "fc1_qqt": arr(qqt),
            "fc2_parts": [arr(model.fc2.parametrizations.weight.original0),
                          arr(model.fc2.parametrizations.weight.original1)],
            "weights": {n: arr(getattr(model, n).weight) for n in ("conv1", "conv2", "fc1", "fc2", "fc3")}}
