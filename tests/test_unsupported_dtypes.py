"""torch's dtypes that numpy has no type for (``bfloat16``, the float8s) are names here: a program may mention them
(nanoGPT's and llama2.c's dtype tables), compare with them and save / load them as values; making a tensor of one
raises NotImplementedError naming float16 / float32, on every path, and leaves a module as it was."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import checkpoint

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")


def test_names_as_torch_programs_use_them() -> None:
    for name in NAMES:
        ours = getattr(tg, name)
        assert isinstance(ours, tg.dtype) and repr(ours) == f"tinygrad_adam.{name}"
        assert ours.is_floating_point and not ours.is_complex and ours.itemsize == getattr(torch, name).itemsize
        assert pickle.loads(pickle.dumps(ours)) is ours
    dtype = "float16"  # nanoGPT's train.py: the table is built whatever dtype is chosen
    ptdtype = {"float32": tg.float32, "bfloat16": tg.bfloat16, "float16": tg.float16}[dtype]
    assert tg.ones(2, dtype=ptdtype).dtype == tg.float16
    assert not tg.cuda.is_bf16_supported()
    x = tg.ones(2)
    assert x.dtype != tg.bfloat16 and (x.dtype == tg.bfloat16) is False and tg.bfloat16 not in (tg.float32, tg.float16)


MAKERS = {
    "ones": lambda d: tg.ones(2, dtype=d), "zeros": lambda d: tg.zeros(2, dtype=d),
    "empty": lambda d: tg.empty(2, dtype=d), "full": lambda d: tg.full((2,), 1.0, dtype=d),
    "tensor": lambda d: tg.tensor([1.0], dtype=d), "arange": lambda d: tg.arange(3, dtype=d),
    "randn": lambda d: tg.randn(3, dtype=d), "rand": lambda d: tg.rand(3, dtype=d), "to": lambda d: tg.ones(2).to(d),
    "to_device": lambda d: tg.ones(2).to("cpu", d), "type": lambda d: tg.ones(2).type(d),
    "view": lambda d: tg.ones(2).view(d), "new_zeros": lambda d: tg.ones(2).new_zeros(2, dtype=d),
    "zeros_like": lambda d: tg.zeros_like(tg.ones(2), dtype=d),
    "sum": lambda d: tg.ones(2).sum(dtype=d), "finfo": lambda d: tg.finfo(d),
    "method": lambda d: tg.ones(2).bfloat16(),
}


@pytest.mark.parametrize("maker", sorted(MAKERS))
def test_a_tensor_of_one_raises_naming_the_fix(maker: str) -> None:
    with pytest.raises(NotImplementedError, match=r"bfloat16 tensors are not supported here.*float16 or float32"):
        MAKERS[maker](tg.bfloat16)


@pytest.mark.parametrize("convert", [lambda m: m.to(tg.bfloat16), lambda m: m.bfloat16(),
                                     lambda m: m.to(dtype=tg.float8_e4m3fn)])
def test_a_module_is_left_as_it_was(convert: Any) -> None:
    model = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.BatchNorm1d(3))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(NotImplementedError, match="not supported here"):
        convert(model)
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and np.array_equal(after[k].numpy(), v) for k, v in before.items())


@pytest.mark.parametrize("legacy", [False, True])
def test_saved_as_values_in_torch_s_format(legacy: bool) -> None:
    tree = {"dtype": tg.bfloat16, "more": [tg.float8_e5m2], "w": tg.ones(2)}
    f = io.BytesIO()
    tg.save(tree, f, _use_new_zipfile_serialization=not legacy)
    f.seek(0)
    theirs = torch.load(f)
    assert theirs["dtype"] is torch.bfloat16 and theirs["more"] == [torch.float8_e5m2]
    f.seek(0)
    ours = tg.load(f)
    assert ours["dtype"] is tg.bfloat16 and ours["more"] == [tg.float8_e5m2]
    f = io.BytesIO()
    torch.save({"dtype": torch.bfloat16}, f)  # torch's file naming one: loads as the name
    f.seek(0)
    assert tg.load(f) == {"dtype": tg.bfloat16}


def test_saved_as_values_in_our_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"dtype": tg.bfloat16, "w": tg.ones(2)})
    assert checkpoint.load(path)["dtype"] is tg.bfloat16


def test_torch_tensors_of_one_are_still_refused() -> None:
    f = io.BytesIO()
    torch.save({"w": torch.ones(2, dtype=torch.bfloat16)}, f)
    f.seek(0)
    with pytest.raises(Exception, match="BFloat16Storage"):
        tg.load(f)
