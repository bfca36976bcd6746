"""The upscale family: training, the task, and the face models that use it for large images."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genrestore import UserError
from genrestore.config import DataConfig, preset
from genrestore.data.masks import keep_mask
from genrestore.evaluate import evaluate_upscaler
from genrestore.families.upscale import UpscaleConfig
from genrestore.images import uint8_to_tensor
from genrestore.metrics import fill_detail, laplacian_pyramid
from genrestore.models.upscale import UpscaleNet
from genrestore.tasks import export, load
from genrestore.tasks.upscale import fade_faint_detail
from genrestore.training import train


def _faces(n: int, size: int) -> np.ndarray:
    """Flat-coloured discs on a flat background, like the built-in faces' shapes."""
    rng = np.random.default_rng(size)
    yy, xx = np.mgrid[:size, :size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(0.3, 0.7, 3) * (1, 1, 0.6)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        out[i] = np.where(disc[..., None], rng.integers(0, 255, 3), rng.integers(0, 255, 3))
    return out


def _train(tmp_path, family: str, size: int, source: str = "avatars", **model) -> str:
    cfg = preset(f"{family}-256" if family == "upscale" else f"{family}-64")
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, size=size, **model),
        data=DataConfig(source=source),
        steps=2,
        batch=4,
        save_every=2,
        sample_every=2,
        log_every=1,
    )
    run = tmp_path / f"run-{family}-{size}"
    train(cfg, images=_faces(8, size), progress=False, out=str(run))
    return str(run)


def test_an_untrained_upscaler_is_bicubic_and_sizes_follow_the_factor():
    net = UpscaleNet(UpscaleConfig(nf=8, n_blocks=1))
    x = torch.rand(2, 3, 12, 20) * 2 - 1
    out = net(x)
    assert out.shape == (2, 3, 48, 80)
    assert torch.allclose(out, F.interpolate(x, scale_factor=4, mode="bicubic"))
    with pytest.raises(ValueError, match="multiples of factor"):
        UpscaleConfig(size=30)


def test_a_share_of_the_training_inputs_is_degraded_within_range():
    from genrestore.training.recipes.upscale import degrade

    x = torch.rand(64, 3, 16, 16) * 2 - 1
    assert torch.equal(degrade(x, 0.0, torch.Generator().manual_seed(0)), x)
    out = degrade(x, 0.5, torch.Generator().manual_seed(0))
    changed = (out - x).flatten(1).abs().amax(1) > 1e-6
    assert 16 <= int(changed.sum()) <= 48  # about half of them
    assert out.abs().max() <= 1
    again = degrade(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # every choice comes from the generator
    with pytest.raises(ValueError, match="degrade"):
        UpscaleConfig(degrade=1.5)


def test_the_lanczos_shrink_draws_what_pil_draws():
    from genrestore.training.recipes.upscale import lanczos_shrink

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    images = np.concatenate([_faces(4, 64), noise])  # sharp edges that ring, and clip
    pil = np.stack([np.asarray(Image.fromarray(a).resize((16, 16), Image.LANCZOS)) for a in images])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    ours = ((lanczos_shrink(x, 4) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(ours - pil).max() <= 1  # gray levels
    box = ((F.avg_pool2d(x, 4) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(box - pil).max() > 10  # a box shrink is not what PIL draws
    with pytest.raises(ValueError, match="box, lanczos"):
        UpscaleConfig(shrink="bicubic")


def test_upscaler_trains_exports_and_is_measured_against_bicubic(tmp_path):
    run = _train(tmp_path, "upscale", 32, crop=16, nf=8, n_blocks=1, shrink="lanczos")
    path = tmp_path / "tiny-upscale.safetensors"
    card = export(run, path)
    assert card["family"] == "upscale"
    up = load(path)
    assert up.factor == 4 and up.size == 32
    out = up(Image.fromarray(_faces(1, 8)[0]))
    assert out.size == (32, 32)
    with pytest.raises(UserError, match="megapixels"):
        up(Image.new("RGB", (2100, 2100)))
    report = evaluate_upscaler(up, 3)
    assert set(report["methods"]) == {"model", "bicubic"}
    assert all(0 < m["psnr"] <= 100 for m in report["methods"].values())


def test_faint_detail_fades_and_edges_stay():
    # a flat square on a flat ground, with a faint mottle (sd 0.003) over all of it
    clean = torch.full((1, 3, 64, 64), -0.5)
    clean[..., 16:48, 16:48] = 0.5
    noisy = clean + 0.003 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    out = fade_faint_detail(noisy, 0.015)

    def finest(x):  # the finest detail inside the square, away from its edges
        return laplacian_pyramid(x)[0][..., 24:40, 24:40]

    assert finest(out).std() < finest(noisy).std() / 3  # the mottle's mostly gone
    assert (out - clean).abs().max() < 0.03  # the square and its edges as they were
    assert (fade_faint_detail(clean, 0.015) - clean).abs().max() < 0.02
    assert torch.equal(fade_faint_detail(noisy[..., :63], 0.015), noisy[..., :63])  # odd side
    # at inference a plain upscaler's ``core`` does it to every output; guided ones refuse it
    with pytest.raises(ValueError, match="core"):
        UpscaleConfig(core=0.01, guided=True, base="x")


def test_an_upscalers_core_setting_is_set_at_export_and_fades_faint_detail(tmp_path):
    run = _train(tmp_path, "upscale", 32, crop=16, nf=8, n_blocks=1)
    export(run, tmp_path / "plain.safetensors")
    export(run, tmp_path / "cored.safetensors", settings={"core": 0.02})
    plain, cored = load(tmp_path / "plain.safetensors"), load(tmp_path / "cored.safetensors")
    assert cored.config.core == 0.02 and plain.config.core == 0.0
    x = uint8_to_tensor(_faces(2, 8)) + 0.01 * torch.randn(2, 3, 8, 8)
    a, b = plain.upscale(x), cored.upscale(x)
    assert torch.allclose(b, fade_faint_detail(a, 0.02), atol=1e-5)
    assert not torch.allclose(a, b)


def test_an_adversarial_upscaler_trains_its_critic_resumes_exactly_and_exports_without_it(
    tmp_path,
):
    from genrestore.checkpoint import load_checkpoint
    from genrestore.training import CHECKPOINT

    kw = {"crop": 16, "nf": 8, "n_blocks": 1, "adv_weight": 0.01, "fm_weight": 0.1, "ndf": 8}
    run = _train(tmp_path, "upscale", 32, **kw)
    logged = [json.loads(x) for x in Path(run, "log.txt").read_text().splitlines() if x[:1] == "{"]
    assert all({"l1", "loss_d", "adv", "fm"} <= set(x) for x in logged)
    ck = load_checkpoint(f"{run}/{CHECKPOINT}")
    assert any(k.startswith("disc.") for k in ck.tensors)
    cfg = dataclasses.replace(
        preset("upscale-256"),
        model=dataclasses.replace(preset("upscale-256").model, size=32, **kw),
        steps=4, batch=4, save_every=2, sample_every=4, log_every=1,
    )  # fmt: skip
    full = train(cfg, images=_faces(8, 32), out=str(tmp_path / "full"), progress=False)
    part = train(cfg, images=_faces(8, 32), out=str(tmp_path / "part"), steps=2, progress=False)
    part = train(cfg, images=_faces(8, 32), out=str(part), resume=True, progress=False)
    a, b = (load_checkpoint(r / CHECKPOINT).tensors for r in (full, part))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    export(run, tmp_path / "adv.safetensors")
    assert load(tmp_path / "adv.safetensors")(Image.fromarray(_faces(1, 8)[0])).size == (32, 32)
    with pytest.raises(ValueError, match="plain upscalers"):
        UpscaleConfig(guided=True, base="faces-inpaint-64", adv_weight=0.01)


def test_face_models_use_the_upscaler_for_large_images_only(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(folder))
    export(_train(tmp_path, "upscale", 64, crop=32, nf=8, n_blocks=1), folder / "up.safetensors")
    faces = export(_train(tmp_path, "inpaint", 16, nf=8), folder / "faces.safetensors")
    other = _train(tmp_path / "o", "inpaint", 16, source=str(tmp_path), nf=8)
    export(other, folder / "other.safetensors")
    assert faces["train_config"]["data"]["source"] == "avatars"
    inp, plain = load(folder / "faces.safetensors"), load(folder / "other.safetensors")
    assert inp.upscaler is not None and inp.upscaler.size == 64
    assert plain.upscaler is None  # trained on a folder, not on the built-in faces
    x = uint8_to_tensor(_faces(2, 16))
    assert inp.larger(x, 31) is x  # under twice the size: nothing to draw
    assert inp.larger(x, 64).shape == (2, 3, 64, 64)
    rgb = _faces(1, 64)[0]
    missing = np.zeros((64, 64), bool)
    missing[20:40, 16:48] = True
    out = np.asarray(inp(rgb, missing))
    assert out.shape == rgb.shape and np.array_equal(out[~missing], rgb[~missing])


def test_a_guided_refiner_draws_its_inpainters_answers_around_the_known_pixels(
    tmp_path, monkeypatch
):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(folder))
    export(_train(tmp_path, "inpaint", 16, nf=8), folder / "faces.safetensors")
    export(_train(tmp_path / "b", "inpaint", 16, nf=8), folder / "other.safetensors")
    run = _train(
        tmp_path, "upscale", 64, crop=32, nf=8, n_blocks=1, guided=True, base="faces", degrade=0.0
    )
    export(run, folder / "refine.safetensors")
    with pytest.raises(ValueError, match="base"):
        UpscaleConfig(guided=True)
    inp, other = load(folder / "faces.safetensors"), load(folder / "other.safetensors")
    assert inp.refiner is not None and inp.refiner.name.endswith("refine.safetensors")
    assert other.refiner is None  # trained on another model's answers
    assert inp.upscaler is None  # a guided refiner is not a plain upscaler
    with pytest.raises(UserError, match="cannot upscale an image on its own"):
        inp.refiner.upscale(torch.zeros(1, 3, 16, 16))
    rgb = _faces(1, 64)[0]
    missing = np.zeros((64, 64), bool)
    missing[20:40, 16:48] = True
    out = np.asarray(inp(rgb, missing))
    assert out.shape == rgb.shape and np.array_equal(out[~missing], rgb[~missing])
    # it sees the image's known pixels: changing one outside the hole changes the fill
    moved = rgb.copy()
    moved[18:20, 16:48] = 255 - moved[18:20, 16:48]
    again = np.asarray(inp(moved, missing))
    assert not np.array_equal(again[missing], out[missing])
    # sharpen (set at export) amplifies the fill's fine detail; known pixels stay exact
    inp.refiner.config = dataclasses.replace(inp.refiner.config, sharpen=1.0)
    sharp = np.asarray(inp(rgb, missing))
    assert np.array_equal(sharp[~missing], rgb[~missing])
    assert fill_detail(sharp, rgb, missing) > fill_detail(out, rgb, missing)
    report = evaluate_upscaler(inp.refiner, 2)  # measured as its inpainter's fills at 64 px
    assert report["task"] == "inpaint" and report["size"] == 64


def test_a_guided_refiner_can_start_as_a_shipped_upscaler(tmp_path, monkeypatch):
    from genrestore.training.recipes.upscale import start_from

    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(tmp_path))
    export(_train(tmp_path, "upscale", 64, crop=32, nf=8, n_blocks=1), tmp_path / "up.safetensors")
    cfg = UpscaleConfig(size=64, crop=32, nf=8, n_blocks=1, guided=True, base="x")
    net = UpscaleNet(cfg).eval()
    start_from(net, "up")
    x, image = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    known = (torch.rand(2, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        assert torch.allclose(net(x, image, known), load("up").model(x), atol=1e-5)
    with pytest.raises(UserError, match="does not match"):
        start_from(UpscaleNet(dataclasses.replace(cfg, nf=16)), "up")


def test_generate_and_measure_at_a_size():
    from genrestore.evaluate import evaluate_generator

    gen = load("faces-gan-64")
    faces = gen.generate(2, size=48)
    assert [f.size for f in faces] == [(48, 48)] * 2
    # by default the shipped 64-px faces come at 256, drawn by the upscaler, not resized
    big, small = gen.generate(2, seed=5), gen.generate(2, seed=5, size=64)
    assert gen.default_size == 256 and [f.size for f in big] == [(256, 256)] * 2
    shrunk = np.asarray(big[0].resize((64, 64), Image.BOX), np.float32)
    assert np.abs(shrunk - np.asarray(small[0], np.float32)).mean() < 6  # the same face
    assert gen.interpolate(0, 1, 3)[0].size == (256, 256)
    # a completion of a 256-px face is drawn at 256 and keeps the visible pixels exactly
    face = np.asarray(big[1])
    done = np.asarray(gen.complete(face, "left-eye", samples=1)[0])
    missing = keep_mask("left-eye", 256, 256)
    assert done.shape == face.shape and np.array_equal(done[~missing], face[~missing])
    with pytest.raises(UserError, match="between 16 and 1024"):
        gen.generate(2, size=4000)
    report = evaluate_generator(gen, 8, size=32)
    assert report["size"] == 32 and report["swd"] > 0
