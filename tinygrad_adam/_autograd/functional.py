"""``torch.autograd.functional``: jacobian, hessian, vjp, jvp, hvp, vhp of a function of Tensors.

Each takes ``inputs`` as a Tensor or a tuple of Tensors and ``func`` returning a Tensor or a tuple of Tensors, and
answers in the same structure, as torch: a Tensor for a Tensor, a tuple for a tuple; ``jacobian`` nests them
(output first, then input). Everything runs on reverse mode (``autograd.grad``): a Jacobian is one backward per
output element. jvp, hessian, hvp and vhp (and ``create_graph=True``) differentiate a backward again, which needs
``autograd.grad(create_graph=True)``; without it they raise NotImplementedError. ``vectorize=True`` and the
"forward-mode" strategy give the same numbers by the same loop (they are speed options in torch).

Also the helpers ``torch.func`` builds on (``func.py``): :func:`autograd_grad`, :func:`supports_create_graph`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from .. import autograd
from ..creation import zeros_like
from ..tensor import Tensor, constant

Tensors = Any  # a Tensor or a tuple of Tensors
Grads = tuple[Any, ...]  # one Tensor (or None) per input


def supports_create_graph() -> bool:
    """Whether ``autograd.grad`` takes ``create_graph`` (higher-order gradients); asked at call time."""
    return "create_graph" in inspect.signature(autograd.grad).parameters


def need_create_graph(api: str) -> None:
    """NotImplementedError naming ``api`` when ``autograd.grad(create_graph=True)`` is missing."""
    if not supports_create_graph():
        raise NotImplementedError(f"{api} differentiates a backward pass, which needs autograd.grad(..., "
                                  f"create_graph=True); this build has first-order gradients only")


def autograd_grad(outputs: Sequence[Tensor | None], inputs: Sequence[Tensor], grad_outputs: Sequence[Any] | None = None,
                  retain_graph: bool | None = None, create_graph: bool = False) -> Grads:
    """``autograd.grad`` of the outputs that require grad (None ones and the rest skipped), None for each input
    no gradient reaches (all None when no output requires grad), as torch's private ``_autograd_grad``."""
    cotangents = [None] * len(outputs) if grad_outputs is None else list(grad_outputs)
    pairs = [(o, g) for o, g in zip(outputs, cotangents) if o is not None and o.requires_grad]
    if not pairs or not inputs:  # (autograd.grad refuses empty inputs, as torch's)
        return (None,) * len(inputs)
    extra = {}
    if create_graph:
        need_create_graph("create_graph=True")
        extra["create_graph"] = True
    return autograd.grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                         allow_unused=True, **extra)


def basis(out: Tensor, j: int) -> Tensor:
    """A tensor of ``out``'s shape, dtype and device, zero but for a one at flat index ``j``."""
    e = out.xp.zeros(out.size, dtype=out.dtype)
    e[j] = 1
    return constant(e.reshape(out.shape))


def _as_tuple(value: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(whether ``value`` was a tuple, it as a tuple of Tensors); TypeError for anything but Tensors."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i} has type" if is_tuple else f"the given {arg_name} has type"
            raise TypeError(f"{fn_name}: {arg_name} must be one Tensor or a tuple of them, but {where} {type(el)}")
    return is_tuple, items


def _untuple(res: Sequence[Any], is_tuple: bool | tuple[bool, bool]) -> Any:
    """Undo ``_as_tuple`` on a result: (outer, inner) flags for a nested result such as a Jacobian."""
    if isinstance(is_tuple, tuple):
        outer, inner = is_tuple
        res = res if inner else tuple(el[0] for el in res)
        return res if outer else res[0]
    return res if is_tuple else res[0]


def _preprocess(inputs: Sequence[Tensor], create_graph: bool, need_graph: bool) -> tuple[Tensor, ...]:
    """Fresh inputs to differentiate: a view keeping the graph of one that requires grad when ``create_graph``,
    else a detached leaf (requiring grad if ``need_graph``)."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            if need_graph and t.dtype.kind not in "fc":
                raise RuntimeError(f"inputs to differentiate must be floating point (or complex), not {t.dtype}")
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _postprocess(tensors: Sequence[Any], create_graph: bool) -> tuple[Any, ...]:
    """Detach the results (nested tuples too) unless ``create_graph``."""
    if create_graph:
        return tuple(tensors)
    return tuple(t.detach() if isinstance(t, Tensor) else _postprocess(t, False) for t in tensors)


def _validate_v(v: Sequence[Tensor], other: Sequence[Tensor], is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v holds {len(v)} tensors where {len(other)} are needed")
        raise RuntimeError("v must be one Tensor here, since the function has a single input")
    for idx, (a, b) in enumerate(zip(v, other)):
        if a.shape != b.shape:
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {b.shape} but got {a.shape}.")


def _check_outputs(outputs: Sequence[Tensor], strict: bool) -> None:
    for i, out in enumerate(outputs):
        if strict and not out.requires_grad:
            raise RuntimeError(f"strict mode: output {i} of the function does not require grad, so it was not "
                               f"computed differentiably from the inputs")


def _check_grads(grads: Sequence[Tensor | None], kind: str, strict: bool) -> None:
    """torch's strict-mode checks on a first (``kind`` "jacobian") or second ("hessian"/"grad_inputs") backward."""
    if not strict:
        return
    for i, g in enumerate(grads):
        if g is None:
            raise RuntimeError(f"strict mode: the function's output is independent of input {i}")
        if not g.requires_grad:
            raise RuntimeError({
                "jacobian": f"strict mode, hessian: the jacobian for input {i} is independent of the input "
                            f"(a linear function, say); strict needs a function whose jacobian varies with it",
                "hessian": f"strict mode: the hessian for input {i} is independent of the input; strict needs a "
                           f"function whose hessian varies with it",
                "grad_inputs": f"strict mode: the gradient for input {i} is independent of the function's "
                               f"inputs"}[kind])


_INDEPENDENT = {
    "back": "strict mode: the function's output is independent of input {i}",
    "back_trick": "strict mode, forward mode via double backward: the gradient is independent of grad_outputs "
                  "entry {i}",
    "double_back": "strict mode: the function's jacobian is independent of input {i}",
    "double_back_trick": "strict mode, forward mode via double backward: the hessian is independent of "
                         "grad_jacobian entry {i}",
}


def _fill_in_zeros(grads: Sequence[Tensor | None], refs: Sequence[Tensor], strict: bool, create_graph: bool,
                   stage: str) -> tuple[Tensor, ...]:
    """Zeros (of each ref's shape) where no gradient came; torch's strict-mode errors instead."""
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"strict mode with create_graph=True: the function's {what} is independent of "
                               f"input {i}")
        out.append(g)
    return tuple(out)


def _call(func: Callable[..., Any], inputs: Tensors, name: str, create_graph: bool, strict: bool,
          ) -> tuple[bool, tuple[Tensor, ...], bool, tuple[Tensor, ...]]:
    """Run ``func`` on fresh differentiable copies of ``inputs``: (inputs tuple?, inputs, outputs tuple?, outputs)."""
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", name)
    ins = _preprocess(ins, create_graph, need_graph=True)
    is_outputs_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", name)
    _check_outputs(outs, strict)
    return is_inputs_tuple, ins, is_outputs_tuple, outs


def _vector(v: Tensors | None, refs: tuple[Tensor, ...], is_refs_tuple: bool, name: str, create_graph: bool,
            of: str) -> tuple[Tensor, ...] | None:
    """The checked ``v`` (same structure and shapes as ``refs``), or None where allowed (one one-element ref)."""
    if v is None:
        if len(refs) != 1 or refs[0].size != 1:
            raise RuntimeError("v may be omitted only when the " + of + " one Tensor holding one element; pass v "
                               "otherwise")
        return None
    _, vs = _as_tuple(v, "v", name)
    vs = _preprocess(vs, create_graph, need_graph=False)
    _validate_v(vs, refs, is_refs_tuple)
    return vs


def vjp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """(func(inputs), v^T J): ``v`` has the outputs' structure and shapes (None for one one-element output); the
    vector-Jacobian product has the inputs' (zeros for an input the outputs do not depend on)."""
    with autograd.enable_grad():
        is_inputs_tuple, ins, is_outputs_tuple, outs = _call(func, inputs, "vjp", create_graph, strict)
        vs = _vector(v, outs, is_outputs_tuple, "vjp", create_graph, "user-provided function returns")
    with autograd.set_grad_enabled(create_graph or autograd.is_grad_enabled()):
        res = _fill_in_zeros(autograd_grad(outs, ins, vs, create_graph=create_graph), ins, strict, create_graph,
                             "back")
    return (_untuple(_postprocess(outs, create_graph), is_outputs_tuple),
            _untuple(_postprocess(res, create_graph), is_inputs_tuple))


def jvp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """(func(inputs), J v): ``v`` has the inputs' structure and shapes; the product has the outputs'. Computed as
    torch does, by the double-backward trick (a vjp differentiated with respect to its cotangent)."""
    need_create_graph("autograd.functional.jvp")
    with autograd.enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "jvp")
        ins = _preprocess(ins, create_graph, need_graph=True)
        vs = _vector(v, ins, is_inputs_tuple, "jvp", create_graph, "input to the user-provided function is")
        is_outputs_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", "jvp")
        _check_outputs(outs, strict)
        cotangents = tuple(zeros_like(o, requires_grad=True) for o in outs)  # any finite value: vjp is linear in it
        grad_inputs = autograd_grad(outs, ins, cotangents, create_graph=True)
        _check_grads(grad_inputs, "grad_inputs", strict)
    with autograd.set_grad_enabled(create_graph or autograd.is_grad_enabled()):
        res = _fill_in_zeros(autograd_grad(grad_inputs, cotangents, vs, create_graph=create_graph), outs, strict,
                             create_graph, "back_trick")
    return (_untuple(_postprocess(outs, create_graph), is_outputs_tuple),
            _untuple(_postprocess(res, create_graph), is_outputs_tuple))


def _check_strategy(strategy: str, vectorize: bool, strict: bool, create_graph: bool) -> None:
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(f'unknown strategy {strategy!r}: pick "reverse-mode" (cheaper when the function '
                             f'has fewer outputs than inputs) or "forward-mode" (cheaper with more outputs)')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError('jacobian: create_graph=True works only with strategy="reverse-mode"; drop '
                                      'create_graph or switch the strategy')
        if strict:
            raise RuntimeError('jacobian: strict=True works only with strategy="reverse-mode"; drop strict or switch '
                               'the strategy')
        if not vectorize:
            raise NotImplementedError("forward-mode jacobian and forward-over-reverse hessian need vectorize=True")
    elif vectorize and strict:
        raise RuntimeError("jacobian: strict=True cannot be combined with vectorize=True; turn one of them off")


def jacobian(func: Callable[..., Tensors], inputs: Tensors, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """d func(inputs) / d inputs: for output i and input j a Tensor of shape ``out_i.shape + in_j.shape`` (dtype
    of in_j), nested as torch: a Tensor for one input and one output, a tuple over the side that was a tuple, a
    tuple (per output) of tuples (per input) for both."""
    _check_strategy(strategy, vectorize, strict, create_graph)
    with autograd.enable_grad():
        is_inputs_tuple, ins, is_outputs_tuple, outs = _call(func, inputs, "jacobian", create_graph, strict)
        if strategy == "reverse-mode":  # torch's loop stacks no rows for an empty output; vectorized, for all empty
            if vectorize and sum(o.size for o in outs) == 0:
                raise IndexError("jacobian: the outputs are empty, so there is no row 0 to build (as torch)")
            if not vectorize and any(o.size == 0 for o in outs):
                raise RuntimeError("stack expects a non-empty TensorList (jacobian of an empty output)")
        rows: list[tuple[Tensor, ...]] = []
        for i, out in enumerate(outs):
            per_input: list[list[Tensor]] = [[] for _ in ins]
            for j in range(out.size):
                grads = autograd_grad([out], ins, [basis(out, j)], retain_graph=True, create_graph=create_graph)
                for k, (g, inp) in enumerate(zip(grads, ins)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"strict mode: output {i} of the function is independent of "
                                               f"input {k}")
                        g = zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"strict mode with create_graph=True: the function's jacobian is "
                                           f"independent of input {i}")
                    per_input[k].append(g)
            rows.append(tuple(_stack_rows(gs, out, inp) for gs, inp in zip(per_input, ins)))
    return _untuple(_postprocess(rows, create_graph), (is_outputs_tuple, is_inputs_tuple))


def _stack_rows(rows: list[Tensor], out: Tensor, inp: Tensor) -> Tensor:
    """One row per output element (each of ``inp``'s shape) as a Tensor of shape out.shape + inp.shape."""
    from ..ops import movement

    if not rows:
        return zeros_like(inp).reshape(1, *inp.shape)[:0].reshape(*out.shape, *inp.shape)
    return movement.stack(rows, 0).reshape(*out.shape, *inp.shape)


def hessian(func: Callable[..., Tensor], inputs: Tensors, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a function returning a one-element Tensor: for inputs i and j a Tensor of shape
    ``in_i.shape + in_j.shape``; a Tensor for one input, a tuple of tuples for a tuple of inputs."""
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(f'unknown outer_jacobian_strategy {outer_jacobian_strategy!r}: pick "reverse-mode" or '
                             f'"forward-mode"')
    need_create_graph("autograd.functional.hessian")

    def scalar_func(*inp: Tensor) -> Tensor:
        out = func(*inp)
        is_out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_outputs(outs, strict)
        if is_out_tuple:
            raise RuntimeError("hessian: the function must return one Tensor, not a tuple")
        if out.size != 1:
            raise RuntimeError("hessian: the function must return a one-element Tensor (a scalar)")
        return out.reshape(())

    def jac_func(*inp: Tensor) -> Any:
        if outer_jacobian_strategy == "forward-mode":
            inp = tuple(t.requires_grad_(True) for t in inp)
        jac = jacobian(scalar_func, inp, create_graph=True)
        _check_grads(jac, "jacobian", strict)
        return jac

    res = jacobian(jac_func, ins, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _untuple(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(func: Callable[..., Any], ins: tuple[Tensor, ...], name: str, strict: bool,
                   ) -> tuple[bool, tuple[Tensor, ...]]:
    is_outputs_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", name)
    _check_outputs(outs, strict)
    if is_outputs_tuple:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outs[0].size != 1:
        raise RuntimeError(f"{name}: the function's output must have exactly one element")
    return is_outputs_tuple, outs


def vhp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """(func(inputs), v^T H) for a function returning a one-element Tensor; ``v`` and the product have the inputs'
    structure and shapes."""
    need_create_graph("autograd.functional.vhp")
    with autograd.enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "vhp")
        ins = _preprocess(ins, create_graph, need_graph=True)
        vs = _vector(v, ins, is_inputs_tuple, "vhp", create_graph, "input to the user-provided function is")
        is_outputs_tuple, outs = _scalar_output(func, ins, "vhp", strict)
        jac = autograd_grad(outs, ins, create_graph=True)
        _check_grads(jac, "jacobian", strict)
    with autograd.set_grad_enabled(create_graph or autograd.is_grad_enabled()):
        res = _fill_in_zeros(autograd_grad(jac, ins, vs, create_graph=create_graph), ins, strict, create_graph,
                             "double_back")
    return (_untuple(_postprocess(outs, create_graph), is_outputs_tuple),
            _untuple(_postprocess(res, create_graph), is_inputs_tuple))


def hvp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """(func(inputs), H v) for a function returning a one-element Tensor, by torch's double-backward trick (so
    it is H v even where the Hessian is not symmetric)."""
    need_create_graph("autograd.functional.hvp")
    with autograd.enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "hvp")
        ins = _preprocess(ins, create_graph, need_graph=True)
        vs = _vector(v, ins, is_inputs_tuple, "hvp", create_graph, "input to the user-provided function is")
        is_outputs_tuple, outs = _scalar_output(func, ins, "hvp", strict)
        jac = autograd_grad(outs, ins, create_graph=True)
        _check_grads(jac, "jacobian", strict)
        grad_jac = tuple(zeros_like(t, requires_grad=True) for t in ins)
        double_back = autograd_grad(jac, ins, grad_jac, create_graph=True)
        _check_grads(jac, "hessian", strict)
    with autograd.set_grad_enabled(create_graph or autograd.is_grad_enabled()):
        res = _fill_in_zeros(autograd_grad(double_back, grad_jac, vs, create_graph=create_graph), ins, strict,
                             create_graph, "double_back_trick")
    return (_untuple(_postprocess(outs, create_graph), is_outputs_tuple),
            _untuple(_postprocess(res, create_graph), is_inputs_tuple))


__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]
