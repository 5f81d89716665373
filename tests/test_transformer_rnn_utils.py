"""nn.Transformer* against torch's (torch's weights loaded, eval mode: outputs and every gradient, with bool and float
masks, key padding masks and is_causal), nn.utils.rnn (padding, packing, and packed batches through RNN / LSTM /
GRU) against torch's, and the legacy constructors (FloatTensor, LongTensor, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import nn
from tinygrad_adam.nn.utils import rnn

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched", "ignore:enable_nested_tensor is True",
                                        "ignore:enable_nested_tensor=True has no effect")


def twin(theirs: Any, ours: Any) -> tuple[Any, Any]:
    """torch's module in float64 and eval mode, ours with its weights loaded (same names), likewise."""
    theirs = theirs.double().eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return theirs, ours.double().eval()


def outputs_and_grads(lib: Any, module: Any, arrays: list[np.ndarray], call: Callable[..., Any]) -> list[np.ndarray]:
    """The output, and the gradients of a weighted sum of it with respect to the inputs and every parameter."""
    inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = call(module, *inputs)
    (out * lib.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)))).sum().backward()
    return [out.detach().numpy()] + [x.grad.numpy() for x in inputs] + [p.grad.numpy() for p in module.parameters()]


def assert_same(theirs: list[np.ndarray], ours: list[np.ndarray], rtol: float = 1e-9, atol: float = 1e-10) -> None:
    assert len(theirs) == len(ours)
    for i, (a, b) in enumerate(zip(theirs, ours)):
        assert a.shape == b.shape, f"item {i}: {a.shape} vs {b.shape}"
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=f"item {i}")


def masks(rng: np.random.Generator, kind: str, n_l: int, n_s: int, lib: Any, causal: bool = False) -> Any:
    """An attention mask (n_l, n_s) of ``kind`` ("none", "bool", "float") that leaves every query a key; with
    ``causal`` exactly the causal mask (torch then uses its own causal mask in place of the one given)."""
    if kind == "none":
        return None
    keep = rng.random((n_l, n_s)) < 0.7 if not causal else np.tril(np.ones((n_l, n_s), bool))
    keep[:, 0] = True
    mask = ~keep if kind == "bool" else np.where(keep, 0.0 if causal else 0.3 * rng.standard_normal((n_l, n_s)),
                                                 -np.inf)
    return lib.tensor(mask)


def padding(rng: np.random.Generator, kind: str, shape: tuple[int, ...], lib: Any) -> Any:
    if kind == "none":
        return None
    pad = rng.random(shape) < 0.3
    pad[..., 0] = False
    return lib.tensor(pad if kind == "bool" else np.where(pad, -np.inf, 0.0))


ACTIVATIONS = {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
               "callable": (torch.nn.functional.silu, nn.functional.silu), "module": (torch.nn.GELU(), nn.GELU())}


# ---------------------------------------------------------------------------------------------- transformer
@settings(max_examples=40, deadline=None)
@given(norm_first=st.booleans(), activation=st.sampled_from(sorted(ACTIVATIONS)), batch_first=st.booleans(),
       bias=st.booleans(), unbatched=st.booleans(), mask_kind=st.sampled_from(["none", "bool", "float", "causal"]),
       pad_kind=st.sampled_from(["none", "bool", "float"]), heads=st.sampled_from([1, 2, 4]),
       length=st.integers(1, 5), layers=st.integers(1, 2), final_norm=st.booleans(), seed=st.integers(0, 2**31))
def test_encoder_matches_torch(norm_first: bool, activation: str, batch_first: bool, bias: bool, unbatched: bool,
                               mask_kind: str, pad_kind: str, heads: int, length: int, layers: int, final_norm: bool,
                               seed: int) -> None:
    kw = {"dim_feedforward": 12, "dropout": 0.0, "layer_norm_eps": 1e-4, "batch_first": batch_first,
          "norm_first": norm_first, "bias": bias}
    t_act, o_act = ACTIVATIONS[activation]
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, heads, activation=t_act, **kw), layers,
                                         norm=torch.nn.LayerNorm(8) if final_norm else None)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, heads, activation=o_act, **kw), layers,
                                 norm=nn.LayerNorm(8) if final_norm else None, enable_nested_tensor=False)
    theirs, ours = twin(theirs, ours)
    rng = np.random.default_rng(seed)
    n = 3
    x = rng.standard_normal((length, 8) if unbatched else (n, length, 8) if batch_first else (length, n, 8))
    causal = mask_kind == "causal"
    results = []
    for lib, module in ((torch, theirs), (tg, ours)):
        r = np.random.default_rng(seed + 1)
        mask = masks(r, "float" if causal else mask_kind, length, length, lib, causal)
        pad = padding(r, pad_kind, (length,) if unbatched else (n, length), lib)

        def call(m: Any, src: Any, mask: Any = mask, pad: Any = pad) -> Any:
            return m(src, mask=mask, src_key_padding_mask=pad, is_causal=causal if causal else None)
        results.append(outputs_and_grads(lib, module, [x], call))
    assert_same(*results)


@settings(max_examples=40, deadline=None)
@given(norm_first=st.booleans(), activation=st.sampled_from(["relu", "gelu", "callable"]), batch_first=st.booleans(),
       bias=st.booleans(), tgt_mask=st.sampled_from(["none", "bool", "float", "causal"]),
       memory_mask=st.sampled_from(["none", "bool", "float"]), pad_kind=st.sampled_from(["none", "bool", "float"]),
       n_t=st.integers(1, 4), n_s=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_decoder_matches_torch(norm_first: bool, activation: str, batch_first: bool, bias: bool, tgt_mask: str,
                               memory_mask: str, pad_kind: str, n_t: int, n_s: int, seed: int) -> None:
    kw = {"dim_feedforward": 10, "dropout": 0.0, "batch_first": batch_first, "norm_first": norm_first, "bias": bias}
    t_act, o_act = ACTIVATIONS[activation]
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(6, 2, activation=t_act, **kw), 2,
                                         norm=torch.nn.LayerNorm(6))
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(6, 2, activation=o_act, **kw), 2, norm=nn.LayerNorm(6))
    theirs, ours = twin(theirs, ours)
    rng = np.random.default_rng(seed)
    n = 2
    tgt = rng.standard_normal((n, n_t, 6) if batch_first else (n_t, n, 6))
    memory = rng.standard_normal((n, n_s, 6) if batch_first else (n_s, n, 6))
    causal = tgt_mask == "causal"
    results = []
    for lib, module in ((torch, theirs), (tg, ours)):
        r = np.random.default_rng(seed + 1)
        kw = {"tgt_mask": masks(r, "bool" if causal else tgt_mask, n_t, n_t, lib, causal),
              "memory_mask": masks(r, memory_mask, n_t, n_s, lib),
              "tgt_key_padding_mask": padding(r, pad_kind, (n, n_t), lib),
              "memory_key_padding_mask": padding(r, pad_kind, (n, n_s), lib), "tgt_is_causal": causal}

        def call(m: Any, t: Any, mem: Any, kw: dict = kw) -> Any:
            return m(t, mem, **kw)
        results.append(outputs_and_grads(lib, module, [tgt, memory], call))
    assert_same(*results)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first: bool) -> None:
    kw = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1, "dim_feedforward": 16,
          "dropout": 0.0, "batch_first": batch_first}
    theirs, ours = twin(torch.nn.Transformer(**kw), nn.Transformer(**kw))
    rng = np.random.default_rng(0)
    src = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    tgt = rng.standard_normal((3, 4, 8) if batch_first else (4, 3, 8))
    pad = np.zeros((3, 5), bool)
    pad[0, 3:] = True
    results = []
    for lib, module in ((torch, theirs), (tg, ours)):
        mask = lib.nn.Transformer.generate_square_subsequent_mask(4, dtype=lib.float64)

        def call(m: Any, s: Any, t: Any, mask: Any = mask, lib: Any = lib) -> Any:
            return m(s, t, tgt_mask=mask, src_key_padding_mask=lib.tensor(pad), memory_key_padding_mask=lib.tensor(pad),
                     tgt_is_causal=True)
        results.append(outputs_and_grads(lib, module, [src, tgt], call))
    assert_same(*results)


def test_transformer_initialisation_is_xavier_for_matrices() -> None:
    m = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    w = m.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.all(m.encoder.norm.weight.numpy() == 1)
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in torch.nn.Transformer(
        d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32).named_parameters()]


@pytest.mark.parametrize("size", [0, 1, 4])
def test_generate_square_subsequent_mask(size: int) -> None:
    ours = nn.Transformer.generate_square_subsequent_mask(size)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(size)
    assert ours.dtype == np.float32 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_encoder_layers_are_independent_copies_and_dropout_trains() -> None:
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.5), 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and np.array_equal(a.numpy(), b.numpy())  # torch deep-copies the layer: same start
    x = tg.randn(3, 2, 4)
    enc.train()
    assert not np.allclose(enc(x).numpy(), enc(x).numpy())
    enc.eval()
    np.testing.assert_array_equal(enc(x).numpy(), enc(x).numpy())


def test_transformer_errors() -> None:
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu' or a callable, not 'tanh'"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(6, 4)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8)
    with pytest.raises(ValueError, match="is_causal"):
        layer(tg.randn(3, 2, 4), is_causal=True)
    with pytest.raises(ValueError, match="different batch sizes"):
        nn.Transformer(d_model=4, nhead=2, num_encoder_layers=1, num_decoder_layers=1)(tg.randn(3, 2, 4),
                                                                                       tg.randn(3, 5, 4))


# ---------------------------------------------------------------------------------------------- padding and packing
lengths_strategy = st.lists(st.integers(1, 5), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 5), min_size=1, max_size=5), batch_first=st.booleans(),
       padding_value=st.sampled_from([0.0, -1.5, float("inf"), float("nan")]), side=st.sampled_from(["left", "right"]),
       trailing=st.sampled_from([(), (3,), (2, 0)]), seed=st.integers(0, 2**31))
def test_pad_sequence_matches_torch(lengths: list[int], batch_first: bool, padding_value: float, side: str,
                                    trailing: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, *trailing)) for n in lengths]

    def call(lib: Any, utils: Any) -> list[np.ndarray]:
        seqs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = utils.pad_sequence(seqs, batch_first=batch_first, padding_value=padding_value, padding_side=side)
        (out * lib.tensor(np.arange(1, out.numel() + 1, dtype=np.float64).reshape(tuple(out.shape)))).sum().backward()
        return [out.detach().numpy()] + [s.grad.numpy() for s in seqs]
    for a, b in zip(call(torch, trnn), call(tg, rnn)):
        np.testing.assert_array_equal(b, a)


def test_pad_sequence_dtype_and_errors() -> None:
    mixed = [[1, 2], [1.5]]
    ours = rnn.pad_sequence([tg.tensor(mixed[0]), tg.tensor(mixed[1])])
    theirs = trnn.pad_sequence([torch.tensor(mixed[0]), torch.tensor(mixed[1])])
    assert ours.dtype == np.int64 and ours.numpy().tolist() == theirs.numpy().tolist()  # the first one's dtype
    with pytest.raises(ValueError, match="empty list"):
        rnn.pad_sequence([])
    with pytest.raises(ValueError, match="trailing dims"):
        rnn.pad_sequence([tg.ones(2, 3), tg.ones(1, 2)])
    with pytest.raises(ValueError, match="padding_side"):
        rnn.pad_sequence([tg.ones(2)], padding_side="middle")


@settings(max_examples=40, deadline=None)
@given(lengths=lengths_strategy, batch_first=st.booleans(), enforce_sorted=st.booleans(),
       extra=st.integers(0, 2), as_tensor=st.booleans(), seed=st.integers(0, 2**31))
def test_pack_and_pad_packed_match_torch(lengths: list[int], batch_first: bool, enforce_sorted: bool, extra: int,
                                         as_tensor: bool, seed: int) -> None:
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    rng = np.random.default_rng(seed)
    steps = max(lengths) + extra
    x = rng.standard_normal((len(lengths), steps, 2) if batch_first else (steps, len(lengths), 2))
    results = []
    for lib, utils in ((torch, trnn), (tg, rnn)):
        inp = lib.tensor(x, requires_grad=True)
        packed = utils.pack_padded_sequence(inp, lib.tensor(lengths) if as_tensor else lengths,
                                            batch_first=batch_first, enforce_sorted=enforce_sorted)
        padded, out_lengths = utils.pad_packed_sequence(packed, batch_first=batch_first, padding_value=-2.0,
                                                        total_length=steps + 1)
        (padded * lib.tensor(np.linspace(-1, 1, padded.numel()).reshape(tuple(padded.shape)))).sum().backward()
        results.append([packed.data.detach().numpy(), packed.batch_sizes.numpy(), padded.detach().numpy(),
                        out_lengths.numpy(), inp.grad.numpy()]
                       + [None if i is None else i.numpy() for i in (packed.sorted_indices, packed.unsorted_indices)])
    for i, (a, b) in enumerate(zip(*results)):
        if a is None:
            assert b is None, f"item {i}"
        else:
            assert b.dtype == a.dtype, f"item {i}"
            np.testing.assert_array_equal(b, a, err_msg=f"item {i}")


def test_pack_sequence_unpack_and_unpad_match_torch() -> None:
    arrays = [np.arange(n * 2, dtype=np.float32).reshape(n, 2) + n for n in (2, 4, 1, 4)]
    theirs = trnn.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    ours = rnn.pack_sequence([tg.tensor(a) for a in arrays], enforce_sorted=False)
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
    for a, b in zip(rnn.unpack_sequence(ours), trnn.unpack_sequence(theirs)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded = rnn.pad_sequence([tg.tensor(a) for a in arrays], batch_first=True)
    for a, b in zip(rnn.unpad_sequence(padded, tg.tensor([2, 4, 1, 4]), batch_first=True), arrays):
        np.testing.assert_array_equal(a.numpy(), b)
    from tinygrad_adam.nn.utils.rnn import PackedSequence  # the torch-style import path works
    assert isinstance(ours, PackedSequence) and isinstance(ours, tuple)


def test_packing_errors() -> None:
    x = tg.randn(4, 3, 2)
    with pytest.raises(ValueError, match="longest to shortest"):
        rnn.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match="must be > 0"):
        rnn.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(ValueError, match="exceeds the padded length"):
        rnn.pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="total_length=2 is less than the longest"):
        rnn.pad_packed_sequence(rnn.pack_padded_sequence(x, [3, 2, 1]), total_length=2)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), layers=st.integers(1, 2), bidirectional=st.booleans(),
       batch_first=st.booleans(), enforce_sorted=st.booleans(), with_hx=st.booleans(), lengths=lengths_strategy,
       seed=st.integers(0, 2**31), proj=st.sampled_from([0, 2]))
def test_recurrent_layers_on_packed_batches_match_torch(kind: str, layers: int, bidirectional: bool,
                                                        batch_first: bool, enforce_sorted: bool, with_hx: bool,
                                                        lengths: list[int], seed: int, proj: int) -> None:
    """Outputs stop at each length, h_n (and c_n) are each sequence's last real step (the reverse direction's: its
    first), the initial state is taken in the batch's order; gradients of input, state and every weight."""
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    kw = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first}
    proj = proj if kind == "LSTM" else 0
    kw.update({"proj_size": proj} if proj else {})
    theirs, ours = twin(getattr(torch.nn, kind)(3, 4, **kw), getattr(nn, kind)(3, 4, **kw))
    rng = np.random.default_rng(seed)
    n, steps = len(lengths), max(lengths)
    x = rng.standard_normal((n, steps, 3) if batch_first else (steps, n, 3))
    states = [rng.standard_normal(((2 if bidirectional else 1) * layers, n, size))
              for size in ([proj or 4, 4] if kind == "LSTM" else [4])]
    results = []
    for lib, module, utils in ((torch, theirs, trnn), (tg, ours, rnn)):
        inp = lib.tensor(x, requires_grad=True)
        hx = [lib.tensor(s, requires_grad=True) for s in states] if with_hx else []
        packed = utils.pack_padded_sequence(inp, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        out, state = module(packed, (tuple(hx) if kind == "LSTM" else hx[0]) if hx else None)
        state = list(state) if kind == "LSTM" else [state]
        loss = (out.data * lib.tensor(np.linspace(-1, 1, out.data.numel()).reshape(tuple(out.data.shape)))).sum()
        for i, s in enumerate(state):
            loss = loss + (s * (i + 2.0)).sum()
        loss.backward()
        padded, _ = utils.pad_packed_sequence(out, batch_first=batch_first)
        results.append([out.data.detach().numpy(), out.batch_sizes.numpy(), padded.detach().numpy()]
                       + [s.detach().numpy() for s in state] + [inp.grad.numpy()] + [h.grad.numpy() for h in hx]
                       + [p.grad.numpy() for p in module.parameters()])
    assert_same(*results)


# ---------------------------------------------------------------------------------------------- legacy constructors
LEGACY = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor", "HalfTensor",
          "ShortTensor", "CharTensor"]


@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("data", [[1, 0, 2], [[1.5, -2.7], [0.0, 3.9]], (2, 3), [], [True, False], np.arange(4.0),
                                  np.array([[1, 2]], np.int32)])
def test_legacy_constructors_take_data_as_torch(name: str, data: Any) -> None:
    if name == "ByteTensor" and isinstance(data, list) and data and np.min(data) < 0:
        with pytest.raises(OverflowError, match="uint8"):  # torch wraps -2.7 to 254
            tg.ByteTensor(data)
        return
    ours, theirs = getattr(tg, name)(data), getattr(torch, name)(data)
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.").replace("bool", "bool_")), name
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("sizes", [(), (3,), (2, 3), (0, 4), (tg.Size([2, 5]),)])
def test_legacy_constructors_take_sizes_as_torch(name: str, sizes: tuple[Any, ...]) -> None:
    ours = getattr(tg, name)(*sizes)
    theirs = getattr(torch, name)(*(torch.Size(s) if isinstance(s, tg.Size) else s for s in sizes))
    assert ours.shape == tuple(theirs.shape) and ours.dtype == getattr(tg, name).dtype


def test_legacy_constructors_alias_isinstance_and_errors() -> None:
    x = tg.ones(3, requires_grad=True)
    y = tg.FloatTensor(x)
    assert y is not x and np.shares_memory(y.data, x.data)
    (y * 2).sum().backward()  # an alias in the graph, as torch's
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
    assert isinstance(x, tg.FloatTensor) and not isinstance(x, tg.DoubleTensor) and not isinstance(3.0, tg.FloatTensor)
    assert x.type(tg.DoubleTensor).dtype == np.float64 and tg.zeros(2, dtype=tg.LongTensor).dtype == np.int64
    assert repr(tg.FloatTensor) == "<class 'tinygrad_adam.FloatTensor'>"
    with pytest.raises(TypeError, match=r"FloatTensor\(tensor\): expected a float32 tensor, got float64"):
        tg.FloatTensor(tg.ones(2, dtype=tg.float64))
    with pytest.raises(TypeError, match=r"sizes \(ints\) or one sequence of data"):
        tg.FloatTensor(2.5)
    with pytest.raises(TypeError, match=r"sizes \(ints\) or one sequence of data"):
        tg.FloatTensor([1], [2])
    with pytest.raises(ValueError, match="negative dimension"):
        tg.LongTensor(2, -1)
    with pytest.raises(OverflowError):
        tg.ByteTensor([-1, 300])  # torch: RuntimeError "cannot be converted to type uint8 without overflow"
