"""Tests for genrestore.checkpoint (safetensors files that describe themselves) and tasks.load."""

from __future__ import annotations

import dataclasses
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import genrestore
from genrestore import tasks
from genrestore.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
    save_fp16,
)
from genrestore.config import GANConfig, VAEConfig
from genrestore.errors import UserError
from genrestore.models.gan import GANGenerator
from genrestore.models.vae import VAE

TINY_GAN = GANConfig(size=16, ngf=8, ndf=8, nz=8)
TINY_VAE = VAEConfig(size=16, nz=8, nf=8)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(tmp_path / "checkpoints"))


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "model.w": torch.randn(3, 4, generator=g),
        "model.half": torch.randn(5, generator=g).half(),
        "model.count": torch.tensor(7, dtype=torch.int64),
        "model.flags": torch.tensor([True, False]),
        "ema.w": torch.randn(3, 4, generator=g),
    }


def _write(path: Path, **kw) -> Path:
    args = {"family": "gan", "config": dataclasses.asdict(TINY_GAN), "step": 12, "card": {}}
    args.update(kw)
    tensors = args.pop("tensors", None) or _tensors()
    save_checkpoint(path, tensors, **args)
    return path


def _tiny_model(family: str = "gan", seed: int = 0) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(seed)
    if family == "gan":
        return GANGenerator(TINY_GAN), TINY_GAN
    return VAE(TINY_VAE), TINY_VAE


def _tiny_checkpoint(path: Path, family: str = "gan", seed: int = 0) -> Path:
    model, cfg = _tiny_model(family, seed)
    save_checkpoint(
        path,
        {"model." + k: v for k, v in model.state_dict().items()},
        family=family,
        config=dataclasses.asdict(cfg),
    )
    return path


def _header_len(path: Path) -> int:
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def _user_error(path) -> str:
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    return msg


# --- round trip ---------------------------------------------------------------------------


def test_round_trip(tmp_path):
    card = {"family": "gan", "steps": 12, "note": "tiny"}
    path = _write(tmp_path / "c.safetensors", card=card, meta={"extra": "yes"})
    ck = load_checkpoint(path)
    assert ck.family == "gan"
    assert ck.config == dataclasses.asdict(TINY_GAN)
    assert ck.step == 12
    assert ck.card == card
    assert ck.meta["extra"] == "yes" and ck.meta["format"] == "genrestore"
    assert ck.meta["format_version"] == str(FORMAT_VERSION)
    assert ck.path == str(path)
    expected = _tensors()
    assert set(ck.tensors) == set(expected)
    for k, v in expected.items():
        assert ck.tensors[k].dtype == v.dtype and torch.equal(ck.tensors[k], v), k
    assert set(ck.group("model")) == {"w", "half", "count", "flags"}
    assert torch.equal(ck.group("ema")["w"], expected["ema.w"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temp file left


def test_exported_fp16_model_loads_and_matches(tmp_path):
    full = _tiny_checkpoint(tmp_path / "full.safetensors")
    save_fp16(load_checkpoint(full), tmp_path / "half.safetensors")
    a = tasks.load(full).sample(tasks.latents(3, TINY_GAN.nz, seed=0))
    b = tasks.load(tmp_path / "half.safetensors").sample(tasks.latents(3, TINY_GAN.nz, seed=0))
    assert (a - b).abs().max() < 0.02
    assert not torch.equal(a, b)  # really went through fp16


@pytest.mark.parametrize("target", [0x80, 0x4B50])  # header length bytes "\x80 .." and "PK.."
def test_header_length_that_looks_like_pickle_magic_still_loads(tmp_path, target):
    # A valid safetensors file's first bytes are its header length; some lengths start with
    # the bytes of pickle (0x80) or zip ("PK") magic and must not be mistaken for those.
    base = _header_len(_write(tmp_path / "probe.safetensors", card={"pad": ""}))
    modulus = 256 if target < 256 else 65536
    need = (target - base) % modulus
    path = tmp_path / "edge.safetensors"
    for extra in range(need, need + 16):
        _write(path, card={"pad": "a" * extra})
        if _header_len(path) % modulus == target:
            break
    head = path.read_bytes()[:2]
    assert head[:1] == b"\x80" if target == 0x80 else head == b"PK"
    ck = load_checkpoint(path)
    assert ck.card["pad"].startswith("a") and torch.equal(
        ck.tensors["model.w"], _tensors()["model.w"]
    )


# --- everything that is not a (current, intact) genrestore checkpoint ----------------------


def test_missing_file_and_folder(tmp_path):
    assert "no such checkpoint file" in _user_error(tmp_path / "nope.safetensors")
    assert "folder" in _user_error(tmp_path)


def test_pickle_renamed_to_safetensors(tmp_path):
    raw = tmp_path / "raw.safetensors"
    torch.save({"w": torch.ones(2)}, raw, _use_new_zipfile_serialization=False)
    assert raw.read_bytes()[:1] == b"\x80"
    assert "pickle" in _user_error(raw)

    zipped = tmp_path / "zipped.safetensors"
    torch.save({"w": torch.ones(2)}, zipped)  # the default: a zip holding a pickle
    assert zipped.read_bytes()[:2] == b"PK"
    assert "pickle" in _user_error(zipped)

    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(pickle.dumps({"w": [1, 2, 3]}, protocol=4))
    assert "pickle" in _user_error(plain)


class _Evil:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_unpickles(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Evil(proof)))  # the payload does work when unpickled...
    assert proof.exists()

    marker = tmp_path / "marker"
    files = [tmp_path / "evil.safetensors", tmp_path / "evil.pt", tmp_path / "evil-zip.safetensors"]
    files[0].write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    torch.save({"x": _Evil(marker)}, files[1], _use_new_zipfile_serialization=False)
    torch.save({"x": _Evil(marker)}, files[2])
    for f in files:
        _user_error(f)
        with pytest.raises(UserError):
            tasks.load(f)
    assert not marker.exists()  # ...but genrestore never unpickled it


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.ones(2, 2)}, str(path))
    assert "not a genrestore checkpoint" in _user_error(path)
    save_file({"weight": torch.ones(2)}, str(path), metadata={"format": "pt"})
    assert "not a genrestore checkpoint" in _user_error(path)


def test_newer_format_version(tmp_path):
    path = _write(tmp_path / "new.safetensors", meta={"format_version": "99"})
    msg = _user_error(path)
    assert "newer" in msg and "99" in msg
    bad = _write(tmp_path / "bad.safetensors", meta={"format_version": "one"})
    assert "format_version" in _user_error(bad)


def test_incomplete_metadata(tmp_path):
    path = tmp_path / "nofamily.safetensors"
    save_file(
        {"model.w": torch.ones(2)},
        str(path),
        metadata={"format": "genrestore", "format_version": "1", "config": "{}"},
    )
    assert "incomplete" in _user_error(path)


def test_truncated_files(tmp_path):
    data = _write(tmp_path / "ok.safetensors").read_bytes()
    hlen = _header_len(tmp_path / "ok.safetensors")

    cut_tail = tmp_path / "cut-tail.safetensors"
    cut_tail.write_bytes(data[:-5])
    assert "truncated" in _user_error(cut_tail)

    cut_header = tmp_path / "cut-header.safetensors"
    cut_header.write_bytes(data[: 8 + hlen // 2])
    assert "header" in _user_error(cut_header)

    short = tmp_path / "short.safetensors"
    short.write_bytes(data[:5])
    assert "too short" in _user_error(short)

    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert "too short" in _user_error(empty)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _user_error(path)


def test_corrupt_header_json(tmp_path):
    body = b'{"model.w": not json at all}'
    path = tmp_path / "junk.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    assert "corrupt" in _user_error(path)


# --- optimizer state without pickle -------------------------------------------------------


def _stepped_adam(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Adam]:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.9))
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(5, 4)).square().sum().backward()
        opt.step()
    return net, opt


def test_optimizer_round_trip(tmp_path):
    net, opt = _stepped_adam()
    tensors, rest = optimizer_to_tensors(opt, "optim.g")
    assert tensors and all(k.startswith("optim.g.") for k in tensors)
    path = tmp_path / "run.safetensors"
    weights = {f"model.{k}": v for k, v in net.state_dict().items()}
    save_checkpoint(
        path, {**weights, **tensors}, family="gan", config={}, meta={"optim": json.dumps(rest)}
    )

    ck = load_checkpoint(path)
    torch.manual_seed(123)  # a different start: everything must come from the file
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    net2.load_state_dict(ck.group("model"))
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.5)
    optimizer_from_tensors(opt2, ck.tensors, "optim.g", json.loads(ck.meta["optim"]))

    a, b = opt.state_dict(), opt2.state_dict()
    assert a["state"].keys() == b["state"].keys() and len(a["state"]) == 4
    for pid, st in a["state"].items():
        assert st.keys() == b["state"][pid].keys()
        for k, v in st.items():
            assert torch.equal(v, b["state"][pid][k]), (pid, k)
    assert json.loads(json.dumps(a["param_groups"])) == json.loads(json.dumps(b["param_groups"]))
    assert b["param_groups"][0]["lr"] == 1e-2

    x = torch.randn(5, 4)
    for n, o in ((net, opt), (net2, opt2)):  # one more identical step
        o.zero_grad()
        n(x).square().sum().backward()
        o.step()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


# --- tasks.load over a checkpoint ---------------------------------------------------------


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_load_generate_is_seeded(tmp_path, family):
    gen = tasks.load(_tiny_checkpoint(tmp_path / f"{family}.safetensors", family))
    assert isinstance(gen, tasks.Generator) and gen.family == family and gen.size == 16
    a = gen.generate(4, seed=1)
    b = gen.generate(4, seed=1)
    assert len(a) == 4 and all(im.size == (16, 16) and im.mode == "RGB" for im in a)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    c = gen.generate(4, seed=2)
    assert not any(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, c))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(a[1]))  # faces within a seed differ
    two, five = gen.generate(2, seed=7), gen.generate(5, seed=7)
    for i in range(2):
        assert np.array_equal(np.asarray(two[i]), np.asarray(five[i]))


def test_save_load_same_outputs(tmp_path):
    model, cfg = _tiny_model("gan")
    model.eval()
    with torch.no_grad():
        direct = model(tasks.latents(3, cfg.nz, seed=5))
    path = _tiny_checkpoint(tmp_path / "g.safetensors")
    z = tasks.latents(3, cfg.nz, seed=5)
    a, b = tasks.load(path).sample(z), tasks.load(path).sample(z)
    assert torch.equal(a, b)  # save -> load -> identical samples
    # Sampling folds BN into the convolutions and runs in bf16 on CPU: close to the fp32 net.
    assert (a - direct.clamp(-1, 1)).abs().mean() < 0.01
    assert (a - direct.clamp(-1, 1)).abs().max() < 0.1


def test_resize_generator_describes_itself_and_samples_as_trained(tmp_path):
    cfg = dataclasses.replace(TINY_GAN, g_upsample="resize")
    torch.manual_seed(0)
    model = GANGenerator(cfg).eval()
    # only the first layer (1x1 latent -> 4x4) is a transposed conv; each doubling resizes
    kinds = [type(m).__name__ for m in model.main]
    assert kinds.count("ConvTranspose2d") == 1 and kinds.count("Upsample") == 2
    z = tasks.latents(3, cfg.nz, seed=5)
    with torch.no_grad():
        direct = model(z)
    assert direct.shape == (3, 3, 16, 16)
    path = tmp_path / "resize.safetensors"
    weights = {"model." + k: v for k, v in model.state_dict().items()}
    save_checkpoint(path, weights, family="gan", config=dataclasses.asdict(cfg))
    a = tasks.load(path).sample(z)  # BN folded into the 3x3 convs, as for transposed ones
    assert (a - direct.clamp(-1, 1)).abs().mean() < 0.01
    assert (a - direct.clamp(-1, 1)).abs().max() < 0.1
    # the file's config, not a default, says how the net is built
    wrong = tmp_path / "says-transposed.safetensors"
    save_checkpoint(wrong, weights, family="gan", config=dataclasses.asdict(TINY_GAN))
    with pytest.raises(UserError, match="weights do not match"):
        tasks.load(wrong)
    with pytest.raises(ValueError, match="g_upsample"):
        dataclasses.replace(TINY_GAN, g_upsample="bilinear")


def test_eval_measures_samples_at_the_models_own_truncation(tmp_path):
    from genrestore.evaluate import evaluate_generator

    model, cfg = _tiny_model("gan")
    # BN shifts as a trained net has them: a fresh one (no biases) is positively homogeneous,
    # so a scaled latent scales the image, which the SWD's normalization does not see
    g = torch.Generator().manual_seed(1)
    weights = {
        "model." + k: v + 0.5 * torch.randn(v.shape, generator=g) if "bias" in k else v
        for k, v in model.state_dict().items()
    }
    reports = []
    for t in (1.0, 0.5):
        path = tmp_path / f"t{t}.safetensors"
        config = dataclasses.asdict(dataclasses.replace(cfg, truncation=t))
        save_checkpoint(path, weights, family="gan", config=config)
        reports.append(evaluate_generator(tasks.load(path), 8))
    assert [r["truncation"] for r in reports] == [1.0, 0.5]
    assert reports[0]["swd_floor"] == reports[1]["swd_floor"]  # the same real faces
    assert reports[0]["swd"] != reports[1]["swd"]  # other samples: those generate() gives
    # asked for, another truncation overrides the model's own: the samples the other file gives
    asked = evaluate_generator(tasks.load(tmp_path / "t1.0.safetensors"), 8, truncation=0.5)
    assert asked["truncation"] == 0.5 and asked["swd"] == reports[1]["swd"]
    with pytest.raises(UserError, match=r"truncation must be in \(0, 2\], got 3"):
        evaluate_generator(tasks.load(path), 8, truncation=3)


def test_wrong_shape_weights(tmp_path):
    path = tmp_path / "wide.safetensors"
    torch.manual_seed(0)
    wide = GANGenerator(dataclasses.replace(TINY_GAN, ngf=16))
    save_checkpoint(
        path,
        {"model." + k: v for k, v in wide.state_dict().items()},
        family="gan",
        config=dataclasses.asdict(TINY_GAN),  # says ngf=8
    )
    load_checkpoint(path)  # the file itself is fine
    with pytest.raises(UserError) as err:
        tasks.load(path)
    msg = str(err.value)
    assert str(path) in msg and "weights do not match" in msg and "\n" not in msg

    missing = tmp_path / "missing.safetensors"
    save_checkpoint(missing, {"model.x": torch.ones(1)}, family="gan", config={"size": 16})
    with pytest.raises(UserError, match="weights do not match"):
        tasks.load(missing)


def test_bad_config_and_family(tmp_path):
    bad = _write(tmp_path / "bad.safetensors", config={"size": 17})
    with pytest.raises(UserError, match="config is invalid"):
        tasks.load(bad)
    unknown = _write(tmp_path / "unknown.safetensors", config={"size": 16, "colour": "red"})
    with pytest.raises(UserError, match="unknown fields"):
        tasks.load(unknown)
    other = _write(tmp_path / "other.safetensors", family="diffusion")
    with pytest.raises(UserError, match="family 'diffusion' has no task"):
        tasks.load(other)


def test_generate_rejects_bad_arguments(tmp_path):
    gen = tasks.load(_tiny_checkpoint(tmp_path / "g.safetensors"))
    with pytest.raises(UserError, match="seed"):
        gen.generate(2, seed=-1)
    with pytest.raises(UserError, match="between 1 and"):
        gen.generate(0)
    with pytest.raises(UserError, match="truncation"):
        gen.generate(2, truncation=0)


def test_load_by_name(tmp_path, monkeypatch):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    _tiny_checkpoint(shipped / "tiny-gan.safetensors")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-gan").mkdir()  # e.g. the output of `generate --out tiny-gan`
    assert tasks.checkpoint_dirs()[0] == shipped
    gen = tasks.load("tiny-gan")
    assert gen.name == str(shipped / "tiny-gan.safetensors")
    with pytest.raises(UserError, match="unknown model 'nope'.*tiny-gan"):
        tasks.load("nope")


def test_inference_never_imports_the_training_code(tmp_path):
    """Loading a checkpoint, a run directory, generating and completing: no genrestore.training."""
    import subprocess
    import sys

    from genrestore.training import train

    cfg = genrestore.presets["gan-32"]
    run = train(
        dataclasses.replace(cfg, model=TINY_GAN, steps=1, batch=4, save_every=1, sample_every=1),
        images=np.zeros((4, TINY_GAN.size, TINY_GAN.size, 3), np.uint8),
        out=str(tmp_path / "run"),
        progress=False,
    )
    path = _tiny_checkpoint(tmp_path / "g.safetensors")
    code = (
        "import sys, genrestore\n"
        f"for src in ({str(path)!r}, {str(run)!r}):\n"
        "    gen = genrestore.load(src)\n"
        "    gen.generate(2)\n"
        "    gen.complete(gen.generate(1)[0], 'eyes', samples=1)\n"
        "print(sorted(m for m in sys.modules if m.startswith('genrestore.training')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_weights_digest_is_the_same_for_a_run_and_its_fp16_export():
    from genrestore.checkpoint import weights_digest

    torch.manual_seed(0)
    weights = {"a.weight": torch.randn(4, 3), "a.num_batches_tracked": torch.tensor(7)}
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
    assert weights_digest(weights) == weights_digest(half)
    other = dict(weights, **{"a.weight": weights["a.weight"] + 0.01})
    assert weights_digest(other) != weights_digest(weights)
