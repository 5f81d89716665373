"""The fake cupy (tests/fake_cupy.py) rejects what cupy rejects, and the GPU tests pass on it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import realdata
from cuda_host import CXX, NVCC
from fake_cupy import CUDARuntimeError, cupy, cupyx

REPO = Path(__file__).resolve().parent.parent
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="the CUDA toolkit (nvcc) is not installed")


def test_device_arrays_turn_into_host_arrays_only_explicitly() -> None:
    a = cupy.arange(6.0).reshape(2, 3)
    assert not isinstance(a, np.ndarray)
    implicit = [np.asarray, lambda x: np.testing.assert_allclose(x, 0), lambda x: np.array(list(x)), np.float64]
    for convert in implicit:
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)
    with pytest.raises(TypeError, match="only 0-dimensional arrays"):
        float(a[0, :1])  # a host copy, then numpy 2's rule
    host = a.get()
    host[0, 0] = 9.0  # a copy: the device array keeps its value
    assert isinstance(host, np.ndarray) and cupy.asnumpy(a).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert float(a.sum()) == 15.0 and int(a[1, 2]) == 5 and a[0, 1].item() == 1.0 and bool(a[0, 1])
    h = np.zeros(3)
    d = cupy.asarray(h)
    h[0] = 1.0  # asarray of host data copies it to the device
    assert d.get().tolist() == [0, 0, 0] and cupy.asarray(d) is d


def test_host_arrays_do_not_mix_with_device_arrays() -> None:
    a, host = cupy.ones(3), np.ones(3)

    def iadd() -> None:
        b = cupy.ones(3)
        b += host
    mixes = [lambda: a + host, lambda: host * a, lambda: a < host, iadd, lambda: cupy.where(a > 0, host, 0.0),
             lambda: np.where(a > 0, host, 0.0), lambda: cupy.concatenate([a, host]), lambda: cupy.maximum(a, [1.0])]
    for mix in mixes:
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    scaled = np.exp(a) * np.float32(2) + 1  # numpy's function runs cupy's; scalars mix
    total = scaled.sum()
    assert isinstance(scaled, cupy.ndarray) and isinstance(total, cupy.ndarray) and total.shape == ()
    assert isinstance(a[0], cupy.ndarray) and a[0].shape == ()

    class Tensorlike:  # no __array_ufunc__ and a higher __array_priority__ (like a Tensor): its operator runs
        __array_priority__ = 1000

        def __rmul__(self, other: object) -> str:
            return "reflected"
    assert a * Tensorlike() == "reflected"


def test_host_indices_are_fine_host_values_only_with_array_indices() -> None:
    a = cupy.zeros((2, 3))
    a[np.array([1])] = np.ones((1, 3))  # advanced indexing copies both to the device, as cupy does
    a[0, [0, 2]] = [2.0, 3.0]
    assert a[np.array([1, 1])].get().tolist() == [[1, 1, 1]] * 2 and a.get()[0].tolist() == [2, 0, 3]
    with pytest.raises(ValueError, match=r"non-scalar numpy\.ndarray cannot be used for fill"):
        a[...] = np.ones((2, 3))
    with pytest.raises(TypeError, match="Unsupported type"):
        a[0] = [1.0, 2.0, 3.0]
    a[...] = np.float64(4.0)
    assert a.get().tolist() == [[4.0] * 3] * 2


def test_floating_point_errors_do_not_warn_as_in_cupy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bool(cupy.isinf(cupy.exp(cupy.full(2, 1000.0)) / cupy.zeros(2)).all())


def test_only_the_names_cupy_14_has() -> None:
    assert cupy.float32 is np.float32 and cupy.pi == np.pi and cupy.__version__.startswith("14.")
    assert callable(cupy.quantile) and cupy.quantile is cupy.quantile
    numpy_only = [(cupy, "errstate"), (cupy, "ndenumerate"), (cupy.linalg, "multi_dot"), (cupy.ones(1), "resize")]
    for module, name in numpy_only:
        with pytest.raises(AttributeError):
            getattr(module, name)
    rng = cupy.random.RandomState(0)
    assert not hasattr(rng, "random") and rng.random_sample((2,), np.float32).dtype == np.float32
    assert rng.standard_normal(3).dtype == np.float64
    with pytest.raises(TypeError, match="float32 and float64"):
        rng.random_sample(2, dtype=np.int32)


def test_one_device_and_cupys_scatter_add_dtypes() -> None:
    with cupy.cuda.Device(0) as device:
        assert cupy.zeros(1).device.id == device.id == 0 and cupy.cuda.runtime.getDeviceCount() == 1
    with pytest.raises(CUDARuntimeError, match="invalid device ordinal"):
        cupy.cuda.Device(1).synchronize()
    with pytest.raises(TypeError, match="scatter_add only supports"):
        cupyx.scatter_add(cupy.zeros(3, dtype=np.int64), cupy.asarray([0, 0]), 1)
    x = cupy.zeros(3, dtype=np.float32)
    cupyx.scatter_add(x, np.array([0, 0, 2]), cupy.ones(3, dtype=np.float32))
    assert x.get().tolist() == [2, 0, 1]


@needs_nvcc
def test_elementwise_kernel_runs_its_cuda_body_on_device_arrays_only() -> None:
    axpy = cupy.ElementwiseKernel("T x, T a", "T y", "y = y + a * x;", "axpy")
    x, y = cupy.arange(4, dtype=np.float32), cupy.ones(8, dtype=np.float32)[::2]  # a strided output
    assert axpy(x, 2.0, y) is y and y.get().tolist() == [1, 3, 5, 7]
    with pytest.raises(TypeError, match="Unsupported type"):
        axpy(np.arange(4, dtype=np.float32), 2.0, y)


SCALE = """typedef float T;
extern "C" __global__ void scale(const unsigned long long *ptrs, long long n, T a) {
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
    T *x = (T *)ptrs[0];
    x[i] = x[i] * a;
  }
}
"""


@needs_nvcc
@pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++)")
def test_raw_kernel_runs_every_thread_and_takes_exact_types_only() -> None:
    """A raw kernel's grid runs whole (3 blocks of 4 threads over 10 elements, one thread a element), through
    pointers read from a device array, and a scalar must be a numpy scalar of the parameter's type."""
    x = cupy.arange(10, dtype=np.float32)
    ptrs = cupy.asarray(np.array([x.data.ptr], np.uint64))
    kernel = cupy.RawKernel(SCALE, "scale")
    kernel((3,), (4,), (ptrs, np.int64(10), np.float32(2.5)))
    assert x.get().tolist() == [2.5 * k for k in range(10)]
    kernel((1,), (3,), (ptrs, np.int64(10), np.float32(2.0)))  # a grid smaller than the work: strides over it
    assert x.get().tolist() == [5.0 * k for k in range(10)]
    for bad, match in [((ptrs, 10, np.float32(2.0)), "Python number"), ((ptrs, np.int64(10), 2.0), "Python number"),
                       ((ptrs, np.int64(10), np.float64(2.0)), "pass numpy.float32"),
                       ((ptrs, np.int32(10), np.float32(2.0)), "pass numpy.int64"),
                       ((np.zeros(1, np.uint64), np.int64(10), np.float32(2.0)), "Unsupported type"),
                       ((ptrs, np.int64(10)), "takes 3 arguments")]:
        with pytest.raises(TypeError, match=match):
            kernel((1,), (4,), bad)
    assert x.get().tolist() == [5.0 * k for k in range(10)]
    with pytest.raises(NotImplementedError, match="__syncthreads"):
        cupy.RawKernel(SCALE.replace("x[i] = x[i] * a;", "__syncthreads();"), "scale")((1,), (1,), (ptrs, np.int64(1),
                                                                                                     np.float32(1)))


NO_TORCH = importlib.util.find_spec("torch") is None


@needs_nvcc
def test_the_gpu_tests_pass_on_the_fake_cupy(tmp_path: Path) -> None:
    """Every ``@pytest.mark.gpu`` test, run on the fake in a subprocess: none may fail or be skipped."""
    report = tmp_path / "gpu.xml"
    env = {**os.environ, "TINYGRAD_ADAM_FAKE_GPU": "1"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests",
                          f"--junitxml={report}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    suite = ElementTree.parse(report).getroot().find("testsuite")
    counts = {k: int(suite.get(k)) for k in ("tests", "skipped", "failures", "errors")}
    assert counts["tests"] > 50 and counts["failures"] == counts["errors"] == 0, counts
    # only tests that need the real data may skip, and only where it is absent (never in CI, which requires it)
    # (and, where torch is not installed, the modules that use it as the oracle, which skip at collection)
    reasons = [s.get("message", "") for s in suite.iter("skipped") if not (NO_TORCH and s.get("message") ==
                                                                            "collection skipped")]
    assert all("TINYGRAD_ADAM_DATA" in r for r in reasons) and not (reasons and realdata.find("mnist")), reasons
