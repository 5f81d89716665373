"""``einsum_transformer.py`` (Aladdin Persson's "Transformer from scratch": einsum attention in the list form,
``masked_fill(mask == 0, float("-1e20"))``, learned positions, a tril target mask) trained on a synthetic copy /
reverse task, run on torch and, imports swapped, on ours from torch's initial weights and the same batches: the
losses, the clipped gradient norms and the norms after clipping, greedy decodes, logits on a held-out batch and the
final parameters; the einsum forms such code uses, with gradients; the ``__main__`` smoke shape; and dropout.

Tolerances: float32; the runs differ by summation order. Measured over 20 Adam steps (lr 3e-3): losses within
3.6e-7 (of ~2), gradient norms within 1.2e-7 relative, logits within 3.6e-7, parameters within 1.2e-7; over 120
steps at lr 1e-2 (the learning check) losses within 7.9e-6 relative, norms within 3.4e-5 relative, logits within
2.4e-5, parameters within 1.9e-6 (on an AMD EPYC with OpenBLAS's Haswell kernels norms within 1.3e-4 relative,
logits 1.4e-4). We allow rtol 1e-4 for the series (3e-4 for the gradient norms), atol 3e-4 for logits and 2e-5 for
parameters.
The einsum forms agree within 4.8e-7 (outputs) and 9.6e-7 (gradients); we allow rtol 1e-5, atol 2e-6. The decodes
are token lists and must be equal (their argmax margins are far above these differences)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "einsum_transformer.py"


def both(steps: int, lr: float) -> tuple[dict, dict]:
    return from_torch_weights(PATH, lambda m: m.make_model(), lambda m, model, lib: m.run(model, steps, lr))


def agree(theirs: dict, ours: dict, logits_atol: float) -> None:
    for key in ("loss", "norm", "clipped"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=3e-4 if key == "norm" else 1e-4, err_msg=key)
    assert ours["decoded"] == theirs["decoded"]
    np.testing.assert_allclose(ours["eval_logits"], theirs["eval_logits"], rtol=0, atol=logits_atol)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=2e-5)


def test_einsum_transformer_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both(20, 3e-3)
    agree(theirs, ours, 1e-5)
    assert max(ours["clipped"]) <= 1 + 1e-5 and max(ours["norm"]) > 1  # clip_grad_norm_ clipped some steps


def test_einsum_transformer_learns_like_torch(one_torch_thread: None) -> None:
    theirs, ours = both(120, 1e-2)
    agree(theirs, ours, 3e-4)
    assert ours["loss"][-1] < 0.4 * ours["loss"][0]
    assert ours["decoded"][0] == [3, 5, 6, 2] and ours["decoded"][2] == [3, 4, 2]  # copies (first token 3)


def test_einsum_forms_and_their_gradients_match_torch(one_torch_thread: None) -> None:
    with program(PATH, "torch") as t, program(PATH, "ours") as o:
        theirs, ours = t.einsum_forms(), o.einsum_forms()
    assert ours.keys() == theirs.keys()
    for name, (want, want_grads) in theirs.items():
        got, grads = ours[name]
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6, err_msg=name)
        assert [g.shape for g in grads] == [g.shape for g in want_grads], name
        for g, w in zip(grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6, err_msg=name)
    np.testing.assert_array_equal(ours["implicit"][0], ours["list"][0])  # the three spellings: one computation
    np.testing.assert_array_equal(ours["explicit"][0], ours["list"][0])
    np.testing.assert_array_equal(ours["diagonal"][0].sum(), ours["trace"][0])


def test_smoke_masks_and_dropout(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    with program(PATH, "torch") as t, program(PATH, "ours") as o:
        torch.manual_seed(0)
        theirs = t.make_model(dropout=0.1)
        ours = o.make_model(dropout=0.1)
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        shapes = [tuple(m.smoke(model).shape) for m, model in ((t, theirs), (o, ours))]
        lines = capsys.readouterr().out.splitlines()
        src, trg = o.batches(1)[0]
        src_mask = ours.make_src_mask(o.torch.tensor(src))
        trg_mask = ours.make_trg_mask(o.torch.tensor(trg))
        np.testing.assert_array_equal(src_mask.numpy(), theirs.make_src_mask(torch.tensor(src)).numpy())
        np.testing.assert_array_equal(trg_mask.numpy(), theirs.make_trg_mask(torch.tensor(trg)).numpy())
        ours.train()
        first, second = (ours(o.torch.tensor(src), o.torch.tensor(trg)).detach().numpy() for _ in range(2))
        ours.eval()
        with o.torch.no_grad():
            evaluated = ours(o.torch.tensor(src), o.torch.tensor(trg)).numpy()
        with torch.no_grad():
            wanted = theirs.eval()(torch.tensor(src), torch.tensor(trg)).numpy()
    assert shapes == [(2, 7, 8)] * 2 and lines[0] == "torch.Size([2, 7, 8])" and lines[1] == "(2, 7, 8)"
    assert src_mask.shape == (6, 1, 1, 7) and str(src_mask.dtype) == "bool" and str(trg_mask.dtype) == "float32"
    assert trg_mask.shape == (6, 1, 8, 8)
    assert not np.allclose(first, second) and np.isfinite(first).all()  # dropout draws differ, stay finite
    np.testing.assert_allclose(evaluated, wanted, rtol=0, atol=1e-5)  # eval: no dropout
