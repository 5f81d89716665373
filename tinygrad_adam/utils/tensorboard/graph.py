"""``SummaryWriter.add_graph``'s graph: one forward run of a model, read back from the autograd graph it recorded,
as TensorBoard's GraphDef with torch's naming (``input/x``, ``Net/Linear[fc1]/linear``, ``output/output.1``): each
op in the scope of the innermost module call that computed it, parameters as ``prim::GetAttr`` nodes in their
module's scope, other leaves as ``prim::Constant``, every node with its output shape."""

from __future__ import annotations

import dis
import inspect
from collections.abc import Iterator
from typing import Any

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.config_pb2 import RunMetadata
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.step_stats_pb2 import DeviceStepStats, StepStats
from tensorboard.compat.proto.versions_pb2 import VersionDef

from ...autograd import enable_grad
from ...tensor import Tensor
from .summary import shape_proto


def tensors_in(value: Any) -> Iterator[Tensor]:
    """The tensors of a model's output (a tensor, or tuples / lists / dicts of them), in order."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from tensors_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v)


def scope_names(model: Any) -> dict[int, str]:
    """id(module) -> torch's scope of it: ``Net``, ``Net/Linear[fc1]``, ``Net/Sequential[seq]/Linear[0]``."""
    scopes = {id(model): type(model).__name__}
    for name, module in model.named_modules():
        if name:
            parent, _, attr = name.rpartition(".")
            above = scopes[id(model.get_submodule(parent))] if parent else scopes[id(model)]
            scopes.setdefault(id(module), f"{above}/{type(module).__name__}[{attr}]")
    return scopes


def run_model(model: Any, inputs: tuple[Any, ...]) -> tuple[list[Tensor], list[tuple[str, list[Any], list[Any]]]]:
    """Run ``model(*inputs)`` in eval mode with every float parameter and input recording its graph; the output
    tensors, and each module call as (scope, its input tensors, its output tensors), innermost first. The model's
    mode, its parameters' requires_grad and its hooks are as before afterwards."""
    scopes = scope_names(model)
    calls: list[tuple[str, list[Any], list[Any]]] = []
    params = [p for p in model.parameters() if not p.requires_grad and p.dtype.kind == "f"]
    handles = [m.register_forward_hook(lambda m, args, out: calls.append(
        (scopes[id(m)], list(tensors_in(args)), list(tensors_in(out))))) for m in model.modules()]
    training = [(m, m.training) for m in model.modules()]  # (each its own: torch's puts every one back in the
    try:  # root's mode)
        for p in params:
            p.requires_grad_(True)
        model.eval()
        with enable_grad():
            outputs = list(tensors_in(model(*inputs)))
    finally:
        for m, mode in training:
            m.training = mode
        for p in params:
            p.requires_grad_(False)
        for h in handles:
            h.remove()
    return outputs, calls


def input_names(forward: Any) -> list[str]:
    """``forward``'s argument names as torch's tracer names the graph's inputs: ``x``, or ``x.1`` where forward
    assigns to x again (a later traced value takes the plain name there)."""
    try:
        params = list(inspect.signature(forward).parameters)
    except (TypeError, ValueError):
        return []
    code = getattr(forward, "__code__", None)
    stored = {i.argval for i in dis.get_instructions(code) if i.opname.startswith("STORE_")} if code else set()
    return [f"{p}.1" if p in stored else p for p in params]


def shape_attr(t: Tensor) -> AttrValue:
    return AttrValue(list=AttrValue.ListValue(shape=[shape_proto(t.shape)]))


def op_scopes(calls: list[tuple[str, list[Any], list[Any]]]) -> dict[int, str]:
    """id(node) -> the scope of the innermost module call whose outputs reach it before its inputs do (``calls``
    innermost first, so an outer call walks through the inner calls' nodes without taking them)."""
    scope: dict[int, str] = {}
    for where, call_in, call_out in calls:
        inside, stack = {id(t) for t in call_in}, list(call_out)
        while stack:
            t = stack.pop()
            if id(t) not in inside and t._parents:
                inside.add(id(t))
                scope.setdefault(id(t), where)
                stack.extend(t._parents)
    return scope


def parents_first(outputs: list[Tensor]) -> list[Tensor]:
    """Every node the outputs were computed from, each after its parents (inputs in their order)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
        elif id(t) not in seen:
            seen.add(id(t))
            stack.append((t, True))
            stack.extend((p, False) for p in reversed(t._parents) if id(p) not in seen)
    return order


def node(name: str, op: str, t: Tensor, attr: str, inputs: list[str] | None = None) -> NodeDef:
    """A GraphDef node with t's shape and torch's "attr" string."""
    return NodeDef(name=name, op=op, input=inputs or [], attr={"_output_shapes": shape_attr(t),
                                                               "attr": AttrValue(s=attr.encode())})


def graph(model: Any, args: Any, verbose: bool = False) -> tuple[GraphDef, RunMetadata]:
    """The GraphDef of ``model(*args)`` (``args``: a tensor or a tuple / list of them) and torch's step stats."""
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,) if args is not None else ()
    inputs = tuple(a.detach().requires_grad_(True) if isinstance(a, Tensor) and a.dtype.kind == "f" else a
                   for a in args)
    outputs, calls = run_model(model, inputs)
    names: dict[int, str] = {}
    nodes: list[NodeDef] = []
    used: dict[str, int] = {}

    def unique(name: str) -> str:
        count = used.get(name, 0)
        used[name] = count + 1
        return name if count == 0 else f"{name}.{count}"

    arg_names = input_names(model.forward)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor):
            names[id(t)] = unique(f"input/{arg_names[i] if i < len(arg_names) else f'input.{i + 1}'}")
            nodes.append(node(names[id(t)], "IO Node", t, ""))
    scope, order = op_scopes(calls), parents_first(outputs)
    param_names = {id(p): name for name, p in model.named_parameters()}
    modules, root = scope_names(model), type(model).__name__
    consumer: dict[int, str] = {}  # a leaf's scope: its first consumer's
    for t in order:
        for p in t._parents:
            consumer.setdefault(id(p), scope.get(id(t), root))
    for t in order:
        if id(t) in names:
            continue
        if t._parents:
            names[id(t)] = unique(f"{scope.get(id(t), root)}/{t._op}")
            nodes.append(node(names[id(t)], t._op, t, "{}", [names[id(p)] for p in t._parents]))
        elif id(t) in param_names:
            owner, _, leaf = param_names[id(t)].rpartition(".")
            names[id(t)] = unique(f"{modules[id(model.get_submodule(owner))]}/{leaf}")
            nodes.append(node(names[id(t)], "prim::GetAttr", t, f"{{ name :  {leaf} }}"))
        else:
            names[id(t)] = unique(f"{consumer.get(id(t), root)}/constant")
            value = str(t.item()) if t.numel() == 1 else f"tensor of shape {t.shape}"
            nodes.append(node(names[id(t)], "prim::Constant", t, f"{{ value : {value}}}"))
    nodes += [node(f"output/output.{i + 1}", "IO Node", t, "", [names[id(t)]]) for i, t in enumerate(outputs)]
    if verbose:
        for n in nodes:
            print(n.name, n.op, list(n.input))
    stats = RunMetadata(step_stats=StepStats(dev_stats=[DeviceStepStats(device="/device:CPU:0")]))
    return GraphDef(node=nodes, versions=VersionDef(producer=22)), stats
