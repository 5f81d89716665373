"""BlinkDL/RWKV-LM's RWKV-4 as ordinary PyTorch code: src/model.py with the WKV written as the plain-PyTorch loop over
time (the CUDA kernel's forward, with its max trick, in torch ops, so autograd gives the backward), trainer.py's loop,
and src/model_run.py's RNN mode, shrunk and on synthetic tokens.

- ``RWKV_TimeMix``: the layer-dependent ``time_decay`` / ``time_first`` / ``time_mix_k/v/r`` init (``torch.ones``,
  ``torch.pow``, the zigzag), the ``nn.ZeroPad2d((0, 0, 1, -1))`` time shift, bias-free key / value / receptance /
  output Linears with ``scale_init``, sigmoid receptance and ``RUN_WKV``'s loop (``w = -exp(time_decay)``,
  ``torch.maximum`` / ``torch.exp``, ``torch.stack``); ``RWKV_ChannelMix``: the time shift, ``torch.square(
  torch.relu(k))`` and the sigmoid gate; ``Block`` with ``ln0`` on the first block (and the ``RWKV-ffnPre`` variant);
  ``GPT``: embedding, blocks in ``nn.Sequential``, ``ln_out``, head, ``RWKV_Init`` (``orthogonal_`` with gain,
  ``zeros_``, ``eye_`` for ``scale_init == -999``, ``normal_`` for negative scales) and ``L2Wrap``, the autograd
  Function whose backward puts ``1e-4 / (B * T) * max`` at each position's largest logit by ``scatter_``.
- ``configure_optimizers``: RWKV-4neo's ``layerwise_lr`` groups (time_mix 1x, time_decay 2x, time_first 3x, all with
  weight decay 0 and a ``my_lr_scale``), or v4's one no-decay group; DeepSpeed's FusedAdam when importable, else
  ``torch.optim.Adam(betas=(0.9, 0.99), eps=1e-8)``.
- ``train``: trainer.py's loop (tokens counted, linear warmup from ``lr_final`` then exponential decay, written into
  every ``param_group['lr']`` times its scale, the running ``avg_loss`` and its description line), with
  ``clip_grad_norm_``, a checkpoint of model + optimizer + counters saved mid-run and a resume from it. The Dataset
  draws its windows by ``np.random`` keyed by ``idx_begin + idx`` so that a resumed run sees the same stream.
- ``RWKV_RNN``: model_run.py loading the ``.pth`` into ``types.SimpleNamespace`` trees (``.time_`` squeezed,
  ``time_decay`` made ``-exp``), ``LN`` / ``FF`` / ``SA`` on one token with the ``xx`` / ``aa`` / ``bb`` / ``pp``
  state dicts and ``run`` returning the logits as a list.
Returns the logs; the harness runs it on torch and, with the imports swapped, on ours."""

# ruff: noqa: B007, E501, N801, N802, RUF059, SIM108, SIM118, SIM300, UP031 - the repo's spelling

import copy
import math
import os
import types

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

RWKV_HEAD_QK_DIM = 0
os.environ.setdefault("RWKV_JIT_ON", "0")

if os.environ["RWKV_JIT_ON"] == "1":
    MyModule = torch.jit.ScriptModule
    MyFunction = torch.jit.script_method
else:
    MyModule = nn.Module

    def __nop(ob):
        return ob

    MyFunction = __nop


########################################################################################################
# The WKV, as the CUDA kernel's forward computes it, in plain PyTorch
########################################################################################################

def RUN_WKV(B, T, C, w, u, k, v):
    # w = -exp(time_decay), u = time_first; k, v: (B, T, C)
    aa = torch.zeros(B, C, dtype=k.dtype)
    bb = torch.zeros(B, C, dtype=k.dtype)
    pp = torch.zeros(B, C, dtype=k.dtype) - 1e38
    y = []
    for t in range(T):
        kk = k[:, t]
        vv = v[:, t]
        ww = u + kk
        p = torch.maximum(pp, ww)
        e1 = torch.exp(pp - p)
        e2 = torch.exp(ww - p)
        y.append((e1 * aa + e2 * vv) / (e1 * bb + e2))
        ww = w + pp
        p = torch.maximum(ww, kk)
        e1 = torch.exp(ww - p)
        e2 = torch.exp(kk - p)
        aa = e1 * aa + e2 * vv
        bb = e1 * bb + e2
        pp = p
    return torch.stack(y, dim=1)


########################################################################################################
# RWKV: RWKV Time-mix + RWKV Channel-mix
########################################################################################################

def RWKV_Init(model, args):  # fancy initialization of all lin & emb layer in the model
    print("\n[--> first run, init model params (very slow for large models) <--]")
    print("[so you shall only do it for 1 single GPU and save the checkpt and load it when using multiple GPU]\n")

    for mm in model.modules():
        if "RecursiveScriptModule" in str(type(mm)):
            if mm.original_name not in ["Linear"]:
                continue
            ww = None
            for name, param in mm.named_parameters():
                if name == "weight":
                    ww = param
        else:
            m = mm
            if not isinstance(m, (nn.Linear, nn.Embedding)):
                continue
            ww = m.weight
        with torch.no_grad():
            name = "[unknown weight]"
            for name, parameter in model.named_parameters():  # find the name of the weight
                if id(ww) == id(parameter):
                    break

            shape = ww.shape
            gain = 1.0
            scale = 1.0  # extra scale for gain

            if isinstance(m, nn.Embedding):
                gain = math.sqrt(max(shape[0], shape[1]))
                if shape[0] == args.vocab_size and shape[1] == args.n_embd:  # token emb?
                    scale = 1e-4
                else:
                    scale = 0

            if isinstance(m, nn.Linear):
                if shape[0] > shape[1]:
                    gain = math.sqrt(shape[0] / shape[1])
                if shape[0] == args.vocab_size and shape[1] == args.n_embd:  # final projection?
                    scale = 0.5

            if hasattr(m, 'scale_init'):
                scale = m.scale_init

            print(f"{str(shape[0]).ljust(5)} {str(shape[1]).ljust(5)} {str(scale).ljust(4)} {name}")

            gain *= scale
            if scale == -999:
                nn.init.eye_(ww)
            elif gain == 0:
                # zero init is great for some RWKV matrices
                nn.init.zeros_(ww)
            elif gain > 0:
                nn.init.orthogonal_(ww, gain=gain)
            else:
                nn.init.normal_(ww, mean=0.0, std=-scale)


class RWKV_TimeMix(MyModule):
    def __init__(self, config, layer_id):
        super().__init__()
        self.layer_id = layer_id
        self.ctx_len = config.ctx_len
        self.n_embd = config.n_embd

        attn_sz = config.n_embd

        with torch.no_grad():  # fancy init
            ratio_0_to_1 = (layer_id / (config.n_layer - 1))  # 0 to 1
            ratio_1_to_almost0 = (1.0 - (layer_id / config.n_layer))  # 1 to ~0

            # fancy time_decay
            decay_speed = torch.ones(attn_sz)
            for h in range(attn_sz):
                decay_speed[h] = -5 + 8 * (h / (attn_sz - 1)) ** (0.7 + 1.3 * ratio_0_to_1)
            self.time_decay = nn.Parameter(decay_speed)
            # print(layer_id, self.time_decay.flatten()[:3].cpu().numpy(), '...', self.time_decay.flatten()[-3:].cpu().numpy())

            # fancy time_first
            zigzag = (torch.tensor([(i + 1) % 3 - 1 for i in range(attn_sz)]) * 0.5)
            self.time_first = nn.Parameter(torch.ones(attn_sz) * math.log(0.3) + zigzag)

            # fancy time_mix
            x = torch.ones(1, 1, config.n_embd)
            for i in range(config.n_embd):
                x[0, 0, i] = i / config.n_embd
            self.time_mix_k = nn.Parameter(torch.pow(x, ratio_1_to_almost0))
            self.time_mix_v = nn.Parameter(torch.pow(x, ratio_1_to_almost0) + 0.3 * ratio_0_to_1)
            self.time_mix_r = nn.Parameter(torch.pow(x, 0.5 * ratio_1_to_almost0))

        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))

        self.key = nn.Linear(config.n_embd, attn_sz, bias=False)
        self.value = nn.Linear(config.n_embd, attn_sz, bias=False)
        self.receptance = nn.Linear(config.n_embd, attn_sz, bias=False)

        self.output = nn.Linear(attn_sz, config.n_embd, bias=False)

        self.key.scale_init = 0
        self.receptance.scale_init = 0
        self.output.scale_init = 0

    @MyFunction
    def jit_func(self, x):

        # Mix x with the previous timestep to produce xk, xv, xr
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)

        # Use xk, xv, xr to produce k, v, r
        k = self.key(xk)
        v = self.value(xv)
        r = self.receptance(xr)
        sr = torch.sigmoid(r)

        return sr, k, v

    def forward(self, x):
        B, T, C = x.size()  # x = (Batch,Time,Channel)

        sr, k, v = self.jit_func(x)

        rwkv = sr * RUN_WKV(B, T, C, -torch.exp(self.time_decay), self.time_first, k, v)
        rwkv = self.output(rwkv)
        return rwkv


class RWKV_ChannelMix(MyModule):
    def __init__(self, config, layer_id):
        super().__init__()
        self.layer_id = layer_id

        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))

        with torch.no_grad():  # fancy init of time_mix
            ratio_1_to_almost0 = (1.0 - (layer_id / config.n_layer))  # 1 to ~0

            x = torch.ones(1, 1, config.n_embd)
            for i in range(config.n_embd):
                x[0, 0, i] = i / config.n_embd

            self.time_mix_k = nn.Parameter(torch.pow(x, ratio_1_to_almost0))
            self.time_mix_r = nn.Parameter(torch.pow(x, ratio_1_to_almost0))

        hidden_sz = 4 * config.n_embd
        self.key = nn.Linear(config.n_embd, hidden_sz, bias=False)
        self.receptance = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.value = nn.Linear(hidden_sz, config.n_embd, bias=False)

        self.value.scale_init = 0
        self.receptance.scale_init = 0

    @MyFunction
    def forward(self, x):
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)

        k = self.key(xk)
        k = torch.square(torch.relu(k))
        kv = self.value(k)

        rkv = torch.sigmoid(self.receptance(xr)) * kv
        return rkv


########################################################################################################
# The GPT Model with our blocks
########################################################################################################


class GPTConfig:
    def __init__(self, vocab_size, ctx_len, **kwargs):
        self.vocab_size = vocab_size
        self.ctx_len = ctx_len
        for k, v in kwargs.items():
            setattr(self, k, v)


class Block(nn.Module):
    def __init__(self, config, layer_id):
        super().__init__()
        self.config = config
        self.layer_id = layer_id

        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)

        if self.layer_id == 0:
            self.ln0 = nn.LayerNorm(config.n_embd)

        if self.layer_id == 0 and self.config.model_type == 'RWKV-ffnPre':
            self.ffnPre = RWKV_ChannelMix(config, 0)
        else:
            self.att = RWKV_TimeMix(config, layer_id)

        self.ffn = RWKV_ChannelMix(config, layer_id)

    def forward(self, x):
        if self.layer_id == 0:
            x = self.ln0(x)
        if self.layer_id == 0 and self.config.model_type == 'RWKV-ffnPre':
            x = x + self.ffnPre(self.ln1(x))  # better in some cases
        else:
            x = x + self.att(self.ln1(x))
        x = x + self.ffn(self.ln2(x))
        return x


class L2Wrap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loss, y):
        ctx.save_for_backward(y)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        y = ctx.saved_tensors[0]
        # to encourage the logits to be close to 0
        factor = 1e-4 / (y.shape[0] * y.shape[1])
        maxx, ids = torch.max(y, -1, keepdim=True)
        gy = torch.zeros_like(y)
        gy.scatter_(-1, ids, maxx * factor)
        return (grad_output, gy)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.step = 0
        self.config = config

        self.emb = nn.Embedding(config.vocab_size, config.n_embd)

        self.blocks = nn.Sequential(*[Block(config, i)
                                    for i in range(config.n_layer)])

        self.ln_out = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

        self.ctx_len = config.ctx_len

        try:
            if os.environ['RWKV_LOAD_MODEL'] == str(False):
                RWKV_Init(self, config)
        except:  # noqa: E722
            pass

        print("number of parameters: %e" % sum(p.numel() for p in self.parameters()))

    def get_ctx_len(self):
        return self.ctx_len

    def configure_optimizers(self, train_config):
        if getattr(train_config, 'layerwise_lr', 0) > 0:
            lr_1x = set()
            lr_2x = set()
            lr_3x = set()
            for n, p in self.named_parameters():
                if "time_mix" in n:
                    lr_1x.add(n)
                elif "time_decay" in n:
                    lr_2x.add(n)
                elif "time_first" in n:
                    lr_3x.add(n)
                else:
                    lr_1x.add(n)
            lr_1x = sorted(list(lr_1x))
            lr_2x = sorted(list(lr_2x))
            lr_3x = sorted(list(lr_3x))
            param_dict = {n: p for n, p in self.named_parameters()}
            optim_groups = [
                {"params": [param_dict[n] for n in lr_1x], "weight_decay": 0.0, "my_lr_scale": 1.0},
                {"params": [param_dict[n] for n in lr_2x], "weight_decay": 0.0, "my_lr_scale": 2.0},
                {"params": [param_dict[n] for n in lr_3x], "weight_decay": 0.0, "my_lr_scale": 3.0},
            ]
        else:
            no_decay = set()

            for mn, m in self.named_modules():  # here we disable weight_decay
                for pn, p in m.named_parameters():
                    fpn = '%s.%s' % (mn, pn) if mn else pn  # full param name
                    no_decay.add(fpn)

            param_dict = {pn: p for pn, p in self.named_parameters()}
            optim_groups = [
                {"params": [param_dict[pn]
                            for pn in sorted(list(no_decay))], "weight_decay": 0.0},
            ]

        try:
            from deepspeed.ops.adam import FusedAdam
            optimizer = FusedAdam(optim_groups, lr=train_config.learning_rate, betas=train_config.betas, eps=train_config.eps, bias_correction=True, adam_w_mode=False, weight_decay=0, amsgrad=False)
        except:  # noqa: E722
            print('\n\nDeepSpeed not found. Using torch optimizer instead (probably slower)\n\n')
            optimizer = torch.optim.Adam(optim_groups, lr=train_config.learning_rate, betas=train_config.betas, eps=train_config.eps)

        return optimizer

    def forward(self, idx, targets=None):
        idx = idx.to(self.emb.weight.device)

        self.step += 1
        B, T = idx.size()
        assert T <= self.ctx_len, "Cannot forward, because len(input) > model ctx_len."

        x = self.emb(idx)
        x = self.blocks(x)
        x = self.ln_out(x)
        x = self.head(x)

        if targets is None:
            return x

        loss = F.cross_entropy(x.view(-1, x.size(-1)), targets.to(x.device).view(-1))

        return L2Wrap.apply(loss, x)


########################################################################################################
# trainer.py
########################################################################################################

class TrainerConfig:
    max_epochs = 10
    batch_size = 64
    learning_rate = 4e-4
    betas = (0.9, 0.99)
    eps = 1e-8
    grad_norm_clip = 1.0
    warmup_tokens = 0
    final_tokens = 0
    epoch_save_frequency = 0
    epoch_save_path = 'trained-'
    num_workers = 0  # for DataLoader

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)


class Dataset(Dataset):
    def __init__(self, data, ctx_len, epoch_length_fixed):
        self.ctx_len = ctx_len
        self.epoch_length_fixed = epoch_length_fixed
        self.data = data
        self.idx_begin = 0

    def __len__(self):
        return self.epoch_length_fixed

    def __getitem__(self, idx):
        # cheat: pick a random spot in dataset (keyed by the sample's number, so that a resume sees the same ones)
        i = np.random.RandomState(self.idx_begin + idx).randint(0, len(self.data) - (self.ctx_len + 1))
        dix = [int(s) for s in self.data[i:i + self.ctx_len + 1]]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y


def train(model, train_dataset, config, max_steps, save_at=None, save_path=None, resume_from=None):
    """trainer.py's Trainer.train for one epoch of ``max_steps`` batches (saving a checkpoint before step
    ``save_at``, or resuming from one); returns the per-step log."""
    log = {"loss": [], "norm": [], "lr": [], "params": [], "lines": []}
    optimizer = model.configure_optimizers(config)
    steps, tokens, avg_loss = 0, 0, -1
    if resume_from is not None:
        checkpoint = torch.load(resume_from)
        model.load_state_dict(checkpoint['model'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        steps, tokens, avg_loss = checkpoint['steps'], checkpoint['tokens'], checkpoint['avg_loss']

    model.train(True)
    data = train_dataset
    data.idx_begin = steps * config.batch_size + 1
    loader = DataLoader(data, shuffle=False, batch_size=config.batch_size, num_workers=config.num_workers)

    for it, (x, y) in enumerate(loader):
        if steps >= max_steps:
            break
        if save_at is not None and steps == save_at:
            torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'steps': steps,
                        'tokens': tokens, 'avg_loss': avg_loss}, save_path)
        with torch.set_grad_enabled(True):
            loss = model(x, y)  # forward the model

        model.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_norm_clip)
        optimizer.step()

        # decay the learning rate based on our progress
        tokens += (y >= 0).sum()  # number of tokens processed this step (i.e. label is not -100)
        lr_final_factor = config.lr_final / config.learning_rate
        if tokens < config.warmup_tokens:
            # linear warmup
            lr_mult = lr_final_factor + \
                (1 - lr_final_factor) * float(tokens) / \
                float(config.warmup_tokens)
            progress = 0
        else:
            # exponential learning rate decay
            progress = float(tokens - config.warmup_tokens) / float(max(1, config.final_tokens - config.warmup_tokens))
            if progress >= 1:
                lr_mult = lr_final_factor
            else:
                lr_mult = math.exp(math.log(lr_final_factor) * pow(progress, 1))
        lr = config.learning_rate * lr_mult

        for param_group in optimizer.param_groups:
            param_group['lr'] = lr * param_group.get('my_lr_scale', 1.0)

        steps += 1
        now_loss = loss.item()
        if avg_loss < 0:
            avg_loss = now_loss
        else:
            factor = 1 / (it + 1)
            avg_loss = avg_loss * (1.0 - factor) + now_loss * factor
        line = f"miniE 1 s {steps} prog {progress*100.0:.2f}% : ppl {math.exp(avg_loss):.6f} loss {avg_loss:.6f} lr {lr:e}"
        print(line)
        log["lines"].append(line)
        log["loss"].append(now_loss)
        log["norm"].append(grad_norm.item())
        log["lr"].append([g['lr'] for g in optimizer.param_groups])
        log["params"].append({n: p.detach().numpy().copy() for n, p in model.named_parameters()})
    log["tokens"] = int(tokens)
    log["avg_loss"] = avg_loss
    log["steps"] = steps
    return log


def save_model(model, path):
    """train.py's epoch save: the raw state_dict to ``<name>.pth``."""
    torch.save(model.state_dict(), path + '.pth')


########################################################################################################
# model_run.py: the RNN mode
########################################################################################################

DEBUG_TIME = False


class RWKV_RNN(nn.Module):
    def __init__(self, MODEL_NAME, RUN_DEVICE, model_type, n_layer, n_embd, ctx_len):
        super().__init__()
        self.RUN_DEVICE = RUN_DEVICE
        self.model_type = model_type
        self.n_layer = n_layer
        self.n_embd = n_embd
        self.ctx_len = ctx_len

        self.w = types.SimpleNamespace()

        w = torch.load(MODEL_NAME + '.pth', map_location=torch.device(RUN_DEVICE))
        for x in w.keys():
            w[x] = w[x].float()
            if '.time_' in x:
                w[x] = w[x].squeeze()
            if '.time_decay' in x:
                w[x] = -torch.exp(w[x])
            if DEBUG_TIME and '.time_' in x:
                print(x, w[x].squeeze().cpu().numpy())

            xx = x.split('.')
            here = self.w
            for i in range(len(xx)):
                if xx[i].isdigit():
                    ii = int(xx[i])
                    if ii not in here:
                        here[ii] = types.SimpleNamespace()
                    here = here[ii]
                else:
                    if i == len(xx) - 1:
                        setattr(here, xx[i], w[x])
                    elif not hasattr(here, xx[i]):
                        if xx[i + 1].isdigit():
                            setattr(here, xx[i], {})
                        else:
                            setattr(here, xx[i], types.SimpleNamespace())
                    here = getattr(here, xx[i])

        self.clear()

    def clear(self):
        self.xx = {}
        self.aa = {}
        self.bb = {}
        self.pp = {}
        self.hk = None

    def save(self, target):
        target.xx = copy.deepcopy(self.xx)
        target.aa = copy.deepcopy(self.aa)
        target.bb = copy.deepcopy(self.bb)
        target.pp = copy.deepcopy(self.pp)
        target.hk = copy.deepcopy(self.hk)

    def load(self, target):
        self.xx = copy.deepcopy(target.xx)
        self.aa = copy.deepcopy(target.aa)
        self.bb = copy.deepcopy(target.bb)
        self.pp = copy.deepcopy(target.pp)
        self.hk = copy.deepcopy(target.hk)

    def LN(self, xx, w):
        return F.layer_norm(xx, (self.n_embd,), weight=w.weight, bias=w.bias)

    def FF(self, xx, w, name):
        if name not in self.xx:
            self.xx[name] = torch.zeros(self.n_embd, device=self.RUN_DEVICE)
        xk = xx * w.time_mix_k + self.xx[name] * (1 - w.time_mix_k)
        xr = xx * w.time_mix_r + self.xx[name] * (1 - w.time_mix_r)
        self.xx[name] = xx

        r = torch.sigmoid(w.receptance.weight @ xr)
        k = torch.square(torch.relu(w.key.weight @ xk))
        kv = w.value.weight @ k

        return r * kv

    def SA(self, xx, w, name):
        if name not in self.xx:
            self.xx[name] = torch.zeros(self.n_embd, device=self.RUN_DEVICE)
            self.aa[name] = torch.zeros(self.n_embd, device=self.RUN_DEVICE)
            self.bb[name] = torch.zeros(self.n_embd, device=self.RUN_DEVICE)
            self.pp[name] = torch.zeros(self.n_embd, device=self.RUN_DEVICE) - 1e30

        xk = xx * w.time_mix_k + self.xx[name] * (1 - w.time_mix_k)
        xv = xx * w.time_mix_v + self.xx[name] * (1 - w.time_mix_v)
        xr = xx * w.time_mix_r + self.xx[name] * (1 - w.time_mix_r)
        self.xx[name] = xx

        r = torch.sigmoid(w.receptance.weight @ xr)

        k = w.key.weight @ xk
        v = w.value.weight @ xv

        pp = self.pp[name]
        aa = self.aa[name]
        bb = self.bb[name]
        ww = w.time_first + k
        p = torch.maximum(pp, ww)
        e1 = torch.exp(pp - p)
        e2 = torch.exp(ww - p)
        a = e1 * aa + e2 * v
        b = e1 * bb + e2
        ww = pp + w.time_decay
        p = torch.maximum(ww, k)
        e1 = torch.exp(ww - p)
        e2 = torch.exp(k - p)
        self.aa[name] = e1 * aa + e2 * v
        self.bb[name] = e1 * bb + e2
        self.pp[name] = p

        rwkv = r * a / b

        return w.output.weight @ rwkv

    def run(self, ctx):
        w = self.w
        x = w.emb.weight[ctx[-1]]

        for i in range(self.n_layer):
            if i == 0:
                x = self.LN(x, w.blocks[i].ln0)
            if i == 0 and self.model_type == 'RWKV-ffnPre':
                x = x + self.FF(self.LN(x, w.blocks[i].ln1), w.blocks[i].ffnPre, f'ffnPre.{i}')
            else:
                x = x + self.SA(self.LN(x, w.blocks[i].ln1), w.blocks[i].att, f'att.{i}')
            x = x + self.FF(self.LN(x, w.blocks[i].ln2), w.blocks[i].ffn, f'ffn.{i}')

        x = self.LN(x, w.ln_out)

        x = w.head.weight @ x
        x = x.cpu().numpy().tolist()

        return x


def make_tokens(n, vocab_size, seed=0):
    """Synthetic text: a noisy stride pattern over the vocabulary, as numpy tokens."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(1, 4, n // 6 + 1).repeat(6)[:n]
    tokens = np.cumsum(steps) % vocab_size
    noise = rng.random(n) < 0.1
    tokens[noise] = rng.integers(0, vocab_size, noise.sum())
    return tokens.astype(np.int64)
