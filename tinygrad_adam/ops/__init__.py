"""Differentiable ops, by family. Each op computes its output array with the backend's
array module and records a small ``backward(g)`` closure beside it.

- ``elementwise``: + - * / **, exp, log, sqrt, tanh, sigmoid, relu, softplus, abs, clip, maximum, minimum, where
- ``reduce``: sum, mean, max, min, logsumexp, log_softmax, softmax
- ``movement``: reshape, transpose, broadcast_to, squeeze, unsqueeze, getitem, concatenate, stack, pad, to(device)
- ``linalg``: matmul
- ``linear``: x @ W.T + b as one op (the Linear layer)
- ``sparse``: dropout and linear on CSR minibatches (bag-of-words inputs), touching only stored entries
- ``conv``: conv2d (im2col through strided views + GEMM)
- ``pool``: max_pool2d (argmax kept for backward)
- ``loss``: fused softmax cross-entropy, NLL, stable BCE-with-logits, BCE on probabilities
- ``activation``: gelu (exact and tanh), silu
- ``norm``: layer_norm, batch_norm (running statistics updated in place)
- ``unary``: sin, cos, tan, log2, log10, exp2
- ``statistics``: cumsum, prod, var, std, norm
- ``index``: gather, scatter, scatter_add, index_put (``x[i] = v``), one_hot
- ``sort``: argsort, sort, topk
- ``inplace``: the in-place write (``add_``, ``+=``, ``x[i] = v`` ...): torch's rules and the version check

``movement`` also has clone, tril and triu. Torch's method names and call shapes are bound in ``methods.py``.
"""
