"""Fixes of the fifty-third stop: exception classes torch's callers catch, and what its helpers' sweeps found."""
from collections.abc import Callable

import numpy
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference these fixes are compared with")


@pytest.mark.parametrize("call", [
    lambda T: T.tensor(1.0).diagonal(),
    lambda T: T.ones(3).diagonal(),
    lambda T: T.take_along_dim(T.tensor(1.0), T.tensor(0), 0),
    lambda T: T.ones(2, 3).permute(0, 2),
    lambda T: T.ones(2, 3).permute(-3, 1),
    lambda T: T.nn.functional.cross_entropy(T.ones(2, 3), T.tensor([0, 5])),
    lambda T: T.nn.functional.nll_loss(T.ones(2, 3), T.tensor([0, -2])),
], ids=["diagonal-0d", "diagonal-1d", "take_along_dim-0d", "permute", "permute-negative", "cross_entropy",
        "nll_loss"])
def test_index_errors_where_torch_raises_index_error(call: Callable) -> None:
    """A dim or class index out of range raises IndexError as in torch (ours raised only ValueError, which it still
    is, so callers of either kind keep working)."""
    with pytest.raises(IndexError):
        call(torch)
    with pytest.raises(IndexError) as info:
        call(tg)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_inf_weight_leaves_zero_terms_zero(p: int) -> None:
    """An inf class weight multiplies only the hinge terms above 0, as torch's kernel: a row whose terms are all 0
    loses 0 (ours gave nan from inf * 0), and its gradient is 0, not nan."""
    x0 = [[0.1, 0.2, 0.4], [0.3, 0.9, 0.2], [5.0, 0.1, 0.2]]
    results = []
    for lib in (torch, tg):
        x = lib.tensor(x0, dtype=lib.float64, requires_grad=True)
        w = lib.tensor([float("inf"), float("inf"), 2.0], dtype=lib.float64)
        loss = lib.nn.functional.multi_margin_loss(x, lib.tensor([1, 0, 0]), p=p, weight=w, reduction="none")
        loss.sum().backward()
        results.append((loss.tolist(), x.grad.tolist()))
    assert results[0] == results[1]
    assert results[1][0][2] == 0.0 and results[1][1][2] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multilabel_soft_margin_weight_of_more_dims(reduction: str) -> None:
    """A weight of more dims than the input broadcasts in front, and the class dim summed is the input's (dim 1 of
    a 2-d input), as torch: a (2, 2, 3) weight on (2, 3) scores gives (2, 3) losses (ours summed the last dim)."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([[0.1, 0.2, 0.4], [0.3, 0.9, 0.2]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[[1.0, 2.0, 3.0], [0.5, 1.0, 1.0]], [[2.0, 0.0, 1.0], [1.0, 1.0, 4.0]]], dtype=lib.float64)
        y = lib.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=lib.float64)
        loss = lib.nn.MultiLabelSoftMarginLoss(weight=w, reduction=reduction)(x, y)
        loss.sum().backward()
        results.append((tuple(loss.shape), loss.detach().numpy().round(12).tolist(), x.grad.numpy().round(12).tolist()))
    assert results[0] == results[1]


def test_dataloader_reads_a_dataset_through_its_getitem() -> None:
    """The loader's fast path (a TensorDataset's rows at once) is taken only where the examples are the rows: a
    subclass that augments in ``__getitem__`` got its raw rows, and a user's dataset with a ``rows`` attribute
    failed ('list' object is not callable). Both load as in torch now."""
    results = []
    for lib in (torch, tg):
        data = lib.utils.data

        class Augmented(data.TensorDataset):
            def __getitem__(self, i: int) -> tuple:
                x, y = super().__getitem__(i)
                return x * 100, y

        class Records(data.Dataset):
            def __init__(self) -> None:
                self.rows = [(1.0, 0), (2.0, 1), (3.0, 0)]

            def __len__(self) -> int:
                return len(self.rows)

            def __getitem__(self, i: int) -> tuple:
                return self.rows[i]

        augmented = [[t.tolist() for t in b] for b in data.DataLoader(Augmented(lib.arange(4.0), lib.arange(4)), 2)]
        records = [[t.tolist() for t in b] for b in data.DataLoader(Records(), batch_size=2)]
        results.append((augmented, records))
    assert results[0] == results[1]
    assert results[1][0][0][0] == [0.0, 100.0]


@pytest.mark.parametrize("dtype", ["uint8", "int64", "bool"])
def test_normalize_refuses_an_integer_image(dtype: str) -> None:
    """Normalize of an integer image cast mean and std to its dtype (std 0.3081 -> 0: infs); torchvision raises
    TypeError, and so does ours, naming the conversion."""
    image = tg.zeros(1, 2, 2, dtype=getattr(tg, dtype))
    with pytest.raises(TypeError, match="floating image"):
        tg.data.transforms.Normalize((0.1307,), (0.3081,))(image)


def test_dataloader_passes_a_samplers_keys_through() -> None:
    """A sampler's keys reach the dataset as they are (torch's): string keys failed in int(), float keys were
    truncated (0.5 -> 0). Integer keys still batch as one array."""
    table = {"a": 1, "b": 2, "c": 3}

    class Keyed:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, key: object) -> object:
            return table[key] if isinstance(key, str) else key

    results = []
    for lib in (torch, tg):
        loader = lib.utils.data.DataLoader
        results.append(([b.tolist() for b in loader(Keyed(), batch_size=2, sampler=["a", "c", "b"])],
                         [b.tolist() for b in loader(Keyed(), batch_sampler=[["a", "c"], ["b"]])],
                         [b.tolist() for b in loader(Keyed(), batch_size=2, sampler=[0.5, 1.5, 2])]))
    assert results[0] == results[1]
    assert results[1][2] == [[0.5, 1.5], [2]]


def test_subset_takes_a_list_and_keeps_its_keys() -> None:
    """Subset[[i, j]] hands the dataset the list of keys (torch's; ours raised TypeError), and float keys are
    not truncated into other examples (torch's list refuses them, and so does ours)."""
    for lib in (torch, tg):
        data = lib.utils.data
        subset = data.Subset(data.TensorDataset(lib.arange(10)), [5, 3, 1])
        assert [t.tolist() for t in subset[[0, 2]]] == [[5, 1]]
        with pytest.raises(TypeError):
            data.Subset(list(range(10)), [1.7, 2.2])[0]


@pytest.mark.parametrize("kwargs, raises", [
    ({"multiprocessing_context": "spawn"}, True),
    ({"multiprocessing_context": "fork", "num_workers": 2}, False),
    ({"multiprocessing_context": "bogus", "num_workers": 2}, True),
    ({"in_order": False}, False),
    ({"pin_memory_device": ""}, False),
])
def test_dataloader_takes_torchs_newer_keywords(kwargs: dict, raises: bool) -> None:
    """torch 2.13's multiprocessing_context / pin_memory_device / in_order keywords (ours raised TypeError), checked
    as torch checks them; the batches are the same."""
    for lib in (torch, tg):
        if raises:
            with pytest.raises(ValueError):
                lib.utils.data.DataLoader(list(range(5)), batch_size=2, **kwargs)
        else:
            loader = lib.utils.data.DataLoader(list(range(5)), batch_size=2, **kwargs)
            assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]


def test_default_collate_names_a_mixed_batch() -> None:
    """A Tensor example beside a numpy one: torch's TypeError (ours leaked an AttributeError on ``_data``)."""
    import numpy
    with pytest.raises(TypeError):
        torch.utils.data.default_collate([torch.ones(2), numpy.ones(2)])
    with pytest.raises(TypeError, match="example 1 is a ndarray where example 0 is a Tensor"):
        tg.utils.data.default_collate([tg.ones(2), numpy.ones(2)])


@pytest.mark.parametrize("dim", [[0, 1], (0,), [-1], (), [1, 0]])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any_take_lists_and_tuples_of_dims(dim: list | tuple, keepdim: bool, op: str) -> None:
    """all / any over a list or tuple of dims (numpy's TypeError / AxisError leaked before), 0-d inputs too; an
    empty one reduces nothing, as torch's."""
    for values in ([[True, False], [True, True]], [[1, 0], [2, 3]], True, 5):
        dims = dim if isinstance(values, list) or len(dim) != 1 else type(dim)([0])
        if not isinstance(values, list) and len(dims) > 1:
            continue
        want = getattr(torch.tensor(values), op)(dim=dims, keepdim=keepdim)
        got = getattr(tg.tensor(values), op)(dim=dims, keepdim=keepdim)
        assert got.tolist() == want.tolist() and str(got.dtype) == str(want.dtype).removeprefix("torch.")


@pytest.mark.parametrize("values, bins", [([1e8], 2), ([3e7, 3e7], 3), ([-1e10], 1), ([1e20, 1e20], 4)])
def test_histc_of_a_range_without_width(values: list, bins: int) -> None:
    """Constant float32 data whose range widened by 1 still has no width: every element in the last bin (numpy's
    bincount crashed on the nan positions). torch's bin there comes from an integer overflow (README)."""
    counts = tg.histc(tg.tensor(values), bins=bins)
    assert counts.tolist() == [0.0] * (bins - 1) + [float(len(values))]


@pytest.mark.parametrize("call", [
    lambda T: T.quantile(T.tensor([1, 2, 3]), 0.5),
    lambda T: T.nanquantile(T.tensor([1, 2, 3]), 0.5),
    lambda T: T.var_mean(T.tensor([1, 2, 3])),
    lambda T: T.std_mean(T.tensor([1, 2, 3])),
    lambda T: T.histc(T.tensor([1, 2, 3]), bins=2),
    lambda T: T.median(T.tensor([True, False, True])),
    lambda T: T.nanmedian(T.tensor([True, False, True]), dim=0),
    lambda T: T.kthvalue(T.tensor([True, False, True]), 1),
    lambda T: T.bincount(T.tensor([True, False, True])),
], ids=["quantile", "nanquantile", "var_mean", "std_mean", "histc", "median", "nanmedian", "kthvalue", "bincount"])
def test_reduction_dtype_errors_are_torchs_class(call: Callable) -> None:
    """The dtype errors of these reductions are torch's class (RuntimeError, NotImplementedError where torch has no
    kernel) and still the TypeError ours raised."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(TypeError) as ours:
        call(tg)
    assert isinstance(ours.value, type(theirs.value))


@pytest.mark.parametrize("write", ["copy_", "setitem", "slice_setitem", "cast"])
def test_a_float_written_into_an_int_tensor_leaves_the_graph(write: str) -> None:
    """An integer result has no gradient, as in torch: ``n.copy_(x)`` / ``n[0] = x[1]`` into an int tensor made n
    require grad, and a gradient flowed back through the truncation (x.grad [3, 3] where torch's is [1, 1])."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([0.25, 0.5], dtype=lib.float64, requires_grad=True)
        n = lib.tensor([1, 2])
        if write == "copy_":
            n.copy_(x)
        elif write == "setitem":
            n[0] = x[1]
        elif write == "slice_setitem":
            n[1:] = x[:1]
        else:
            n = x.to(lib.int64)
        (n.double() * 2 + x).sum().backward()
        results.append((n.requires_grad, n.tolist(), x.grad.tolist()))
    assert results[0] == results[1]
    assert results[1][0] is False and results[1][2] == [1.0, 1.0]


@pytest.mark.parametrize("op", [
    lambda T, y: y.masked_fill(y > 3, 1.5), lambda T, y: T.where(y > 3, y, 0.0), lambda T, y: y * 3,
    lambda T, y: y + 1, lambda T, y: T.cat([y, y]), lambda T, y: y[T.tensor([1, 0])], lambda T, y: y.sum(),
    lambda T, y: y.flip(0), lambda T, y: T.relu(y),
], ids=["masked_fill", "where", "mul", "add", "cat", "index", "sum", "flip", "relu"])
def test_detach_in_place_after_use_keeps_the_ops_gradient(op: Callable) -> None:
    """``y.detach_()`` after an op that saves no value of y used it: the gradient still reaches y's graph of that
    time, as torch's (where / masked_fill asked y whether it requires grad at backward, and gave x.grad None)."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = op(lib, y)
        y.detach_()
        (z * lib.arange(1.0, z.numel() + 1).reshape(z.shape)).sum().backward()
        results.append((y.requires_grad, x.grad.tolist()))
    assert results[0] == results[1]


@pytest.mark.parametrize("make", [lambda x: x * x, lambda x: (x * 3).sum(), lambda x: x.exp(), lambda x: x.mean()])
def test_detach_of_a_computed_0d_tensor_shares_its_memory(make: Callable) -> None:
    """detach() of a 0-d result (numpy hands those out as scalars) was a copy: writes through it did not reach the
    tensor, its version did not move, and an op that saved it did not refuse the backward. As torch now."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor(-0.5, dtype=lib.float64, requires_grad=True)
        y = make(x)
        z = y * y
        y.detach().add_(10)
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            z.backward()
        results.append((y.item(), y._version))
    assert results[0] == results[1]


@pytest.mark.parametrize("write", [
    lambda y, T: y[0].add_(1), lambda y, T: y[1:].mul_(3), lambda y, T: y[:1].copy_(y[1:2] * 2),
    lambda y, T: y.copy_(y), lambda y, T: y.__setitem__(0, y[1] * 5),
], ids=["add_-view", "mul_-view", "copy_-view", "copy_-self", "setitem"])
def test_double_backward_through_in_place_writes_into_views(write: Callable) -> None:
    """create_graph=True through an in-place write into a view of an intermediate (or y.copy_(y)) differentiated
    the node by the in-place op's formula, which has two inputs where the node had one (a ValueError on
    unpacking); it uses the formula of the op the write recorded now, as torch's CopySlices."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([0.5, 0.25, -1.5], dtype=lib.float64, requires_grad=True)
        y = x * 2
        write(y, lib)
        (g,) = lib.autograd.grad((y * y * y).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        results.append((g.tolist(), gg.tolist()))
    numpy.testing.assert_allclose(numpy.array(results[1][0]), results[0][0], rtol=1e-12)
    numpy.testing.assert_allclose(numpy.array(results[1][1]), results[0][1], rtol=1e-12)


def _names(module: object) -> tuple:
    return ([n for n, _ in module.named_parameters()], [n for n, _ in module.named_buffers()],
            list(module.state_dict()))


def test_a_parameter_registered_as_a_buffer_is_a_buffer() -> None:
    """register_buffer("pe", Parameter(...)) (positional encodings in real code) listed pe as a parameter too, so an
    optimizer trained it; torch keeps it a buffer only."""
    results = []
    for lib in (torch, tg):
        m = lib.nn.Linear(2, 2)
        m.register_buffer("pe", lib.nn.Parameter(lib.ones(3), requires_grad=False))
        results.append(_names(m) + (len(list(m.parameters())),))
    assert results[0] == results[1]


def _two_heads(nn: object) -> object:
    """A module of two Linear heads, the second frozen."""
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)
            self.b.requires_grad_(False)

        def forward(self, x: object) -> tuple:
            return self.a(x), self.b(x)
    return TwoHeads()


def test_full_backward_hook_keeps_constant_outputs_constant() -> None:
    """A full backward hook made every output require grad, one from a frozen branch too: its grad_output entry is
    None and a backward from it raises, as in torch."""
    results = []
    for lib in (torch, tg):
        m, seen = _two_heads(lib.nn), []
        m.register_full_backward_hook(lambda mod, gin, gout, seen=seen: seen.append([g is None for g in gout]))
        o1, o2 = m(lib.ones(1, 2))
        (o1.sum() + o2.sum()).backward()
        with pytest.raises(RuntimeError):
            m(lib.ones(1, 2))[1].sum().backward()
        results.append((o2.requires_grad, seen))
    assert results[0] == results[1] == (False, [[False, True]])


@pytest.mark.parametrize("make, name", [
    (lambda nn: nn.Linear(2, 3, bias=False), "bias"), (lambda nn: nn.Conv2d(1, 2, 3, bias=False), "bias"),
    (lambda nn: nn.LayerNorm(3, elementwise_affine=False), "weight"),
    (lambda nn: nn.BatchNorm1d(3, affine=False), "weight"), (lambda nn: nn.GroupNorm(1, 3, affine=False), "bias"),
    (lambda nn: nn.RNNCell(2, 3, bias=False), "bias_ih"), (lambda nn: nn.Bilinear(2, 2, 3, bias=False), "bias"),
    (lambda nn: nn.MultiheadAttention(4, 2, bias=False), "in_proj_bias"),
], ids=["Linear", "Conv2d", "LayerNorm", "BatchNorm1d", "GroupNorm", "RNNCell", "Bilinear", "MultiheadAttention"])
def test_an_absent_optional_parameter_holds_its_slot(make: Callable, name: str) -> None:
    """A layer built without an optional parameter keeps a None parameter slot, as torch's: register_parameter of
    that name works (ours raised KeyError) and a plain tensor assigned there raises TypeError (ours took it)."""
    results = []
    for lib in (torch, tg):
        m = make(lib.nn)
        with pytest.raises(TypeError):
            setattr(m, name, lib.ones(3))
        m.register_parameter(name, lib.nn.Parameter(lib.zeros(3)))
        results.append((name in m._parameters, _names(m)))
    assert results[0] == results[1]


def test_batch_norm_without_running_stats_has_buffer_slots() -> None:
    """BatchNorm(track_running_stats=False) has None buffer slots, as torch's: a tensor set there later is a buffer
    (in state_dict, cast by .double()), and register_buffer of that name works (ours raised KeyError)."""
    results = []
    for lib in (torch, tg):
        bn = lib.nn.BatchNorm1d(3, track_running_stats=False)
        bn.running_mean = lib.zeros(3)
        bn.register_buffer("running_var", lib.ones(3))
        bn.double()
        results.append(_names(bn) + (str(bn.running_mean.dtype).removeprefix("torch."),))
    assert results[0] == results[1]


NUMPY_SCALAR_CALLS = [
    "T.sub(T.tensor([1.5, 0.0]), T.tensor([1.0, 1.0]), alpha=np.uint8(2))",
    "T.tensor([1.5]).sub_(T.tensor([1.0]), alpha=np.uint8(3))",
    "T.add(T.tensor([1, 2]), np.int64(3), alpha=2)",
    "T.add(T.tensor([1, 2], dtype=T.uint8), np.int64(3), alpha=np.int16(2))",
    "T.tensor([-3, 0, 2]) ** np.int64(-1)",
    "T.tensor([-0.0, -float('inf'), 4.0]) ** np.float32(0.5)",
    "T.tensor([-0.0, -float('inf'), 4.0]) ** np.float32(-0.5)",
    "T.full((2,), np.int64(300), dtype=T.int8)",
    "T.full((2,), np.float32('nan'), dtype=T.int64)",
    "T.tensor([1, 2]).fill_(np.float32('nan'))",
    "T.full((2,), np.float32(70000.0), dtype=T.float16)",
    "T.as_tensor(np.float64(-2.5), dtype=T.uint8)",
    "T.tensor(np.int64(7), dtype=T.int8)",
    "T.where(T.tensor([True, False]), T.tensor(7, dtype=T.int8), np.int64(255))",
    "T.where(T.tensor([True, False]), np.int8(1), 2)",
    "T.where(T.tensor([True, False]), np.float16(1), 2)",
    "T.result_type(T.tensor([7], dtype=T.int32), np.float16(1.5))",
    "T.result_type(T.tensor([True]), np.int8(2))",
    "T.tensor([True, False]) & np.int32(1)",
    "T.clamp(T.tensor([7], dtype=T.int32), max=np.float16(5))",
    "T.clamp(T.tensor([7], dtype=T.int32), 0, np.uint64(255))",
]


@pytest.mark.parametrize("code", NUMPY_SCALAR_CALLS)
def test_numpy_scalars_are_read_as_python_numbers(code: str) -> None:
    """torch reads a numpy scalar argument as the Python number it is. Ours read some as numpy does: an unsigned
    alpha negated wrapped (255.5 for -0.5), a negative numpy exponent of an int tensor gave 0s, pow's sqrt special
    cases were missed, fills skipped the fits check (np.int64(300) into int8 gave 44), result_type took the numpy
    dtype, and add(int, np.int64(3), alpha=2) crashed."""
    results = []
    for lib in (torch, tg):
        try:
            r = eval(code, {"T": lib, "np": numpy})
            results.append(("ok", str(r.dtype if hasattr(r, "dtype") else r).removeprefix("torch."),
                            r.tolist() if hasattr(r, "tolist") else None))
        except Exception as e:
            results.append(("raised", isinstance(e, RuntimeError)))
    if results[0][0] == "ok" and results[1][0] == "ok" and results[0][2] is not None:
        numpy.testing.assert_array_equal(numpy.array(results[1][2]), numpy.array(results[0][2]))
        assert results[0][1] == results[1][1]
    else:
        assert results[0] == results[1]


@pytest.mark.parametrize("code", [
    "T.zeros(2.7)", "T.ones(2.7, 1.9)", "T.full((2.9,), 1)", "T.rand(2.7)", "T.randperm(3.5)",
    "T.tril_indices(3.5, 3)", "T.zeros(2, 3).repeat(2.0, 1)", "T.zeros(True)",
    "T.tensor(np.array([1, 2], dtype=object))", "T.as_tensor(np.array(['a', 'b']))",
    "T.tensor(np.array([1.0, 2.0], dtype=np.longdouble))", "T.tensor(np.array([1, 2], dtype='datetime64[s]'))",
])
def test_sizes_and_arrays_torch_refuses_raise_type_error(code: str) -> None:
    """A float or bool size was truncated (zeros(2.7) had 2 elements) and object, string, datetime and float128
    arrays made tensors that failed later (a KeyError in arithmetic): TypeErrors now, as torch's."""
    for lib in (torch, tg):
        with pytest.raises(TypeError):
            eval(code, {"T": lib, "np": numpy})


@pytest.mark.parametrize("args, kwargs", [
    ((2**63 - 3, 2**63 + 2), {}), ((-(2**63), -(2**63) - 3, -1), {}), ((2**62, 2**63 + 2**62, 2**62), {}),
    ((250, 250 + 5 * 2**62, 2**62), {"dtype": "int16"}), ((0, 2.0**63), {}), ((2.0**63,), {"dtype": "int16"}),
    ((120, 2**63 - 1, 1.5), {"dtype": "int64"}),
])
def test_arange_past_int64_raises(args: tuple, kwargs: dict) -> None:
    """arange's int bounds past int64 wrapped around (2**63 - 1 was followed by -2**63), and a count of 2**63 values
    or more came back empty (numpy's arange): both raise, as torch's."""
    for lib in (torch, tg):
        with pytest.raises((RuntimeError, OverflowError, ValueError)):
            lib.arange(*args, **{k: getattr(lib, v) for k, v in kwargs.items()})


def test_module_dict_item_replaced_by_a_parameter_and_missing_key() -> None:
    """A Parameter set as an attribute over a ModuleDict item left the key listed (its value the Parameter); torch
    drops it. ``del md[missing]`` raised list.remove's ValueError; KeyError now, as torch's."""
    results = []
    for lib in (torch, tg):
        md = lib.nn.ModuleDict({"a": lib.nn.Linear(1, 1), "b": lib.nn.Linear(1, 1)})
        md.b = lib.nn.Parameter(lib.ones(1))
        with pytest.raises(KeyError):
            del md["missing"]
        results.append((list(md.keys()), len(md), [type(v).__name__ for v in md.values()]))
    assert results[0] == results[1]


def _hook_returns_int(lib: object) -> None:
    x = lib.ones(2, requires_grad=True)
    x.register_hook(lambda g: 3)
    (x * 2).sum().backward()


def _post_accumulate_returns(lib: object) -> None:
    x = lib.ones(2, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda p: p.grad)
    (x * 2).sum().backward()


def _function_backward_returns_float(lib: object) -> None:
    class F(lib.autograd.Function):
        @staticmethod
        def forward(ctx: object, x: object) -> object:
            return x * 2

        @staticmethod
        def backward(ctx: object, g: object) -> float:
            return 1.5

    F.apply(lib.ones(2, requires_grad=True)).sum().backward()


@pytest.mark.parametrize("call", [_hook_returns_int, _post_accumulate_returns, _function_backward_returns_float])
def test_hook_and_function_results_raise_torchs_class(call: Callable) -> None:
    """A tensor hook returning an int (an AttributeError leaked), a post-accumulate hook returning a value and a
    Function's backward returning a float raise torch's class (TypeError / RuntimeError), and TypeError as before."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(TypeError) as ours:
        call(tg)
    assert isinstance(ours.value, type(theirs.value))


def _view_function(lib: object) -> type:
    class F(lib.autograd.Function):
        @staticmethod
        def forward(ctx: object, x: object) -> object:
            return x.view(2)

        @staticmethod
        def backward(ctx: object, g: object) -> object:
            return g * 2
    return F


@pytest.mark.parametrize("write", [lambda o: o.mul_(3), lambda o: o[0].add_(1)], ids=["output", "view-of-output"])
def test_in_place_write_into_a_functions_view_output_raises(write: Callable) -> None:
    """A custom Function returning a view of its input, then written in place: the gradient went around the
    Function's backward (a.grad 9 where its backward says 18). torch refuses the write, and so does ours; without
    the write both give 6."""
    for lib in (torch, tg):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        out = _view_function(lib).apply(a * 1)
        with pytest.raises(RuntimeError):
            write(out)
        (_view_function(lib).apply(a * 1) * 3).sum().backward()
        assert a.grad.tolist() == [6.0, 6.0]


@pytest.mark.parametrize("pick", [lambda x: x.max(0)[0], lambda x: x.min(1)[0], lambda x: x.median(0)[0],
                                  lambda x: x.kthvalue(1, 0)[0], lambda x: x.mode(0)[0], lambda x: x.nanmedian(0)[0]],
                         ids=["max", "min", "median", "kthvalue", "mode", "nanmedian"])
@pytest.mark.parametrize("rows", [1, 2])
def test_reduced_values_are_no_views(pick: Callable, rows: int) -> None:
    """max / min / median / kthvalue / mode along a dim gave values that were a view of a temporary, so
    ``detach_()`` on them raised ("can't detach a view in place"); as torch's, they are tensors of their own."""
    for lib in (torch, tg):
        x = lib.arange(3.0 * rows).reshape(rows, 3).requires_grad_() * 1
        values = pick(x)
        assert values._base is None
        values.detach_()
        assert not values.requires_grad


def _build_over_tensor_class() -> bytes:
    """A torch.save zip whose pickle BUILDs the Tensor class itself (setattr(Tensor, "__add__", Size)), then
    returns {"a": 1}."""
    import io
    import pickle
    import zipfile

    data = (pickle.PROTO + b"\x02" + b"ctorch\nTensor\n" + b"N}X\x07\x00\x00\x00__add__ctorch\nSize\ns\x86" + b"b"
            + b"0" + b"}X\x01\x00\x00\x00aK\x01s.")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", b"3\n")
    return out.getvalue()


def test_weights_only_load_refuses_to_build_a_class() -> None:
    """pickle's BUILD on an allowed class (Tensor) rewrote the library for the rest of the process (+ returned a
    tuple); a weights-only load refuses it, as torch's ("Can only build Tensor, Parameter, OrderedDict...")."""
    import io

    from tinygrad_adam.checkpoint import CheckpointError

    raw = _build_over_tensor_class()
    with pytest.raises(Exception):  # noqa: B017 - torch's UnpicklingError, wrapped as it words it
        torch.load(io.BytesIO(raw))
    with pytest.raises(CheckpointError, match="setting the state of a type"):
        tg.load(io.BytesIO(raw))
    assert (tg.tensor([1.0, 2.0]) + tg.tensor([10.0, 20.0])).tolist() == [11.0, 22.0]


@pytest.mark.parametrize("steps", [9, 10, 60])
def test_a_running_sum_written_at_every_step_differentiates(steps: int) -> None:
    """Tacotron's ``attention_weights_cum += attention_weights``, read through a view before each write: from the
    tenth write on, backward raised (a tensor kept only its last 8 graphs); torch keeps them all."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([0.1, 0.5, -0.3], dtype=lib.float64, requires_grad=True)
        cum, total = lib.zeros(3, dtype=lib.float64), 0
        for i in range(steps):
            total = total + (cum.unsqueeze(0) * (i + 1)).sum()
            cum += x * x
        total.backward()
        grads.append(x.grad.numpy())
    numpy.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_nn_init_takes_torchs_tensor_keyword() -> None:
    """torch names nn.init's first argument ``tensor`` (ours was ``t``: ``uniform_(tensor=w)`` raised TypeError);
    every public in-place initialiser has torch's first parameter name."""
    import inspect

    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_") and hasattr(tg.nn.init, n)]
    assert len(names) > 10
    for name in names:
        theirs = next(iter(inspect.signature(getattr(torch.nn.init, name)).parameters))
        assert next(iter(inspect.signature(getattr(tg.nn.init, name)).parameters)) == theirs, name
    w = tg.zeros(3, 4)
    tg.nn.init.uniform_(tensor=w, a=-1.0, b=1.0)
    assert 0 < float(w.abs().max()) <= 1


@pytest.mark.parametrize("pool", [
    lambda F, t: F.avg_pool1d(t, 3), lambda F, t: F.avg_pool2d(t[None], (1, 3)),
    lambda F, t: F.adaptive_avg_pool1d(t, 1), lambda F, t: F.avg_pool1d(t, 2, stride=1, ceil_mode=True),
], ids=["avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "ceil_mode"])
def test_float16_average_pool_does_not_overflow(pool: Callable) -> None:
    """A float16 window sum past 65504 made the mean inf; torch's means run in float32 (one rounding at the end)."""
    x = numpy.array([[[30000.0, 29000.0, 31000.0]]], numpy.float16)
    want = pool(torch.nn.functional, torch.tensor(x))
    got = pool(tg.nn.functional, tg.tensor(x))
    assert got.dtype == tg.float16 and got.tolist() == want.tolist()


@pytest.mark.parametrize("map_location", [{"cpu": "cpu"}, lambda storage, where: storage])
def test_load_with_map_location_keeps_container_types(map_location: object, tmp_path: object) -> None:
    """A dict or callable map_location rebuilt every container as type(x)(pairs): a Counter counted its pairs, so a
    resumed MultiStepLR's milestones {3: 1, 6: 1} became {(3, 1): 1, (6, 1): 1} and its lr never fell. Containers
    keep their type and contents now."""
    import collections

    model = tg.nn.Linear(1, 1)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    sched = tg.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 6], gamma=0.1)
    path = tmp_path / "state.pt"
    tg.save({"sched": sched.state_dict(), "w": tg.ones(1)}, path)
    state = tg.load(path, map_location=map_location, weights_only=False)
    assert state["sched"]["milestones"] == collections.Counter({3: 1, 6: 1})
    opt2 = tg.optim.SGD(tg.nn.Linear(1, 1).parameters(), lr=0.1)
    resumed = tg.optim.lr_scheduler.MultiStepLR(opt2, milestones=[1], gamma=0.1)
    resumed.load_state_dict(state["sched"])
    lrs = []
    for _ in range(7):
        lrs.append(round(opt2.param_groups[0]["lr"], 6))
        opt2.step()
        resumed.step()
    assert lrs == [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001]


def test_save_into_a_stream_past_its_start_is_readable_by_torch() -> None:
    """tg.save into a stream with a header already written gave a zip whose offsets counted from the stream's start,
    which torch.load refused ("invalid header or archive is corrupted"); both libraries read it now."""
    import io

    stream = io.BytesIO()
    stream.write(b"HEADER!!")
    tg.save({"a": tg.arange(3.0)}, stream)
    for load in (torch.load, tg.load):
        stream.seek(8)
        assert load(stream)["a"].tolist() == [0.0, 1.0, 2.0]


def test_save_keeps_numpy_arrays_it_cannot_store_as_data() -> None:
    """A numpy masked array went into our .npz as a plain array (its mean went from 1 to -499: the mask was lost) and
    an object array could never be loaded back. They are pickled whole now (torch.save's format): a trusted load
    gives them back, a weights-only load refuses them, as torch's."""
    import io

    from tinygrad_adam.checkpoint import CheckpointError

    tree = {"m": numpy.ma.array([1.0, -999.0], mask=[False, True]), "labels": numpy.array(["cat", 3], dtype=object),
            "w": numpy.arange(2.0)}
    stream = io.BytesIO()
    tg.save(tree, stream)
    stream.seek(0)
    with pytest.raises(CheckpointError, match="weights-only"):
        tg.load(stream)
    stream.seek(0)
    back = tg.load(stream, weights_only=False)
    assert back["m"].mean() == 1.0 and back["labels"].tolist() == ["cat", 3] and back["w"].tolist() == [0.0, 1.0]


def test_a_directory_where_a_data_file_belongs_is_named(tmp_path: object) -> None:
    """A directory in a data file's place was reported as "missing <file>", whose fixes (download, copy) cannot work
    while it is there; it is named as what it is, with the fix."""
    from tinygrad_adam.data.paths import lacks

    (tmp_path / "a.gz").mkdir()
    (tmp_path / "b.gz").write_bytes(b"x")
    assert lacks(tmp_path, ["a.gz", "b.gz"]) == "has a.gz as something other than a file (move it away)"
    assert lacks(tmp_path, ["b.gz", "c.gz"]) == "missing c.gz"


def test_detach_in_place_then_requiring_grad_again_survives_backward() -> None:
    """The backward of an op recorded before ``y.detach_()`` sees y as it was then; y's own flag afterwards (here
    required again, as a new leaf) is left as the user set it."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = lib.where(y > 3, y, 0.0)
        y.detach_()
        y.requires_grad_()
        z.sum().backward()
        results.append((y.requires_grad, x.grad.tolist(), y.grad))
    assert results[0] == results[1] == (True, [0.0, 2.0], None)
