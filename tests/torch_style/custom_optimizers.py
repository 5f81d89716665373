"""Hand-written ``torch.optim.Optimizer`` subclasses as popular public repositories write them: lucidrains'
lion-pytorch (``Lion`` with its ``update_fn``, and the ``torch._foreach_*`` variant), sail-sg's Adan (the
multi-tensor and single-tensor paths, ``pre_grad`` state, ``restart_opt``, bias corrections and the global
gradient-norm clip), cybertronai's pytorch-lamb (the trust ratio in Python branches, ``state['weight_norm']``) and
Liu et al.'s SophiaG (``update_hessian`` from sampled labels, the clipped ratio step), each trained on a tiny MLP or a
tiny causal transformer with numpy data, under a LambdaLR warmup, with ``add_param_group`` and a checkpoint resume."""
# ruff: noqa: UP032, UP034, SIM108, SIM118, SIM300, RUF059 - the repositories' own spellings

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.optimizer import Optimizer


# ---- lion_pytorch/lion_pytorch.py ----
def exists(val):
    return val is not None


def update_fn(p, grad, exp_avg, lr, wd, beta1, beta2):
    # stepweight decay
    p.data.mul_(1. - lr * wd)

    # weight update
    update = exp_avg.clone().mul_(beta1).add(grad, alpha=1. - beta1).sign_()
    p.add_(update, alpha=-lr)

    # decay the momentum running average coefficient
    exp_avg.mul_(beta2).add_(grad, alpha=1. - beta2)


class Lion(Optimizer):
    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False):
        assert lr > 0.
        assert all([0. <= beta <= 1. for beta in betas])

        self._init_lr = lr
        self.decoupled_wd = decoupled_weight_decay

        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay)
        super().__init__(params, defaults)
        self.update_fn = update_fn

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if exists(closure):
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            for p in filter(lambda p: exists(p.grad), group['params']):
                grad, lr, wd, beta1, beta2, state, decoupled_wd, init_lr = (
                    p.grad, group['lr'], group['weight_decay'], *group['betas'], self.state[p], self.decoupled_wd,
                    self._init_lr)

                # maybe decoupled weight decay
                if decoupled_wd:
                    wd /= init_lr

                # init state - exponential moving average of gradient values
                if len(state) == 0:
                    state['exp_avg'] = torch.zeros_like(p)

                exp_avg = state['exp_avg']
                self.update_fn(p, grad, exp_avg, lr, wd, beta1, beta2)

        return loss


# ---- lion_pytorch/foreach.py ----
class LionForeach(Optimizer):
    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False):
        assert lr > 0.
        assert all([0. <= beta <= 1. for beta in betas])
        assert all([hasattr(torch, f'_foreach_{attr}_') for attr in ('mul', 'add', 'sign', 'lerp')]), \
            'this version of torch does not have the prerequisite foreach functions'

        self._init_lr = lr
        self.decoupled_wd = decoupled_weight_decay

        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if exists(closure):
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            lr, wd, beta1, beta2, decoupled_wd, init_lr = (group['lr'], group['weight_decay'], *group['betas'],
                                                            self.decoupled_wd, self._init_lr)

            # maybe decoupled weight decay
            if decoupled_wd:
                wd /= init_lr

            # accumulate List[Tensor] for foreach inplace updates
            params = []
            grads = []
            exp_avgs = []

            for p in filter(lambda p: exists(p.grad), group['params']):
                grad, state = p.grad, self.state[p]

                # init state - exponential moving average of gradient values
                if len(state) == 0:
                    state['exp_avg'] = torch.zeros_like(p)

                exp_avg = state['exp_avg']

                params.append(p)
                grads.append(grad)
                exp_avgs.append(exp_avg)

            # stepweight decay
            torch._foreach_mul_(params, 1. - lr * wd)

            # weight update
            updates = torch._foreach_lerp(exp_avgs, grads, 1. - beta1)
            torch._foreach_sign_(updates)

            torch._foreach_add_(params, updates, alpha=-lr)

            # decay momentum running average
            torch._foreach_lerp_(exp_avgs, grads, 1. - beta2)

        return loss


# ---- adan.py (sail-sg/Adan) ----
class Adan(Optimizer):
    """Adan: adaptive Nesterov momentum; betas are (beta1, beta2, beta3), ``no_prox`` picks the decay form."""

    def __init__(self, params, lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=0.0, max_grad_norm=0.0,
                 no_prox=False, foreach: bool = True):
        if not 0.0 <= max_grad_norm:
            raise ValueError('Invalid Max grad norm: {}'.format(max_grad_norm))
        if not 0.0 <= lr:
            raise ValueError('Invalid learning rate: {}'.format(lr))
        if not 0.0 <= eps:
            raise ValueError('Invalid epsilon value: {}'.format(eps))
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError('Invalid beta parameter at index 0: {}'.format(betas[0]))
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError('Invalid beta parameter at index 1: {}'.format(betas[1]))
        if not 0.0 <= betas[2] < 1.0:
            raise ValueError('Invalid beta parameter at index 2: {}'.format(betas[2]))
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
                        no_prox=no_prox, foreach=foreach)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super(Adan, self).__setstate__(state)  # noqa: UP008 - the repository's spelling
        for group in self.param_groups:
            group.setdefault('no_prox', False)

    @torch.no_grad()
    def restart_opt(self):
        for group in self.param_groups:
            group['step'] = 0
            for p in group['params']:
                if p.requires_grad:
                    state = self.state[p]
                    # State initialization

                    # Exponential moving average of gradient values
                    state['exp_avg'] = torch.zeros_like(p)
                    # Exponential moving average of squared gradient values
                    state['exp_avg_sq'] = torch.zeros_like(p)
                    # Exponential moving average of gradient difference
                    state['exp_avg_diff'] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        """Performs a single optimization step."""

        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        if self.defaults['max_grad_norm'] > 0:
            device = self.param_groups[0]['params'][0].device
            global_grad_norm = torch.zeros(1, device=device)

            max_grad_norm = torch.tensor(self.defaults['max_grad_norm'], device=device)
            for group in self.param_groups:

                for p in group['params']:
                    if p.grad is not None:
                        grad = p.grad
                        global_grad_norm.add_(grad.pow(2).sum())

            global_grad_norm = torch.sqrt(global_grad_norm)

            clip_global_grad_norm = torch.clamp(max_grad_norm / (global_grad_norm + group['eps']), max=1.0)
        else:
            clip_global_grad_norm = 1.0

        for group in self.param_groups:
            params_with_grad = []
            grads = []
            exp_avgs = []
            exp_avg_sqs = []
            exp_avg_diffs = []
            pre_grads = []

            beta1, beta2, beta3 = group['betas']
            # assume same step across group now to simplify things
            # per parameter step can be easily support by making it tensor, or pass list into kernel
            if 'step' in group:
                group['step'] += 1
            else:
                group['step'] = 1

            bias_correction1 = 1.0 - beta1 ** group['step']
            bias_correction2 = 1.0 - beta2 ** group['step']
            bias_correction3 = 1.0 - beta3 ** group['step']

            for p in group['params']:
                if p.grad is None:
                    continue
                params_with_grad.append(p)
                grads.append(p.grad)

                state = self.state[p]
                if len(state) == 0:
                    state['exp_avg'] = torch.zeros_like(p)
                    state['exp_avg_sq'] = torch.zeros_like(p)
                    state['exp_avg_diff'] = torch.zeros_like(p)

                if 'pre_grad' not in state or group['step'] == 1:
                    # at first step grad wouldn't be clipped by `clip_global_grad_norm`
                    # this is only to simplify implementation
                    state['pre_grad'] = p.grad

                exp_avgs.append(state['exp_avg'])
                exp_avg_sqs.append(state['exp_avg_sq'])
                exp_avg_diffs.append(state['exp_avg_diff'])
                pre_grads.append(state['pre_grad'])

            kwargs = dict(
                params=params_with_grad,
                grads=grads,
                exp_avgs=exp_avgs,
                exp_avg_sqs=exp_avg_sqs,
                exp_avg_diffs=exp_avg_diffs,
                pre_grads=pre_grads,
                beta1=beta1,
                beta2=beta2,
                beta3=beta3,
                bias_correction1=bias_correction1,
                bias_correction2=bias_correction2,
                bias_correction3_sqrt=math.sqrt(bias_correction3),
                lr=group['lr'],
                weight_decay=group['weight_decay'],
                eps=group['eps'],
                no_prox=group['no_prox'],
                clip_global_grad_norm=clip_global_grad_norm,
            )
            if group['foreach']:
                copy_grads = _multi_tensor_adan(**kwargs)
            else:
                copy_grads = _single_tensor_adan(**kwargs)

            for p, copy_grad in zip(params_with_grad, copy_grads):
                self.state[p]['pre_grad'] = copy_grad

        return loss


def _single_tensor_adan(params, grads, exp_avgs, exp_avg_sqs, exp_avg_diffs, pre_grads, *, beta1, beta2, beta3,
                        bias_correction1, bias_correction2, bias_correction3_sqrt, lr, weight_decay, eps, no_prox,
                        clip_global_grad_norm):
    copy_grads = []
    for i, param in enumerate(params):
        grad = grads[i]
        exp_avg = exp_avgs[i]
        exp_avg_sq = exp_avg_sqs[i]
        exp_avg_diff = exp_avg_diffs[i]
        pre_grad = pre_grads[i]

        grad = grad.mul_(clip_global_grad_norm)
        copy_grads.append(grad.clone())

        diff = grad - pre_grad
        update = grad + beta2 * diff

        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)  # m_t
        exp_avg_diff.mul_(beta2).add_(diff, alpha=1 - beta2)  # diff_t
        exp_avg_sq.mul_(beta3).addcmul_(update, update, value=1 - beta3)  # n_t

        denom = ((exp_avg_sq).sqrt() / bias_correction3_sqrt).add_(eps)
        update = ((exp_avg / bias_correction1 + beta2 * exp_avg_diff / bias_correction2)).div_(denom)

        if no_prox:
            param.mul_(1 - lr * weight_decay)
            param.add_(update, alpha=-lr)
        else:
            param.add_(update, alpha=-lr)
            param.div_(1 + lr * weight_decay)
    return copy_grads


def _multi_tensor_adan(params, grads, exp_avgs, exp_avg_sqs, exp_avg_diffs, pre_grads, *, beta1, beta2, beta3,
                       bias_correction1, bias_correction2, bias_correction3_sqrt, lr, weight_decay, eps, no_prox,
                       clip_global_grad_norm):
    if clip_global_grad_norm < 1.0:
        torch._foreach_mul_(grads, clip_global_grad_norm.item())
    copy_grads = [g.clone() for g in grads]

    diff = torch._foreach_sub(grads, pre_grads)
    # NOTE: line below while looking identical gives different result, due to float precision errors.
    # using mul+add produces identical results to single-tensor, using add+alpha doesn't
    # On cuda this difference doesn't matter due to its' own precision non-determinism
    # update = torch._foreach_add(grads, torch._foreach_mul(diff, beta2))
    update = torch._foreach_add(grads, torch._foreach_mul(diff, beta2))

    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)  # m_t

    torch._foreach_mul_(exp_avg_diffs, beta2)
    torch._foreach_add_(exp_avg_diffs, diff, alpha=1 - beta2)  # diff_t

    torch._foreach_mul_(exp_avg_sqs, beta3)
    torch._foreach_addcmul_(exp_avg_sqs, update, update, value=1 - beta3)  # n_t

    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias_correction3_sqrt)
    torch._foreach_add_(denom, eps)

    update = torch._foreach_div(exp_avgs, bias_correction1)
    # NOTE: same issue as above. beta2 * diff / bias_correction2 != diff * (beta2 / bias_correction2)
    # using faster version by default.
    # torch._foreach_add_(update, torch._foreach_div(torch._foreach_mul(exp_avg_diffs, beta2), bias_correction2))
    torch._foreach_add_(update, torch._foreach_mul(exp_avg_diffs, beta2 / bias_correction2))
    torch._foreach_div_(update, denom)

    if no_prox:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
        torch._foreach_add_(params, update, alpha=-lr)
    else:
        torch._foreach_add_(params, update, alpha=-lr)
        torch._foreach_div_(params, 1 + lr * weight_decay)
    return copy_grads


# ---- pytorch_lamb/lamb.py (cybertronai) ----
class Lamb(Optimizer):
    r"""Implements Lamb algorithm.

    It has been proposed in `Large Batch Optimization for Deep Learning: Training BERT in 76 minutes`_.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0, adam=False):
        if not 0.0 <= lr:
            raise ValueError("Invalid learning rate: {}".format(lr))
        if not 0.0 <= eps:
            raise ValueError("Invalid epsilon value: {}".format(eps))
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError("Invalid beta parameter at index 0: {}".format(betas[0]))
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError("Invalid beta parameter at index 1: {}".format(betas[1]))
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.adam = adam
        super(Lamb, self).__init__(params, defaults)  # noqa: UP008

    def step(self, closure=None):
        """Performs a single optimization step."""
        loss = None
        if closure is not None:
            loss = closure()

        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                grad = p.grad.data
                if grad.is_sparse:
                    raise RuntimeError('Lamb does not support sparse gradients, consider SparseAdam instad.')

                state = self.state[p]

                # State initialization
                if len(state) == 0:
                    state['step'] = 0
                    # Exponential moving average of gradient values
                    state['exp_avg'] = torch.zeros_like(p.data)
                    # Exponential moving average of squared gradient values
                    state['exp_avg_sq'] = torch.zeros_like(p.data)

                exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
                beta1, beta2 = group['betas']

                state['step'] += 1

                # Decay the first and second moment running average coefficient
                # m_t
                exp_avg.mul_(beta1).add_(1 - beta1, grad)
                # v_t
                exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad)

                # Paper v3 does not use debiasing.
                # Apply bias to lr to avoid broadcast.
                step_size = group['lr']  # * math.sqrt(bias_correction2) / bias_correction1

                weight_norm = p.data.pow(2).sum().sqrt().clamp(0, 10)

                adam_step = exp_avg / exp_avg_sq.sqrt().add(group['eps'])
                if group['weight_decay'] != 0:
                    adam_step.add_(group['weight_decay'], p.data)

                adam_norm = adam_step.pow(2).sum().sqrt()
                if weight_norm == 0 or adam_norm == 0:
                    trust_ratio = 1
                else:
                    trust_ratio = weight_norm / adam_norm
                state['weight_norm'] = weight_norm
                state['adam_norm'] = adam_norm
                state['trust_ratio'] = trust_ratio
                if self.adam:
                    trust_ratio = 1

                p.data.add_(-step_size * trust_ratio, adam_step)

        return loss


# ---- sophia.py (Liu et al.) ----
class SophiaG(Optimizer):
    def __init__(self, params, lr=1e-4, betas=(0.965, 0.99), rho=0.04, weight_decay=1e-1, *, maximize: bool = False,
                 capturable: bool = False):
        if not 0.0 <= lr:
            raise ValueError("Invalid learning rate: {}".format(lr))
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError("Invalid beta parameter at index 0: {}".format(betas[0]))
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError("Invalid beta parameter at index 1: {}".format(betas[1]))
        if not 0.0 <= rho:
            raise ValueError("Invalid rho parameter at index 1: {}".format(rho))
        if not 0.0 <= weight_decay:
            raise ValueError("Invalid weight_decay value: {}".format(weight_decay))
        defaults = dict(lr=lr, betas=betas, rho=rho, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable)
        super(SophiaG, self).__init__(params, defaults)  # noqa: UP008

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault('maximize', False)
            group.setdefault('capturable', False)
        state_values = list(self.state.values())
        step_is_tensor = (len(state_values) != 0) and torch.is_tensor(state_values[0]['step'])
        if not step_is_tensor:
            for s in state_values:
                s['step'] = torch.tensor(float(s['step']))

    @torch.no_grad()
    def update_hessian(self):
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]

                if len(state) == 0:
                    state['step'] = torch.zeros((1,), dtype=torch.float, device=p.device) \
                        if self.defaults['capturable'] else torch.tensor(0.)
                    state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state['hessian'] = torch.zeros_like(p, memory_format=torch.preserve_format)

                if 'hessian' not in state.keys():
                    state['hessian'] = torch.zeros_like(p, memory_format=torch.preserve_format)

                state['hessian'].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)

    @torch.no_grad()
    def step(self, closure=None, bs=5120):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params_with_grad = []
            grads = []
            exp_avgs = []
            state_steps = []
            hessian = []
            beta1, beta2 = group['betas']

            for p in group['params']:
                if p.grad is None:
                    continue
                params_with_grad.append(p)

                if p.grad.is_sparse:
                    raise RuntimeError('Hero does not support sparse gradients')
                grads.append(p.grad)
                state = self.state[p]
                # State initialization
                if len(state) == 0:
                    state['step'] = torch.zeros((1,), dtype=torch.float, device=p.device) \
                        if self.defaults['capturable'] else torch.tensor(0.)
                    state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state['hessian'] = torch.zeros_like(p, memory_format=torch.preserve_format)

                if 'hessian' not in state.keys():
                    state['hessian'] = torch.zeros_like(p, memory_format=torch.preserve_format)

                exp_avgs.append(state['exp_avg'])
                state_steps.append(state['step'])
                hessian.append(state['hessian'])

            sophiag(params_with_grad, grads, exp_avgs, hessian, state_steps, bs=bs, beta1=beta1, beta2=beta2,
                    rho=group['rho'], lr=group['lr'], weight_decay=group['weight_decay'],
                    maximize=group['maximize'], capturable=group['capturable'])

        return loss


def sophiag(params, grads, exp_avgs, hessian, state_steps, capturable: bool = False, *, bs: int, beta1: float,
            beta2: float, rho: float, lr: float, weight_decay: float, maximize: bool):
    if not all(isinstance(t, torch.Tensor) for t in state_steps):
        raise RuntimeError("API has changed, `state_steps` argument must contain a list of singleton tensors")
    func = _single_tensor_sophiag
    func(params, grads, exp_avgs, hessian, state_steps, bs=bs, beta1=beta1, beta2=beta2, rho=rho, lr=lr,
         weight_decay=weight_decay, maximize=maximize, capturable=capturable)


def _single_tensor_sophiag(params, grads, exp_avgs, hessian, state_steps, *, bs: int, beta1: float, beta2: float,
                           rho: float, lr: float, weight_decay: float, maximize: bool, capturable: bool):
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        exp_avg = exp_avgs[i]
        hess = hessian[i]
        step_t = state_steps[i]

        # update step
        step_t += 1

        # Perform stepweight decay
        param.mul_(1 - lr * weight_decay)

        # Decay the first and second moment running average coefficient
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)

        step_size_neg = - lr
        ratio = (exp_avg.abs() / (rho * bs * hess + 1e-15)).clamp(None, 1)
        param.addcmul_(exp_avg.sign(), ratio, value=step_size_neg)


# ---- the models ----
class MLP(nn.Module):
    def __init__(self, n_in=6, n_hidden=16, n_out=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_hidden)
        self.head = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        x = F.gelu(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.head(x)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd)
        # bias-free, as nanoGPT's ``bias=False``: a key bias only shifts each query's scores by a constant, so its
        # gradient is rounding noise, and sign-like steps (Lion, Sophia, Adan) would move it by noise's sign
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp(self.ln_2(x))


class TinyTransformer(nn.Module):
    def __init__(self, vocab_size=11, block_size=8, n_embd=16, n_head=2):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.block = Block(n_embd, n_head, block_size)
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx, targets=None):
        _, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        logits = self.head(self.ln_f(self.block(x)))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


def make_model(kind):
    return MLP() if kind == "mlp" else TinyTransformer()


# ---- the data: numpy, the same in both runs ----
def make_data(kind, steps, batch=8, seed=0):
    """Per step: inputs, targets and the labels Sophia's Hessian estimate samples (uniform over the classes)."""
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        w = rng.normal(size=(6, 3))
        x = rng.normal(size=(steps, batch, 6)).astype(np.float32)
        y = (x @ w + 0.5 * rng.normal(size=(steps, batch, 3))).argmax(-1).astype(np.int64)
        samples = rng.integers(0, 3, size=(steps, batch)).astype(np.int64)
        return x, y, samples
    tokens = rng.integers(0, 11, size=(steps, batch, 9))
    tokens[..., 1::2] = (tokens[..., 0::2][..., :4] + 1) % 11  # half the tokens predictable
    samples = rng.integers(0, 11, size=(steps, batch, 8)).astype(np.int64)
    return tokens[..., :-1].astype(np.int64), tokens[..., 1:].astype(np.int64), samples


# ---- the optimizers as the READMEs build them ----
OPTIMIZERS = {
    "lion": lambda groups: Lion(groups, lr=4e-3, weight_decay=1e-2),
    "lion_decoupled": lambda groups: Lion(groups, lr=4e-3, weight_decay=1e-4, decoupled_weight_decay=True),
    "lion_foreach": lambda groups: LionForeach(groups, lr=4e-3, weight_decay=1e-2),
    "adan": lambda groups: Adan(groups, lr=1e-2, betas=(0.98, 0.92, 0.99), weight_decay=0.02, max_grad_norm=0.5),
    "adan_no_prox": lambda groups: Adan(groups, lr=1e-2, betas=(0.98, 0.92, 0.99), weight_decay=0.02, no_prox=True),
    "adan_single": lambda groups: Adan(groups, lr=1e-2, betas=(0.98, 0.92, 0.99), weight_decay=0.02,
                                       max_grad_norm=0.5, foreach=False),
    "lamb": lambda groups: Lamb(groups, lr=2e-2, weight_decay=0.01, betas=(.9, .999)),
    "lamb_adam": lambda groups: Lamb(groups, lr=2e-2, betas=(.9, .999), adam=True),
    "sophia": lambda groups: SophiaG(groups, lr=2e-3, betas=(0.965, 0.99), rho=0.05, weight_decay=0.1),
}

def param_groups(model):
    """Decay / no-decay groups as nanoGPT's configure_optimizers builds them, the head left out (added later)."""
    body = [(n, p) for n, p in model.named_parameters() if not n.startswith("head")]
    decay = [p for n, p in body if p.dim() >= 2]
    no_decay = [p for n, p in body if p.dim() < 2]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup(step):
    return min(1.0, (step + 1) / 4)


def build(name, model, with_head):
    """The optimizer (its head group added once training reaches ``ADD_HEAD_AT``) and its LambdaLR."""
    optimizer = OPTIMIZERS[name](param_groups(model))
    if with_head:
        optimizer.add_param_group({"params": list(model.head.parameters()), "lr": optimizer.defaults["lr"] * 0.5})
    scheduler = LambdaLR(optimizer, lr_lambda=warmup)
    return optimizer, scheduler


ADD_HEAD_AT = 2
RESTART_AT = 5


def snapshot_state(optimizer):
    """Each parameter's optimizer state as numpy arrays / numbers, parameters in group order."""
    out = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state[p]
            out.append({k: (v.detach().numpy().copy() if torch.is_tensor(v) else v) for k, v in sorted(state.items())})
    return out


def train(kind, model, name, steps, checkpoint=None, resume_from=None):
    """``steps`` steps of ``name`` on ``kind``'s data; at ``checkpoint`` save everything to ``resume_from``, or,
    with ``resume_from`` alone, load it and go on. Returns the per-step log."""
    x, y, samples = make_data(kind, steps)
    start = 0
    optimizer, scheduler = build(name, model, with_head=False)
    if resume_from is not None and checkpoint is None:
        ckpt = torch.load(resume_from)
        model.load_state_dict(ckpt["model"])
        start = ckpt["step"]
        if start >= ADD_HEAD_AT:
            optimizer, scheduler = build(name, model, with_head=True)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
    # the head stays frozen until its group is added
    model.head.requires_grad_(start >= ADD_HEAD_AT)
    log = {"losses": [], "grad_norms": [], "lrs": [], "params": [], "states": [], "grads": []}
    for it in range(start, steps):
        if it == ADD_HEAD_AT and start < ADD_HEAD_AT:
            # unfreeze the head: a new group, and the schedule rebuilt over all groups where it stands
            model.head.requires_grad_(True)
            head_lr = optimizer.defaults["lr"] * 0.5
            optimizer.add_param_group({"params": list(model.head.parameters()), "lr": head_lr, "initial_lr": head_lr})
            scheduler = LambdaLR(optimizer, lr_lambda=warmup, last_epoch=it - 1)
        if it == RESTART_AT and isinstance(optimizer, Adan):
            optimizer.restart_opt()
        xb, yb = torch.from_numpy(x[it]), torch.from_numpy(y[it])
        if name == "sophia" and it % 2 == 1:
            # update hessian EMA from labels sampled by the model (here: handed in from numpy)
            logits = model(xb) if kind == "mlp" else model(xb)[0]
            y_sample = torch.from_numpy(samples[it])
            loss_sampled = F.cross_entropy(logits.view(-1, logits.size(-1)), y_sample.view(-1), ignore_index=-1)
            loss_sampled.backward()
            optimizer.update_hessian()
            optimizer.zero_grad(set_to_none=True)
            model.zero_grad()

        if kind == "mlp":
            loss = F.cross_entropy(model(xb), yb)
        else:
            loss = model(xb, yb)[1]
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        log["grad_norms"].append(torch.norm(torch.stack([torch.norm(g.detach(), 2) for g in grads]), 2).item())
        log["grads"].append([g.detach().numpy().copy() for g in grads])
        if name == "sophia":
            optimizer.step(bs=8 * (1 if kind == "mlp" else 8))
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        log["losses"].append(loss.item())
        log["lrs"].append([g["lr"] for g in optimizer.param_groups])
        log["params"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        log["states"].append(snapshot_state(optimizer))
        if checkpoint is not None and it + 1 == checkpoint:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": it + 1}, resume_from)
            break
    return log
