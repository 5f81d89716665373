"""A small causal Performer language model (Choromanski et al. 2021) as lucidrains/performer-pytorch writes it: FAVOR+
softmax-kernel features from a Gaussian orthogonal random matrix (``torch.linalg.qr`` of numpy Gaussian blocks,
chi-distributed row norms), ``softmax_kernel``'s ``is_query`` stabilisers (``torch.amax`` over one and over two
dims, ``.detach()``), ``causal_linear_attention`` by ``cumsum`` and ``einsum`` with ellipses, the non-causal
``linear_attention``, a ReLU generalized kernel, projection redraws copied into a buffer every few steps; and the
linear-transformer recurrent form of the same attention (per-step running ``S`` and ``z`` states) used for
incremental decoding, checked against the parallel form. Trained with RMSNorm pre-norm blocks, tanh-GELU feed
forwards, tied embeddings, ``CrossEntropyLoss(label_smoothing=0.1, ignore_index=0)``, two-micro-batch gradient
accumulation under disabled ``torch.autocast`` / ``torch.amp.GradScaler``, ``get_total_norm`` +
``clip_grads_with_norm_``, NAdam under ``CyclicLR(triangular2, cycle_momentum=False)``; and decoding with a
repetition penalty (gather / where / scatter_), top-k + top-p filtering (sort / cumsum / scatter / masked_fill),
inverse-CDF sampling from fed uniforms by ``searchsorted``, Gumbel-max from fed noise and ``multinomial`` on a
one-hot distribution.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, SEQ, PAD = 12, 16, 0


def orthogonal_matrix_chunk(cols, rng):
    unstructured_block = torch.from_numpy(rng.standard_normal((cols, cols)).astype(np.float32))
    q, _r = torch.linalg.qr(unstructured_block, mode="reduced")
    return q.t()


def gaussian_orthogonal_random_matrix(nb_rows, nb_columns, rng, scaling=0):
    nb_full_blocks = int(nb_rows / nb_columns)
    block_list = [orthogonal_matrix_chunk(nb_columns, rng) for _ in range(nb_full_blocks)]
    remaining_rows = nb_rows - nb_full_blocks * nb_columns
    if remaining_rows > 0:
        block_list.append(orthogonal_matrix_chunk(nb_columns, rng)[:remaining_rows])
    final_matrix = torch.cat(block_list)
    if scaling == 0:
        multiplier = torch.from_numpy(rng.standard_normal((nb_rows, nb_columns)).astype(np.float32)).norm(dim=1)
    else:
        multiplier = math.sqrt(float(nb_columns)) * torch.ones((nb_rows,))
    return torch.diag(multiplier) @ final_matrix


def softmax_kernel(data, *, projection_matrix, is_query, normalize_data=True, eps=1e-4):
    b, h, *_ = data.shape
    data_normalizer = (data.shape[-1] ** -0.25) if normalize_data else 1.0
    ratio = projection_matrix.shape[0] ** -0.5
    projection = projection_matrix.unsqueeze(0).unsqueeze(0).expand(b, h, *projection_matrix.shape)
    projection = projection.type_as(data)
    data_dash = torch.einsum("...id,...jd->...ij", (data_normalizer * data), projection)
    diag_data = data ** 2
    diag_data = torch.sum(diag_data, dim=-1)
    diag_data = (diag_data / 2.0) * (data_normalizer ** 2)
    diag_data = diag_data.unsqueeze(dim=-1)
    if is_query:
        data_dash = ratio * (torch.exp(data_dash - diag_data - torch.amax(data_dash, dim=-1, keepdim=True).detach())
                             + eps)
    else:
        data_dash = ratio * (torch.exp(data_dash - diag_data - torch.amax(data_dash, dim=(-1, -2), keepdim=True)
                                       .detach()) + eps)
    return data_dash.type_as(data)


def generalized_kernel(data, *, projection_matrix, kernel_fn=nn.ReLU(), kernel_epsilon=0.001, normalize_data=True):  # noqa: B008
    b, h, *_ = data.shape
    data_normalizer = (data.shape[-1] ** -0.25) if normalize_data else 1.0
    projection = projection_matrix.unsqueeze(0).unsqueeze(0).expand(b, h, *projection_matrix.shape)
    data_dash = torch.einsum("...id,...jd->...ij", (data_normalizer * data), projection.type_as(data))
    return kernel_fn(data_dash) + kernel_epsilon


def linear_attention(q, k, v):
    k_cumsum = k.sum(dim=-2)
    D_inv = 1.0 / torch.einsum("...nd,...d->...n", q, k_cumsum.type_as(q))
    context = torch.einsum("...nd,...ne->...de", k, v)
    return torch.einsum("...de,...nd,...n->...ne", context, q, D_inv)


def causal_linear_attention(q, k, v, eps=1e-6):
    k_cumsum = k.cumsum(dim=-2) + eps
    D_inv = 1.0 / torch.einsum("...nd,...nd->...n", q, k_cumsum.type_as(q))
    context = torch.einsum("...nd,...ne->...nde", k, v)
    context = context.cumsum(dim=-3)
    return torch.einsum("...nde,...nd,...n->...ne", context, q, D_inv)


class FastAttention(nn.Module):
    def __init__(self, dim_heads, nb_features, causal, generalized_attention=False, seed=0):
        super().__init__()
        self.dim_heads, self.nb_features, self.causal = dim_heads, nb_features, causal
        self.generalized_attention = generalized_attention
        self.rng = np.random.default_rng(seed)
        self.register_buffer("projection_matrix", self.create_projection())

    def create_projection(self):
        return gaussian_orthogonal_random_matrix(self.nb_features, self.dim_heads, self.rng)

    @torch.no_grad()
    def redraw_projection_matrix(self):
        self.projection_matrix.copy_(self.create_projection())

    def features(self, q, k):
        if self.generalized_attention:
            return (generalized_kernel(q, projection_matrix=self.projection_matrix),
                    generalized_kernel(k, projection_matrix=self.projection_matrix))
        return (softmax_kernel(q, projection_matrix=self.projection_matrix, is_query=True),
                softmax_kernel(k, projection_matrix=self.projection_matrix, is_query=False))

    def forward(self, q, k, v):
        q, k = self.features(q, k)
        attn_fn = causal_linear_attention if self.causal else linear_attention
        return attn_fn(q, k, v)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, nb_features, causal=True, generalized_attention=False, seed=0):
        super().__init__()
        self.heads, self.dim_head = heads, dim // heads
        self.fast_attention = FastAttention(self.dim_head, nb_features, causal, generalized_attention, seed)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.dim_head).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.split(self.to_q(x)), self.split(self.to_k(x)), self.split(self.to_v(x))
        out = self.fast_attention(q, k, v)
        b, h, n, d = out.shape
        return self.to_out(out.permute(0, 2, 1, 3).reshape(b, n, h * d))

    def step(self, x, state):
        """One token in recurrent (RNN) form; ``state`` = (S, z), running sums of phi(k) v^T and phi(k)."""
        q, k, v = self.split(self.to_q(x)), self.split(self.to_k(x)), self.split(self.to_v(x))
        fq, fk = self.fast_attention.features(q, k)  # (b, h, 1, m)
        S, z = state
        S = S + fk.transpose(-1, -2) @ v  # (b, h, m, d)
        z = z + fk.squeeze(-2) + 1e-6
        out = (fq @ S) / torch.einsum("bhnm,bhm->bhn", fq, z).unsqueeze(-1)
        b, h, n, d = out.shape
        return self.to_out(out.permute(0, 2, 1, 3).reshape(b, n, h * d)), (S, z)


class Block(nn.Module):
    def __init__(self, dim, heads, nb_features, generalized_attention, seed):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, nb_features, True, generalized_attention, seed)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))

    def step(self, x, state):
        a, state = self.attn.step(self.norm1(x), state)
        x = x + a
        return x + self.ff(self.norm2(x)), state


class PerformerLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=32, depth=2, heads=4, nb_features=12, max_seq_len=32):
        super().__init__()
        self.token_emb = nn.Embedding(vocab, dim)
        self.pos_emb = nn.Embedding(max_seq_len, dim)
        self.layers = nn.ModuleList([Block(dim, heads, nb_features, i == 1, seed=10 + i) for i in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.to_logits = nn.Linear(dim, vocab, bias=False)
        self.to_logits.weight = self.token_emb.weight
        self.nb_features = nb_features

    def forward(self, x):
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.token_emb(x) + self.pos_emb(pos)
        for layer in self.layers:
            h = layer(h)
        return self.to_logits(self.norm(h))

    def init_state(self, batch):
        out = []
        for layer in self.layers:
            a = layer.attn
            m, d = a.fast_attention.nb_features, a.dim_head
            out.append((torch.zeros(batch, a.heads, m, d), torch.zeros(batch, a.heads, m)))
        return out

    def step(self, token, position, states):
        h = self.token_emb(token) + self.pos_emb(torch.full_like(token, position))
        new = []
        for layer, s in zip(self.layers, states):
            h, s = layer.step(h, s)
            new.append(s)
        return self.to_logits(self.norm(h))[:, -1], new

    def redraw(self):
        for module in self.modules():
            if isinstance(module, FastAttention):
                module.redraw_projection_matrix()


# ------------------------------------------------------------------------------------------------ sampling
def apply_repetition_penalty(scores, input_ids, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, input_ids, score)


def top_k_top_p_filtering(logits, top_k=0, top_p=1.0, filter_value=-float("Inf"), min_tokens_to_keep=1):
    if top_k > 0:
        top_k = min(max(top_k, min_tokens_to_keep), logits.size(-1))
        indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
        logits = logits.masked_fill(indices_to_remove, filter_value)
    if top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(logits, descending=True)
        cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        sorted_indices_to_remove = cumulative_probs > top_p
        if min_tokens_to_keep > 1:
            sorted_indices_to_remove[..., :min_tokens_to_keep] = 0
        sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
        sorted_indices_to_remove[..., 0] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        logits = logits.masked_fill(indices_to_remove, filter_value)
    return logits


@torch.no_grad()
def generate(model, prompt, steps, uniforms, gumbel, top_k=5, top_p=0.8, temperature=0.9, penalty=1.3):
    """Recurrent decoding; three draws per step: inverse CDF, Gumbel-max and multinomial of the argmax one-hot."""
    b, n = prompt.shape
    states = model.init_state(b)
    for i in range(n):
        logits, states = model.step(prompt[:, i:i + 1], i, states)
    seq, gum, multi, kept = prompt, [], [], []
    for t in range(steps):
        scores = apply_repetition_penalty(logits, seq, penalty) / temperature
        filtered = top_k_top_p_filtering(scores, top_k=top_k, top_p=top_p)
        kept.append(torch.isfinite(filtered).sum(-1).tolist())
        probs = F.softmax(filtered, dim=-1)
        u = torch.from_numpy(uniforms[t]).unsqueeze(-1)
        nxt = torch.searchsorted(probs.cumsum(-1), u * probs.sum(-1, keepdim=True)).clamp(max=VOCAB - 1)
        g = -torch.log(-torch.log(torch.from_numpy(gumbel[t])))
        gum.append((filtered + g).argmax(-1).tolist())
        one_hot = F.one_hot(probs.argmax(-1), VOCAB).float()
        multi.append(torch.multinomial(one_hot, 1).squeeze(-1).tolist())
        seq = torch.cat([seq, nxt], dim=1)
        logits, states = model.step(nxt, n + t, states)
    return seq, gum, multi, kept


# ------------------------------------------------------------------------------------------------ data + loop
def make_batch(rng, batch):
    """Arithmetic progressions mod 11 (tokens 1..11), random start and stride, right-padded with 0."""
    x = np.zeros((batch, SEQ + 1), np.int64)
    for i in range(batch):
        length = int(rng.integers(10, SEQ + 2))
        start, stride = rng.integers(0, 11), rng.integers(1, 4)
        x[i, :length] = (start + stride * np.arange(length)) % 11 + 1
    return torch.from_numpy(x[:, :-1]), torch.from_numpy(x[:, 1:])


def run(weights=None):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = PerformerLM()
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if weights is not None:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    log = {"proj": model.layers[0].attn.fast_attention.projection_matrix.numpy().copy()}

    # parallel vs recurrent forms, and the non-causal attention, on the initial weights
    x, _ = make_batch(rng, 3)
    with torch.no_grad():
        full = model(x)
        states = model.init_state(3)
        steps = []
        for i in range(x.shape[1]):
            logits, states = model.step(x[:, i:i + 1], i, states)
            steps.append(logits)
        log["parallel"] = full.numpy()
        log["recurrent"] = torch.stack(steps, 1).numpy()
        q = torch.from_numpy(rng.standard_normal((2, 2, 5, 8)).astype(np.float32))
        fa = FastAttention(8, 6, causal=False, seed=3)
        log["noncausal"] = fa(q, q.flip(2), q * 0.5).numpy()

    criterion = nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=PAD)
    opt = torch.optim.NAdam(model.parameters(), lr=2e-3, betas=(0.9, 0.98), momentum_decay=4e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=5e-4, max_lr=5e-3, step_size_up=3, mode="triangular2",
                                              cycle_momentum=False)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    log.update({"loss": [], "micro": [], "norm": [], "lr": [], "grads": []})
    accum = 2
    model.train()
    for step in range(14):
        if step and step % 5 == 0:
            model.redraw()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accum):
            xb, yb = make_batch(rng, 4)
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=False):
                logits = model(xb)
                loss = criterion(logits.view(-1, VOCAB), yb.reshape(-1)) / accum
            scaler.scale(loss).backward()
            log["micro"].append(loss.item())
            total += loss.item()
        scaler.unscale_(opt)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
        torch.nn.utils.clip_grads_with_norm_(model.parameters(), max_norm=0.5, total_norm=norm)
        if step in (0, 7):
            log["grads"].append(torch.nn.utils.parameters_to_vector(grads).numpy().copy())
        scaler.step(opt)
        scaler.update()
        sched.step()
        log["loss"].append(total)
        log["norm"].append(norm.item())
        log["lr"].append(opt.param_groups[0]["lr"])
    model.eval()
    prompt = torch.tensor([[1, 3, 5], [2, 3, 4]])
    uniforms = rng.uniform(size=(6, 2)).astype(np.float32)
    gumbel = rng.uniform(1e-6, 1 - 1e-6, size=(6, 2, VOCAB)).astype(np.float32)
    seq, gum, multi, kept = generate(model, prompt, 6, uniforms, gumbel)
    log.update({"sampled": seq.tolist(), "gumbel": gum, "multinomial": multi, "kept": kept})
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    log["weights"] = initial
    return log
