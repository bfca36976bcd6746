"""Completion from a small visible region: tiny generator, API and CLI."""

import dataclasses
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import genrestore
from genrestore.checkpoint import save_checkpoint
from genrestore.cli import main
from genrestore.config import GANConfig
from genrestore.data.masks import KEEP_REGIONS, keep_mask
from genrestore.models.gan import GANGenerator
from genrestore.tasks import Completer, LatentEncoder


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    cfg = GANConfig(size=16, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    net = GANGenerator(cfg).eval()
    path = tmp_path_factory.mktemp("m") / "tiny-gan.safetensors"
    save_checkpoint(
        path,
        {f"model.{k}": v for k, v in net.state_dict().items()},
        family="gan",
        config=dataclasses.asdict(cfg),
    )
    return path


@pytest.fixture
def face():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)


def test_keep_masks_cover_what_they_say():
    for name, (x0, y0, x1, y1) in KEEP_REGIONS.items():
        m = keep_mask(name, 100, 100)
        assert m.dtype == bool and m.shape == (100, 100)
        kept = (~m).mean()
        assert abs(kept - (x1 - x0) * (y1 - y0)) < 0.03, name
    eye = keep_mask("left-eye", 64, 64)
    ys, xs = np.nonzero(~eye)
    assert xs.max() < 32 and 12 < ys.mean() < 32  # left of the picture, upper half
    assert (~keep_mask("eyes", 64, 64)).sum() > (~eye).sum()
    with pytest.raises(genrestore.UserError):
        keep_mask("nose", 64, 64)


def test_complete_keeps_known_pixels_and_is_seeded(tiny_gan, face):
    gen = genrestore.load(tiny_gan)
    missing = keep_mask("eyes", 52, 40)
    a = gen.complete(face, missing, samples=3, seed=1)
    b = gen.complete(face, missing, samples=3, seed=1)
    assert len(a) == 3 and all(im.size == (52, 40) for im in a)
    for im in a:
        arr = np.asarray(im)
        assert np.array_equal(arr[~missing], face[~missing])
    assert [im.tobytes() for im in a] == [im.tobytes() for im in b]
    assert len({im.tobytes() for im in a}) == 3  # different completions
    c = gen.complete(face, "left-eye", samples=3, seed=2)
    assert [im.tobytes() for im in c] != [im.tobytes() for im in a]


def test_completions_ranked_by_fit(tiny_gan):
    gen = genrestore.load(tiny_gan)
    comp = Completer(gen, steps=5, restarts_per_sample=2)
    x = torch.zeros(3, 16, 16)
    known = torch.zeros(1, 16, 16)
    known[:, :8] = 1
    pred, loss = comp.fit(x, known, 6, seed=0)
    assert pred.shape == (6, 3, 16, 16) and loss.shape == (6,)
    assert torch.isfinite(loss).all()


def test_seams_fade_into_the_hole_and_colours_rank_candidates():
    from genrestore.tasks.complete import blend_seams, pooled_fit

    x = torch.full((3, 32, 32), 0.5)
    known = torch.zeros(1, 32, 32)
    known[:, 12:20, 12:20] = 1  # a visible window in the middle
    pred = torch.zeros(2, 3, 32, 32)
    out = blend_seams(pred, x, known, reach=2.0)
    assert torch.equal(blend_seams(pred, x, known, reach=0), pred)
    next_to = out[:, :, 11, 15]  # one pixel outside the window: most of the mismatch
    far = out[:, :, 0, 0]  # 12 pixels away: almost none
    assert (next_to > 0.25).all() and (far.abs() < 0.01).all()
    assert torch.equal(out[:, :, 15, 15], pred[:, :, 15, 15])  # known pixels: pasted later
    # The colour-level fit prefers the right colour with noise over the wrong flat colour.
    right = x + 0.6 * torch.sign(torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0)))
    wrong = torch.full((3, 32, 32), 0.1)
    fits = pooled_fit(torch.stack([right, wrong]), x, known, 4)
    pixel_fits = pooled_fit(torch.stack([right, wrong]), x, known, 1)
    assert fits[0] < fits[1] and pixel_fits[0] > pixel_fits[1]


def test_complete_rejects_bad_requests(tiny_gan, face):
    gen = genrestore.load(tiny_gan)
    with pytest.raises(genrestore.UserError, match="whole image"):
        gen.complete(face, np.ones((40, 52), bool))
    with pytest.raises(genrestore.UserError, match="samples"):
        gen.complete(face, "eyes", samples=0)
    with pytest.raises(genrestore.UserError, match="mask"):
        gen.complete(face, np.zeros((10, 10), bool))


def test_cli_complete_single_and_batch(tiny_gan, tmp_path, capsys):
    rng = np.random.default_rng(3)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(src / "sub" / "b.jpg")
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "options"
    rc = main(
        [
            "complete",
            "--image",
            str(src / "a.png"),
            "--keep",
            "left-eye",
            "--samples",
            "2",
            "--out",
            str(out),
            "--model",
            str(tiny_gan),
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["a-0.png", "a-1.png"]
    batch = tmp_path / "batch"
    args = [
        "complete",
        "--image",
        str(src),
        "--keep",
        "eyes",
        "--samples",
        "2",
        "--out",
        str(batch),
        "--model",
        str(tiny_gan),
        "--no-progress",
    ]
    assert main(args) == 1  # the broken file fails, the others are done
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    assert (batch / "a-1.png").exists() and (batch / "sub" / "b-1.png").exists()
    mtime = (batch / "a-0.png").stat().st_mtime_ns
    assert main(args) == 1
    assert (batch / "a-0.png").stat().st_mtime_ns == mtime  # finished outputs are not redone
    assert "skipped 2 already done" in capsys.readouterr().err


def test_cli_complete_errors(tiny_gan, tmp_path, capsys):
    assert (
        main(
            [
                "complete",
                "--image",
                str(tmp_path / "nope.png"),
                "--keep",
                "eyes",
                "--out",
                str(tmp_path / "o"),
                "--model",
                str(tiny_gan),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genrestore: error:")


def test_eval_complete_reports_everything(tiny_gan):
    from genrestore.evaluate import evaluate_completer

    gen = genrestore.load(tiny_gan)
    r = evaluate_completer(gen, n=3, samples=2)
    for k in (
        "swd_completions",
        "swd_samples",
        "swd_ratio",
        "swd_floor",
        "fit_psnr_visible",
        "diversity_l1",
        "sec_per_image",
    ):
        assert np.isfinite(r[k]), k
    assert r["diversity_l1"] > 0 and 0 < r["visible_fraction"] < 0.1


def test_a_model_with_nan_weights_never_returns_nan_pixels(tiny_gan, face):
    gen = genrestore.load(tiny_gan)
    with torch.no_grad():
        for p in gen.fast.parameters():
            p.fill_(float("nan"))
    imgs = gen.generate(2, seed=0) + gen.complete(face, "eyes", samples=2)
    for im in imgs:
        arr = np.asarray(im)
        assert arr.dtype == np.uint8 and arr.shape[2] == 3  # finite, valid pixels
    assert np.all(np.asarray(imgs[0]) == 128)  # NaN became mid-gray (0 -> 127.5 -> 128)


def test_encoder_trains_on_a_generator_and_completes_in_one_pass(tiny_gan, tmp_path, face, caplog):
    from genrestore.families.encoder import EncoderConfig
    from genrestore.training import export, train

    cfg = genrestore.presets["encoder-64"]
    trained_for = tmp_path / "trained-for.safetensors"
    trained_for.write_bytes(tiny_gan.read_bytes())
    cfg = dataclasses.replace(
        cfg,
        model=EncoderConfig(size=16, nz=8, nf=8, generator=str(trained_for)),
        steps=3,
        batch=8,
        save_every=3,
        sample_every=3,
        log_every=1,
        precision="fp32",
    )
    run = train(cfg, out=str(tmp_path / "run"), progress=False)
    assert (run / "samples-0000003.png").exists()
    # shipped beside its generator as NAME-encoder.safetensors, completion finds it
    models = tmp_path / "models"
    models.mkdir()
    gen_path = models / "g.safetensors"
    gen_path.write_bytes(tiny_gan.read_bytes())
    card = export(run, models / "g-encoder.safetensors")
    assert card["family"] == "encoder" and card["data"] == f"samples of {trained_for}"
    gen = genrestore.load(gen_path)
    comp = Completer(gen)
    assert comp.method == "encoder" and comp.steps < Completer(gen, method="search").steps
    missing = keep_mask("left-eye", 52, 40)
    a = gen.complete(face, missing, samples=3, seed=4)
    b = gen.complete(face, missing, samples=3, seed=4)
    assert len(a) == 3
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))  # seeded
        assert np.array_equal(np.asarray(x)[~missing], face[~missing])  # visible kept exactly
    assert not np.array_equal(np.asarray(a[0]), np.asarray(a[1]))  # different faces
    with pytest.raises(genrestore.UserError, match="no completion encoder"):
        Completer(genrestore.load(tiny_gan), method="encoder")
    # the same file name with other weights: the encoder no longer fits, search takes over
    other = GANGenerator(GANConfig(size=16, nz=8, ngf=8, ndf=8)).eval()
    save_checkpoint(
        gen_path,
        {f"model.{k}": v for k, v in other.state_dict().items()},
        family="gan",
        config=dataclasses.asdict(GANConfig(size=16, nz=8, ngf=8, ndf=8)),
    )
    with caplog.at_level(logging.WARNING, logger="genrestore"):
        assert Completer(genrestore.load(gen_path)).method == "search"
    assert "trained for other weights" in caplog.text
    # a run whose generator is gone still loads (without the fingerprint)
    trained_for.unlink()
    assert isinstance(genrestore.load(run), LatentEncoder)
