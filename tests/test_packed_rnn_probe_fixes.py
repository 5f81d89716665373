"""Fixes found by the packed-sequence probe (``nn.utils.rnn`` and RNN / LSTM / GRU fed with packed or padded
batches, against torch). Silent: ``PackedSequence(data, batch_sizes, sorted_indices)`` left ``unsorted_indices``
None (torch fills in the inverse permutation), so unpacking it returned the sequences in the wrong order and with
the wrong lengths; a recurrent layer's packed output carried copies of the input's ``batch_sizes`` / index tensors
where torch hands back the same objects. Loud: ``PackedSequence((data, batch_sizes))`` was a TypeError; the
packing errors and the recurrent layers' / cells' shape errors were ValueErrors only where torch raises a
RuntimeError (now both); packing an empty batch worked where torch refuses it."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn as tnn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=20, deadline=None)
trnn, ornn = torch.nn.utils.rnn, tnn.utils.rnn


def _packed_parts(lengths: list[int], feat: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch's packing of random sequences of ``lengths`` (unsorted): (data, batch_sizes, sorted_indices)."""
    rng = np.random.default_rng(seed)
    seqs = [torch.tensor((rng.standard_normal((n, feat)) * scale).astype(np.float32)) for n in lengths]
    ref = trnn.pack_sequence(seqs, enforce_sorted=False)
    return ref.data.numpy(), ref.batch_sizes.numpy(), ref.sorted_indices.numpy()


@SETTINGS
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=6), feat=st.integers(1, 3),
       scale=st.sampled_from([1.0, 1e-30, 1e30, -0.0]), seed=st.integers(0, 2**16), batch_first=st.booleans())
def test_packed_sequence_ctor_fills_unsorted_indices_as_torch(lengths: list[int], feat: int, scale: float, seed: int,
                                                              batch_first: bool) -> None:
    """Built from (data, batch_sizes, sorted_indices), as code that re-wraps ``packed.data`` does: torch computes
    unsorted_indices, and unpacking / padding / running an RNN return the caller's order. Ours kept None and
    returned the sequences in sorted order (the padded batch and its lengths silently permuted)."""
    data, sizes, order = _packed_parts(lengths, feat, scale, seed)
    ref = trnn.PackedSequence(torch.tensor(data), torch.tensor(sizes), torch.tensor(order))
    ours = ornn.PackedSequence(tg.tensor(data), tg.tensor(sizes), tg.tensor(order))
    assert ours.unsorted_indices is not None
    assert str(ours.unsorted_indices.dtype) == str(ref.unsorted_indices.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.unsorted_indices.numpy(), ref.unsorted_indices.numpy())
    (rp, rl), (op, ol) = (trnn.pad_packed_sequence(ref, batch_first=batch_first),
                          ornn.pad_packed_sequence(ours, batch_first=batch_first))
    np.testing.assert_array_equal(op.numpy(), rp.numpy())
    np.testing.assert_array_equal(ol.numpy(), rl.numpy())
    for a, b in zip(ornn.unpack_sequence(ours), trnn.unpack_sequence(ref), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    kw = {"sorted_indices": torch.tensor(order)}  # keyword form, and unsorted given explicitly wins
    assert np.array_equal(ornn.PackedSequence(data=tg.tensor(data), batch_sizes=tg.tensor(sizes),
                                              sorted_indices=tg.tensor(order)).unsorted_indices.numpy(),
                          trnn.PackedSequence(data=torch.tensor(data), batch_sizes=torch.tensor(sizes),
                                              **kw).unsorted_indices.numpy())
    for made in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours), ours._replace(data=ours.data * 2)):
        assert type(made) is type(ours) and made.unsorted_indices is not None
    plain = ornn.PackedSequence(tg.tensor(data), tg.tensor(sizes))
    assert plain.sorted_indices is None and plain.unsorted_indices is None


@SETTINGS
@given(lengths=st.lists(st.integers(1, 4), min_size=1, max_size=5), kind=st.sampled_from(["RNN", "LSTM", "GRU"]),
       bidirectional=st.booleans(), seed=st.integers(0, 2**16))
def test_rnn_on_rewrapped_packed_sequence_as_torch(lengths: list[int], kind: str, bidirectional: bool,
                                                   seed: int) -> None:
    """An RNN fed a re-wrapped PackedSequence returns h_n in the caller's order, as torch's; the output keeps the
    input's batch_sizes and index tensors (the same objects, as torch's)."""
    data, sizes, order = _packed_parts(lengths, 2, 1.0, seed)
    ref_mod = getattr(torch.nn, kind)(2, 3, bidirectional=bidirectional).double()
    ours_mod = getattr(tnn, kind)(2, 3, bidirectional=bidirectional).double()
    ours_mod.load_state_dict({k: v.detach().numpy() for k, v in ref_mod.state_dict().items()})
    ref_in = trnn.PackedSequence(torch.tensor(data, dtype=torch.float64), torch.tensor(sizes), torch.tensor(order))
    ours_in = ornn.PackedSequence(tg.tensor(data.astype(np.float64)), tg.tensor(sizes), tg.tensor(order))
    (r_out, r_h), (o_out, o_h) = ref_mod(ref_in), ours_mod(ours_in)
    r_h, o_h = (r_h[0], o_h[0]) if kind == "LSTM" else (r_h, o_h)
    np.testing.assert_allclose(o_h.detach().numpy(), r_h.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(o_out.data.detach().numpy(), r_out.data.detach().numpy(), rtol=1e-10, atol=1e-12)
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert (getattr(o_out, field) is getattr(ours_in, field)) == (getattr(r_out, field) is getattr(ref_in, field))


def test_packed_sequence_tuple_form_as_torch() -> None:
    """``PackedSequence((data, batch_sizes))`` (the pair as one argument) was a TypeError here."""
    d = np.arange(6, dtype=np.float32).reshape(6, 1)
    ref = trnn.PackedSequence((torch.tensor(d), torch.tensor([3, 2, 1])))
    ours = ornn.PackedSequence((tg.tensor(d), tg.tensor([3, 2, 1])))
    np.testing.assert_array_equal(ours.data.numpy(), ref.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    assert ours.sorted_indices is None and ours.unsorted_indices is None
    with pytest.raises(TypeError):  # torch: an AssertionError
        ornn.PackedSequence(tg.tensor(d))


def _both_raise(call: object, torch_exc: type[Exception]) -> None:
    """``call(lib, nn, rnn_utils)`` raises ``torch_exc`` with torch and an exception of that type with ours."""
    with pytest.raises(torch_exc):
        call(torch, torch.nn, trnn)  # type: ignore[operator]
    with pytest.raises(torch_exc):
        call(tg, tnn, ornn)  # type: ignore[operator]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 100))
@pytest.mark.parametrize("case", ["empty", "zero_d", "side", "trailing", "zero_len", "neg_len", "unsorted", "count",
                                  "lengths_2d", "lengths_0d", "empty_batch"])
def test_packing_errors_are_runtime_errors_as_torch(case: str, seed: int) -> None:
    """torch raises a RuntimeError for these; ours raised only a ValueError (it stays one too), and packing an
    empty batch returned an empty PackedSequence."""
    x = np.random.default_rng(seed).standard_normal((4, 3, 2)).astype(np.float32)
    calls = {
        "empty": lambda lib, nn, u: u.pad_sequence([]),
        "zero_d": lambda lib, nn, u: u.pad_sequence([lib.tensor(1.0), lib.tensor(2.0)]),
        "side": lambda lib, nn, u: u.pad_sequence([lib.tensor(x[0])], padding_side="top"),
        "trailing": lambda lib, nn, u: u.pad_sequence([lib.tensor(x[0, :, :1]), lib.tensor(x[0])]),
        "zero_len": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x), [3, 2, 0]),
        "neg_len": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x), [-1, 2, 1], enforce_sorted=False),
        "unsorted": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x), [1, 3, 2]),
        "count": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x), [3, 2]),
        "lengths_2d": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x), lib.tensor([[3, 2, 1]])),
        "lengths_0d": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x[:, :1]), 3),
        "empty_batch": lambda lib, nn, u: u.pack_padded_sequence(lib.tensor(x[:, :0]), []),
    }
    _both_raise(calls[case], RuntimeError)
    if case != "empty_batch":
        with pytest.raises(ValueError):  # what ours raised before, kept
            calls[case](tg, tnn, ornn)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("case", ["batch", "layers", "hidden", "hx_2d", "hx_3d_unbatched", "feat", "feat_packed",
                                  "zero_len", "packed_batch"])
def test_recurrent_shape_errors_are_runtime_errors_as_torch(kind: str, case: str) -> None:
    """A wrong hidden-state or input shape, or an empty sequence: torch's RuntimeError (ours: ValueError only)."""
    lstm = kind == "LSTM"

    def call(lib: object, nn: object, u: object) -> object:
        m = getattr(nn, kind)(2, 4)
        shape = {"batch": (1, 3, 4), "layers": (2, 2, 4), "hidden": (1, 2, 5), "hx_2d": (2, 4),
                 "hx_3d_unbatched": (1, 1, 4), "packed_batch": (1, 3, 4)}.get(case, (1, 2, 4))
        h = lib.zeros(*shape)
        hx = (h, h) if lstm else h
        x = lib.ones(*{"hx_3d_unbatched": (3, 2), "feat": (3, 2, 3), "feat_packed": (3, 2, 3),
                       "zero_len": (0, 2, 2)}.get(case, (3, 2, 2)))
        if case in ("packed_batch", "feat_packed"):
            x = u.pack_padded_sequence(x, [3, 1])
        return m(x, None if case in ("feat", "zero_len", "feat_packed") else hx)
    if lstm and case == "feat_packed":
        return  # torch's LSTM runs on a packed batch of the wrong width; ours refuses it (a README difference)
    _both_raise(call, RuntimeError)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("case", ["batch", "unbatched_hx", "batched_hx", "feat", "hidden"])
def test_cell_shape_errors_are_runtime_errors_as_torch(cell: str, case: str) -> None:
    """A cell's input / state of the wrong shape: torch's RuntimeError (ours: ValueError only)."""
    def call(lib: object, nn: object, u: object) -> object:
        m = getattr(nn, cell)(3, 4)
        x = lib.ones(*{"batched_hx": (3,), "feat": (2, 2)}.get(case, (2, 3)))
        h = lib.zeros(*{"batch": (3, 4), "unbatched_hx": (4,), "batched_hx": (1, 4), "hidden": (2, 5)}.get(case,
                                                                                                         (2, 4)))
        return m(x, (h, h) if cell == "LSTMCell" else h)
    _both_raise(call, RuntimeError)


@SETTINGS
@given(first=st.sampled_from([(3, 2), (2, 2, 3), (4, 1, 2)]), other=st.sampled_from([(2, 1), (1, 2), (2,), (1,), (3, 3),
                                                                                      (2, 1, 1), (2, 2, 1), (1, 3)]),
       batch_first=st.booleans(), side=st.sampled_from(["left", "right"]), seed=st.integers(0, 2**16))
def test_pad_sequence_broadcasts_trailing_dims_as_torch(first: tuple, other: tuple, batch_first: bool, side: str,
                                                         seed: int) -> None:
    """torch copies each sequence into its slot (L_i, *first's trailing dims), so one that broadcasts there is
    taken (values and summed gradients); ours raised unless the trailing dims were equal."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(first).astype(np.float32), rng.standard_normal(other).astype(np.float32)]
    results = []
    for lib, u in ((torch, trnn), (tg, ornn)):
        seqs = [lib.tensor(a, requires_grad=True) for a in arrays]
        try:
            out = u.pad_sequence(seqs, batch_first=batch_first, padding_side=side)
        except RuntimeError:
            results.append(None)
            continue
        out.backward(lib.tensor(np.cos(np.arange(out.numel())).astype(np.float32).reshape(tuple(out.shape))))
        results.append([out.detach().numpy()] + [s.grad.numpy() for s in seqs])
    assert (results[0] is None) == (results[1] is None)
    if results[0] is not None:
        for a, b in zip(*results, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 4), min_size=1, max_size=90) | st.lists(st.integers(1, 60), min_size=17,
                                                                               max_size=300),
       seed=st.integers(0, 2**16))
def test_pack_unsorted_ties_keep_their_order_and_unpack_as_torch(lengths: list[int], seed: int) -> None:
    """enforce_sorted=False with equal lengths: torch's sort is not stable past 16 sequences, ours is (tied
    sequences keep their batch order; README's Differences). The packing is a valid one all the same: batch_sizes
    as torch's, each packed row is its sequence's step, and unpacking gives torch's padded batch."""
    x = np.random.default_rng(seed).standard_normal((max(lengths), len(lengths), 2)).astype(np.float32)
    ref = trnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), enforce_sorted=False)
    ours = ornn.pack_padded_sequence(tg.tensor(x), tg.tensor(lengths), enforce_sorted=False)
    np.testing.assert_array_equal(ours.sorted_indices.numpy(), np.argsort(-np.array(lengths), kind="stable"))
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    order = ours.sorted_indices.numpy()
    rows = [x[t, order[:size]] for t, size in enumerate(ours.batch_sizes.numpy())]
    np.testing.assert_array_equal(ours.data.numpy(), np.concatenate(rows))
    for a, b in zip(ornn.pad_packed_sequence(ours), trnn.pad_packed_sequence(ref), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("packed", [False, True])
def test_input_dtype_error_family_as_torch(kind: str, packed: bool) -> None:
    """A float64 input to a float32 layer: torch's ValueError, except its LSTM on a packed batch (RuntimeError);
    ours raised a ValueError / TypeError in both."""
    def call(lib: object, nn: object, u: object) -> object:
        x = lib.ones(3, 2, 2, dtype=lib.float64)
        return getattr(nn, kind)(2, 4)(u.pack_padded_sequence(x, [3, 1]) if packed else x)
    with pytest.raises(Exception) as ref:
        call(torch, torch.nn, trnn)
    with pytest.raises(ref.type):
        call(tg, tnn, ornn)
