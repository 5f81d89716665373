"""PyTorch's torch.func tutorials as they are written, at small sizes: "Per-sample-gradients" (a loop of
autograd.grad against vmap(grad(compute_loss)) over functional_call), "Model ensembling" (stack_module_state, a
meta-device base model, vmap over the ensemble) and "Jacobians, Hessians, hvp, vjp and jvp" (jacrev / jacfwd /
hessian / vjp / jvp, argnums, batched Jacobians and Hessians, hvp, and autograd.functional.jacobian). Each function
returns its results as numpy arrays for the test to compare with torch's."""

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, jvp, stack_module_state, vjp, vmap


def numpy_data(seed, *shape):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def numpy_targets(seed, n, classes=10):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, classes, n))


# ---------------------------------------------------------------- Per-sample-gradients


class SimpleCNN(nn.Module):
    def __init__(self):
        super(SimpleCNN, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        output = x
        return output


def loss_fn(predictions, targets):
    return F.nll_loss(predictions, targets)


def per_sample_grads(model, batch_size=8):
    data = numpy_data(1, batch_size, 1, 12, 12)
    targets = numpy_targets(2, batch_size)

    predictions = model(data)
    loss = loss_fn(predictions, targets)

    def compute_grad(sample, target):
        sample = sample.unsqueeze(0)
        target = target.unsqueeze(0)
        prediction = model(sample)
        loss = loss_fn(prediction, target)
        return torch.autograd.grad(loss, list(model.parameters()))

    def compute_sample_grads(data, targets):
        sample_grads = [compute_grad(data[i], targets[i]) for i in range(batch_size)]
        sample_grads = zip(*sample_grads)
        sample_grads = [torch.stack(shards) for shards in sample_grads]
        return sample_grads

    per_sample_grads = compute_sample_grads(data, targets)

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        loss = loss_fn(predictions, targets)
        return loss

    ft_compute_grad = grad(compute_loss)
    ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
    ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)

    checks = []
    for per_sample_grad, ft_per_sample_grad in zip(per_sample_grads, ft_per_sample_grads.values()):
        checks.append(torch.allclose(per_sample_grad, ft_per_sample_grad, atol=3e-3, rtol=1e-5))
    return {"loss": loss.item(), "loop": [g.numpy() for g in per_sample_grads],
            "vmap": {k: v.numpy() for k, v in ft_per_sample_grads.items()}, "checks": checks}


# ---------------------------------------------------------------- Model ensembling


class SimpleMLP(nn.Module):
    def __init__(self):
        super(SimpleMLP, self).__init__()  # noqa: UP008
        self.fc1 = nn.Linear(144, 32)
        self.fc2 = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        x = F.relu(x)
        x = self.fc3(x)
        return x


def make_ensemble(num_models=4):
    return nn.ModuleList([SimpleMLP() for _ in range(num_models)])


def ensembling(ensemble):
    models = list(ensemble)
    num_models = len(models)
    data = numpy_data(3, 6, 16, 1, 12, 12)

    minibatches = data[:num_models]
    predictions_diff_minibatch_loop = [model(minibatch) for model, minibatch in zip(models, minibatches)]
    minibatch = data[0]
    predictions2 = [model(minibatch) for model in models]

    params, buffers = stack_module_state(models)
    base_model = copy.deepcopy(models[0])
    # the tutorial's base_model.to('meta') is left out: tinygrad_adam has no meta device (it raises)

    def fmodel(params, buffers, x):
        return functional_call(base_model, (params, buffers), (x,))

    sizes = [p.size(0) for p in params.values()]
    predictions1_vmap = vmap(fmodel)(params, buffers, minibatches)
    predictions2_vmap = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
    checks = [torch.allclose(predictions1_vmap, torch.stack(predictions_diff_minibatch_loop), atol=1e-3, rtol=1e-5),
              torch.allclose(predictions2_vmap, torch.stack(predictions2), atol=1e-3, rtol=1e-5)]
    return {"sizes": sizes, "params": {k: v.detach().numpy() for k, v in params.items()},
            "requires_grad": [p.requires_grad for p in params.values()],
            "loop1": torch.stack(predictions_diff_minibatch_loop).detach().numpy(),
            "loop2": torch.stack(predictions2).detach().numpy(),
            "vmap1": predictions1_vmap.detach().numpy(), "vmap2": predictions2_vmap.detach().numpy(),
            "checks": checks}


# ---------------------------------------------------------------- Jacobians, Hessians, hvp, vjp and jvp


def predict(weight, bias, x):
    return F.linear(x, weight, bias).tanh()


def jacobians():
    out = {}
    D = 16
    weight = numpy_data(4, D, D)
    bias = numpy_data(5, D)
    x = numpy_data(6, D)

    def compute_jac(xp):
        jacobian_rows = [torch.autograd.grad(predict(weight, bias, xp), xp, vec)[0] for vec in unit_vectors]
        return torch.stack(jacobian_rows)

    xp = x.clone().requires_grad_()
    unit_vectors = torch.eye(D)
    jacobian = compute_jac(xp)
    out["manual_jacobian"] = jacobian.numpy()

    jacobian = jacrev(predict, argnums=2)(weight, bias, x)
    out["jacrev"] = jacobian.numpy()
    checks = [torch.allclose(jacobian, compute_jac(xp))]

    ft_jac_weight, ft_jac_bias = jacrev(predict, argnums=(0, 1))(weight, bias, x)
    out["jac_weight"], out["jac_bias"] = ft_jac_weight.numpy(), ft_jac_bias.numpy()
    checks.append(torch.allclose(ft_jac_bias, torch.autograd.functional.jacobian(
        lambda b: predict(weight, b, x), bias)))

    # reverse-mode vs forward-mode: the same answer
    Din, Dout = 8, 64
    weight = numpy_data(7, Dout, Din)
    bias = numpy_data(8, Dout)
    x = numpy_data(9, Din)
    using_fwd = jacfwd(predict, argnums=2)(weight, bias, x)
    using_bwd = jacrev(predict, argnums=2)(weight, bias, x)
    checks.append(torch.allclose(using_fwd, using_bwd))
    out["jacfwd"], out["jacrev_tall"] = using_fwd.numpy(), using_bwd.numpy()
    out["functional_jacobian"] = torch.autograd.functional.jacobian(predict, (weight, bias, x))[2].numpy()

    # Hessians
    Din, Dout = 16, 4
    weight = numpy_data(10, Dout, Din)
    bias = numpy_data(11, Dout)
    x = numpy_data(12, Din)
    hess_api = hessian(predict, argnums=2)(weight, bias, x)
    hess_fwdfwd = jacfwd(jacfwd(predict, argnums=2), argnums=2)(weight, bias, x)
    hess_revrev = jacrev(jacrev(predict, argnums=2), argnums=2)(weight, bias, x)
    checks.append(torch.allclose(hess_api, hess_fwdfwd))
    checks.append(torch.allclose(hess_api, hess_revrev))
    out["hessian"], out["hess_fwdfwd"], out["hess_revrev"] = hess_api.numpy(), hess_fwdfwd.numpy(), hess_revrev.numpy()

    # batch Jacobians and Hessians
    batch_size, Din, Dout = 6, 5, 7
    weight = numpy_data(13, Dout, Din)
    bias = numpy_data(14, Dout)
    x = numpy_data(15, batch_size, Din)

    compute_batch_jacobian = vmap(jacrev(predict, argnums=2), in_dims=(None, None, 0))
    batch_jacobian0 = compute_batch_jacobian(weight, bias, x)

    def predict_with_output_summed(weight, bias, x):
        return predict(weight, bias, x).sum(0)

    batch_jacobian1 = jacrev(predict_with_output_summed, argnums=2)(weight, bias, x).movedim(1, 0)
    checks.append(torch.allclose(batch_jacobian0, batch_jacobian1))
    out["batch_jacobian0"], out["batch_jacobian1"] = batch_jacobian0.numpy(), batch_jacobian1.numpy()

    compute_batch_hessian = vmap(hessian(predict, argnums=2), in_dims=(None, None, 0))
    batch_hess = compute_batch_hessian(weight, bias, x)
    out["batch_hessian"] = batch_hess.numpy()
    out["batch_hessian_shape"] = list(batch_hess.shape)

    value, jvp_out = jvp(predict, (weight, bias, x), (torch.zeros_like(weight), torch.zeros_like(bias),
                                                         torch.ones_like(x)))
    out["jvp_value"], out["jvp"] = value.numpy(), jvp_out.numpy()

    # hvp: forward-over-reverse, and reverse-over-reverse through vjp
    def hvp(f, primals, tangents):
        return jvp(grad(f), primals, tangents)[1]

    def f(x):
        return x.sin().sum()

    x = numpy_data(16, 32)
    tangent = numpy_data(17, 32)
    result = hvp(f, (x,), (tangent,))

    def hvp_revrev(f, primals, tangents):
        _, vjp_fn = vjp(grad(f), *primals)
        return vjp_fn(*tangents)

    result_revrev = hvp_revrev(f, (x,), (tangent,))[0]
    checks.append(torch.allclose(result, result_revrev))
    checks.append(torch.allclose(result, -x.sin() * tangent))
    out["hvp"], out["hvp_revrev"] = result.numpy(), result_revrev.numpy()

    out["checks"] = checks
    return out


def param_jacobians(net):
    """Jacobians and Hessians with respect to a model's parameters, through torch.func.functional_call (the neural
    tangent kernel tutorial's ``fnet_single``)."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    x1 = numpy_data(18, 3, 144)
    x2 = numpy_data(19, 2, 144)

    def fnet_single(params, x):
        return torch.func.functional_call(net, params, (x.unsqueeze(0),)).squeeze(0)

    jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
    jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
    jac1 = [j.flatten(2) for j in jac1.values()]
    jac2 = [j.flatten(2) for j in jac2.values()]
    result = torch.stack([torch.einsum('Naf,Mbf->NMab', j1, j2) for j1, j2 in zip(jac1, jac2)]).sum(0)

    def loss(weight, bias):
        return F.cross_entropy(torch.func.functional_call(net, {'fc3.weight': weight, 'fc3.bias': bias}, (x1,)),
                               numpy_targets(20, 3))

    d_weight, d_bias = grad(loss, argnums=(0, 1))(params['fc3.weight'], params['fc3.bias'])
    (h_ww, h_wb), (h_bw, h_bb) = hessian(loss, argnums=(0, 1))(params['fc3.weight'], params['fc3.bias'])
    found = {"d_weight": d_weight, "d_bias": d_bias, "h_ww": h_ww, "h_wb": h_wb, "h_bw": h_bw, "h_bb": h_bb}
    return {"ntk": result.numpy(), **{k: v.detach().numpy() for k, v in found.items()},
            "requires_grad": [v.requires_grad for v in found.values()],
            "params_unchanged": all(torch.equal(p, params[k]) for k, p in net.named_parameters())}
