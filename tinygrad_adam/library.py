"""``torch.library``'s Python custom operators: ``custom_op("ns::name", mutates_args=...)`` wraps a function (numpy,
a C extension, anything) as an op that autograd sees as one node, ``register_autograd(backward,
setup_context=...)`` gives it a derivative, ``register_kernel(device_types)`` a per-device body, and ``opcheck``
runs the checks that can run here.

The op runs its body without recording a graph (as torch runs it below autograd); where an input requires grad its
outputs are one node of a custom ``autograd.Function`` whose backward is the registered one, or raises, as torch's,
when none is. Outputs must be Tensors (or None for an op annotated ``-> None``) that do not alias an input.
``register_fake`` is accepted and kept (there are no fake tensors or compiler here). ``torch.ops.ns.name`` (and its
``.default``) is the op too: ``tinygrad_adam.ops``, which also holds the library's own op families, looks namespaces
up in ``ops.CUSTOM_OPS``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy

from . import backend
from .autograd import grad, is_grad_enabled, no_grad
from .creation import ones_like
from .function import Function, FunctionCtx
from .ops import CUSTOM_OPS
from .tensor import Tensor


class CustomOpDef:
    """The op ``custom_op`` returns: call it as the function it wraps."""

    def __init__(self, name: str, fn: Callable[..., Any], mutates_args: Iterable[str] | str,
                 device_types: str | Iterable[str] | None) -> None:
        self._name, self._fn, self._signature = name, fn, inspect.signature(fn)
        self._mutates = mutates_args
        self._kernels: dict[str, Callable[..., Any]] = {}
        self._only_kernels = device_types is not None  # (fn serves those device types only)
        if device_types is not None:
            self.register_kernel(device_types, fn)
        self._backward: Callable[..., Any] | None = None
        self._setup_context: Callable[..., Any] | None = None
        self._fake: Callable[..., Any] | None = None
        op = self

        def forward(*args: Any) -> Any:
            return op._run(args)

        def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> None:
            if op._setup_context is not None:
                op._setup_context(ctx, inputs, output)

        def backward(ctx: FunctionCtx, *grads: Any) -> Any:
            if op._backward is None:
                raise RuntimeError(f"Trying to backward through {name.replace('::', '.')}.default but no autograd "
                                   f"formula was registered. Please use register_autograd to add one.")
            return op._backward(ctx, *grads)

        self._function = type(f"GeneratedBackwardFor_{name.replace('::', '_')}_default", (Function,), {
            "forward": staticmethod(forward), "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward)})

    def __repr__(self) -> str:
        return f"<CustomOpDef({self._name})>"

    @property
    def default(self) -> CustomOpDef:
        """``torch.ops.ns.name.default``: the op's one overload, the op itself here."""
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = tuple(bound.arguments.values())
        if is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in inputs):
            return self._function.apply(*inputs)
        with no_grad():
            return self._run(inputs)

    def _run(self, inputs: tuple[Any, ...]) -> Any:
        """The body for the inputs' device, its outputs checked."""
        tensors = [a for a in inputs if isinstance(a, Tensor)]
        kind = backend.device_of(tensors[0]._data) if tensors else "cpu"
        kind = "cuda" if str(kind).startswith("cuda") else "cpu"
        body = self._kernels.get(kind)
        if body is None and self._only_kernels:
            raise NotImplementedError(f"{self._name}: no kernel for device type {kind!r} (the op was made for "
                                      f"{sorted(self._kernels)}); add one with register_kernel({kind!r})")
        out = (body or self._fn)(*inputs)
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        if out is None and self._signature.return_annotation in (None, "None"):
            return None
        for o in outputs:
            if not isinstance(o, Tensor):
                raise RuntimeError(f"{self._name}: the op returned a {type(o).__name__} ({o!r:.40}) where its "
                                   f"outputs must be Tensors")
            for t in tensors:
                if o is t or backend.may_share_memory(o._data, t._data):
                    raise RuntimeError(f"{self._name}: an output of this custom operator aliases an input; return "
                                       f"a copy (x.clone()), as torch requires")
        return tuple(outputs) if isinstance(out, (tuple, list)) else out

    def register_autograd(self, backward: Callable[..., Any], /, *,
                          setup_context: Callable[..., Any] | None = None) -> None:
        """``backward(ctx, *grads)`` returns one gradient (or None) per input of the op, non-Tensor inputs
        included; ``setup_context(ctx, inputs, output)`` saves what it needs on ``ctx`` after the forward."""
        self._backward, self._setup_context = backward, setup_context

    def register_kernel(self, device_types: str | Iterable[str],
                        fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
        """The op's body for ``device_types`` ("cpu", "cuda"); usable as a decorator."""
        def register(body: Callable[..., Any]) -> Callable[..., Any]:
            for kind in [device_types] if isinstance(device_types, str) else device_types:
                self._kernels[kind] = body
            return body
        return register(fn) if fn is not None else register

    def register_fake(self, fn: Callable[..., Any], /) -> Callable[..., Any]:
        """Kept and unused: there are no fake tensors (no compiler) here."""
        self._fake = fn
        return fn


def custom_op(name: str, fn: Callable[..., Any] | None = None, /, *, mutates_args: Iterable[str] | str,
              device_types: str | Iterable[str] | None = None, schema: str | None = None) -> Any:
    """``@custom_op("ns::name", mutates_args=())``: ``fn`` as a custom operator (see the module's docstring). Its
    parameters need type annotations (torch builds a schema from them) unless ``schema`` is given."""
    namespace, _, opname = name.partition("::")
    if not namespace or not opname.isidentifier():
        raise ValueError(f"custom_op: the name must be 'namespace::opname', got {name!r}")

    def wrap(body: Callable[..., Any]) -> CustomOpDef:
        if schema is None:
            for p in inspect.signature(body).parameters.values():
                if p.annotation is inspect.Parameter.empty:
                    raise ValueError(f"infer_schema(func): Parameter {p.name} must have a type annotation. Got func "
                                     f"with signature {inspect.signature(body)})")
        if mutates_args != "unknown" and not isinstance(mutates_args, str):
            unknown = set(mutates_args) - set(inspect.signature(body).parameters)
            if unknown:
                raise ValueError(f"custom_op {name}: mutates_args names {sorted(unknown)}, which are not parameters "
                                 f"of the function")
        op = CustomOpDef(name, body, mutates_args, device_types)
        CUSTOM_OPS[name] = op
        return op
    return wrap(fn) if fn is not None else wrap


def _op(op: CustomOpDef | str) -> CustomOpDef:
    if isinstance(op, CustomOpDef):
        return op
    if op not in CUSTOM_OPS:
        raise ValueError(f"no custom op named {op!r}; make it with custom_op first")
    return CUSTOM_OPS[op]


def register_autograd(op: CustomOpDef | str, backward: Callable[..., Any], /, *,
                      setup_context: Callable[..., Any] | None = None) -> None:
    """``torch.library.register_autograd("ns::name", backward, setup_context=...)``."""
    _op(op).register_autograd(backward, setup_context=setup_context)


def register_kernel(op: CustomOpDef | str, device_types: str | Iterable[str],
                    fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``torch.library.register_kernel("ns::name", "cpu")`` (a decorator without ``fn``)."""
    return _op(op).register_kernel(device_types, fn)


def register_fake(op: CustomOpDef | str, fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``torch.library.register_fake("ns::name")``: kept, unused (no fake tensors here)."""
    return _op(op).register_fake(fn) if fn is not None else _op(op).register_fake


def opcheck(op: CustomOpDef | str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, *,
            test_utils: Any = None, raise_exception: bool = True) -> dict[str, str]:
    """``torch.library.opcheck``: runs the op on ``args`` and checks that it writes only into the inputs named in
    ``mutates_args`` ("test_schema"; outputs and aliasing are checked by every call) and, where an input requires
    grad, that a backward is registered and runs ("test_autograd_registration"). The fake-tensor and compiler
    tests have nothing to run on here: "SKIPPED"."""
    op = _op(op)
    kwargs = kwargs or {}
    results: dict[str, str] = {}
    try:
        bound = op._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        before = {k: v.clone() for k, v in bound.arguments.items() if isinstance(v, Tensor)}
        with no_grad():
            op(*[a.detach() if isinstance(a, Tensor) else a for a in args], **kwargs)
        declared = set() if op._mutates == "unknown" else {op._mutates} if isinstance(op._mutates, str) else set(
            op._mutates)
        for k, was in before.items():
            same = numpy.array_equal(backend.to_numpy(was._data), backend.to_numpy(bound.arguments[k]._data),
                                     equal_nan=was.dtype.kind == "f")
            if op._mutates != "unknown" and k not in declared and not same:
                raise RuntimeError(f"opcheck: {op._name} wrote into its input {k!r}, which mutates_args does not "
                                   f"name")
            with no_grad():  # (put it back for the next test)
                bound.arguments[k].copy_(was)
        results["test_schema"] = "SUCCESS"
        if any(isinstance(a, Tensor) and a.requires_grad for a in bound.arguments.values()):
            if op._backward is None:
                raise RuntimeError(f"opcheck: {op._name} takes inputs that require grad but has no autograd "
                                   f"formula; add one with register_autograd")
            out = op(*args, **kwargs)
            outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad]
            wanted = [a for a in bound.arguments.values() if isinstance(a, Tensor) and a.requires_grad]
            if outs:  # (autograd.grad: no .grad of the caller's is written)
                grad(outs, wanted, [ones_like(o) for o in outs], allow_unused=True)
        results["test_autograd_registration"] = "SUCCESS"
    except Exception:
        if raise_exception:
            raise
        results.setdefault("test_schema", "FAILED")
        results.setdefault("test_autograd_registration", "FAILED")
    results["test_faketensor"] = results["test_aot_dispatch_dynamic"] = "SKIPPED"
    return results


__all__ = ["CustomOpDef", "custom_op", "opcheck", "register_autograd", "register_fake", "register_kernel"]
