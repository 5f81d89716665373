"""Differentiable ops, by family. Each op computes its output array with the backend's
array module and records a small ``backward(g)`` closure beside it.

- ``elementwise``: + - * / **, exp, log, sqrt, tanh, sigmoid, relu, softplus, abs, clip, maximum, minimum, where
- ``reduce``: sum, mean, max, min, logsumexp, log_softmax, softmax
- ``movement``: reshape, transpose, broadcast_to, squeeze, unsqueeze, getitem, concatenate, stack, pad, to(device)
- ``linalg``: matmul
"""
