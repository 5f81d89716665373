"""GPT-2 as Hugging Face transformers' ``modeling_gpt2.py`` writes it, in plain PyTorch (no transformers import),
at a tiny size (n_embd 32, 4 heads, 2 layers, vocab 50, 16 positions) on synthetic numpy token ids.

- ``Conv1D``: a (nx, nf) weight, ``torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)`` and
  ``x.view(size_out)``; ``NewGELUActivation``'s tanh formula; ``GPT2MLP``.
- ``GPT2Attention``: ``c_attn(...).split(self.split_size, dim=2)``, ``_split_heads`` / ``_merge_heads`` by view +
  permute + contiguous, the non-persistent causal ``bias`` buffer of ``torch.tril(torch.ones(..., dtype=torch.bool))``
  sliced at ``key_length - query_length``, ``torch.where(causal_mask, attn_weights, mask_value)`` with the dtype's
  ``finfo.min`` as a tensor, the additive attention mask, and ``layer_past`` / ``present`` tuples grown by
  ``torch.cat((past_key, key), dim=-2)`` under ``use_cache``.
- ``GPT2SdpaAttention`` (``attn_implementation="sdpa"``): ``F.scaled_dot_product_attention`` with ``is_causal`` or
  the 4-D float mask of ``_prepare_4d_causal_attention_mask_for_sdpa`` (fully masked rows unmasked); the
  ``reorder_and_upcast_attn`` path by ``baddbmm(beta=0)``; ``get_head_mask``.
- ``GPT2Block``, ``GPT2Model`` (``wte`` / ``wpe``, ``position_ids`` from ``torch.arange(past_length, ...)``, the
  ``(1.0 - mask) * finfo.min`` extended attention mask), ``GPT2LMHeadModel`` (``lm_head`` tied to ``wte``, the
  shifted CrossEntropyLoss with -100 labels, ``prepare_inputs_for_generation``'s position ids from the attention
  mask's cumsum for left padding), ``_init_weights`` (normal 0.02, ``c_proj.weight`` by ``1/sqrt(2 * n_layer)``),
  ``GPT2ForSequenceClassification`` (last non-pad token pooling, regression / single- / multi-label losses).
- Generation by hand: ``greedy_search``, ``sample`` (temperature, ``top_k_top_p_filtering`` by ``torch.topk`` and
  ``torch.sort(descending=True)`` + ``cumsum(softmax)`` + ``scatter`` + ``masked_fill(-inf)``, the repetition
  penalty by ``gather`` / ``scatter_``, draws as the inverse CDF of fed numpy uniforms), the newer logits
  processors (TopP by an ascending sort, Typical by ``nansum`` entropies, Eta by ``Categorical.entropy``, MinLength
  by ``torch.isin``) and ``beam_search``
  (``torch.topk`` over summed ``log_softmax`` scores, ``index_select`` of the past, BeamHypotheses with the length
  penalty).
- ``train``: AdamW with the no-decay groups, ``get_linear_schedule_with_warmup`` as a LambdaLR, ``clip_grad_norm_``;
  ``save_pretrained`` / ``from_pretrained`` by ``torch.save`` / ``torch.load`` of the state_dict with the tied weight;
  ``resize_token_embeddings``.
"""

import math
import os

import numpy as np
import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from torch.optim.lr_scheduler import LambdaLR


class GPT2Config:
    def __init__(self, vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4, n_inner=None,
                 resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, layer_norm_epsilon=1e-5,
                 initializer_range=0.02, scale_attn_weights=True, use_cache=True, bos_token_id=49,
                 eos_token_id=49, pad_token_id=None, scale_attn_by_inverse_layer_idx=False,
                 reorder_and_upcast_attn=False, attn_implementation="eager"):
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_inner = n_inner
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.scale_attn_weights = scale_attn_weights
        self.use_cache = use_cache
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id
        self.scale_attn_by_inverse_layer_idx = scale_attn_by_inverse_layer_idx
        self.reorder_and_upcast_attn = reorder_and_upcast_attn
        self._attn_implementation = attn_implementation
        self.hidden_size = n_embd
        self.num_hidden_layers = n_layer
        self.max_position_embeddings = n_positions


class Conv1D(nn.Module):
    """A linear layer with its weight transposed (nx, nf), as OpenAI's GPT wrote it."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        x = x.view(size_out)
        return x


class NewGELUActivation(nn.Module):
    def forward(self, input):  # noqa: A002 - HF's spelling
        return 0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, config, layer_idx=None):
        super().__init__()
        max_positions = config.max_position_embeddings
        self.register_buffer(
            "bias",
            torch.tril(torch.ones((max_positions, max_positions), dtype=torch.bool)).view(
                1, 1, max_positions, max_positions
            ),
            persistent=False,
        )
        self.register_buffer("masked_bias", torch.tensor(-1e4), persistent=False)
        self.embed_dim = config.hidden_size
        self.num_heads = config.n_head
        self.head_dim = self.embed_dim // self.num_heads
        self.split_size = self.embed_dim
        if self.head_dim * self.num_heads != self.embed_dim:
            raise ValueError(
                f"`embed_dim` must be divisible by num_heads (got `embed_dim`: {self.embed_dim} and `num_heads`:"
                f" {self.num_heads})."
            )
        self.scale_attn_weights = config.scale_attn_weights
        # Layer-wise attention scaling, reordering, and upcasting
        self.scale_attn_by_inverse_layer_idx = config.scale_attn_by_inverse_layer_idx
        self.layer_idx = layer_idx
        self.reorder_and_upcast_attn = config.reorder_and_upcast_attn
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def _attn(self, query, key, value, attention_mask=None, head_mask=None):
        attn_weights = torch.matmul(query, key.transpose(-1, -2))
        if self.scale_attn_weights:
            attn_weights = attn_weights / torch.full(
                [], value.size(-1) ** 0.5, dtype=attn_weights.dtype, device=attn_weights.device
            )
        # Layer-wise attention scaling
        if self.scale_attn_by_inverse_layer_idx:
            attn_weights = attn_weights / float(self.layer_idx + 1)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length : key_length, :key_length]
        mask_value = torch.finfo(attn_weights.dtype).min
        # Needs to be a tensor, otherwise we get error: `RuntimeError: expected scalar type float but found double`.
        mask_value = torch.full([], mask_value, dtype=attn_weights.dtype, device=attn_weights.device)
        attn_weights = torch.where(causal_mask, attn_weights.to(attn_weights.dtype), mask_value)
        if attention_mask is not None:
            attn_weights = attn_weights + attention_mask
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        attn_weights = attn_weights.type(value.dtype)
        attn_weights = self.attn_dropout(attn_weights)
        if head_mask is not None:
            attn_weights = attn_weights * head_mask
        attn_output = torch.matmul(attn_weights, value)
        return attn_output, attn_weights

    def _upcast_and_reordered_attn(self, query, key, value, attention_mask=None, head_mask=None):
        # Use `torch.baddbmm` (a bit more efficient w/ alpha param for scaling -- from Megatron-LM)
        bsz, num_heads, q_seq_len, dk = query.size()
        _, _, k_seq_len, _ = key.size()
        # Preallocate attn_weights for `baddbmm`
        attn_weights = torch.empty(bsz * num_heads, q_seq_len, k_seq_len, dtype=torch.float32, device=query.device)
        # Compute Scale Factor
        scale_factor = 1.0
        if self.scale_attn_weights:
            scale_factor /= float(value.size(-1)) ** 0.5
        if self.scale_attn_by_inverse_layer_idx:
            scale_factor /= float(self.layer_idx + 1)
        # Upcast (turn off autocast) and reorder (Scale K by 1 / root(dk))
        with torch.amp.autocast(query.device.type, enabled=False):
            q, k = query.reshape(-1, q_seq_len, dk), key.transpose(-1, -2).reshape(-1, dk, k_seq_len)
            attn_weights = torch.baddbmm(attn_weights, q.float(), k.float(), beta=0, alpha=scale_factor)
            attn_weights = attn_weights.reshape(bsz, num_heads, q_seq_len, k_seq_len)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length : key_length, :key_length]
        mask_value = torch.finfo(attn_weights.dtype).min
        mask_value = torch.tensor(mask_value, dtype=attn_weights.dtype).to(attn_weights.device)
        attn_weights = torch.where(causal_mask, attn_weights, mask_value)
        if attention_mask is not None:
            attn_weights = attn_weights + attention_mask
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        # Downcast (if necessary) back to V's dtype (if in mixed-precision) -- No-Op if otherwise
        if attn_weights.dtype != torch.float32:
            raise RuntimeError("Error with upcasting, attn_weights does not have dtype torch.float32")
        attn_weights = attn_weights.type(value.dtype)
        attn_weights = self.attn_dropout(attn_weights)
        if head_mask is not None:
            attn_weights = attn_weights * head_mask
        attn_output = torch.matmul(attn_weights, value)
        return attn_output, attn_weights

    def _split_heads(self, tensor, num_heads, attn_head_size):
        new_shape = tensor.size()[:-1] + (num_heads, attn_head_size)
        tensor = tensor.view(new_shape)
        return tensor.permute(0, 2, 1, 3)  # (batch, head, seq_length, head_features)

    def _merge_heads(self, tensor, num_heads, attn_head_size):
        tensor = tensor.permute(0, 2, 1, 3).contiguous()
        new_shape = tensor.size()[:-2] + (num_heads * attn_head_size,)
        return tensor.view(new_shape)

    def forward(self, hidden_states, layer_past=None, attention_mask=None, head_mask=None, use_cache=False,
                output_attentions=False):
        query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
        query = self._split_heads(query, self.num_heads, self.head_dim)
        key = self._split_heads(key, self.num_heads, self.head_dim)
        value = self._split_heads(value, self.num_heads, self.head_dim)
        if layer_past is not None:
            past_key, past_value = layer_past
            key = torch.cat((past_key, key), dim=-2)
            value = torch.cat((past_value, value), dim=-2)
        if use_cache is True:  # noqa: SIM108 - HF's spelling
            present = (key, value)
        else:
            present = None
        if self.reorder_and_upcast_attn:
            attn_output, attn_weights = self._upcast_and_reordered_attn(query, key, value, attention_mask, head_mask)
        else:
            attn_output, attn_weights = self._attn(query, key, value, attention_mask, head_mask)
        attn_output = self._merge_heads(attn_output, self.num_heads, self.head_dim)
        attn_output = self.c_proj(attn_output)
        attn_output = self.resid_dropout(attn_output)
        outputs = (attn_output, present)
        if output_attentions:
            outputs += (attn_weights,)
        return outputs  # a, present, (attentions)


class GPT2SdpaAttention(GPT2Attention):
    """GPT2Attention through ``torch.nn.functional.scaled_dot_product_attention`` (HF 4.40's sdpa class)."""

    def forward(self, hidden_states, layer_past=None, attention_mask=None, head_mask=None, use_cache=False,
                output_attentions=False):
        if output_attentions or head_mask is not None:
            # falls back to the eager path, as transformers does (with a warning there)
            return super().forward(hidden_states, layer_past=layer_past, attention_mask=attention_mask,
                                   head_mask=head_mask, use_cache=use_cache, output_attentions=output_attentions)
        bsz, q_len, _ = hidden_states.size()
        query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
        query = self._split_heads(query, self.num_heads, self.head_dim)
        key = self._split_heads(key, self.num_heads, self.head_dim)
        value = self._split_heads(value, self.num_heads, self.head_dim)
        if layer_past is not None:
            past_key = layer_past[0]
            past_value = layer_past[1]
            key = torch.cat((past_key, key), dim=-2)
            value = torch.cat((past_value, value), dim=-2)
        present = None
        if use_cache is True:
            present = (key, value)
        # We dispatch to SDPA's Flash Attention or Efficient kernels via this if statement instead of an
        # inline conditional assignment to support both torch.compile's `dynamic=True` and `fullgraph=True`
        is_causal = True if attention_mask is None and q_len > 1 else False  # noqa: SIM210 - HF's spelling
        attn_output = torch.nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=self.attn_dropout.p if self.training else 0.0,
            is_causal=is_causal,
        )
        # Reshape outputs
        attn_output = attn_output.transpose(1, 2).contiguous()
        attn_output = attn_output.view(bsz, q_len, self.embed_dim)
        # Final projection
        attn_output = self.c_proj(attn_output)
        attn_output = self.resid_dropout(attn_output)
        return attn_output, present, None


GPT2_ATTENTION_CLASSES = {"eager": GPT2Attention, "sdpa": GPT2SdpaAttention}


def _prepare_4d_causal_attention_mask_for_sdpa(attention_mask, input_shape, inputs_embeds,
                                               past_key_values_length):
    """modeling_attn_mask_utils' 4-D float mask for SDPA: None where is_causal can do it, else the causal and
    padding masks at ``finfo.min``, with fully masked rows unmasked (SDPA's memory-efficient path gives nan there)."""
    batch_size, query_length = input_shape
    key_value_length = query_length + past_key_values_length
    dtype = inputs_embeds.dtype
    if attention_mask is None or bool(torch.all(attention_mask == 1)):  # noqa: SIM102 - HF's spelling
        if query_length == 1 or key_value_length == query_length:
            return None
    min_dtype = torch.finfo(dtype).min
    # the causal mask
    mask = torch.full((query_length, query_length), min_dtype, device=inputs_embeds.device)
    mask_cond = torch.arange(mask.size(-1), device=inputs_embeds.device)
    mask.masked_fill_(mask_cond < (mask_cond + 1).view(mask.size(-1), 1), 0)
    mask = mask.to(dtype)
    if past_key_values_length > 0:
        mask = torch.cat([torch.zeros(query_length, past_key_values_length, dtype=dtype, device=mask.device), mask],
                         dim=-1)
    causal_4d_mask = mask[None, None, :, :].expand(batch_size, 1, query_length, key_value_length)
    if attention_mask is not None:
        # [bsz, seq_len] -> [bsz, 1, tgt_seq_len, src_seq_len]
        expanded_mask = attention_mask[:, None, None, :].expand(batch_size, 1, query_length,
                                                                key_value_length).to(dtype)
        inverted_mask = 1.0 - expanded_mask
        expanded_attn_mask = inverted_mask.masked_fill(inverted_mask.to(torch.bool), min_dtype)
        causal_4d_mask = causal_4d_mask.masked_fill(expanded_attn_mask.bool(), min_dtype)
    # Attend to all tokens in fully masked rows (a left-padded row's first queries)
    causal_4d_mask = causal_4d_mask.mul(~torch.all(causal_4d_mask == min_dtype, dim=-1, keepdim=True))
    return causal_4d_mask


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config):
        super().__init__()
        embed_dim = config.hidden_size
        self.c_fc = Conv1D(intermediate_size, embed_dim)
        self.c_proj = Conv1D(embed_dim, intermediate_size)
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states):
        hidden_states = self.c_fc(hidden_states)
        hidden_states = self.act(hidden_states)
        hidden_states = self.c_proj(hidden_states)
        hidden_states = self.dropout(hidden_states)
        return hidden_states


class GPT2Block(nn.Module):
    def __init__(self, config, layer_idx=None):
        super().__init__()
        hidden_size = config.hidden_size
        inner_dim = config.n_inner if config.n_inner is not None else 4 * hidden_size
        self.ln_1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
        attention_class = GPT2_ATTENTION_CLASSES[config._attn_implementation]
        self.attn = attention_class(config, layer_idx=layer_idx)
        self.ln_2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner_dim, config)

    def forward(self, hidden_states, layer_past=None, attention_mask=None, head_mask=None, use_cache=False,
                output_attentions=False):
        residual = hidden_states
        hidden_states = self.ln_1(hidden_states)
        attn_outputs = self.attn(hidden_states, layer_past=layer_past, attention_mask=attention_mask,
                                 head_mask=head_mask, use_cache=use_cache, output_attentions=output_attentions)
        attn_output = attn_outputs[0]  # output_attn: a, present, (attentions)
        outputs = attn_outputs[1:]
        hidden_states = attn_output + residual
        residual = hidden_states
        hidden_states = self.ln_2(hidden_states)
        feed_forward_hidden_states = self.mlp(hidden_states)
        hidden_states = residual + feed_forward_hidden_states
        if use_cache:  # noqa: SIM108 - HF's spelling
            outputs = (hidden_states,) + outputs
        else:
            outputs = (hidden_states,) + outputs[1:]
        return outputs  # hidden_states, present, (attentions)


class GPT2PreTrainedModel(nn.Module):
    base_model_prefix = "transformer"

    def __init__(self, config):
        super().__init__()
        self.config = config

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, Conv1D)):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        # Reinitialize selected weights subject to the OpenAI GPT-2 Paper Scheme:
        #   > A modified initialization which accounts for the accumulation on the residual path with model depth.
        #   > Scale the weights of residual layers at initialization by a factor of 1/sqrt(N) where N is the # of
        #   > residual layers.
        for name, p in module.named_parameters():
            if name == "c_proj.weight":
                # Special Scaled Initialization --> There are 2 Layer Norms per Transformer Block
                p.data.normal_(mean=0.0, std=(self.config.initializer_range / math.sqrt(2 * self.config.n_layer)))

    def get_head_mask(self, head_mask, num_hidden_layers):
        if head_mask is not None:
            if head_mask.dim() == 1:
                head_mask = head_mask.unsqueeze(0).unsqueeze(0).unsqueeze(-1).unsqueeze(-1)
                head_mask = head_mask.expand(num_hidden_layers, -1, -1, -1, -1)
            elif head_mask.dim() == 2:
                head_mask = head_mask.unsqueeze(1).unsqueeze(-1).unsqueeze(-1)  # a head_mask per layer
            head_mask = head_mask.to(dtype=self.wte.weight.dtype)  # switch to float if need + fp16 compatibility
        else:
            head_mask = [None] * num_hidden_layers
        return head_mask

    def post_init(self):
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self):
        pass

    def resize_token_embeddings(self, new_num_tokens):
        """A new ``wte`` (initialised by _init_weights, the old rows copied in), re-tied to the output embeddings."""
        old_embeddings = self.transformer.wte
        old_num_tokens, old_embedding_dim = old_embeddings.weight.size()
        new_embeddings = nn.Embedding(new_num_tokens, old_embedding_dim, device=old_embeddings.weight.device,
                                      dtype=old_embeddings.weight.dtype)
        self._init_weights(new_embeddings)
        n = min(old_num_tokens, new_num_tokens)
        new_embeddings.weight.data[:n, :] = old_embeddings.weight.data[:n, :]
        self.transformer.wte = new_embeddings
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        output_embeddings = getattr(self, "lm_head", None)
        if getattr(output_embeddings, "out_features", None) is not None:
            output_embeddings.out_features = new_embeddings.num_embeddings
        return self.transformer.wte

    def save_pretrained(self, save_directory):
        """The state_dict without the tied keys (shared tensors are saved once), as transformers writes it."""
        os.makedirs(save_directory, exist_ok=True)
        state_dict = self.state_dict()
        for ignore_key in getattr(self, "_tied_weights_keys", None) or []:
            if ignore_key in state_dict:
                del state_dict[ignore_key]
        torch.save(state_dict, os.path.join(save_directory, "pytorch_model.bin"))

    @classmethod
    def from_pretrained(cls, save_directory, config):
        model = cls(config)
        state_dict = torch.load(os.path.join(save_directory, "pytorch_model.bin"), map_location="cpu")
        missing_keys, unexpected_keys = model.load_state_dict(state_dict, strict=False)
        missing_keys = [k for k in missing_keys if k not in (getattr(cls, "_tied_weights_keys", None) or [])]
        if missing_keys or unexpected_keys:
            raise RuntimeError(f"Error(s) in loading state_dict: missing {missing_keys}, unexpected {unexpected_keys}")
        model.tie_weights()
        model.eval()
        return model


class GPT2Model(GPT2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_dim = config.hidden_size
        self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
        self.wpe = nn.Embedding(config.max_position_embeddings, self.embed_dim)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, layer_idx=i) for i in range(config.num_hidden_layers)])
        self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None,
                head_mask=None, use_cache=None, output_attentions=False):
        input_shape = input_ids.size()
        input_ids = input_ids.view(-1, input_shape[-1])
        batch_size = input_ids.shape[0]
        device = input_ids.device
        if past_key_values is None:
            past_length = 0
            past_key_values = tuple([None] * len(self.h))
        else:
            past_length = past_key_values[0][0].size(-2)
        if position_ids is None:
            position_ids = torch.arange(past_length, input_shape[-1] + past_length, dtype=torch.long, device=device)
            position_ids = position_ids.unsqueeze(0).view(-1, input_shape[-1])
        inputs_embeds = self.wte(input_ids)
        if self.config._attn_implementation == "sdpa" and not output_attentions and head_mask is None:
            attention_mask = _prepare_4d_causal_attention_mask_for_sdpa(
                attention_mask=attention_mask if attention_mask is None else attention_mask.view(batch_size, -1),
                input_shape=(batch_size, input_shape[-1]),
                inputs_embeds=inputs_embeds,
                past_key_values_length=past_length,
            )
        elif attention_mask is not None:
            attention_mask = attention_mask.view(batch_size, -1)
            # [batch_size, 1, 1, to_seq_length], broadcast over the heads and the queries
            attention_mask = attention_mask[:, None, None, :]
            attention_mask = attention_mask.to(dtype=self.wte.weight.dtype)  # fp16 compatibility
            attention_mask = (1.0 - attention_mask) * torch.finfo(self.wte.weight.dtype).min
        # Prepare head mask if needed: 1.0 in head_mask indicate we keep the head
        head_mask = self.get_head_mask(head_mask, self.config.n_layer)
        position_embeds = self.wpe(position_ids)
        hidden_states = inputs_embeds + position_embeds
        hidden_states = self.drop(hidden_states)
        output_shape = (-1,) + input_shape[1:] + (hidden_states.size(-1),)
        presents = () if use_cache else None
        all_self_attentions = () if output_attentions else None
        for i, (block, layer_past) in enumerate(zip(self.h, past_key_values)):
            outputs = block(hidden_states, layer_past=layer_past, attention_mask=attention_mask,
                            head_mask=head_mask[i], use_cache=use_cache, output_attentions=output_attentions)
            hidden_states = outputs[0]
            if use_cache is True:
                presents = presents + (outputs[1],)
            if output_attentions:
                all_self_attentions = all_self_attentions + (outputs[2 if use_cache else 1],)
        hidden_states = self.ln_f(hidden_states)
        hidden_states = hidden_states.view(output_shape)
        return tuple(v for v in [hidden_states, presents, all_self_attentions] if v is not None)


class GPT2LMHeadModel(GPT2PreTrainedModel):
    _tied_weights_keys = ["lm_head.weight"]  # noqa: RUF012 - HF's spelling

    def __init__(self, config):
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def tie_weights(self):
        if hasattr(self, "lm_head"):
            self.lm_head.weight = self.transformer.wte.weight

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, **kwargs):
        if past_key_values:
            input_ids = input_ids[:, -1].unsqueeze(-1)
        attention_mask = kwargs.get("attention_mask")
        position_ids = kwargs.get("position_ids")
        if attention_mask is not None and position_ids is None:
            # create position_ids on the fly for batch generation
            position_ids = attention_mask.long().cumsum(-1) - 1
            position_ids.masked_fill_(attention_mask == 0, 1)
            if past_key_values:
                position_ids = position_ids[:, -1].unsqueeze(-1)
        return {"input_ids": input_ids, "past_key_values": past_key_values, "use_cache": kwargs.get("use_cache"),
                "position_ids": position_ids, "attention_mask": attention_mask}

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None, head_mask=None,
                labels=None, use_cache=None, output_attentions=False):
        transformer_outputs = self.transformer(input_ids, past_key_values=past_key_values,
                                               attention_mask=attention_mask, position_ids=position_ids,
                                               head_mask=head_mask,
                                               use_cache=use_cache, output_attentions=output_attentions)
        hidden_states = transformer_outputs[0]
        lm_logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            # Shift so that tokens < n predict n
            shift_logits = lm_logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous()
            loss_fct = CrossEntropyLoss()
            loss = loss_fct(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))
        output = (lm_logits,) + transformer_outputs[1:]
        return ((loss,) + output) if loss is not None else output

    @staticmethod
    def _reorder_cache(past_key_values, beam_idx):
        return tuple(
            tuple(past_state.index_select(0, beam_idx.to(past_state.device)) for past_state in layer_past)
            for layer_past in past_key_values
        )


class GPT2ForSequenceClassification(GPT2PreTrainedModel):
    def __init__(self, config, num_labels=3, problem_type=None, old_pooling=False):
        super().__init__(config)
        self.num_labels = num_labels
        self.problem_type = problem_type
        self.old_pooling = old_pooling
        self.transformer = GPT2Model(config)
        self.score = nn.Linear(config.n_embd, self.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        transformer_outputs = self.transformer(input_ids, attention_mask=attention_mask)
        hidden_states = transformer_outputs[0]
        logits = self.score(hidden_states)
        batch_size, _sequence_length = input_ids.shape[:2]
        if self.config.pad_token_id is None and batch_size != 1:
            raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
        if self.config.pad_token_id is None:
            last_non_pad_token = -1
        elif self.old_pooling:
            # if no pad token found, use modulo instead of reverse indexing for ONNX compatibility
            last_non_pad_token = torch.eq(input_ids, self.config.pad_token_id).int().argmax(-1) - 1
            last_non_pad_token = last_non_pad_token % input_ids.shape[-1]
            last_non_pad_token = last_non_pad_token.to(logits.device)
        else:
            # To handle both left- and right- padding, we take the rightmost token that is not equal to pad_token_id
            non_pad_mask = (input_ids != self.config.pad_token_id).to(logits.device, torch.int32)
            token_indices = torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32)
            last_non_pad_token = (token_indices * non_pad_mask).argmax(-1)
        pooled_logits = logits[torch.arange(batch_size, device=logits.device), last_non_pad_token]
        loss = None
        if labels is not None:
            if self.problem_type is None:
                if self.num_labels == 1:
                    self.problem_type = "regression"
                elif self.num_labels > 1 and (labels.dtype == torch.long or labels.dtype == torch.int):
                    self.problem_type = "single_label_classification"
                else:
                    self.problem_type = "multi_label_classification"
            if self.problem_type == "regression":
                loss_fct = MSELoss()
                if self.num_labels == 1:
                    loss = loss_fct(pooled_logits.squeeze(), labels.squeeze())
                else:
                    loss = loss_fct(pooled_logits, labels)
            elif self.problem_type == "single_label_classification":
                loss_fct = CrossEntropyLoss()
                loss = loss_fct(pooled_logits.view(-1, self.num_labels), labels.view(-1))
            elif self.problem_type == "multi_label_classification":
                loss_fct = BCEWithLogitsLoss()
                loss = loss_fct(pooled_logits, labels)
        return (loss, pooled_logits) if loss is not None else (pooled_logits,)


# ----------------------------------------------------------------------------------------------- generation


def top_k_top_p_filtering(logits, top_k=0, top_p=1.0, filter_value=-float("Inf"), min_tokens_to_keep=1):
    if top_k > 0:
        top_k = min(max(top_k, min_tokens_to_keep), logits.size(-1))  # Safety check
        # Remove all tokens with a probability less than the last token of the top-k
        indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
        logits = logits.masked_fill(indices_to_remove, filter_value)
    if top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(logits, descending=True)
        cumulative_probs = torch.cumsum(nn.functional.softmax(sorted_logits, dim=-1), dim=-1)
        # Remove tokens with cumulative probability above the threshold (token with 0 are kept)
        sorted_indices_to_remove = cumulative_probs > top_p
        if min_tokens_to_keep > 1:
            sorted_indices_to_remove[..., :min_tokens_to_keep] = 0
        # Shift the indices to the right to keep also the first token above the threshold
        sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
        sorted_indices_to_remove[..., 0] = 0
        # scatter sorted tensors to original indexing
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        logits = logits.masked_fill(indices_to_remove, filter_value)
    return logits


class TopPLogitsWarper:
    """generate()'s newer top-p: ascending sort, tokens whose cumulative probability stays within 1 - top_p go."""

    def __init__(self, top_p, filter_value=-float("Inf"), min_tokens_to_keep=1):
        self.top_p = top_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Remove tokens with cumulative top_p above the threshold (token with 0 are kept)
        sorted_indices_to_remove = cumulative_probs <= (1 - self.top_p)
        # Keep at least min_tokens_to_keep
        sorted_indices_to_remove[..., -self.min_tokens_to_keep :] = 0
        # scatter sorted tensors to original indexing
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        scores_processed = scores.masked_fill(indices_to_remove, self.filter_value)
        return scores_processed


class TypicalLogitsWarper:
    def __init__(self, mass=0.9, filter_value=-float("Inf"), min_tokens_to_keep=1):
        self.filter_value = filter_value
        self.mass = mass
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        # calculate entropy
        normalized = torch.nn.functional.log_softmax(scores, dim=-1)
        p = torch.exp(normalized)
        ent = -(normalized * p).nansum(-1, keepdim=True)
        # shift and sort
        shifted_scores = torch.abs((-normalized) - ent)
        sorted_scores, sorted_indices = torch.sort(shifted_scores, descending=False)
        sorted_logits = scores.gather(-1, sorted_indices)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Remove tokens with cumulative mass above the threshold
        last_ind = (cumulative_probs < self.mass).sum(dim=1)
        last_ind.clamp_(max=sorted_scores.shape[-1] - 1)
        sorted_indices_to_remove = sorted_scores > sorted_scores.gather(1, last_ind.view(-1, 1))
        sorted_indices_to_remove[..., : self.min_tokens_to_keep] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        scores_processed = scores.masked_fill(indices_to_remove, self.filter_value)
        return scores_processed


class EtaLogitsWarper:
    def __init__(self, epsilon, filter_value=-float("Inf"), min_tokens_to_keep=1):
        self.epsilon = torch.tensor(epsilon)
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probabilities = scores.softmax(dim=-1)
        entropy = torch.distributions.Categorical(logits=scores).entropy()
        eta = torch.min(self.epsilon, torch.sqrt(self.epsilon) * torch.exp(-entropy))[..., None]
        indices_to_remove = probabilities < eta
        # Keep the words with the 'min_tokens_to_keep'-highest probabilities
        top_k = min(self.min_tokens_to_keep, scores.size(-1))  # Safety check
        indices_to_remove = indices_to_remove & (scores < torch.topk(scores, top_k)[0][..., -1, None])
        scores_processed = scores.masked_fill(indices_to_remove, self.filter_value)
        return scores_processed


class MinLengthLogitsProcessor:
    def __init__(self, min_length, eos_token_id):
        self.min_length = min_length
        if not isinstance(eos_token_id, torch.Tensor):
            if isinstance(eos_token_id, int):
                eos_token_id = [eos_token_id]
            eos_token_id = torch.tensor(eos_token_id)
        self.eos_token_id = eos_token_id

    def __call__(self, input_ids, scores):
        vocab_tensor = torch.arange(scores.shape[-1], device=scores.device)
        eos_token_mask = torch.isin(vocab_tensor, self.eos_token_id)
        scores_processed = scores.clone()
        if input_ids.shape[-1] < self.min_length:
            scores_processed = torch.where(eos_token_mask, -math.inf, scores)
        return scores_processed


def apply_repetition_penalty(input_ids, scores, penalty):
    score = torch.gather(scores, 1, input_ids)
    # if score < 0 then repetition penalty has to be multiplied to reduce the token probabilities
    score = torch.where(score < 0, score * penalty, score / penalty)
    scores.scatter_(1, input_ids, score)
    return scores


@torch.no_grad()
def greedy_search(model, input_ids, max_new_tokens, attention_mask=None, repetition_penalty=1.0, use_cache=True):
    """Greedy decoding with the past; returns the sequences and each step's processed scores."""
    past_key_values, all_scores = None, []
    for _ in range(max_new_tokens):
        model_inputs = model.prepare_inputs_for_generation(input_ids, past_key_values, attention_mask=attention_mask,
                                                           use_cache=use_cache)
        outputs = model(**model_inputs)
        next_token_logits = outputs[0][:, -1, :]
        if repetition_penalty != 1.0:
            next_token_logits = apply_repetition_penalty(input_ids, next_token_logits, repetition_penalty)
        all_scores.append(next_token_logits)
        next_tokens = torch.argmax(next_token_logits, dim=-1)
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
        past_key_values = outputs[1] if use_cache else None
    return input_ids, torch.stack(all_scores, dim=1)


@torch.no_grad()
def sample(model, input_ids, max_new_tokens, uniforms, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0,
           attention_mask=None):
    """Multinomial sampling after the logits warpers; the draw is the inverse CDF of the uniforms fed in."""
    past_key_values, all_probs = None, []
    for step in range(max_new_tokens):
        model_inputs = model.prepare_inputs_for_generation(input_ids, past_key_values, attention_mask=attention_mask,
                                                           use_cache=True)
        outputs = model(**model_inputs)
        next_token_logits = outputs[0][:, -1, :]
        if repetition_penalty != 1.0:
            next_token_logits = apply_repetition_penalty(input_ids, next_token_logits, repetition_penalty)
        next_token_logits = next_token_logits / temperature
        next_token_logits = top_k_top_p_filtering(next_token_logits, top_k=top_k, top_p=top_p)
        probs = nn.functional.softmax(next_token_logits, dim=-1)
        all_probs.append(probs)
        u = torch.from_numpy(uniforms[step]).to(probs.dtype)
        next_tokens = (torch.cumsum(probs, dim=-1) < u[:, None]).sum(-1).clamp(max=probs.size(-1) - 1)
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
        past_key_values = outputs[1]
    return input_ids, torch.stack(all_probs, dim=1)


class BeamHypotheses:
    def __init__(self, num_beams, length_penalty, early_stopping):
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
        self.num_beams = num_beams
        self.beams = []
        self.worst_score = 1e9

    def __len__(self):
        return len(self.beams)

    def add(self, hyp, sum_logprobs):
        score = sum_logprobs / (hyp.shape[-1] ** self.length_penalty)
        if len(self) < self.num_beams or score > self.worst_score:
            self.beams.append((score, hyp))
            if len(self) > self.num_beams:
                sorted_next_scores = sorted([(s, idx) for idx, (s, _) in enumerate(self.beams)])
                del self.beams[sorted_next_scores[0][1]]
                self.worst_score = sorted_next_scores[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs, cur_len):
        if len(self) < self.num_beams:
            return False
        if self.early_stopping:
            return True
        cur_score = best_sum_logprobs / cur_len ** self.length_penalty
        return self.worst_score >= cur_score


@torch.no_grad()
def beam_search(model, input_ids, max_length, num_beams=3, length_penalty=1.0, early_stopping=False,
                eos_token_id=None):
    """Beam search as generate()'s beam_search: returns the best hypothesis per batch entry and its score."""
    batch_size, cur_len = input_ids.shape
    vocab_size = model.config.vocab_size
    input_ids = input_ids.unsqueeze(1).expand(batch_size, num_beams, cur_len).contiguous().view(-1, cur_len)
    beam_scores = torch.zeros((batch_size, num_beams), dtype=torch.float, device=input_ids.device)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view((batch_size * num_beams,))
    hyps = [BeamHypotheses(num_beams, length_penalty, early_stopping) for _ in range(batch_size)]
    done = [False] * batch_size
    past_key_values = None
    while cur_len < max_length:
        model_inputs = model.prepare_inputs_for_generation(input_ids, past_key_values, use_cache=True)
        outputs = model(**model_inputs)
        next_token_logits = outputs[0][:, -1, :]
        next_token_scores = nn.functional.log_softmax(next_token_logits, dim=-1)  # (batch_size * num_beams, vocab)
        next_token_scores = next_token_scores + beam_scores[:, None].expand_as(next_token_scores)
        next_token_scores = next_token_scores.view(batch_size, num_beams * vocab_size)
        next_token_scores, next_tokens = torch.topk(next_token_scores, 2 * num_beams, dim=1, largest=True,
                                                    sorted=True)
        next_indices = torch.div(next_tokens, vocab_size, rounding_mode="floor")
        next_tokens = next_tokens % vocab_size
        next_beam_scores = torch.zeros((batch_size, num_beams), dtype=beam_scores.dtype)
        next_beam_tokens = torch.zeros((batch_size, num_beams), dtype=next_tokens.dtype)
        next_beam_indices = torch.zeros((batch_size, num_beams), dtype=next_indices.dtype)
        for batch_idx in range(batch_size):
            if done[batch_idx]:
                next_beam_scores[batch_idx, :] = 0
                next_beam_tokens[batch_idx, :] = 0 if eos_token_id is None else eos_token_id
                next_beam_indices[batch_idx, :] = 0
                continue
            beam_idx = 0
            for beam_token_rank, (next_token, next_score, next_index) in enumerate(
                zip(next_tokens[batch_idx], next_token_scores[batch_idx], next_indices[batch_idx])
            ):
                batch_beam_idx = batch_idx * num_beams + next_index
                if eos_token_id is not None and next_token.item() == eos_token_id:
                    if beam_token_rank >= num_beams:
                        continue
                    hyps[batch_idx].add(input_ids[batch_beam_idx].clone(), next_score.item())
                else:
                    next_beam_scores[batch_idx, beam_idx] = next_score
                    next_beam_tokens[batch_idx, beam_idx] = next_token
                    next_beam_indices[batch_idx, beam_idx] = batch_beam_idx
                    beam_idx += 1
                if beam_idx == num_beams:
                    break
            done[batch_idx] = done[batch_idx] or hyps[batch_idx].is_done(
                next_token_scores[batch_idx].max().item(), cur_len + 1
            )
        beam_scores = next_beam_scores.view(-1)
        beam_next_tokens = next_beam_tokens.view(-1)
        beam_idx = next_beam_indices.view(-1)
        input_ids = torch.cat([input_ids[beam_idx, :], beam_next_tokens.unsqueeze(-1)], dim=-1)
        past_key_values = model._reorder_cache(outputs[1], beam_idx)
        cur_len = cur_len + 1
        if all(done):
            break
    # finalize: add all open beam hypotheses
    for batch_idx in range(batch_size):
        if done[batch_idx]:
            continue
        for beam_id in range(num_beams):
            batch_beam_idx = batch_idx * num_beams + beam_id
            hyps[batch_idx].add(input_ids[batch_beam_idx], beam_scores[batch_beam_idx].item())
    best, best_scores = [], []
    for hyp in hyps:
        score, seq = sorted(hyp.beams, key=lambda x: x[0])[-1]
        best.append(seq)
        best_scores.append(score)
    return best, best_scores


# ------------------------------------------------------------------------------------------------- training


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
    def lr_lambda(current_step: int):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        return max(
            0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps))
        )

    return LambdaLR(optimizer, lr_lambda, last_epoch)


def make_batches(seed=0, n_batches=4, batch_size=4, seq_len=12, vocab_size=50, pad_token_id=49):
    """Synthetic left-padded batches of counting sequences: input_ids, attention_mask, labels (-100 on padding)."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        starts = rng.integers(0, vocab_size - 1, (batch_size, 1))
        ids = (starts + np.arange(seq_len)) % (vocab_size - 1)
        lengths = rng.integers(seq_len // 2, seq_len + 1, batch_size)
        mask = (np.arange(seq_len)[None] >= (seq_len - lengths)[:, None]).astype(np.int64)
        ids = np.where(mask == 1, ids, pad_token_id).astype(np.int64)
        labels = np.where(mask == 1, ids, -100).astype(np.int64)
        batches.append((ids, mask, labels))
    return batches


def train(model, batches, learning_rate=5e-3, weight_decay=0.01, warmup_steps=2, max_grad_norm=1.0, epochs=2):
    """run_clm-style loop: AdamW with no-decay groups, linear warmup/decay, clip_grad_norm_; returns the log."""
    no_decay = ["bias", "LayerNorm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
         "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=learning_rate, eps=1e-8)
    total = epochs * len(batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup_steps, num_training_steps=total)
    log = {"loss": [], "norm": [], "lr": [], "params": [], "grads": []}
    model.train()
    for _ in range(epochs):
        for ids, mask, labels in batches:
            input_ids = torch.from_numpy(ids)
            attention_mask = torch.from_numpy(mask)
            position_ids = attention_mask.long().cumsum(-1) - 1
            position_ids.masked_fill_(attention_mask == 0, 1)
            outputs = model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            labels=torch.from_numpy(labels))
            loss = outputs[0]
            loss.backward()
            log["grads"].append({n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()})
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            log["loss"].append(loss.item())
            log["norm"].append(norm.item())
            log["lr"].append(scheduler.get_last_lr()[0])
            log["params"].append({n: p.detach().numpy().copy() for n, p in model.state_dict().items()})
    return log
