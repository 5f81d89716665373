"""``cyclegan.py`` (junyanz/pytorch-CycleGAN-and-pix2pix's CycleGAN and pix2pix on 3x16x16 synthetic images) run on
torch and, imports swapped, on ours from torch's initial weights (after the repository's ``init_weights``), with
Python's ``random`` (the ImagePool's) seeded alike: per step every loss, the gradient norms of the generators and of
the discriminators, the images the pools hand the discriminators; per epoch the learning rates (LambdaLR's linear
decay), the visuals through ``tensor2im``, the printed lines and the warnings; then the final parameters. A CycleGAN
run stopped after two epochs, saved (``save_networks`` plus the optimizers, pools and random state), loaded into a
fresh model through ``--continue_train`` / ``--epoch_count`` and trained on equals the uninterrupted run bit for bit.
A pre-0.4 checkpoint (InstanceNorm ``running_mean`` / ``running_var`` keys) loads through
``__patch_instance_norm_state_dict`` and is refused without it, as in torch; ``init_weights``' four initialisers
give the distributions they promise (also drawn from a fixed ``generator=``), in ours as in torch; the dropout
generator matches in eval mode; and aitorzip/PyTorch-CycleGAN's 2017 loop matches step by step.

Tolerances: float32; the runs differ by summation order in the convolutions. Measured over 6 Adam steps (aitorzip's
loop: 6 too): losses within 3.8e-6 (of up to 60: pix2pix's L1 x 100), generator gradient norms within 2.2e-4 of 108
(3.4e-6 relative), discriminator norms within 4.7e-6 of 47 (wgangp's gradient penalty), pool / buffer images within
7.9e-6, parameters within 1.7e-6 (junyanz) and 2.2e-5 (aitorzip: Adam's first steps are ~lr whatever the gradient, so
a weight whose gradient is near 0 takes a rounding-decided step). We allow rtol 5e-5 with atol 2e-5 for the series
and the pools, atol 4e-5 for parameters. The biases of convolutions an InstanceNorm(affine=False) follows get
gradients that are rounding noise (~1e-6 beside weight gradients of ~100: the mean removes the bias), so Adam moves
them by ~lr either way: seen up to 1.4e-3 after 6 steps, allowed 2 x steps x lr. ``tensor2im`` truncates
to uint8, so a pixel can fall either side of an integer: at most 1 apart and 97% equal (seen: 99.9%). A printed loss
(``%.3f``) can round the other way, so lines are compared as text up to the numbers, and those within 1.1e-3. The
lrs are Python floats from the same lambda: equal. Runtime ~6.5 s (torch on one thread)."""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 5e-5, "atol": 2e-5}
NUMBER = re.compile(r"-?\d+\.\d+")
VARIANTS = {
    "cyclegan": {},
    "cyclegan_batch_replicate_vanilla_kaiming": {"norm": "batch", "padding_type": "replicate", "gan_mode": "vanilla",
                                                 "init_type": "kaiming", "n_epochs": 1, "n_epochs_decay": 1},
    "pix2pix_unet_batch": {"netG": "unet_16", "norm": "batch", "ngf": 2, "gan_mode": "vanilla"},
    "pix2pix_wgangp_xavier": {"netG": "unet_16", "norm": "batch", "ngf": 2, "gan_mode": "wgangp",
                              "init_type": "xavier", "n_epochs": 1, "n_epochs_decay": 1},
}


def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"A": rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32),
            "B": np.tanh(rng.standard_normal((4, 3, 16, 16)) + 0.5).astype(np.float32)}


def make(m, weights: dict | None, **options: object):
    """The model of ``options`` after ``setup``; with ``weights`` ({net name: state_dict arrays}) loaded."""
    opt = m.options(**options)
    model = (m.Pix2PixModel if opt.netG == "unet_16" else m.CycleGANModel)(opt)
    model.setup(opt)
    for name in model.model_names if weights else ():
        getattr(model, "net" + name).load_state_dict(weights[name])
    return model


def params(model) -> dict[str, np.ndarray]:
    return {f"{n}.{k}": v.detach().numpy().copy() for n in model.model_names
            for k, v in getattr(model, "net" + n).state_dict().items()}


def normed_biases(nets: dict) -> list[str]:
    """The biases of the convolutions an InstanceNorm (affine=False) follows in ``nets`` ({name: module}): its mean
    removes them, so their gradients are rounding noise (~1e-6 of the weights' ~100) that Adam turns into steps of
    about lr."""
    names = []
    for n, net in nets.items():
        for prefix, seq in net.named_modules():
            layers = list(seq.children()) if type(seq).__name__ == "Sequential" else []
            names += [f"{n}.{prefix}.{i}.bias" for i, (conv, norm) in enumerate(zip(layers, layers[1:]))
                      if type(norm).__name__ == "InstanceNorm2d" and getattr(conv, "bias", None) is not None]
    return names


def run(lib: str, weights: dict | None, capsys: pytest.CaptureFixture[str], **options: object) -> tuple[dict, dict]:
    """One training run of ``options`` on ``lib``: its log (with the printed text and the warnings) and the initial
    weights it started from."""
    with program(HERE / "cyclegan.py", lib) as m, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(0)
        model = make(m, weights, **options)
        weights = {n: {k: v.detach().numpy().copy() for k, v in getattr(model, "net" + n).state_dict().items()}
                   for n in model.model_names}
        random.seed(0)
        log = m.train(model, images())
    log["params"], log["normed"] = params(model), normed_biases(
        {n: getattr(model, "net" + n) for n in model.model_names})
    log["printed"] = capsys.readouterr().out
    # float(loss): torch's warning and ours (in our words), each once per process, in whichever test is first
    once = ("Converting a tensor with requires_grad=True", "Reading a Python number from a tensor that requires grad")
    log["warnings"] = sorted({(w.category, str(w.message).splitlines()[0]) for w in caught
                              if not any(text in str(w.message) for text in once)})
    return log, weights


def agree(ours: dict, theirs: dict) -> None:
    for key in ("losses", "norm_G", "norm_D", "pool"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    assert ours["lr"] == theirs["lr"] and ours["printed"] == theirs["printed"]
    assert ours["warnings"] == theirs["warnings"]
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        assert NUMBER.sub("#", got) == NUMBER.sub("#", want)
        np.testing.assert_allclose([float(x) for x in NUMBER.findall(got)],
                                   [float(x) for x in NUMBER.findall(want)], rtol=0, atol=1.1e-3)
    for got, want in zip(ours["images"], theirs["images"], strict=True):
        assert list(got) == list(want)
        for name in want:
            assert got[name].dtype == want[name].dtype == np.uint8
            assert got[name].shape == want[name].shape == (16, 16, 3)
            diff = np.abs(got[name].astype(int) - want[name])
            assert diff.max() <= 1 and (diff == 0).mean() >= 0.97, name
    assert ours["normed"] == theirs["normed"]
    close_but_normed(ours["params"], theirs["params"], theirs["normed"], len(theirs["losses"]))


def close_but_normed(ours: dict, theirs: dict, normed: list[str], steps: int) -> None:
    """Final parameters within 4e-5, but for the ``normed`` biases: within Adam's ``steps`` of ~lr either way."""
    assert set(normed) <= theirs.keys()
    assert all(np.abs(ours[k] - theirs[k]).max() <= 2 * steps * 2e-4 for k in normed)
    assert_params_close({k: v for k, v in ours.items() if k not in normed},
                        {k: v for k, v in theirs.items() if k not in normed}, rtol=0, atol=4e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cyclegan_and_pix2pix_match_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str],
                                          variant: str) -> None:
    options = VARIANTS[variant]
    theirs, weights = run("torch", None, capsys, **options)
    ours, _ = run("ours", weights, capsys, **options)
    agree(ours, theirs)
    epochs = options.get("n_epochs", 1) + options.get("n_epochs_decay", 2)
    assert len(ours["losses"]) == 2 * epochs and ours["lr"][-1] == [0.0, 0.0]  # the linear decay ends at 0
    assert len(ours["pool"]) == (2 * epochs if variant.startswith("cyclegan") else 0)
    assert ours["printed"].count("learning rate 0.") == epochs


def test_resume_equals_the_uninterrupted_run(one_torch_thread: None, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    with program(HERE / "cyclegan.py", "ours") as o:
        torch.manual_seed(0)
        with program(HERE / "cyclegan.py", "torch") as t:
            weights = {n: {k: v.numpy() for k, v in getattr(make(t, None), "net" + n).state_dict().items()}
                       for n in ("G_A", "G_B", "D_A", "D_B")}
        random.seed(0)
        whole = make(o, weights)
        want = o.train(whole, images())
        random.seed(0)
        first = make(o, weights, checkpoints_dir=str(tmp_path))
        got = o.train(first, images(), last_epoch=2)
        o.save_training(first, tmp_path / "state.pt")
        random.seed(1)  # load_training restores the pools' random state
        resumed = make(o, None, checkpoints_dir=str(tmp_path), continue_train=True, epoch_count=3)
        o.load_training(resumed, tmp_path / "state.pt")
        rest = o.train(resumed, images())
    assert "loading the model from" in capsys.readouterr().out
    for key in ("losses", "norm_G", "norm_D", "lr", "lines"):
        assert got[key] + rest[key] == want[key], key
    for a, b in zip(got["pool"] + rest["pool"], want["pool"], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got["images"] + rest["images"], want["images"], strict=True):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in b)
    assert all(np.array_equal(params(resumed)[k], v) for k, v in params(whole).items())


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_pre_0_4_instance_norm_checkpoint_loads_through_the_patch(lib: str, capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    with program(HERE / "cyclegan.py", lib) as m:
        mod = m.torch
        model = make(m, None, checkpoints_dir=str(tmp_path))
        model.save_networks("latest")
        for name in model.model_names:  # as torch 0.3 saved them: the InstanceNorms' running stats
            path = tmp_path / f"latest_net_{name}.pth"
            state = dict(mod.load(path))
            for key, module in getattr(model, "net" + name).named_modules():
                if isinstance(module, mod.nn.InstanceNorm2d):
                    state[key + ".running_mean"] = mod.zeros(module.num_features)
                    state[key + ".running_var"] = mod.ones(module.num_features)
            mod.save(state, path)
        fresh = make(m, None, checkpoints_dir=str(tmp_path), continue_train=True)
        with pytest.raises(RuntimeError, match="running_mean"):
            fresh.netG_A.load_state_dict(mod.load(tmp_path / "latest_net_G_A.pth"))
    assert params(fresh).keys() == params(model).keys()
    assert all(np.array_equal(params(fresh)[k], v) for k, v in params(model).items())
    assert "loading the model from" in capsys.readouterr().out


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights_distributions(init_type: str) -> None:
    """Each initialised conv weight of the generator (and its BatchNorm weights) against the law ``init_weights``
    asks for, in both libraries: normal(0, 0.02), xavier_normal_ (gain 0.02), kaiming_normal_ (fan_in),
    orthogonal_ (gain 0.02; exact); biases 0. Std within 35% (layers of 72-1176 weights: a few standard errors)."""
    for lib in ("torch", "ours"):
        with program(HERE / "cyclegan.py", lib) as m:
            m.torch.manual_seed(3)
            net = m.define_G(3, 3, 8, "resnet_2blocks", "batch", False, init_type, 0.02)
            for name, module in net.named_modules():
                if isinstance(module, m.nn.BatchNorm2d):
                    assert abs(float(module.weight.mean()) - 1) < 0.02 and float(module.weight.std()) < 0.05, name
                if not isinstance(module, (m.nn.Conv2d, m.nn.ConvTranspose2d)):
                    continue
                w = module.weight.detach().numpy()
                fan_in = w.shape[1] * w[0, 0].size
                fan_out = w.shape[0] * w[0, 0].size
                expected = {"normal": 0.02, "xavier": 0.02 * np.sqrt(2 / (fan_in + fan_out)),
                            "kaiming": np.sqrt(2 / fan_in)}
                if init_type == "orthogonal":
                    flat = w.reshape(w.shape[0], -1)
                    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
                    np.testing.assert_allclose(gram, 0.02 ** 2 * np.eye(len(gram)), atol=1e-8, err_msg=name)
                else:
                    assert 0.65 < w.std() / expected[init_type] < 1.35, (lib, name, w.std(), expected[init_type])
                assert module.bias is None or not module.bias.detach().numpy().any()


def test_aitorzip_cyclegan_matches_torch(one_torch_thread: None) -> None:
    """aitorzip's spelling: ``Variable``, ``torch.Tensor(n, ...)`` buffers filled by ``copy_``, the deprecated
    ``init.normal`` / ``init.constant`` (FutureWarning in both), an ``avg_pool2d`` over ``x.size()[2:]``, three
    LambdaLRs stepping a bound method, and its ReplayBuffer iterating ``data.data``."""
    def train(m, nets, lib: str) -> dict:
        random.seed(0)
        log = m.aitorzip_train(nets, images())
        log["params"] = {k: v.detach().numpy().copy() for k, v in nets.state_dict().items()}
        log["normed"] = normed_biases(dict(nets.named_children()))
        return log

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`?nn.init.(normal|constant)`? is( now)? deprecated", FutureWarning)
        theirs, ours = from_torch_weights(HERE / "cyclegan.py", lambda m: m.aitorzip_nets(), train)
    for key in ("losses", "buffer"):
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    assert ours["lr"] == theirs["lr"] and ours["lr"][-1] == [0.0] * 3 and len(ours["losses"]) == 6
    assert ours["normed"] == theirs["normed"] and len(theirs["normed"]) == 2 * 7 + 2 * 1
    close_but_normed(ours["params"], theirs["params"], theirs["normed"], len(theirs["losses"]))


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_init_with_a_fixed_generator(lib: str) -> None:
    """The four initialisers with ``generator=``: one seed gives one draw, the global generator is left alone, and a
    (32, 16, 3, 3) weight (4608 draws) has the promised std within 5%."""
    with program(HERE / "cyclegan.py", lib) as m:
        init, mod = m.init, m.torch
        fan = 16 * 9
        laws = {init.normal_: ({"mean": 0.0, "std": 0.02}, 0.02),
                init.xavier_normal_: ({"gain": 0.02}, 0.02 * np.sqrt(2 / (fan + 2 * fan))),
                init.kaiming_normal_: ({"a": 0, "mode": "fan_in"}, np.sqrt(2 / fan)),
                init.orthogonal_: ({"gain": 0.02}, 0.02 / np.sqrt(fan))}
        for f, (kw, std) in laws.items():
            draws = []
            for _ in range(2):
                mod.manual_seed(0)
                w = mod.empty(32, 16, 3, 3)
                f(w, generator=mod.Generator().manual_seed(5), **kw)
                draws.append((w.numpy(), mod.randn(3).numpy()))
            mod.manual_seed(0)
            assert np.array_equal(draws[0][0], draws[1][0]) and np.array_equal(draws[0][1], mod.randn(3).numpy())
            assert abs(draws[0][0].std() / std - 1) < 0.05, (f.__name__, draws[0][0].std(), std)


def test_dropout_generator_in_eval_matches_torch_and_masks_half_in_train(one_torch_thread: None) -> None:
    """``--no_dropout`` off: the ResnetBlocks' Dropout(0.5). Its masks come from each library's own generator, so the
    runs compare in eval mode (the repository's ``--eval``); in train mode half the values are dropped, the rest
    doubled."""
    x = images()["A"][:2]
    outs = {}
    for lib in ("torch", "ours"):
        with program(HERE / "cyclegan.py", lib) as m:
            torch.manual_seed(0)
            net = m.define_G(3, 3, 4, "resnet_2blocks", "instance", True)
            if lib == "torch":
                weights = {k: v.numpy() for k, v in net.state_dict().items()}
            else:
                net.load_state_dict(weights)
            drops = [d for d in net.modules() if isinstance(d, m.nn.Dropout)]
            assert len(drops) == 2 and drops[0].p == 0.5
            net.eval()
            with m.torch.no_grad():
                outs[lib] = net(m.torch.from_numpy(x)).numpy()
            net.train()
            masked = drops[0](m.torch.ones(20000)).numpy()
            assert set(np.unique(masked)) == {0.0, 2.0} and abs((masked == 0).mean() - 0.5) < 0.02
    np.testing.assert_allclose(outs["ours"], outs["torch"], rtol=0, atol=2e-6)
