"""The sixteenth stop's nn surface against torch's: ``F.multi_head_attention_forward`` (which
``nn.MultiheadAttention`` runs), ``nn.DataParallel`` / ``nn.parallel`` on a machine without GPUs, the low-level
recurrent functions (``torch.lstm_cell`` ... ``torch.rnn_relu``), ``F.native_channel_shuffle`` and
``F.conv_tbc``: values, gradients (projection weights included) and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def close(ours: Any, theirs: Any, **kw: Any) -> None:
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    ours = ours.detach().numpy() if hasattr(ours, "detach") else ours
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, **{"rtol": 1e-9, "atol": 1e-11, **kw})


# ---------------------------------------------------------------- F.multi_head_attention_forward
E = 4


def mha_case(rng: np.random.Generator, heads: int, n: int, n_l: int, n_s: int, separate: bool, kdim: int,
             vdim: int, in_bias: bool, out_bias: bool, bias_kv: bool, static: bool, attn: str,
             padding: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays (inputs, weights; they get gradients) and the other arguments of one call, batched."""
    arrays = {"query": rng.normal(size=(n_l, n, E)), "key": rng.normal(size=(n_s, n, kdim)),
              "value": rng.normal(size=(n_s, n, vdim)), "out_proj_weight": rng.normal(size=(E, E)) * 0.5}
    if separate:
        arrays.update(q_proj_weight=rng.normal(size=(E, E)), k_proj_weight=rng.normal(size=(E, kdim)),
                      v_proj_weight=rng.normal(size=(E, vdim)))
    else:
        arrays["in_proj_weight"] = rng.normal(size=(3 * E, E)) * 0.5
    if in_bias:
        arrays["in_proj_bias"] = rng.normal(size=3 * E)
    if out_bias:
        arrays["out_proj_bias"] = rng.normal(size=E)
    if bias_kv:
        arrays.update(bias_k=rng.normal(size=(1, 1, E)), bias_v=rng.normal(size=(1, 1, E)))
    if static:
        s2 = n_s if attn != "none" else int(rng.integers(1, 4))  # torch checks attn_mask against key's S
        arrays.update(static_k=rng.normal(size=(n * heads, s2, E // heads)),
                      static_v=rng.normal(size=(n * heads, s2, E // heads)))
        n_s = s2  # the masks then cover the static keys
    masks: dict[str, Any] = {}
    shape = {"2d": (n_l, n_s), "3d": (n * heads, n_l, n_s)}
    if attn != "none":
        kind, dims = attn.split("_")
        blocked = rng.random(shape[dims]) < 0.3
        masks["attn_mask"] = blocked if kind == "bool" else np.where(blocked, -np.inf, rng.normal(size=shape[dims]))
    if padding != "none":
        blocked = rng.random((n, n_s)) < 0.3
        masks["key_padding_mask"] = blocked if padding == "bool" else np.where(blocked, -np.inf,
                                                                                 rng.normal(size=(n, n_s)))
    return arrays, masks


def run_mha(lib: Any, arrays: dict[str, np.ndarray], masks: dict[str, Any], heads: int, unbatched: bool,
            **kw: Any) -> list[Any]:
    """One call; returns output, weights and the gradient of every array."""
    ts = {k: lib.tensor(v, requires_grad=True) for k, v in arrays.items()}
    call = dict(ts)
    ms = {k: lib.tensor(v) for k, v in masks.items()}
    if unbatched:
        call.update({k: call[k][:, 0] for k in ("query", "key", "value")})
        if "key_padding_mask" in ms:
            ms["key_padding_mask"] = ms["key_padding_mask"][0]
    for name in ("in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj_bias"):
        call.setdefault(name, None)
    fn = (F if lib is tg else torch.nn.functional).multi_head_attention_forward
    out, weights = fn(call.pop("query"), call.pop("key"), call.pop("value"), E, heads, call.pop("in_proj_weight"),
                      call.pop("in_proj_bias"), call.pop("bias_k"), call.pop("bias_v"), kw.pop("add_zero_attn"),
                      kw.pop("dropout_p", 0.0), call.pop("out_proj_weight"), call.pop("out_proj_bias"),
                      use_separate_proj_weight="q_proj_weight" in call, **call, **ms, **kw)
    up = np.cos(np.arange(out.numel())).reshape(tuple(out.shape))
    loss = (out * lib.tensor(up)).sum() + (0 if weights is None else (weights * weights).sum())
    loss.backward()
    return [out, weights] + [ts[k].grad for k in sorted(ts)]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@settings(max_examples=120, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.sampled_from([(E, E), (3, 5), (2, 2)]), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from(["none", "bool_2d", "float_2d", "bool_3d", "float_3d"]),
       st.sampled_from(["none", "bool", "float"]), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_multi_head_attention_forward_matches_torch(heads: int, n: int, n_l: int, n_s: int, separate: bool,
                                                    kv_dims: tuple[int, int], in_bias: bool, out_bias: bool,
                                                    bias_kv: bool, zero_attn: bool, static: bool, attn: str,
                                                    padding: str, need_weights: bool, average: bool,
                                                    unbatched: bool, causal: bool, seed: int) -> None:
    """Every option, bool and float masks of both ranks (rows with no key to attend: nan with weights, zeros
    without, as torch), the unbatched form; the output, the weights and the gradients of the inputs and of every
    projection weight and bias."""
    kdim, vdim = kv_dims if separate else (E, E)
    static = static and not bias_kv  # torch refuses both
    n = 1 if unbatched else n
    if unbatched and padding == "float":
        padding = "bool"
    if causal and attn == "none":
        attn = "bool_2d"
    rng = np.random.default_rng(seed)
    arrays, masks = mha_case(rng, heads, n, n_l, n_s, separate, kdim, vdim, in_bias, out_bias, bias_kv, static,
                             attn, padding)
    if unbatched and attn.endswith("3d"):
        masks["attn_mask"] = masks["attn_mask"][:heads]
    kw = {"add_zero_attn": zero_attn, "need_weights": need_weights, "average_attn_weights": average,
          "is_causal": causal, "training": False, "dropout_p": 0.5}
    ours, theirs = (run_mha(lib, arrays, masks, heads, unbatched, **dict(kw)) for lib in (tg, torch))
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        assert (o is None) == (t is None), i
        if t is not None:
            close(o, t, err_msg=str(i))


def test_is_causal_hint_replaces_the_mask_as_torch() -> None:
    """torch's functional trusts ``is_causal``: without weights or a key padding mask it attends causally whatever
    attn_mask says (ours too); with weights it uses attn_mask."""
    rng = np.random.default_rng(0)
    arrays, _ = mha_case(rng, 2, 2, 3, 3, False, E, E, True, True, False, False, "none", "none")
    anti = {"attn_mask": np.tril(np.ones((3, 3), bool))}  # blocks the past: not causal at all
    for need_weights in (False, True):
        kw = {"add_zero_attn": False, "need_weights": need_weights, "is_causal": True}
        for o, t in zip(run_mha(tg, arrays, anti, 2, False, **dict(kw)), run_mha(torch, arrays, anti, 2, False, **kw),
                        strict=True):
            if t is not None:
                close(o, t)


def test_dropout_in_training() -> None:
    """p = 1 drops every weight (both paths, as torch); 0 < p < 1 keeps each weight or zeroes it, the kept
    scaled by 1 / (1 - p); training=False turns it off."""
    rng = np.random.default_rng(1)
    arrays, _ = mha_case(rng, 2, 2, 3, 4, False, E, E, True, True, False, False, "none", "none")
    for need_weights in (True, False):
        kw = {"add_zero_attn": False, "need_weights": need_weights, "dropout_p": 1.0, "training": True}
        for o, t in zip(run_mha(tg, arrays, {}, 2, False, **dict(kw)), run_mha(torch, arrays, {}, 2, False, **kw),
                        strict=True):
            if t is not None:
                close(o, t)
    args = [tg.tensor(arrays[k]) for k in ("query", "key", "value")]
    rest = (E, 2, tg.tensor(arrays["in_proj_weight"]), tg.tensor(arrays["in_proj_bias"]), None, None, False)
    out = (tg.tensor(arrays["out_proj_weight"]), tg.tensor(arrays["out_proj_bias"]))
    _, clean = F.multi_head_attention_forward(*args, *rest, 0.0, *out, average_attn_weights=False)
    _, off = F.multi_head_attention_forward(*args, *rest, 0.5, *out, training=False, average_attn_weights=False)
    _, dropped = F.multi_head_attention_forward(*args, *rest, 0.5, *out, average_attn_weights=False)
    np.testing.assert_array_equal(off.numpy(), clean.numpy())
    d, c = dropped.numpy(), clean.numpy()
    assert np.all(np.isclose(d, 0) | np.isclose(d, 2 * c)) and 0 < np.isclose(d, 0).mean() < 1


def test_module_runs_the_functional() -> None:
    """nn.MultiheadAttention (batch_first, kdim/vdim, bias_kv, zero attn) gives what the functional gives on its
    parameters."""
    tg.manual_seed(0)
    m = nn.MultiheadAttention(E, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True, batch_first=True).double()
    rng = np.random.default_rng(2)
    q, k, v = (tg.tensor(rng.normal(size=(2, n_t, d))) for n_t, d in ((3, E), (4, 3), (4, 5)))
    mask = tg.tensor(rng.random((3, 4)) < 0.3)
    out, w = m(q, k, v, attn_mask=mask, average_attn_weights=False)
    ref, ref_w = F.multi_head_attention_forward(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), E, 2, None, m.in_proj_bias, m.bias_k, m.bias_v,
        True, 0.0, m.out_proj.weight, m.out_proj.bias, attn_mask=mask, use_separate_proj_weight=True,
        q_proj_weight=m.q_proj_weight, k_proj_weight=m.k_proj_weight, v_proj_weight=m.v_proj_weight,
        average_attn_weights=False)
    assert out.shape == (2, 3, E) and w.shape == (2, 2, 3, 6)
    np.testing.assert_array_equal(out.detach().numpy(), ref.transpose(0, 1).detach().numpy())
    np.testing.assert_array_equal(w.detach().numpy(), ref_w.detach().numpy())


def mha_call(lib: Any, **over: Any) -> Any:
    """A valid batched call (L 3, N 2, S 4, 2 heads) with some arguments replaced."""
    rng = np.random.default_rng(3)
    t = lib.tensor
    args = {"query": t(rng.normal(size=(3, 2, E))), "key": t(rng.normal(size=(4, 2, E))),
            "value": t(rng.normal(size=(4, 2, E))), "embed_dim_to_check": E, "num_heads": 2,
            "in_proj_weight": t(rng.normal(size=(3 * E, E))), "in_proj_bias": None, "bias_k": None, "bias_v": None,
            "add_zero_attn": False, "dropout_p": 0.0, "out_proj_weight": t(rng.normal(size=(E, E))),
            "out_proj_bias": None}
    args.update({k: t(v) if isinstance(v, np.ndarray) else v for k, v in over.items()})
    fn = (F if lib is tg else torch.nn.functional).multi_head_attention_forward
    return fn(**args)


BAD_MHA = [
    {"embed_dim_to_check": 5}, {"num_heads": 3}, {"value": np.ones((4, 2, 3))}, {"key": np.ones((5, 2, E))},
    {"attn_mask": np.zeros((3, 3))}, {"attn_mask": np.zeros((2, 3, 4))}, {"attn_mask": np.zeros(4)},
    {"attn_mask": np.zeros((1, 4, 3, 4))}, {"key_padding_mask": np.zeros((2, 3), bool)},
    {"key_padding_mask": np.zeros(4, bool)}, {"attn_mask": np.zeros((3, 4), np.int64)},
    {"key_padding_mask": np.zeros((2, 4), np.int64)}, {"is_causal": True},
    {"attn_mask": np.zeros((3, 4), np.float32)}, {"key_padding_mask": np.zeros((2, 4), np.float16)},
    {"bias_k": np.ones((1, 1, E))}, {"bias_v": np.ones((1, 1, E))},
    {"bias_k": np.ones((1, 1, E)), "bias_v": np.ones((1, 1, E)), "static_k": np.ones((4, 4, 2))},
    {"static_k": np.ones((3, 4, 2))}, {"static_v": np.ones((4, 4, 3))}, {"query": np.ones(E)},
    {"query": np.ones((1, 3, 2, E))}, {"key": np.ones((4, E)), "value": np.ones((4, E))},
    {"in_proj_weight": None}, {"use_separate_proj_weight": True, "q_proj_weight": np.ones((E, E)),
                               "k_proj_weight": np.ones((E, E))},
]


@pytest.mark.parametrize("over", BAD_MHA)
def test_multi_head_attention_forward_errors_where_torch_raises(over: dict[str, Any]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - torch's are AssertionError / RuntimeError / IndexError
        mha_call(torch, **over)
    with pytest.raises((ValueError, TypeError)):
        mha_call(tg, **over)


def test_multi_head_attention_forward_unbatched_3d_mask() -> None:
    """Unbatched: attn_mask (num_heads, L, S), key_padding_mask (S,), as torch's."""
    rng = np.random.default_rng(4)
    over = {"query": rng.normal(size=(3, E)), "key": rng.normal(size=(4, E)), "value": rng.normal(size=(4, E)),
            "attn_mask": rng.normal(size=(2, 3, 4)), "key_padding_mask": rng.random(4) < 0.5,
            "average_attn_weights": False}
    (o, w), (t, tw) = mha_call(tg, **over), mha_call(torch, **over)
    close(o, t)
    close(w, tw)


def gpu_program(device: str) -> list[Any]:
    rng = np.random.default_rng(5)
    arrays, masks = mha_case(rng, 2, 2, 3, 4, True, 3, 5, True, True, True, False, "float_3d", "bool")
    ts = {k: tg.tensor(v, device=device, requires_grad=True) for k, v in arrays.items()}
    ms = {k: tg.tensor(v, device=device) for k, v in masks.items()}
    outs = []
    for need_weights in (True, False):
        out, w = F.multi_head_attention_forward(
            ts["query"], ts["key"], ts["value"], E, 2, None, ts["in_proj_bias"], ts["bias_k"], ts["bias_v"], True,
            0.0, ts["out_proj_weight"], ts["out_proj_bias"], need_weights=need_weights,
            use_separate_proj_weight=True, q_proj_weight=ts["q_proj_weight"], k_proj_weight=ts["k_proj_weight"],
            v_proj_weight=ts["v_proj_weight"], **ms)
        outs += [out] + ([] if w is None else [w])
    # the chunked linear_cross_entropy (of the attention's output rows)
    outs.append(F.linear_cross_entropy(outs[0].reshape(6, E), ts["q_proj_weight"][:3], tg.tensor(
        [0, 2, -100, 1, 1, 0], device=device), linear_bias=ts["in_proj_bias"][:3], weight=tg.tensor(
        [0.5, 1.0, 2.0], dtype=tg.float64, device=device), label_smoothing=0.1,
        options=nn.LinearCrossEntropyOptions(batch_chunk_size=4)))
    sum(((o * o).sum() for o in outs), tg.zeros((), device=device, dtype=tg.float64)).backward()
    return outs + [ts[k].grad for k in sorted(ts)]


@pytest.mark.gpu
def test_multi_head_attention_forward_on_the_gpu_matches_the_cpu() -> None:
    """Both attention paths and the chunked linear_cross_entropy on the GPU: the CPU's values and gradients."""
    for a, b in zip(gpu_program("cpu"), gpu_program("cuda"), strict=True):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- torch.lstm_cell ... torch.rnn_relu
CELLS = {"rnn_tanh_cell": 1, "rnn_relu_cell": 1, "gru_cell": 3, "lstm_cell": 4}


@pytest.mark.parametrize("name", sorted(CELLS))
@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 3), n_in=st.integers(1, 4), hidden=st.integers(1, 4), bias_ih=st.booleans(),
       bias_hh=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_cells_match_torch(name: str, n: int, n_in: int, hidden: int, bias_ih: bool, bias_hh: bool,
                           seed: int) -> None:
    """One step on given weights (each bias optional): the new state(s) and the gradients of input, state and
    weights."""
    rng = np.random.default_rng(seed)
    rows = CELLS[name] * hidden
    arrays = [rng.normal(size=(n, n_in)), rng.normal(size=(rows, n_in)), rng.normal(size=(rows, hidden)),
              rng.normal(size=rows) if bias_ih else None, rng.normal(size=rows) if bias_hh else None]
    states = [rng.normal(size=(n, hidden)) for _ in range(2 if name == "lstm_cell" else 1)]
    got = []
    for lib in (tg, torch):
        x, w_ih, w_hh, b_ih, b_hh = (None if a is None else lib.tensor(a, requires_grad=True) for a in arrays)
        hs = [lib.tensor(s, requires_grad=True) for s in states]
        out = getattr(lib, name)(x, hs if name == "lstm_cell" else hs[0], w_ih, w_hh, b_ih, b_hh)
        outs = list(out) if name == "lstm_cell" else [out]
        sum((o * lib.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape)))).sum() for o in outs).backward()
        got.append(outs + [t.grad for t in (x, w_ih, w_hh, b_ih, b_hh, *hs) if t is not None])
    for o, t in zip(*got, strict=True):
        close(o, t)


def sequence_weights(mode: str, n_in: int, hidden: int, layers: int, bidirectional: bool, bias: bool,
                     proj: int) -> tuple[Any, list[Any]]:
    cls = {"rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[mode]
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else ({"proj_size": proj} if mode == "lstm" else {})
    layer = cls(n_in, hidden, layers, bias=bias, bidirectional=bidirectional, **kw).double()
    return layer, [p.detach().numpy() for p in layer._flat_weights]


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
@settings(max_examples=15, deadline=None)
@given(n_l=st.integers(1, 3), n=st.integers(1, 3), n_in=st.integers(1, 3), hidden=st.integers(2, 3),
       layers=st.integers(1, 2), bidirectional=st.booleans(), bias=st.booleans(), batch_first=st.booleans(),
       proj=st.integers(0, 2), train=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sequences_match_torch(mode: str, n_l: int, n: int, n_in: int, hidden: int, layers: int,
                               bidirectional: bool, bias: bool, batch_first: bool, proj: int, train: bool,
                               seed: int) -> None:
    """torch.lstm / gru / rnn_tanh / rnn_relu on an nn layer's flat weights (projections too): outputs, final
    states and every gradient. dropout between layers is given but train=False turns it off, as torch; train=True
    with dropout 0 runs the same."""
    proj = min(proj, hidden - 1) if mode == "lstm" else 0
    _, weights = sequence_weights(mode, n_in, hidden, layers, bidirectional, bias, proj)
    rng = np.random.default_rng(seed)
    d = 2 if bidirectional else 1
    x = rng.normal(size=(n, n_l, n_in) if batch_first else (n_l, n, n_in))
    states = [rng.normal(size=(d * layers, n, proj or hidden))] + (
        [rng.normal(size=(d * layers, n, hidden))] if mode == "lstm" else [])
    got = []
    for lib in (tg, torch):
        xs, ws, hs = lib.tensor(x, requires_grad=True), [lib.tensor(w, requires_grad=True) for w in weights], \
            [lib.tensor(s, requires_grad=True) for s in states]
        outs = getattr(lib, mode)(xs, hs if mode == "lstm" else hs[0], ws, bias, layers, 0.0 if train else 0.7, train,
                                  bidirectional, batch_first)
        sum((o * lib.tensor(np.sin(np.arange(o.numel())).reshape(tuple(o.shape)))).sum() for o in outs).backward()
        got.append(list(outs) + [xs.grad] + [w.grad for w in ws] + [h.grad for h in hs])
    for o, t in zip(*got, strict=True):
        close(o, t, rtol=1e-8)


CELL_ERRORS = [
    ("rnn_tanh_cell", lambda r: (r(3, 5), r(3, 4), r(4, 5), r(4, 4))),  # a 1-D input
    ("rnn_tanh_cell", lambda r: (r(2, 5), r(3, 4), r(4, 5), r(4, 4))),  # batch sizes differ
    ("rnn_relu_cell", lambda r: (r(3, 4), r(3, 4), r(4, 5), r(4, 4))),  # input_size
    ("gru_cell", lambda r: (r(3, 5), r(3, 4), r(16, 5), r(16, 4))),  # 4 gates' rows for a GRU
    ("lstm_cell", lambda r: (r(3, 5), (r(3, 4),), r(16, 5), r(16, 4))),  # one state
    ("lstm_cell", lambda r: (r(3, 5), (r(3, 4), r(3, 3)), r(16, 5), r(16, 4))),
    ("rnn_tanh_cell", lambda r: (r(3, 5), r(3, 4), r(4, 5), r(4, 4), r(3))),  # a bias of the wrong size
]


@pytest.mark.parametrize("case", range(len(CELL_ERRORS)))
def test_cell_errors_where_torch_raises(case: int) -> None:
    name, make = CELL_ERRORS[case]
    for lib in (torch, tg):
        def r(*shape: int, lib: Any = lib) -> Any:
            return lib.ones(*shape, dtype=lib.float64)
        args = make(r)
        if case == 0:
            args = (args[0][0], args[1][0], *args[2:])
        with pytest.raises(Exception if lib is torch else ValueError):  # torch's: RuntimeError, IndexError
            getattr(lib, name)(*args)


def test_sequence_errors_where_torch_raises() -> None:
    _, weights = sequence_weights("lstm", 3, 4, 1, False, True, 0)
    for lib in (torch, tg):
        ws = [lib.tensor(w) for w in weights]
        x, h = lib.ones(5, 2, 3, dtype=lib.float64), lib.zeros(1, 2, 4, dtype=lib.float64)
        for args in ((x, (h, h), ws[:3]),  # a weight short
                     (x[:, 0], (h[:, 0], h[:, 0]), ws),  # a 2-D input
                     (x, (h[..., :3], h), ws)):  # h_0's size
            with pytest.raises(Exception if lib is torch else ValueError):
                lib.lstm(*args, True, 1, 0.0, False, False, False)
    # torch broadcasts a c_0 of batch 1 over the batch here (nn.LSTM refuses it); ours refuses it too
    with pytest.raises(ValueError, match="hidden state of shape"):
        tg.lstm(x, (h, h[:, :1]), ws, True, 1, 0.0, False, False, False)


def test_sequence_functions_do_not_draw_random_numbers() -> None:
    """The weights are given: running torch.lstm leaves the random stream where it was (no layer is made)."""
    _, weights = sequence_weights("gru", 3, 4, 2, True, True, 0)
    tg.manual_seed(7)
    expected = tg.rand(3).numpy()
    tg.manual_seed(7)
    tg.gru(tg.ones(5, 2, 3, dtype=tg.float64), tg.zeros(4, 2, 4, dtype=tg.float64),
           [tg.tensor(w) for w in weights], True, 2, 0.0, False, True, False)
    np.testing.assert_array_equal(tg.rand(3).numpy(), expected)


# ---------------------------------------------------------------- nn.DataParallel, nn.parallel (no GPU)
@pytest.mark.parametrize("device_ids", [None, [], [0], [0, 1], ["cpu"]])
def test_data_parallel_runs_the_module_as_torch_does_without_gpus(device_ids: Any) -> None:
    """As torch's on a machine without GPUs: any device_ids become [], the call is the module's (kwargs too),
    gradients reach its parameters, and the state_dict's keys gain ``module.`` (a torch one loads)."""
    theirs = torch.nn.DataParallel(torch.nn.Linear(3, 2).double(), device_ids=device_ids)
    tg.manual_seed(0)
    ours = nn.DataParallel(nn.Linear(3, 2).double(), device_ids=device_ids)
    assert ours.device_ids == theirs.device_ids == []
    assert isinstance(ours.module, nn.Linear) and list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    for lib, m in ((tg, ours), (torch, theirs)):
        (m(lib.tensor(x)) ** 2).sum().backward()
    close(ours(tg.tensor(x)), theirs(torch.tensor(x)))
    close(ours.module.weight.grad, theirs.module.weight.grad)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


    class Scaled(nn.Module):
        def forward(self, x: Any, scale: float = 1.0) -> Any:
            return x * scale

    assert float(nn.DataParallel(Scaled())(tg.ones(()), scale=3.0)) == 3.0


def test_data_parallel_function_and_ddp_raise() -> None:
    """torch's data_parallel cannot find a device to scatter to without GPUs, and DistributedDataParallel needs a
    process group: both raise, here too (with the fix)."""
    with pytest.raises(RuntimeError):
        torch.nn.parallel.data_parallel(torch.nn.Linear(3, 2), torch.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"call module\(\*inputs\) directly"):
        nn.parallel.data_parallel(nn.Linear(3, 2), tg.ones(2, 3))
    with pytest.raises(ValueError):
        torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError):  # (before init_process_group, as torch's: tests/test_distributed_probe_fixes.py)
        nn.parallel.DistributedDataParallel(nn.Linear(3, 2))


@pytest.mark.gpu
def test_data_parallel_with_a_gpu_refuses_to_scatter() -> None:
    with pytest.raises(NotImplementedError, match=r"\.to\('cuda'\)"):
        nn.DataParallel(nn.Linear(3, 2))
    m = nn.DataParallel(nn.Linear(3, 2).to("cuda"), device_ids=[])
    assert m(tg.ones(2, 3, device="cuda")).device.startswith("cuda")
    with pytest.raises(NotImplementedError):
        nn.parallel.data_parallel(m.module, tg.ones(2, 3, device="cuda"))


# ---------------------------------------------------------------- F.native_channel_shuffle, F.conv_tbc
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2), st.sampled_from([(1, 3), (2, 2), (3, 2), (2, 3)]),
       st.lists(st.integers(0, 3), min_size=1, max_size=2), st.integers(0, 2**32 - 1))
def test_native_channel_shuffle_matches_torch(n: int, groups_k: tuple[int, int], rest: list[int], seed: int) -> None:
    """torch's kernel-level name of channel_shuffle: the same values (F. and torch.), and a gradient (torch's
    native_channel_shuffle has no derivative; its channel_shuffle's is the oracle)."""
    groups, k = groups_k
    x = np.random.default_rng(seed).normal(size=(n, groups * k, *rest))
    close(F.native_channel_shuffle(tg.tensor(x), groups), torch.nn.functional.native_channel_shuffle(
        torch.tensor(x), groups))
    close(tg.native_channel_shuffle(tg.tensor(x), groups), torch.native_channel_shuffle(torch.tensor(x), groups))
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (F.native_channel_shuffle(ours, groups) * (2.0 + ours.detach())).sum().backward()
    (torch.nn.functional.channel_shuffle(theirs, groups) * (2.0 + theirs.detach())).sum().backward()
    close(ours.grad, theirs.grad)
    for bad in (lambda lib: lib.native_channel_shuffle(lib.ones(2, 6), 2),
                lambda lib: lib.native_channel_shuffle(lib.ones(1, 6, 2), 4)):
        with pytest.raises(RuntimeError):
            bad(torch)
        with pytest.raises(ValueError):
            bad(tg)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(-1, 2), st.integers(0, 2**32 - 1))
def test_conv_tbc_matches_torch(t: int, n: int, c_in: int, c_out: int, k: int, pad: int, seed: int) -> None:
    """Time-first convolution: values and the gradients of input, weight and bias; too short a padded input
    raises (torch: an error, or an empty result when exactly k - 1 steps)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(t, n, c_in)), rng.normal(size=(k, c_in, c_out)), rng.normal(size=c_out)]
    if t + 2 * pad < k:
        with pytest.raises(ValueError, match="no output step"):
            F.conv_tbc(*(tg.tensor(a) for a in arrays), pad)
        return
    got = []
    for lib, fn in ((tg, F.conv_tbc), (torch, torch.conv_tbc)):
        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts, pad)
        (y * lib.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)))).sum().backward()
        got.append([y] + [a.grad for a in ts])
    for o, th in zip(*got, strict=True):
        close(o, th)


def test_conv_tbc_errors() -> None:
    for args in (((5, 3), (3, 3, 4), (4,)), ((5, 2, 3), (3, 3, 4), (3,)), ((5, 2, 2), (3, 3, 4), (4,))):
        with pytest.raises(RuntimeError):
            torch.conv_tbc(*(torch.ones(*s) for s in args))
        with pytest.raises(ValueError, match="conv_tbc: expected"):
            tg.conv_tbc(*(tg.ones(*s) for s in args))


# ---------------------------------------------------------------- F.linear_cross_entropy's chunked path
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.booleans(), st.booleans(),
       st.sampled_from([0.0, 0.25, 1.0]), st.sampled_from(["mean", "sum", "none"]), st.sampled_from([-100, 1]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_linear_cross_entropy_chunked_matches_torch(n: int, n_in: int, n_classes: int, chunk: int, bias: bool,
                                                    class_weights: bool, smoothing: float, reduction: str,
                                                    ignore: int, float32: bool, seed: int) -> None:
    """options=LinearCrossEntropyOptions(batch_chunk_size=k) against torch's reference path (the definition; torch's
    own chunked path agrees with it but for one corner: every row ignored, mean: a nan loss, and nan gradients
    where the reference path, and ours, give zeros): the loss and the gradients of input, weight and bias, with
    class weights, ignored rows, label smoothing, every reduction; float32 too."""
    rng = np.random.default_rng(seed)
    dtype = np.float32 if float32 else np.float64
    arrays = [rng.normal(size=(n, n_in)).astype(dtype), rng.normal(size=(n_classes, n_in)).astype(dtype)]
    if bias:
        arrays.append(rng.normal(size=n_classes).astype(dtype))
    target = rng.integers(0, n_classes, n)
    target[rng.random(n) < 0.3] = ignore
    weights = rng.random(n_classes).astype(dtype) + 0.1 if class_weights else None
    got = []
    for lib in (tg, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        loss = lib.nn.functional.linear_cross_entropy(
            ts[0], ts[1], lib.tensor(target), linear_bias=ts[2] if bias else None, reduction=reduction,
            weight=None if weights is None else lib.tensor(weights), ignore_index=ignore, label_smoothing=smoothing,
            options=nn.LinearCrossEntropyOptions(batch_chunk_size=chunk) if lib is tg else None)
        (loss * lib.tensor(np.linspace(1, 2, loss.numel()).reshape(tuple(loss.shape)).astype(dtype))).sum().backward()
        got.append([loss] + [t.grad for t in ts])
    for o, t in zip(*got, strict=True):
        close(o, t, **({"rtol": 2e-5, "atol": 2e-6} if float32 else {}))


def test_linear_cross_entropy_chunked_never_holds_the_logits() -> None:
    """The point of the chunks: peak memory well under the reference path's, which holds the (N, C) logits (and
    their gradient); the values are the reference path's."""
    import tracemalloc

    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(256, 8)), rng.normal(size=(2000, 8))
    target = tg.tensor(rng.integers(0, 2000, 256))

    def peak(options: Any) -> tuple[int, np.ndarray, np.ndarray]:
        xs, ws = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
        tracemalloc.start()
        loss = F.linear_cross_entropy(xs, ws, target, options=options)
        loss.backward()
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top, loss.detach().numpy(), ws.grad.numpy()

    chunked, reference = peak(nn.LinearCrossEntropyOptions(batch_chunk_size=16)), peak(None)
    assert chunked[0] * 4 < reference[0] and reference[0] > 256 * 2000 * 8
    for a, b in zip(chunked[1:], reference[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_linear_cross_entropy_chunked_falls_back_and_errors() -> None:
    """What the chunks do not cover (unbatched input, probabilities, a K-dimensional loss) is the reference
    path's answer; a target out of range, a foreign options object and a bad chunk size raise."""
    rng = np.random.default_rng(7)
    x, w, probs = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.dirichlet(np.ones(5), 3)
    opts = {tg: nn.LinearCrossEntropyOptions(batch_chunk_size=2), torch: torch.nn.LinearCrossEntropyOptions()}
    for args in ((x[0], w, np.array(2)), (x, w, probs), (x, rng.normal(size=(5, 2, 4)), rng.integers(0, 5, (3, 2)))):
        got = [lib.nn.functional.linear_cross_entropy(*(lib.tensor(a) for a in args), options=opts[lib])
               for lib in (tg, torch)]
        close(*got)
    with pytest.raises(RuntimeError, match="out of bounds"):
        torch.nn.functional.linear_cross_entropy(torch.tensor(x), torch.tensor(w), torch.tensor([0, 5, 1]),
                                                 options=opts[torch])
    with pytest.raises(IndexError, match="out of bounds"):
        F.linear_cross_entropy(tg.tensor(x), tg.tensor(w), tg.tensor([0, 5, 1]), options=opts[tg])
    with pytest.raises(TypeError, match="LinearCrossEntropyOptions"):
        F.linear_cross_entropy(tg.tensor(x), tg.tensor(w), tg.tensor([0, 1, 1]), options=object())
    with pytest.raises(ValueError, match="batch_chunk_size"):
        nn.LinearCrossEntropyOptions(batch_chunk_size=0)
    module = nn.LinearCrossEntropyLoss(4, 5, bias=True, options=opts[tg])
    plain = nn.LinearCrossEntropyLoss(4, 5, bias=True)
    plain.load_state_dict(module.state_dict())
    x32 = tg.tensor(x.astype(np.float32))
    close(module(x32, tg.tensor([0, 4, 1])), plain(x32, tg.tensor([0, 4, 1])), rtol=1e-6)
