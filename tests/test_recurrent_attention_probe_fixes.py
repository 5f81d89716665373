"""Fixes found by the recurrent / attention probe (RNN / LSTM / GRU and their cells, ``nn.utils.rnn``,
MultiheadAttention, scaled_dot_product_attention, the Transformer classes, against torch). Each was a raise where
torch works (AttributeError / ImportError): ``MultiheadAttention._qkv_same_embed_dim``; ``PackedSequence``'s
conversions (``float double half long int short char byte cpu cuda is_pinned pin_memory``, and ``to`` returning
``self`` when nothing changes); ``nn.utils.rnn.invert_permutation``; ``torch.nn.attention``'s ``SDPBackend`` /
``sdpa_kernel``; the ``nn.modules.rnn``, ``nn.modules.transformer`` and ``nn.modules.activation`` paths. And
where ours worked and torch raises: scaled_dot_product_attention took an integer mask, or one broadcasting past
the scores."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn as tnn
import tinygrad_adam.nn.functional as TF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=15, deadline=None)
CONVERSIONS = ["double", "float", "half", "long", "int", "short", "char", "byte", "cpu"]


@SETTINGS
@given(heads=st.integers(1, 3), per_head=st.integers(1, 3), kdim=st.none() | st.integers(1, 6),
       vdim=st.none() | st.integers(1, 6))
def test_mha_qkv_same_embed_dim_as_torch(heads: int, per_head: int, kdim: int | None, vdim: int | None) -> None:
    """torch code reads ``attn._qkv_same_embed_dim`` to pick in_proj_weight or q/k/v_proj_weight; ours had none."""
    e = heads * per_head
    ref = torch.nn.MultiheadAttention(e, heads, kdim=kdim, vdim=vdim)
    ours = tnn.MultiheadAttention(e, heads, kdim=kdim, vdim=vdim)
    assert ours._qkv_same_embed_dim == ref._qkv_same_embed_dim
    assert (ours.in_proj_weight is None) == (ref.in_proj_weight is None)
    assert list(ours.state_dict()) == list(ref.state_dict())  # a plain attribute, not a parameter or buffer


@SETTINGS
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4), sort=st.booleans(),
       scale=st.sampled_from([1.0, 1e-30, 100.0, -0.0]), method=st.sampled_from(CONVERSIONS))
def test_packed_sequence_conversions_as_torch(lengths: list[int], sort: bool, scale: float, method: str) -> None:
    """``packed.float()``, ``.double()``, ... convert ``data`` only (the batch sizes and permutations stay), as
    torch's; ours had only ``.to``."""
    if sort:
        lengths = sorted(lengths, reverse=True)
    rng = np.random.default_rng(len(lengths))
    seqs = [(rng.standard_normal((n, 2)) * scale).astype(np.float32) for n in lengths]
    ref = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=sort)
    ours = tnn.utils.rnn.pack_sequence([tg.tensor(s) for s in seqs], enforce_sorted=sort)
    r, o = getattr(ref, method)(), getattr(ours, method)()
    assert type(o) is type(ours)
    assert str(o.data.dtype) == str(r.data.dtype).replace("torch.", "")
    np.testing.assert_array_equal(o.data.numpy(), r.data.numpy())
    np.testing.assert_array_equal(o.batch_sizes.numpy(), r.batch_sizes.numpy())
    for a, b in ((o.sorted_indices, r.sorted_indices), (o.unsorted_indices, r.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (o is ours) == (r is ref)  # nothing to convert: the same object, as torch's
    assert ours.is_pinned() == ref.is_pinned() is False
    assert ours.to(tg.float64).data.dtype == tg.float64 and ours.to("cpu") is ours


@SETTINGS
@given(perm=st.integers(0, 6).flatmap(lambda n: st.permutations(list(range(n)))))
def test_invert_permutation_as_torch(perm: list[int]) -> None:
    """``nn.utils.rnn.invert_permutation`` was missing; the inverse is int64 as the permutation, None -> None."""
    ref = torch.nn.utils.rnn.invert_permutation(torch.tensor(perm, dtype=torch.int64))
    ours = tnn.utils.rnn.invert_permutation(tg.tensor(perm, dtype=tg.int64))
    assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    assert tnn.utils.rnn.invert_permutation(None) is None


@SETTINGS
@given(backends=st.lists(st.sampled_from(["MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"]),
                         min_size=1, max_size=3, unique=True) | st.sampled_from(["MATH", "FLASH_ATTENTION"]),
       causal=st.booleans(), scale=st.sampled_from([1.0, 1e-3, 4.0]))
def test_sdpa_kernel_runs_the_block_with_torch_values(backends: list[str] | str, causal: bool, scale: float) -> None:
    """``with torch.nn.attention.sdpa_kernel(SDPBackend.X):`` was an ImportError; it now runs the block, and
    scaled_dot_product_attention inside gives torch's math-kernel values."""
    from tinygrad_adam.nn.attention import SDPBackend, sdpa_kernel
    chosen = [getattr(SDPBackend, b) for b in backends] if isinstance(backends, list) else getattr(SDPBackend, backends)
    assert int(SDPBackend.FLASH_ATTENTION) == int(torch.nn.attention.SDPBackend.FLASH_ATTENTION)
    rng = np.random.default_rng(0)
    q, k, v = ((rng.standard_normal((2, 2, 3, 4)) * scale).astype(np.float32) for _ in range(3))
    with sdpa_kernel(chosen):
        ours = TF.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(v), is_causal=causal)
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        ref = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                               is_causal=causal)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError), sdpa_kernel(0):  # torch: an AssertionError
        pass


def test_nn_modules_rnn_and_transformer_paths_as_torch() -> None:
    """``from torch.nn.modules.rnn import RNNBase`` / ``...transformer import _get_clones`` /
    ``...activation import MultiheadAttention`` were ImportErrors; the
    names are the same objects as ``nn.*``, and torch's helpers behave as torch's."""
    for sub in ("activation", "rnn", "transformer"):
        ref, ours = (importlib.import_module(f"{lib}.nn.modules.{sub}") for lib in ("torch", "tinygrad_adam"))
        assert sorted(ours.__all__) == sorted(ref.__all__)
        for name in ref.__all__:
            assert getattr(ours, name) is getattr(tnn, name)
    reached = ("import tinygrad_adam.nn as nn; nn.modules.rnn.RNNBase; nn.modules.transformer.Transformer; "
               "nn.modules.activation.MultiheadAttention")
    subprocess.run([sys.executable, "-c", reached], check=True)  # as attributes, after ``import torch.nn``
    from tinygrad_adam.nn.modules import transformer as T
    layer = tnn.Linear(2, 3)
    clones = T._get_clones(layer, 3)
    assert len(clones) == 3 and clones[0] is not layer and clones[0].weight is not clones[1].weight
    np.testing.assert_array_equal(clones[2].weight.numpy(), layer.weight.numpy())
    assert T._get_activation_fn("relu") is TF.relu and T._get_activation_fn("gelu") is TF.gelu
    with pytest.raises(RuntimeError):
        T._get_activation_fn("tanh")
    for sz in (0, 1, 5):
        np.testing.assert_array_equal(T._generate_square_subsequent_mask(sz).numpy(),
                                      torch.nn.modules.transformer._generate_square_subsequent_mask(sz).numpy())


@SETTINGS
@given(mask_shape=st.sampled_from([(3, 5), (5,), (3, 1), (2, 1, 5), (1, 2, 3, 5), (4, 5), (2, 3, 5), (1, 1, 3, 5)]),
       mask_dtype=st.sampled_from(["bool", "float32", "int64", "int32", "uint8"]), fill=st.sampled_from([0.0, -np.inf]))
def test_sdpa_mask_dtype_and_shape_as_torch(mask_shape: tuple, mask_dtype: str, fill: float) -> None:
    """An integer attn_mask, or one with more (or longer) dims than the scores, used to be added / broadcast here
    (an output larger than torch's); torch refuses both. Masks torch takes give torch's values."""
    rng = np.random.default_rng(len(mask_shape))
    q, k, v = rng.standard_normal((2, 3, 4)).astype(np.float32), *(rng.standard_normal((2, 5, 4)).astype(np.float32)
                                                                   for _ in range(2))
    raw = rng.random(mask_shape) < 0.6 if mask_dtype == "bool" else np.where(rng.random(mask_shape) < 0.3, fill,
                                                                           rng.standard_normal(mask_shape))
    m = raw.astype(mask_dtype) if mask_dtype != "float32" or fill == 0.0 else raw.astype(np.float32)
    try:
        ref = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                               attn_mask=torch.tensor(m)).numpy()
    except RuntimeError:
        with pytest.raises((RuntimeError, TypeError, ValueError)):
            TF.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(v), attn_mask=tg.tensor(m))
        return
    ours = TF.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(v), attn_mask=tg.tensor(m)).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
