"""``ncf.py`` (guoyang9/NCF's config / data_utils / model / evaluate / main) run on torch and, imports swapped, on
ours: from torch's initial weights and the same numpy negative samples, GMF and MLP pretrained with Adam and saved
whole as state dicts, then NeuMF-pre built from the two read back by ``torch.load`` (the copied
embeddings and tower, the 0.5-weighted ``torch.cat`` predict layer) and fine-tuned with SGD; and NeuMF-end with
dropout 0.5, its masks fed from numpy by forward hooks on the ``nn.Dropout`` modules, evaluated in eval mode. The
losses, gradient norms, every parameter after every step, HR@10 / NDCG@10 and the printed lines agree.

Tolerances: float32, the runs differing by summation order in the matmuls and the BCE mean. Measured over 14 steps
each of GMF, MLP, NeuMF-pre and the dropout NeuMF-end: losses within 1.8e-7 relative, gradient norms 1.2e-7,
parameters (up to 0.6 in size) 8.4e-7 absolute (the dropout run; 4.5e-7 without). We allow rtol 1e-6 for the losses
and gradient norms and atol 2e-6 for the parameters; HR / NDCG and the printed lines are compared exactly. Ties in
the predictions would rank differently (ours' ``topk`` takes the lowest tied index first, torch's CPU selection an
order of its own: README's Differences); these runs have none. A whole module saved by ``torch.save(model, ...)``
loads back with ``weights_only=False`` in both, checked below. The file takes about 6 s (torch on one thread) on a
shared 2-core machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "ncf.py"
RTOL, ATOL = 1e-6, 2e-6


def configure(m: object, tmp_path: Path, lib: str, **kw: object) -> None:
    """The program's config for one run, its models under ``tmp_path/lib``."""
    m.config.model_path = f"{tmp_path / lib}/"
    for k, v in kw.items():
        setattr(m.config, k, v)


def agree(theirs: dict, ours: dict) -> dict:
    """Step-by-step losses, gradient norms and parameters; exact HR / NDCG. Returns the largest differences."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    worst = 0.0
    for step, (got, want) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
            worst = max(worst, float(np.abs(got[name] - want[name]).max()))
    assert ours["HR"] == theirs["HR"] and ours["NDCG"] == theirs["NDCG"]
    loss = np.abs(np.array(ours["loss"]) / np.array(theirs["loss"]) - 1).max()
    norm = np.abs(np.array(ours["grad_norm"]) / np.array(theirs["grad_norm"]) - 1).max()
    return {"loss": loss, "norm": norm, "param": worst}


def test_gmf_mlp_then_neumf_pre_match_torch(tmp_path: Path, one_torch_thread: None) -> None:
    ratings = None
    logs = {}

    def make(m: object) -> object:
        nonlocal ratings
        ratings = m.make_ratings()
        _, _, user_num, item_num, _ = m.load_all(ratings)
        return m.nn.ModuleDict({name: m.NCF(user_num, item_num, 8, 3, 0.0, name) for name in ("GMF", "MLP")})

    def run(m: object, models: object, lib: str) -> dict:
        out, lines = {}, []
        np.random.seed(0)
        for name in ("GMF", "MLP"):
            configure(m, tmp_path, lib, model=name, lr=0.01, dropout=0.0, epochs=2)
            out[name] = m.main(ratings, models[name], log=lines.append)
        configure(m, tmp_path, lib, model="NeuMF-pre", lr=0.05, epochs=2, out=False)
        _, _, user_num, item_num, _ = m.load_all(ratings)
        model = m.build_model(user_num, item_num)
        gmf = m.torch.load(f"{tmp_path / lib}/GMF.pth")
        np.testing.assert_array_equal(model.predict_layer.weight.detach().numpy()[:, :8],
                                      0.5 * gmf["predict_layer.weight"].numpy())
        out["NeuMF-pre"] = m.main(ratings, model, log=lines.append)
        out["lines"] = lines
        return out

    theirs, ours = from_torch_weights(PROGRAM, make, run)
    for name in ("GMF", "MLP", "NeuMF-pre"):
        logs[name] = agree(theirs[name], ours[name])
    assert ours["lines"] == theirs["lines"]
    assert any(line.startswith("End. Best epoch") for line in theirs["lines"])
    print(logs)


def test_neumf_end_with_fed_dropout_masks_matches_torch(tmp_path: Path, one_torch_thread: None) -> None:
    ratings = None

    def make(m: object) -> object:
        nonlocal ratings
        ratings = m.make_ratings()
        configure(m, tmp_path, "x", model="NeuMF-end", dropout=0.5, lr=0.01, epochs=2, out=False)
        _, _, user_num, item_num, _ = m.load_all(ratings)
        return m.build_model(user_num, item_num)

    def run(m: object, model: object, lib: str) -> dict:
        rng = np.random.default_rng(1)

        def feed(module: object, inputs: tuple, output: object) -> object:
            if not module.training:
                return output
            x = inputs[0]
            keep = (rng.random(tuple(x.shape)) >= module.p).astype(np.float32)
            return x * m.torch.from_numpy(keep) / (1 - module.p)

        for layer in model.MLP_layers:
            if isinstance(layer, m.nn.Dropout):
                layer.register_forward_hook(feed)
        np.random.seed(0)
        lines = []
        out = m.main(ratings, model, log=lines.append)
        out["lines"] = lines
        return out

    theirs, ours = from_torch_weights(PROGRAM, make, run)
    print(agree(theirs, ours))
    assert ours["lines"] == theirs["lines"]


def test_init_statistics_and_pretrained_copy(one_torch_thread: None) -> None:
    """Ours' own ``_init_weight_``: normal(0, 0.01) tables, xavier / kaiming(a=1, sigmoid) bounds, zero biases, and
    NeuMF-pre copying both pretrained models."""
    with program(PROGRAM, "ours") as m:
        m.torch.manual_seed(0)
        gmf, mlp = m.NCF(50, 400, 8, 3, 0.0, "GMF"), m.NCF(50, 400, 8, 3, 0.0, "MLP")
        table = gmf.embed_item_GMF.weight.detach().numpy()
        assert abs(table.std() - 0.01) < 1e-3 and abs(table.mean()) < 1e-3
        for layer in mlp.MLP_layers:
            if isinstance(layer, m.nn.Linear):
                fan_out, fan_in = layer.weight.shape
                assert np.abs(layer.weight.detach().numpy()).max() <= np.sqrt(6 / (fan_in + fan_out))
                assert not layer.bias.detach().numpy().any()
        # kaiming_uniform_(a=1, nonlinearity='sigmoid'): gain 1, bound sqrt(3 / fan_in)
        assert np.abs(gmf.predict_layer.weight.detach().numpy()).max() <= np.sqrt(3 / 8)
        pre = m.NCF(50, 400, 8, 3, 0.0, "NeuMF-pre", gmf, mlp)
        np.testing.assert_array_equal(pre.embed_user_MLP.weight.detach().numpy(),
                                      mlp.embed_user_MLP.weight.detach().numpy())
        np.testing.assert_array_equal(pre.predict_layer.bias.detach().numpy(),
                                      0.5 * (gmf.predict_layer.bias + mlp.predict_layer.bias).detach().numpy())


def test_whole_module_save_loads_back_as_in_torch(tmp_path: Path) -> None:
    """guoyang9's ``torch.save(model, path)`` and ``torch.load(path)`` of the whole module: in both libraries the
    default weights-only load refuses the file and ``weights_only=False`` gives the module back, computing what the
    saved one does (ours raised TypeError at the save: no pickle)."""
    import pickle

    from tinygrad_adam.checkpoint import CheckpointError

    outputs = []
    for lib, refusal in (("torch", pickle.UnpicklingError), ("ours", CheckpointError)):
        with program(PROGRAM, lib) as m:
            m.torch.manual_seed(0)
            model = m.NCF(4, 6, 2, 1, 0.0, "NeuMF-end")
            path = str(tmp_path / f"{lib}.pth")
            m.torch.save(model, path)
            with pytest.raises(refusal, match="weights_only"):
                m.torch.load(path)
            again = m.torch.load(path, weights_only=False)
            users, items = m.torch.tensor([0, 3, 2]), m.torch.tensor([1, 5, 0])
            assert type(again) is m.NCF and again is not model
            outputs.append((again(users, items).tolist(), model(users, items).tolist()))
    assert outputs[0][0] == outputs[0][1] and outputs[1][0] == outputs[1][1]
