import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import genrestore
from genrestore.checkpoint import load_checkpoint
from genrestore.config import ColorizeConfig, GANConfig, InpaintConfig, TrainConfig, VAEConfig
from genrestore.families.upscale import UpscaleConfig
from genrestore.training import CHECKPOINT, TrainingDiverged, export, train

TINY_MODELS = {
    "gan": GANConfig(
        size=16, nz=8, ngf=8, ndf=8, d_norm="spectral", loss="hinge", r1_gamma=0.1, r1_every=2
    ),
    "vae": VAEConfig(size=16, nz=8, nf=8),
    "inpaint": InpaintConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "colorize": ColorizeConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "upscale": UpscaleConfig(size=16, crop=8, nf=8, n_blocks=1, degrade=0.5),
}
ALL = list(TINY_MODELS)


def tiny(family: str, **kw) -> TrainConfig:
    model = TINY_MODELS[family]
    base = {"family": family, "model": model, "batch": 8, "steps": 4, "save_every": 2,
            "sample_every": 4, "log_every": 1}  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("family", ALL)
def test_train_writes_a_run(tmp_path, tiny_images, family):
    run = train(tiny(family), images=tiny_images, out=str(tmp_path / "run"), progress=False)
    assert (run / CHECKPOINT).exists() and (run / "config.json").exists()
    assert (run / "samples-0000004.png").exists()
    lines = [json.loads(x) for x in (run / "log.txt").read_text().splitlines() if x.startswith("{")]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    for x in lines:
        assert all(math.isfinite(v) and abs(v) < 1e6 for k, v in x.items() if k != "step")
    ck = load_checkpoint(run / CHECKPOINT)
    assert ck.step == 4 and ck.family == family
    assert all(
        torch.isfinite(v.float()).all() for v in ck.tensors.values() if v.is_floating_point()
    )


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_resume_is_bit_for_bit(tmp_path, tiny_images, family, precision):
    cfg = tiny(family, precision=precision)
    full = train(cfg, images=tiny_images, out=str(tmp_path / "full"), progress=False)
    part = train(cfg, images=tiny_images, out=str(tmp_path / "part"), steps=2, progress=False)
    part = train(cfg, images=tiny_images, out=str(part), steps=4, resume=True, progress=False)
    a = load_checkpoint(full / CHECKPOINT).tensors
    b = load_checkpoint(part / CHECKPOINT).tensors
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_needs_a_run_and_refuses_to_overwrite(tmp_path, tiny_images):
    with pytest.raises(genrestore.UserError, match="nothing to resume"):
        train(
            tiny("gan"), images=tiny_images, out=str(tmp_path / "none"), resume=True, progress=False
        )
    run = train(tiny("gan"), images=tiny_images, out=str(tmp_path / "r"), steps=2, progress=False)
    with pytest.raises(genrestore.UserError, match="--resume"):
        train(tiny("gan"), images=tiny_images, out=str(run), progress=False)


def test_divergence_stops_with_step_and_last_checkpoint(tmp_path, tiny_images, monkeypatch):
    from genrestore.training.recipes.gan import GANRecipe

    real_step = GANRecipe.step

    def step(self, i, real):
        out = real_step(self, i, real)
        if i == 3:
            out["loss_d"] = torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(GANRecipe, "step", step)
    with pytest.raises(TrainingDiverged, match=r"step 3.*step 2"):
        train(tiny("gan"), images=tiny_images, out=str(tmp_path / "nan"), progress=False)
    assert load_checkpoint(tmp_path / "nan" / CHECKPOINT).step == 2  # last good one intact


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_export_load_generate(tmp_path, tiny_images, family):
    run = train(tiny(family), images=tiny_images, out=str(tmp_path / "run"), progress=False)
    card = export(run, tmp_path / "m.safetensors", {"note": "tiny"})
    assert card["steps"] == 4 and card["note"] == "tiny"
    assert json.loads((tmp_path / "m.json").read_text())["family"] == family
    ck = load_checkpoint(tmp_path / "m.safetensors")
    assert all(v.dtype == torch.float16 for v in ck.tensors.values() if v.is_floating_point())
    g1 = genrestore.load(tmp_path / "m.safetensors")
    g2 = genrestore.load(str(tmp_path / "m.safetensors"))
    a, b = g1.generate(6, seed=3), g2.generate(6, seed=3)
    assert [x.tobytes() for x in a] == [x.tobytes() for x in b]
    assert a[0].size == (16, 16)
    assert a[0].tobytes() != g1.generate(1, seed=4)[0].tobytes()
    strip = g1.interpolate(1, 2, steps=5)
    assert len(strip) == 5
    from_run = genrestore.load(run).generate(6, seed=3)  # a run directory loads its EMA weights
    diff = [np.abs(np.asarray(x, float) - np.asarray(y, float)).mean() for x, y in zip(a, from_run)]
    assert max(diff) < 2.0  # only fp16 rounding apart
    # the run's checkpoint file, kept as a snapshot elsewhere, loads the same EMA weights
    snapshot = tmp_path / "snap.safetensors"
    snapshot.write_bytes((Path(run) / CHECKPOINT).read_bytes())
    from_file = genrestore.load(snapshot).generate(6, seed=3)
    assert [x.tobytes() for x in from_file] == [x.tobytes() for x in from_run]


def test_gan_fine_tune_starts_from_a_generator_and_warms_up_its_discriminator(
    tmp_path, tiny_images
):
    run = train(tiny("gan"), images=tiny_images, out=str(tmp_path / "a"), progress=False)
    export(run, tmp_path / "g.safetensors", {"note": "tiny"})
    start = load_checkpoint(tmp_path / "g.safetensors").group("model")
    model = dataclasses.replace(TINY_MODELS["gan"], init=str(tmp_path / "g.safetensors"))
    cfg = tiny("gan", model=dataclasses.replace(model, d_warmup=2))
    ft = train(cfg, images=tiny_images, out=str(tmp_path / "ft"), steps=2, progress=False)
    weights = [k for k in start if "running_" not in k and "num_batches" not in k]
    ck = load_checkpoint(ft / CHECKPOINT)
    for group in ("model", "ema"):  # only D trained: G and its EMA are the started weights
        got = ck.group(group)
        assert all(torch.equal(got[k].half(), start[k]) for k in weights), group
    logged = [json.loads(x) for x in (ft / "log.txt").read_text().splitlines() if x[:1] == "{"]
    assert [("loss_d" in x, "loss_g" in x) for x in logged] == [(True, False)] * 2
    full = train(cfg, images=tiny_images, out=str(tmp_path / "full"), steps=4, progress=False)
    (tmp_path / "g.safetensors").rename(tmp_path / "gone.safetensors")  # deleted since
    ft = train(cfg, images=tiny_images, out=str(ft), steps=4, resume=True, progress=False)
    moved = load_checkpoint(ft / CHECKPOINT).group("model")  # then G trains as well
    assert any(not torch.equal(moved[k].half(), start[k]) for k in weights)
    # the resume needed only the run's checkpoint, and went on as the uninterrupted run
    whole = load_checkpoint(full / CHECKPOINT).tensors
    got = load_checkpoint(ft / CHECKPOINT).tensors
    assert got.keys() == whole.keys()
    assert all(torch.equal(v, whole[k]) for k, v in got.items())
    (tmp_path / "gone.safetensors").rename(tmp_path / "g.safetensors")
    wrong = dataclasses.replace(model, nz=9)  # another generator's shapes: refused
    with pytest.raises(genrestore.UserError, match=r"it has nz=\d+ \(here 9\)"):
        train(tiny("gan", model=wrong), images=tiny_images, out=str(tmp_path / "x"), progress=False)
    resize = dataclasses.replace(model, g_upsample="resize")  # other layers, named
    with pytest.raises(genrestore.UserError, match="g_upsample='transposed' \\(here 'resize'\\)"):
        train(tiny("gan", model=resize), images=tiny_images, out=str(tmp_path / "z"))
    vae = train(tiny("vae"), images=tiny_images, out=str(tmp_path / "v"), progress=False)
    export(vae, tmp_path / "v.safetensors")  # another family's generator: no field to --set
    not_gan = dataclasses.replace(model, init=str(tmp_path / "v.safetensors"))
    with pytest.raises(genrestore.UserError, match="size, nz, ngf, g_upsample must be the same"):
        train(tiny("gan", model=not_gan), images=tiny_images, out=str(tmp_path / "w"))
    other = dataclasses.replace(TINY_MODELS["upscale"], init=str(tmp_path / "g.safetensors"))
    with pytest.raises(genrestore.UserError, match="does not match"):  # another family's
        train(tiny("upscale", model=other), images=tiny_images, out=str(tmp_path / "y"))


def test_cli_init_names_the_starting_model_where_a_family_has_one(capsys):
    from genrestore.cli import main

    assert main(["train", "gan", "--init", "faces-gan-64", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["init"] == "faces-gan-64"
    assert main(["train", "vae", "--init", "faces-vae-64", "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "genrestore: error: --init: vae models cannot start from trained weights"
    )


def test_cli_init_takes_the_shapes_of_the_starting_model(tmp_path, capsys):
    from cli_helpers import write_tiny_checkpoints

    from genrestore.cli import main

    gan = dataclasses.replace(TINY_MODELS["gan"], g_upsample="resize")
    paths = write_tiny_checkpoints(tmp_path, {"gan": gan, "upscale": TINY_MODELS["upscale"]})

    def dry(*argv):
        assert main(["train", *argv, "--dry-run"]) == 0
        return json.loads(capsys.readouterr().out)["model"]

    m = dry("gan", "--init", paths["gan"])  # the preset's 64-px, 64-wide generator gives way
    assert (m["size"], m["nz"], m["ngf"], m["g_upsample"]) == (16, 8, 8, "resize")
    assert m["ndf"] == 64  # the discriminator starts fresh: the preset's
    m = dry("gan", "--init", paths["gan"], "--size", "32", "--set", "ngf=16")  # named: kept
    assert (m["size"], m["nz"], m["ngf"]) == (32, 8, 16)
    m = dry("upscale", "--init", paths["upscale"], "--preset", "inpaint-refine-256")
    assert (m["nf"], m["n_blocks"], m["guided"]) == (8, 1, True)
    assert main(["train", "gan", "--init", str(tmp_path / "none.safetensors"), "--dry-run"]) == 2
    assert "none.safetensors" in capsys.readouterr().err


def test_train_overrides_and_data_path(tmp_path):
    from genrestore.training import resolve_config

    cfg = resolve_config(genrestore.presets["gan-64"], data=str(tmp_path), steps=7)
    assert cfg.data.source == str(tmp_path) and cfg.steps == 7 and cfg.out
    with pytest.raises(genrestore.UserError):
        resolve_config(genrestore.presets["gan-64"], bogus=1)
    assert dataclasses.replace(cfg, steps=8).steps == 8


@pytest.mark.parametrize(
    "make",
    [
        lambda kind: InpaintConfig(loss=kind),
        lambda kind: ColorizeConfig(loss=kind),
        lambda kind: VAEConfig(recon=kind),
    ],
)
def test_configs_refuse_an_unknown_reconstruction_error(make):
    assert make("l1") != make("mse")
    with pytest.raises(ValueError, match="'l1' or 'mse', got 'l2'"):
        make("l2")


def test_cli_train_on_builtin_faces_and_resume(tmp_path):
    from genrestore.cli import main

    out = tmp_path / "cli-run"
    args = [
        "train",
        "gan",
        "--size",
        "16",
        "--count",
        "16",
        "--batch",
        "4",
        "--steps",
        "2",
        "--save-every",
        "1",
        "--out",
        str(out),
        "--no-progress",
        "--precision",
        "fp32",
    ]
    assert main(args) == 0
    assert load_checkpoint(out / CHECKPOINT).step == 2
    args[args.index("--steps") + 1] = "3"
    assert main(args + ["--resume"]) == 0
    assert load_checkpoint(out / CHECKPOINT).step == 3


@pytest.mark.parametrize("family", ["inpaint", "colorize"])
def test_export_load_restore_any_size(tmp_path, tiny_images, family):
    import numpy as np
    from PIL import Image

    run = train(tiny(family), images=tiny_images, out=str(tmp_path / "run"), progress=False)
    export(run, tmp_path / "r.safetensors")
    task = genrestore.load(tmp_path / "r.safetensors")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (37, 101, 3), dtype=np.uint8)
    if family == "inpaint":
        mask = np.zeros((37, 101), bool)
        mask[5:20, 30:60] = True
        out = np.asarray(task(img, mask))
        assert out.shape == img.shape
        assert np.array_equal(out[~mask], img[~mask])  # known pixels kept exactly
        again = np.asarray(genrestore.load(tmp_path / "r.safetensors")(img, mask))
        assert np.array_equal(out, again)
    else:
        out = task(img)
        assert out.size == (101, 37) and out.mode == "RGB"
        from genrestore.color import rgb_to_lab_scaled
        from genrestore.images import uint8_to_tensor

        gray = np.asarray(Image.fromarray(img).convert("L"))
        l_in, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(gray[None, ..., None], 3, 3)))
        l_out, _ = rgb_to_lab_scaled(uint8_to_tensor(np.asarray(out)[None]))
        # luminance kept: mean error well under one gray level (L in [-1, 1] -> 255 levels)
        assert float((l_in - l_out).abs().mean()) * 127.5 < 1.0


def test_cli_eval_generator_prints_swd_and_floor(tmp_path, tiny_images, capsys):
    from genrestore.cli import main

    run = train(tiny("gan"), images=tiny_images, out=str(tmp_path / "run"), progress=False)
    export(run, tmp_path / "g.safetensors")
    capsys.readouterr()
    assert main(["eval", "gan", "--model", str(tmp_path / "g.safetensors"), "-n", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 8 and report["swd"] > 0 and report["swd_floor"] > 0
    assert report["swd_ratio"] == pytest.approx(report["swd"] / report["swd_floor"], rel=0.02)
    assert "swd_draws" not in report
    assert main(["eval", "gan", "--model", str(tmp_path / "g.safetensors"), "-n", "8",
                 "--draws", "3"]) == 0  # fmt: skip
    drawn = json.loads(capsys.readouterr().out)
    assert drawn["swd"] == report["swd"] == drawn["swd_draws"][0]  # draw 0 is the plain one
    assert len(set(drawn["swd_draws"])) == 3  # other faces, other latents
    assert drawn["swd_draws_mean"] == pytest.approx(np.mean(drawn["swd_draws"]), abs=0.01)
    assert drawn["swd_draws_sd"] == pytest.approx(np.std(drawn["swd_draws"], ddof=1), abs=0.01)
    assert main(["eval", "inpaint", "--draws", "2"]) == 2
    assert "--draws is for eval gan and vae" in capsys.readouterr().err
    assert main(["eval", "gan", "--model", str(tmp_path / "g.safetensors"), "-n", "8",
                 "--truncation", "0.5"]) == 0  # fmt: skip
    truncated = json.loads(capsys.readouterr().out)
    assert truncated["truncation"] == 0.5 and report["truncation"] == 1.0
    assert main(["eval", "gan", "--model", str(tmp_path / "g.safetensors"),
                 "--truncation", "0"]) == 2  # fmt: skip
    assert "truncation must be in (0, 2], got 0" in capsys.readouterr().err
    assert main(["eval", "inpaint", "--truncation", "0.5"]) == 2
    assert "--truncation is for eval gan and vae" in capsys.readouterr().err


def test_train_on_a_folder_of_photos(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for i in range(10):
        arr = rng.integers(0, 255, (30 + i, 50, 3), dtype=np.uint8)
        Image.fromarray(arr).save(photos / ("sub" if i % 2 else "") / f"{i}.jpg")
    (photos / "broken.png").write_bytes(b"not an image")
    run = train(tiny("gan"), data=str(photos), out=str(tmp_path / "run"), progress=False)
    ck = load_checkpoint(run / CHECKPOINT)
    assert ck.step == 4
    cfg = json.loads(ck.meta["train_config"])
    assert cfg["data"]["source"] == str(photos)
    assert genrestore.load(run).generate(2, seed=0)[0].size == (16, 16)


def test_events_report_progress_and_stop_saves_a_resumable_run(tmp_path, tiny_images):
    cfg = tiny("gan", precision="fp32")
    full = train(cfg, images=tiny_images, out=str(tmp_path / "full"), progress=False)
    events: list[dict] = []
    part = train(
        cfg,
        images=tiny_images,
        out=str(tmp_path / "part"),
        progress=False,
        events=events.append,
        stop=lambda: any(e["kind"] == "log" and e["step"] >= 2 for e in events),
    )
    assert load_checkpoint(part / CHECKPOINT).step == 3  # asked after step 3, saved there
    kinds = [(e["kind"], e["step"]) for e in events]
    assert kinds[:2] == [("log", 1), ("log", 2)]
    assert ("samples", 3) in kinds and kinds[-1] == ("saved", 3)
    assert all(e["steps"] == 4 and e["img_s"] > 0 for e in events if e["kind"] == "log")
    assert (part / "samples-0000003.png").exists()
    train(cfg, images=tiny_images, out=str(part), resume=True, progress=False)
    a, b = load_checkpoint(full / CHECKPOINT).tensors, load_checkpoint(part / CHECKPOINT).tensors
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gan_discriminator_can_judge_a_low_pass_of_the_images(tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (16, 32, 32, 3)).astype(np.uint8)
    model = dataclasses.replace(TINY_MODELS["gan"], size=32, d_levels=1)
    run = train(tiny("gan", model=model), images=faces, out=str(tmp_path / "a"), progress=False)
    disc = load_checkpoint(run / CHECKPOINT).group("disc")
    convs = sorted(k for k in disc if k.endswith("weight_orig"))
    assert len(convs) == 3  # a 16-px discriminator: two halvings and the 4x4 head
    logged = [json.loads(x) for x in (run / "log.txt").read_text().splitlines() if x[:1] == "{"]
    assert all(np.isfinite(x["loss_d"]) and np.isfinite(x["loss_g"]) for x in logged)
    with pytest.raises(ValueError, match="at least 16 px"):  # it would judge 8-px images
        dataclasses.replace(model, d_levels=2)
    with pytest.raises(ValueError, match="0 or more"):
        dataclasses.replace(model, d_levels=-1)
