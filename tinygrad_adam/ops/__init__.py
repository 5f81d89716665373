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
- ``loss``: fused softmax cross-entropy, NLL, stable BCE-with-logits
"""
