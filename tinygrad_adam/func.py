"""``torch.func``: function transforms over Tensors, on the reverse-mode engine.

- ``grad`` / ``grad_and_value`` / ``vjp`` / ``jacrev`` differentiate ``f`` at its arguments: each differentiated
  Tensor (a leaf of a nested tuple / list / dict argument, a "pytree") is replaced by a fresh one (a view of it
  when it requires grad, so an outer transform or ``backward`` still reaches it), ``f`` runs once, and
  ``autograd.grad`` answers. A result keeps a graph only where it depends on tensors that require grad outside the
  transform (nesting, closures); that needs ``autograd.grad(create_graph=True)`` and raises NotImplementedError
  without it, rather than hand back a result that silently lacks its graph.
- ``vmap`` runs ``f`` once per batch element and stacks the outputs: torch's semantics (in_dims / out_dims over
  pytrees, the error cases, ``randomness``), not its speed: it is a Python loop, not a batching transform.
- ``jvp`` / ``jacfwd`` / ``hessian`` are reverse mode twice (the double-vjp trick), so they need create_graph.
- ``functional_call`` runs a Module with other tensors in place of its parameters and buffers;
  ``stack_module_state`` stacks the parameters of same-shaped models (for vmap over an ensemble).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import autograd, backend
from .autograd.functional import autograd_grad, basis, need_create_graph, supports_create_graph
from .creation import zeros_like
from .ops import movement
from .pytree import TreeSpec, dict_keys, fits, is_leaf, tree_flatten, tree_unflatten
from .tensor import Tensor

Argnums = int | tuple[int, ...]

# ---------------------------------------------------------------- pytrees (see pytree.py), as torch.func reads them


def _broadcast(prefix: Any, spec: TreeSpec) -> list[Any] | None:
    """``prefix`` (a tree whose leaves apply to whole subtrees of ``spec``) as one value per leaf; None if it does
    not fit."""
    if is_leaf(prefix):
        return [prefix] * spec.num_leaves
    children = None if spec.is_leaf() else fits(spec, prefix)
    if children is None:
        return None
    out: list[Any] = []
    for p, s in zip(children, spec.children_specs):
        part = _broadcast(p, s)
        if part is None:
            return None
        out += part
    return out


def _describe(spec: TreeSpec) -> str:
    if spec.is_leaf():
        return "*"
    keys = dict_keys(spec)
    inner = ", ".join(_describe(k) for k in spec.children_specs) if keys is None else ", ".join(
        f"{k!r}: {_describe(s)}" for k, s in zip(keys, spec.children_specs))
    return f"{spec.type.__name__}({inner})"


# ---------------------------------------------------------------- grad, vjp, jacrev


def _argnums(args: tuple[Any, ...], argnums: Argnums) -> tuple[int, ...]:
    """``argnums`` as non-negative indices into ``args``, with torch's errors."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums takes an int or a tuple of ints, not {type(argnums)}")
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if not nums:
        raise RuntimeError("argnums must be non-empty")
    if len(set(nums)) != len(nums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    out = []
    for n in nums:
        if not isinstance(n, int):
            raise RuntimeError(f"argnum must be int, got: {type(n)}")
        if not -len(args) <= n < len(args):
            raise RuntimeError(f"Got argnum={n}, but only {len(args)} positional inputs")
        out.append(n % len(args))
    return tuple(out)


def _fresh(x: Any) -> Tensor:
    """A tensor to differentiate in place of ``x``: a view of it when it is part of a graph being recorded (so
    gradients reach it through the transform), else a new leaf sharing its array."""
    if not isinstance(x, Tensor):
        raise ValueError(f"a function transform differentiates Tensors only, not {type(x)}")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"inputs to differentiate must be floating point (or complex), not {x.dtype}")
    if x.requires_grad and autograd.is_grad_enabled():
        return x.view_as(x)
    return x.detach().requires_grad_()


class _Differentiated:
    """``f`` run at ``args`` with the ``argnums`` arguments (pytrees of Tensors) made differentiable."""

    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], argnums: Argnums | None,
                 has_aux: bool, api: str) -> None:
        self.recording = autograd.is_grad_enabled()  # outside: whether results may keep a graph
        nums = tuple(range(len(args))) if argnums is None else _argnums(args, argnums)
        with autograd.enable_grad():
            args = list(args)
            for n in nums:
                leaves, spec = tree_flatten(args[n])
                args[n] = tree_unflatten([_fresh(x) for x in leaves], spec)
            picked = tuple(args[n] for n in nums)
            self.diff = picked[0] if isinstance(argnums, int) else picked
            self.inputs, self.input_spec = tree_flatten(self.diff)
            out = f(*args, **kwargs)
        self.aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError(f"{api}: with has_aux=True, f has to return a pair (output, aux)")
            out, self.aux = out
        self.output = out
        self.fresh = {id(t) for t in self.inputs}
        self._outer_outputs: tuple[tuple[int, ...], bool] | None = None  # (ids of outputs, outer() of them)

    def outer(self, tensors: Sequence[Any]) -> bool:
        """Whether ``tensors`` depend on a tensor that requires grad outside this transform (while recording)."""
        roots = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
        if not self.recording or not roots:
            return False
        return any(n._backward is None and id(n) not in self.fresh for n in autograd.topological_order(roots))

    def undo(self, tree: Any) -> Any:
        """``tree`` with each Tensor detached unless it depends on tensors outside the transform."""
        leaves, spec = tree_flatten(tree)
        return tree_unflatten([t if not isinstance(t, Tensor) or self.outer([t]) else t.detach() for t in leaves],
                              spec)

    def grads(self, outputs: Sequence[Tensor], cotangents: Sequence[Any] | None, retain_graph: bool,
              create_graph: bool | None = None) -> Any:
        """d(outputs)/d(inputs) weighted by ``cotangents``, in the structure of the differentiated arguments;
        zeros where no gradient comes. ``create_graph`` None: keep a graph exactly when the result depends on
        tensors outside the transform (an outer one, a closure's, a cotangent's)."""
        if create_graph is None:
            key = tuple(map(id, outputs))
            if self._outer_outputs is None or self._outer_outputs[0] != key:  # (jacrev asks once per row)
                self._outer_outputs = key, self.outer(outputs)
            create_graph = self._outer_outputs[1] or self.outer(cotangents or ())
            if create_graph and not supports_create_graph():
                raise NotImplementedError(
                    "this transform's result depends on tensors that require grad outside it (nested transforms, "
                    "inputs or closure tensors with requires_grad=True), so torch would keep its graph, which needs "
                    "autograd.grad(create_graph=True), missing in this build; pass detached tensors (x.detach()) "
                    "to differentiate once")
        with autograd.set_grad_enabled(create_graph):
            got = autograd_grad(outputs, self.inputs, cotangents, retain_graph=retain_graph or create_graph,
                                create_graph=create_graph)
        filled = [zeros_like(x) if g is None else g for g, x in zip(got, self.inputs)]
        return self.undo(tree_unflatten(filled, self.input_spec))


def _check_outputs(flat: list[Any], api: str) -> None:
    """torch's checks on what f returned to vjp / jacrev: some Tensors, floating-point."""
    if not flat or (len(flat) == 1 and flat[0] is None):
        raise RuntimeError(f"{api}: f returned no tensors (output {flat}); there is nothing to differentiate")
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: f(*primals) gave back a {type(o)}; its outputs must all be tensors")
        if o.dtype.kind not in "fc":
            raise RuntimeError(f"vjp: f returned a {o.dtype} tensor; only floating-point (or complex) outputs can be "
                               f"differentiated")


def grad_and_value(func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning (gradient, value) of ``func`` (which must return a 0-dim Tensor, or (it, aux) with
    ``has_aux``) with respect to argument(s) ``argnums``: the gradient has the structure of that argument (a tuple
    of them for a tuple of argnums), each Tensor its input's shape and dtype; zeros where f does not depend on it.
    With ``has_aux``: (gradient, (value, aux))."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _Differentiated(func, args, kwargs, argnums, has_aux, "grad_and_value(f)(*args)")
        out = run.output
        if not isinstance(out, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): f gave back {type(out)}, where a Tensor is needed")
        if out.ndim != 0:
            raise RuntimeError(f"grad: f must return a one-element (scalar) Tensor, but it returned {out.ndim} "
                               f"dimensions; for non-scalar outputs use vjp or jacrev")
        g = run.grads([out], None, retain_graph=False)
        value = run.undo(out)
        return (g, (value, run.undo(run.aux))) if has_aux else (g, value)

    return wrapper


def grad(func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning the gradient of ``func`` (see :func:`grad_and_value`), with ``has_aux``
    (gradient, aux)."""
    both = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = both(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """(func(*primals), vjp_fn[, aux]): ``vjp_fn(cotangents)`` takes Tensors in the structure of the output
    (each of its output's shape) and returns a tuple with one gradient per primal (each of its primal's structure);
    it may be called many times."""
    run = _Differentiated(func, primals, {}, None, has_aux, "vjp(f, *primals)")
    flat_out, out_spec = tree_flatten(run.output)
    _check_outputs(flat_out, "vjp(f, *primals)")

    def vjp_fn(cotangents: Any, retain_graph: bool = True, create_graph: bool | None = None) -> tuple[Any, ...]:
        flat_cot, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError(f"vjp: the cotangents must be nested like f's outputs; outputs are "
                               f"{_describe(out_spec)}, cotangents are {_describe(cot_spec)}")
        if create_graph is None and not autograd.is_grad_enabled():
            create_graph = False
        return run.grads(flat_out, flat_cot, retain_graph, create_graph)

    output = run.undo(run.output)
    return (output, vjp_fn, run.undo(run.aux)) if has_aux else (output, vjp_fn)


def jacrev(func: Callable[..., Any], argnums: Argnums = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable[..., Any]:
    """A function returning the Jacobian of ``func`` with respect to argument(s) ``argnums``, by one vjp per output
    element: for output o and input i a Tensor of shape ``o.shape + i.shape`` (dtype of i), in the structure of
    the output, each holding the structure of the argument (a tuple of them for a tuple of argnums).
    With ``has_aux``: (jacobian, aux)."""
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` has to be 1 or more")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _Differentiated(func, args, kwargs, argnums, has_aux, "vjp(f, *primals)")
        flat_out, out_spec = tree_flatten(run.output)
        _check_outputs(flat_out, "jacrev(f, ...)(*args)")
        jac = tree_unflatten([_jacobian_of(run, flat_out, k) for k in range(len(flat_out))], out_spec)
        return (jac, run.undo(run.aux)) if has_aux else jac

    return wrapper


def _jacobian_of(run: _Differentiated, outs: list[Tensor], k: int) -> Any:
    """The Jacobian of output ``k``: the structure of the differentiated arguments, rows stacked."""
    out = outs[k]
    rows = []
    for j in range(out.size):
        cot = [basis(o, j) if i == k else zeros_like(o) for i, o in enumerate(outs)]
        rows.append(tree_flatten(run.grads(outs, cot, retain_graph=True))[0])
    stacked = []
    for i, x in enumerate(run.inputs):
        shape = (*out.shape, *x.shape)
        col = [r[i] for r in rows]
        # (no rows for an empty output: an empty view of the input, part of its graph where that is outside)
        stacked.append(movement.reshape(movement.stack(col, 0), shape) if col else
                       run.undo(movement.reshape(x.reshape(-1)[:0], shape)))
    return tree_unflatten(stacked, run.input_spec)


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False) -> tuple[Any, ...]:
    """(func(*primals), J tangents[, aux]) by the double-vjp trick; ``primals`` and ``tangents`` are tuples of the
    same structure and shapes. Needs autograd.grad(create_graph=True)."""
    if not isinstance(primals, tuple):
        raise RuntimeError("jvp: primals must be a tuple of f's positional arguments (it calls f(*primals))")
    flat_p, p_spec = tree_flatten(primals)
    flat_t, t_spec = tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"jvp: tangents must be nested like primals (one tangent per primal tensor); primals are "
                           f"{_describe(p_spec)}, tangents are {_describe(t_spec)}")
    for name, flat in (("primals", flat_p), ("tangents", flat_t)):
        if not flat:
            raise RuntimeError(f"jvp(f, primals, tangents): Expected {name} to contain at least one Tensor.")
        for t in flat:
            if not isinstance(t, Tensor):
                raise RuntimeError(f"jvp(f, primals, tangents): Expected {name} to only contain Tensors, got "
                                   f"{type(t)}")
    for i, (p, t) in enumerate(zip(flat_p, flat_t)):
        if p.shape != t.shape:
            raise RuntimeError(f"jvp(f, primals, tangents): tangent {i} has shape {tuple(t.shape)}, its primal "
                               f"{tuple(p.shape)}; give each primal a tangent of its shape")
    need_create_graph("func.jvp")
    run = _Differentiated(func, primals, {}, None, has_aux, "jvp(f, primals, tangents)")
    flat_out, out_spec = tree_flatten(run.output)
    _check_outputs(flat_out, "jvp(f, primals, tangents)")
    with autograd.enable_grad():  # the vjp is linear in its cotangent u: J t = d(u . J t)/du = d/du (J^T u) . t
        us = [zeros_like(o, requires_grad=True) for o in flat_out]
        vjps = autograd_grad(flat_out, run.inputs, us, retain_graph=True, create_graph=True)
        got = autograd_grad(vjps, us, flat_t, retain_graph=True, create_graph=run.outer([*flat_out, *flat_t]))
    if strict and any(g is None for g in got):
        raise RuntimeError("jvp with strict=True: f's output does not depend on the primals")
    tangents_out = run.undo([zeros_like(o) if g is None else g for g, o in zip(got, flat_out)])
    res = (run.undo(tree_unflatten(flat_out, out_spec)), tree_unflatten(tangents_out, out_spec))
    return (*res, run.undo(run.aux)) if has_aux else res


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """torch.func.linearize: ``(func(*primals), jvp_fn)`` where ``jvp_fn(*tangents)`` is J tangents at ``primals``
    (``jvp(func, primals, tangents)[1]``; tangents nested and shaped as the primals). torch traces ``func`` once;
    here ``jvp_fn`` runs it again, so a ``func`` that draws random numbers gives other draws each call."""
    run = _Differentiated(func, primals, {}, None, False, "linearize(func, *primals)")

    def jvp_fn(*tangents: Any) -> Any:
        return jvp(func, primals, tangents)[1]

    return run.undo(run.output), jvp_fn


def jacfwd(func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable[..., Any]:
    """torch.func.jacfwd: the same Jacobian as :func:`jacrev` (built here by reverse mode, so it needs
    autograd.grad(create_graph=True) only where jacrev does)."""
    _check_randomness(randomness)
    return jacrev(_no_draws(func) if randomness == "error" else func, argnums, has_aux=has_aux)


def hessian(func: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """A function returning the Hessian of ``func`` with respect to argument(s) ``argnums`` (torch's jacfwd of
    jacrev, here jacrev of jacrev: the same numbers): for output o and inputs i, j a Tensor of shape
    ``o.shape + i.shape + j.shape``, nested as jacrev's. Needs autograd.grad(create_graph=True)."""
    inner = jacrev(_no_draws(func), argnums)  # (torch's outer jacfwd vmaps f with randomness="error")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        need_create_graph("func.hessian")
        return jacrev(inner, argnums)(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------- vmap

_RANDOM_IN_ERROR_MODE = ("vmap: called random operation while in randomness error mode. Please either use the "
                         "'same' or 'different' randomness flags on vmap or perform the randomness operation out "
                         "of vmap")


_UNMAPPED_WRITE = ("vmap({name}): {name} wrote in place into an argument that is not mapped (in_dims None); this "
                   "vmap calls {name} once per element, so the write would repeat for each (torch refuses a mapped "
                   "value written into an unmapped tensor, such as batch norm's running statistics in training): map "
                   "that argument too, or keep the write out of the mapped function (eval() for batch norm)")


def _draws() -> tuple[Any, int]:
    """What changes when the default generators are drawn from: the CPU stream's state, the GPU streams' uses."""
    return backend.get_rng_state()["cpu"], backend.gpu_generator_uses[0]


def _no_draws(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func``, raising torch's RuntimeError when it draws from the default generators (as under torch's vmap
    with randomness="error", which jacfwd and hessian use)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = _draws()
        out = func(*args, **kwargs)
        if _draws() != before:
            raise RuntimeError(_RANDOM_IN_ERROR_MODE)
        return out

    return wrapper


def _check_randomness(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"randomness={randomness!r} is unknown; choose 'error', 'different' or 'same'")


def _name(func: Any) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def _in_dims(func: Callable[..., Any], in_dims: Any, args: tuple[Any, ...]) -> tuple[int, list[Any], list[Any], Any]:
    """(batch size, flat in_dims with negatives wrapped, flat args, args structure), with torch's ValueErrors."""
    name = _name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"vmap({name}): in_dims={in_dims!r} is a {type(in_dims).__name__}; give an int, None, or a "
                         f"tuple shaped like the inputs")
    if not args:
        raise ValueError(f"vmap({name}) was called with no arguments: it needs at least one input to map over")
    flat_args, spec = tree_flatten(args)
    flat_dims = _broadcast(in_dims, spec)
    if flat_dims is None:
        raise ValueError(f"vmap({name}, in_dims={in_dims}): in_dims is shaped "
                         f"{_describe(tree_flatten(in_dims)[1])} "
                         f"while the inputs are shaped {_describe(spec)}; the two must line up")
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"vmap({name}, in_dims={in_dims}): in_dim={d!r} is neither an int dim nor None")
        if not isinstance(arg, Tensor):
            raise ValueError(f"vmap({name}): in_dim={d} names a dimension of a {type(arg).__name__} argument; only "
                             f"Tensors can be mapped, so give that argument in_dim=None")
        if not -arg.ndim <= d < arg.ndim:
            raise ValueError(f"vmap({name}, in_dims={in_dims}): in_dim={d} is out of range for an input with "
                             f"{arg.ndim} dims (need -{arg.ndim} <= in_dim < {arg.ndim})")
        flat_dims[i] = d % arg.ndim
    sizes = [a.shape[d] for a, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: no input has an in_dim naming a Tensor dimension, so there is nothing to map over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: the inputs disagree on the mapped dimension's size: {sizes}")
    return sizes[0], flat_dims, flat_args, spec


def _out_dims(func: Callable[..., Any], out_dims: Any, out: Any, spec: Any) -> list[Any]:
    name = _name(func)
    if isinstance(out, Tensor):
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
        if isinstance(out_dims, int) or out_dims is None:
            return [out_dims]
        flat = None
    else:
        flat = _broadcast(out_dims, spec)
    if flat is None:
        raise ValueError(f"vmap({name}, out_dims={out_dims}): out_dims is shaped "
                         f"{_describe(tree_flatten(out_dims)[1])} while the outputs are shaped {_describe(spec)}; "
                         "the two must line up")
    return flat


def _same(a: Any, b: Any) -> bool:
    """Whether two per-element outputs are equal (NaN equal to NaN), so an unbatched out_dim=None can hold them."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a is b or (a.shape == b.shape and a.dtype == b.dtype and bool(a.xp.array_equal(
            a._data, b._data, equal_nan=a.dtype.kind in "fc")))
    return not isinstance(a, Tensor) and not isinstance(b, Tensor) and a == b


def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable[..., Any]:
    """``func`` mapped over dim ``in_dims`` of its arguments (an int, None for an unmapped argument, or a tuple
    per argument, nested like the arguments' tuples / lists / dicts), its outputs stacked at ``out_dims``.

    This runs ``func`` once per batch element (on ``x.select(in_dim, i)``) and stacks the results: torch's results
    and errors, at the speed of the loop. ``randomness``: "error" raises when ``func`` draws from the default
    generator, "different" lets each element draw its own numbers, "same" gives every element the same ones. An
    output with out_dim None must be the same for every element (torch: must not depend on the mapped inputs).
    """
    _check_randomness(randomness)
    if chunk_size is not None and not chunk_size > 0:
        raise ValueError(f"vmap: chunk_size={chunk_size!r}; give None (all at once) or a positive int")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = _name(func)
        if not (isinstance(out_dims, int) or out_dims is None) and any(
                not (d is None or isinstance(d, int)) for d in tree_flatten(out_dims)[0]):
            raise ValueError(f"vmap({name}): out_dims={out_dims!r} should say where each output gets the mapped "
                             f"dimension: an int, None, or a tuple/list of those")
        size, flat_dims, flat_args, spec = _in_dims(func, in_dims, args)
        if size == 0:
            raise NotImplementedError("vmap over a mapped dimension of size 0: this vmap runs func once per element, "
                                      "so it cannot tell the shape of the (empty) result")
        start = backend.get_rng_state() if randomness == "same" else None
        unmapped = [a for a, d in zip(flat_args, flat_dims) if d is None and isinstance(a, Tensor)]
        results = []
        for i in range(size):
            if start is not None:
                backend.set_rng_state(start)
            before = _draws() if randomness == "error" else None
            versions = [a._version for a in unmapped]
            one = tree_unflatten([a if d is None else a.select(d, i) for a, d in zip(flat_args, flat_dims)], spec)
            results.append(tree_flatten(func(*one, **kwargs)))
            if before is not None and _draws() != before:
                raise RuntimeError(_RANDOM_IN_ERROR_MODE)
            if any(a._version != v for a, v in zip(unmapped, versions)):
                raise RuntimeError(_UNMAPPED_WRITE.format(name=name))
        out_spec = results[0][1]
        for _, s in results[1:]:
            if s != out_spec:
                raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structures for "
                                 f"different batch elements: {_describe(out_spec)} and {_describe(s)}")
        first = tree_unflatten(results[0][0], out_spec)
        dims = _out_dims(func, out_dims, first, out_spec)
        outs = []
        for k, d in enumerate(dims):
            column = [r[0][k] for r in results]
            if d is None:
                if not all(_same(column[0], c) for c in column[1:]):
                    raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is "
                                     f"None (output {k} differs between batch elements)")
                outs.append(column[0])
                continue
            if not isinstance(column[0], Tensor):
                raise ValueError(f"vmap({name}): an output is a {type(column[0]).__name__}, not a Tensor; give that "
                                 f"output out_dims=None to pass it through unmapped")
            outs.append(movement.stack(column, movement.wrap_dim("vmap", d, column[0].ndim + 1)))
        return tree_unflatten(outs, out_spec)

    return wrapper


# ---------------------------------------------------------------- modules


_MISSING = object()


def _slot(module: Any, name: str) -> tuple[Any, str, int | None]:
    """Where dotted ``name`` lives: (the module holding it, its attribute, the index in that attribute when it is a
    list or tuple of parameters), walking submodules and list / tuple members (named ``attr.i``) as the module tree
    names them."""
    parts = name.split(".")
    if not name or any(not p for p in parts):
        raise KeyError(f"functional_call: invalid parameter or buffer name {name!r}")
    mod, i = module, 0
    while i < len(parts) - 1:
        value = vars(mod).get(parts[i], _MISSING)
        if isinstance(value, (list, tuple)) and parts[i + 1].isdigit() and int(parts[i + 1]) < len(value):
            item = value[int(parts[i + 1])]
            if i + 2 == len(parts):
                return mod, parts[i], int(parts[i + 1])
            value, i = item, i + 1
        if not hasattr(value, "named_parameters"):
            raise AttributeError(f"{type(mod).__name__} has no attribute `{parts[i]}` (in {name!r})")
        mod, i = value, i + 1
    return mod, parts[-1], None


def _swap(module: Any, name: str, value: Any) -> Any:
    """Put ``value`` (a Tensor, None, or _MISSING to delete) at dotted ``name``; returns what was there."""
    if value is not _MISSING and value is not None and not isinstance(value, Tensor):
        raise TypeError(f"{value} is not a Tensor")
    mod, attr, index = _slot(module, name)
    if index is not None:
        seq = getattr(mod, attr)
        old = seq[index]
        if value is _MISSING:
            raise TypeError(f"functional_call: cannot remove {name!r}, an item of a list")
        if isinstance(seq, list):
            seq[index] = value
        else:
            setattr(mod, attr, (*seq[:index], value, *seq[index + 1:]))
        return old
    old = vars(mod).get(attr, _MISSING)
    if old is _MISSING and hasattr(mod, attr):
        old = getattr(mod, attr)
    if old is not _MISSING and old is not None and not isinstance(old, Tensor):
        raise TypeError(f"attribute `{attr}`: {old} is not a Tensor")
    if value is not _MISSING:  # a plain Tensor may stand in for a Parameter here, which Module.__setattr__ refuses
        object.__setattr__(mod, attr, value)
    elif attr in vars(mod):
        delattr(mod, attr)
    return old


def _named_tensors(module: Any) -> dict[str, Tensor]:
    out = dict(module.named_parameters(remove_duplicate=False))
    out.update(module.named_buffers(remove_duplicate=False))
    return out


def _untie(module: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` extended to every name of a tensor the module shares under several names (tied weights)."""
    names: dict[int, set[str]] = {}
    for n, t in _named_tensors(module).items():
        names.setdefault(id(t), set()).add(n)
    tied = {n: group for group in names.values() if len(group) > 1 for n in group}
    out = dict(values)
    for given in [n for n in values if n in tied]:
        group = tied[given]
        if len({id(values[n]) for n in group if n in values}) > 1:
            raise ValueError(f"functional_call: tied keys {sorted(group)} were given different values; pass "
                             f"tie_weights=False to set them apart")
        out.update(dict.fromkeys(group, values[given]))
    return out


def functional_call(module: Any, parameter_and_buffer_dicts: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
                    args: Any = None, kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the given tensors (by dotted name, as ``named_parameters`` /
    ``named_buffers`` name them) in place of its parameters and buffers; its own are put back afterwards, also
    when forward raises. ``args``: a tuple, or one argument. ``tie_weights``: a value given for one name of a
    shared tensor is used for all its names. ``strict``: every parameter and buffer must be given, nothing else."""
    if isinstance(parameter_and_buffer_dicts, dict):
        values = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("functional_call: every item of a list / tuple of parameter and buffer dicts must be a "
                             "dict")
        keys = [k for d in parameter_and_buffer_dicts for k in d]
        repeated = sorted({k for k in keys if keys.count(k) > 1}, key=keys.index)
        if repeated:
            raise ValueError(f"functional_call: {repeated} given in more than one dict, so which value to use is "
                             f"unclear; give each name once")
        values = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(f"functional_call takes its parameters and buffers as one dict or a sequence of dicts, not "
                         f"a {type(parameter_and_buffer_dicts).__name__}")
    swapped = _untie(module, values) if tie_weights else values
    if strict:  # (a value given for one name of tied weights counts for all of them, with tie_weights)
        own = set(_named_tensors(module))
        problems = []
        if set(swapped) - own:
            problems.append(f"Unexpected key(s): {', '.join(map(repr, sorted(set(swapped) - own)))}.")
        if own - set(swapped):
            problems.append(f"Missing key(s): {', '.join(map(repr, sorted(own - set(swapped))))}.")
        if problems:
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(problems))
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    originals: dict[str, Any] = {}
    pinned = _pin_parameter_lists(module, swapped)
    try:
        for name, value in swapped.items():
            originals[name] = _swap(module, name, value)
        return module(*args, **(kwargs or {}))
    finally:
        for name in reversed(list(originals)):
            now = _swap(module, name, originals[name])
            if name in values:  # torch writes back what forward assigned there (an updated buffer)
                values[name] = now
        for plist in pinned:
            object.__delattr__(plist, "_sequence")


def _pin_parameter_lists(module: Any, names: Mapping[str, Any]) -> list[Any]:
    """The ParameterLists holding one of ``names`` (an item "0", "1", ... of a container that lists its items with
    ``_sequence``), each made to read its items by their names until ``_sequence`` is deleted again: a plain
    Tensor swapped in for a Parameter is no member, so indexing, ``len`` and iteration would skip it."""
    pinned = []
    for name in names:
        owner, attr, index = _slot(module, name)
        if (index is None and attr.isdigit() and callable(getattr(type(owner), "_sequence", None))
                and "_sequence" not in vars(owner)):
            order = [n for n, _ in owner._members() if n.isdigit()]
            object.__setattr__(owner, "_sequence", lambda o=owner, order=order: [getattr(o, n) for n in order])
            pinned.append(owner)
    return pinned


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(parameters, buffers) of same-class models, each name's tensors stacked on a new dim 0 (shape
    (len(models), *shape)); parameters that require grad become new leaves that do."""
    if len(models) == 0:
        raise RuntimeError("stack_module_state: the list of models is empty")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: some models are in train() mode and others in eval()")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: the models are not all instances of one class")

    def stacked(per_model: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        out = {}
        for name in per_model[0]:
            tensors = [d[name] for d in per_model]
            flags = {t.requires_grad for t in tensors}
            if len(flags) > 1:
                raise RuntimeError(f"stack_module_state: the models disagree on whether {name} requires grad")
            t = movement.stack(tensors, 0)
            out[name] = t.detach().requires_grad_() if flags == {True} else t
        return out

    return (stacked([dict(m.named_parameters()) for m in models]),
            stacked([dict(m.named_buffers()) for m in models]))


def replace_all_batch_norm_modules_(root: Any) -> Any:
    """torch.func's: every BatchNorm module under ``root`` (itself included) stops tracking running statistics
    (``running_mean`` / ``running_var`` / ``num_batches_tracked`` None, ``track_running_stats`` False), so it
    normalises by each batch's own statistics under vmap; returns ``root``, changed in place."""
    for module in root.modules():  # (by class name: this module sits below nn and never imports it)
        if any(cls.__name__ == "_BatchNorm" for cls in type(module).__mro__):
            module.running_mean = module.running_var = module.num_batches_tracked = None
            module.track_running_stats = False
    return root


__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "linearize",
           "replace_all_batch_norm_modules_", "stack_module_state", "vjp", "vmap"]
