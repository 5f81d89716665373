"""``SummaryWriter.add_graph`` against torch's: the same model gives a graph with torch's input and output nodes
(names and shapes), ops in the same module scopes (``Net/Sequential[features]/Conv2d[0]``), parameters in their
module's scope, every edge to a node of the graph; tensorboard's own reader loads it; and the model comes back as it
was (mode, frozen parameters, hooks, no gradients).

Mutations (each reverted after the run):
- the scope walk stopped at nodes an inner call scoped: Block's ``x * 2``, computed before its Linear, lands in the
  root scope, test_scopes_as_torch fails.
- eval mode not restored: test_the_model_comes_back_as_it_was fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytest.importorskip("tensorboard", reason="SummaryWriter needs the tensorboard package (the test extra has it)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

from tinygrad_adam.utils.tensorboard import SummaryWriter  # noqa: E402


def make(lib: Any) -> Any:
    """The TensorBoard tutorial's kind of model: convolutions in a Sequential, pooling, a flatten, functional
    activations, a nested block called twice."""
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.drop = nn.Dropout(0.5)

        def forward(self, x: Any) -> Any:
            return self.drop(F.relu(self.fc(x * 2))) + x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
            self.block = Block()
            self.head = nn.Linear(16, 3)

        def forward(self, image: Any, scale: Any) -> Any:
            x = self.features(image * scale).flatten(1)
            return F.log_softmax(self.head(self.block(self.block(x))), dim=1)

    return Net()


def graph_of(root: Path) -> GraphDef:
    accumulator = EventAccumulator(str(root))
    accumulator.Reload()
    return accumulator.Graph()


def written(lib: Any, writer_type: Any, root: Path, model: Any = None) -> GraphDef:
    lib.manual_seed(0)
    image, scale = lib.ones(2, 1, 6, 6), lib.tensor(0.5)
    with writer_type(str(root)) as writer:
        writer.add_graph(make(lib) if model is None else model, (image, scale))
    return graph_of(root)


def io_nodes(g: GraphDef) -> list[tuple[str, list[int]]]:
    return sorted((n.name, [d.size for d in n.attr["_output_shapes"].list.shape[0].dim]) for n in g.node
                  if n.op == "IO Node")


def test_inputs_and_outputs_as_torch(tmp_path: Path) -> None:
    ours, theirs = written(tg, SummaryWriter, tmp_path / "ours"), written(torch, TorchWriter, tmp_path / "torch")
    assert io_nodes(ours) == io_nodes(theirs)
    assert [n.name for n in ours.node if n.op == "IO Node"][:2] == ["input/image", "input/scale"]
    assert ours.versions.producer == theirs.versions.producer == 22


def test_scopes_as_torch(tmp_path: Path) -> None:
    ours, theirs = written(tg, SummaryWriter, tmp_path / "ours"), written(torch, TorchWriter, tmp_path / "torch")
    # (scope, op) of every op node; ours named as torch's trace names them (our flatten records a reshape)
    aten = {"reshape": "aten::flatten", "conv2d": "aten::_convolution"}
    ours_ops = {(n.name.rpartition("/")[0], aten.get(n.op, "aten::" + n.op)) for n in ours.node
                if n.op not in ("IO Node", "prim::GetAttr", "prim::Constant")}
    theirs_ops = {(n.name.rpartition("/")[0], n.op) for n in theirs.node if n.op.startswith("aten::")}
    assert ours_ops == theirs_ops - {("Net/Block[block]/Dropout[drop]", "aten::dropout")}  # (in eval mode dropout
    # records no op here; torch's trace has an aten::dropout that passes its input on)
    params = {n.name for n in ours.node if n.op == "prim::GetAttr"}
    assert params == {f"Net/{m}/{p}" for m in ("Sequential[features]/Conv2d[0]", "Block[block]/Linear[fc]",
                                               "Linear[head]") for p in ("weight", "bias")}
    names = {n.name for n in ours.node}
    assert len(names) == len(ours.node) and all(i in names for n in ours.node for i in n.input)
    by_name = {n.name: n for n in ours.node}
    linear = [n for n in ours.node if n.name.startswith("Net/Block[block]/Linear[fc]/") and n.op == "linear"]
    assert len(linear) == 2  # (the block called twice: two linear nodes, one scope)
    assert [d.size for d in by_name["output/output.1"].attr["_output_shapes"].list.shape[0].dim] == [2, 3]
    assert by_name["Net/mul"].input == ["input/image", "input/scale"]


def test_the_model_comes_back_as_it_was(tmp_path: Path) -> None:
    model = make(tg)
    model.block.fc.weight.requires_grad_(False)
    model.head.eval()
    states = {name: m.training for name, m in model.named_modules()}
    g = written(tg, SummaryWriter, tmp_path, model)
    assert "Net/Block[block]/Linear[fc]/weight" in {n.name for n in g.node}  # (traced although frozen)
    assert {name: m.training for name, m in model.named_modules()} == states
    assert not model.block.fc.weight.requires_grad and model.head.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())
    assert model(tg.ones(2, 1, 6, 6), tg.tensor(0.5)).requires_grad


def test_one_integer_input_several_outputs_and_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(torch gives a tuple one output node, fed by a prim::TupleConstruct; here each output tensor has its own.)"""
    model = tg.nn.Sequential(tg.nn.Embedding(10, 4), tg.nn.Linear(4, 2))
    twice = tg.nn.ModuleDict({"seq": model})
    twice.forward = lambda ids: (model(ids), {"mean": model(ids).mean()})
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_graph(model, tg.tensor([[1, 2, 3]]), verbose=True)
    g = graph_of(tmp_path)
    assert [n.name for n in g.node if n.op == "IO Node"] == ["input/input.1", "output/output.1"]  # (as torch's:
    # Sequential.forward assigns to its argument)
    assert {n.name.rpartition("/")[0] for n in g.node if n.op == "embedding"} == {"Sequential/Embedding[0]"}
    assert "Sequential/Linear[1]/linear" in capsys.readouterr().out
    assert model[0].weight.grad is None
    with SummaryWriter(str(tmp_path / "two")) as writer:
        writer.add_graph(twice, tg.tensor([[1, 2, 3]]))
    shapes = {n.name: [d.size for d in n.attr["_output_shapes"].list.shape[0].dim] for n in graph_of(
        tmp_path / "two").node if n.op == "IO Node"}
    assert shapes == {"input/ids": [1, 3], "output/output.1": [1, 3, 2], "output/output.2": []}


@pytest.mark.gpu
def test_a_gpu_model(tmp_path: Path) -> None:
    model = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.ReLU()).to("cuda")
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_graph(model, tg.ones(4, 3, device="cuda") * 2)
    g = graph_of(tmp_path)
    assert [n.name for n in g.node if n.op in ("linear", "relu")] == ["Sequential/Linear[0]/linear",
                                                                     "Sequential/ReLU[1]/relu"]


def test_a_number_before_the_tensor_input(tmp_path: Path) -> None:
    class Scaled(tg.nn.Module):
        def forward(self, k: float, x: Any) -> Any:
            return x * k

    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_graph(Scaled(), (2.0, tg.ones(3)))
    g = graph_of(tmp_path)
    assert [n.name for n in g.node if n.op == "IO Node"] == ["input/x", "output/output.1"]
    assert [n.name for n in g.node if n.op == "mul"] == ["Scaled/mul"]
