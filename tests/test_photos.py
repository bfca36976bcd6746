"""Natural photos: the built-in photo source, native-resolution restoration, the auto choice
between face and photo models, and the photo evaluation. Tiny configs, made-up photos."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_helpers import assert_one_line_error, run_cli
from PIL import Image

from genrestore import UserError
from genrestore.config import preset
from genrestore.data import photos
from genrestore.images import tensor_to_uint8, uint8_to_tensor
from genrestore.metrics import fill_detail
from genrestore.models.fill import pull_push
from genrestore.tasks import export, load
from genrestore.tasks.restore import pyramid_sizes
from genrestore.training import train


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A made-up 'photo': smooth colour gradients, a few shapes and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, 1 - x * y], -1) * rng.uniform(120, 220, 3)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        box = (x0, y0, x0 + int(rng.integers(4, w // 2)), y0 + int(rng.integers(4, h // 2)))
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    noisy = np.asarray(img, np.int16) + rng.integers(-8, 9, (h, w, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture
def fake_packages(tmp_path):
    """The two wallpaper packages' layouts with made-up photos: {package: root}."""
    mate = tmp_path / "mate" / "nature"
    mate.mkdir(parents=True)
    plasma = tmp_path / "wallpapers"
    for i, name in enumerate(photos.PHOTOS["mate-backgrounds"][:2]):
        Image.fromarray(_scene(120, 160, i)).save(mate / f"{name}.jpg")
    for i, name in enumerate(photos.PHOTOS["plasma-workspace-wallpapers"][:2]):
        images = plasma / name / "contents" / "images"
        images.mkdir(parents=True)
        Image.fromarray(_scene(60, 80, 10 + i)).save(images / "80x60.jpg")
        Image.fromarray(_scene(150, 200, 20 + i)).save(images / "200x150.jpg")
    lomiri = tmp_path / "backgrounds"  # both Lomiri packages install into one folder
    lomiri.mkdir()
    for i, name in enumerate(("Bridge_by_Sander_Klootwijk", *photos.VALIDATION[:2])):
        Image.fromarray(_scene(100, 140, 30 + i)).save(lomiri / f"{name}.jpg")
    return {
        "mate-backgrounds": str(mate),
        "plasma-workspace-wallpapers": str(plasma),
        "lomiri-wallpapers-16.04": str(lomiri),
    }


def test_photo_files_takes_the_largest_rendition_and_only_the_photographs(fake_packages):
    files = photos.photo_files(fake_packages)
    assert len(files) == 5
    assert {f.name for f in files} == {
        "Aqua.jpg",
        "Blinds.jpg",
        "200x150.jpg",
        "Bridge_by_Sander_Klootwijk.jpg",
    }
    names = photos.photo_names(files)
    assert names[:2] == ["nature/Aqua.jpg", "nature/Blinds.jpg"]
    assert names[2] == "BytheWater/200x150.jpg"
    assert names[4] == "backgrounds/Bridge_by_Sander_Klootwijk.jpg"


def test_validation_photos_are_held_out_of_the_training_crops(fake_packages):
    train = photos.photo_files(fake_packages)
    held = photos.photo_files(fake_packages, split="validation")
    assert [f.stem for f in held] == list(photos.VALIDATION[:2])
    assert not set(train) & set(held)
    assert set(photos.photo_files(fake_packages, split="all")) == set(train) | set(held)


def test_missing_packages_name_the_apt_get_install(tmp_path, fake_packages):
    roots = dict(fake_packages, **{"plasma-workspace-wallpapers": str(tmp_path / "none")})
    with pytest.raises(UserError, match="apt-get install plasma-workspace-wallpapers"):
        photos.photo_files(roots)


def test_crops_are_seeded_and_span_scales(fake_packages):
    files = photos.photo_files(fake_packages)
    a = photos.make_crops(files, 24, 32, seed=1)
    b = photos.make_crops(files, 24, 32, seed=1)
    assert a.shape == (24, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, photos.make_crops(files, 24, 32, seed=2))
    # a whole-photo crop is smooth, a full-resolution one keeps the noise: detail varies
    detail = [np.abs(np.diff(c.astype(int), axis=1)).mean() for c in a]
    assert max(detail) > 1.5 * min(detail)


@pytest.mark.parametrize("smooth", [False, True])
def test_pull_push_keeps_known_pixels_and_fills_smoothly(smooth):
    img = torch.linspace(-1, 1, 40).view(1, 1, 1, 40).expand(1, 3, 30, 40).clone()
    known = torch.ones(1, 1, 30, 40)
    known[..., 10:20, 12:30] = 0
    out = pull_push(img * known, known, smooth)
    assert torch.equal(out * known, img * known)
    hole = known.expand_as(img) == 0
    assert (out - img)[hole].abs().max() < 0.35  # a ramp is filled close to a ramp
    flat = torch.full((1, 3, 17, 23), 0.25)
    got = pull_push(flat * known[..., :17, :23], known[..., :17, :23], smooth)
    assert torch.allclose(got, flat)


def test_the_photo_fill_carries_an_edge_across_the_hole():
    # a sharp diagonal edge between two flat colours, with a hole across it: the harmonic
    # fill smears the edge into a ramp, the oriented fill continues it along itself
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(128.0), indexing="ij")
    side = (yy - 0.5 * xx - 16 > 0).float()[None, None]
    img = torch.cat([-0.6 + 1.2 * side, 0.5 - 0.8 * side, 0.2 * side], 1)  # (1, 3, 96, 128)
    known = torch.ones(1, 1, 96, 128)
    known[..., 24:72, 40:88] = 0  # the edge runs through the middle of the box
    hole = known.expand_as(img) == 0
    oriented = pull_push(img * known, known, smooth=True)
    assert torch.equal(oriented * known, img * known)
    harmonic = _harmonic_fill(img * known, known)
    err_oriented = (oriented - img)[hole].abs().mean()
    err_harmonic = (harmonic - img)[hole].abs().mean()
    assert err_oriented < 0.7 * err_harmonic, (err_oriented, err_harmonic)
    # no direction around the hole (white noise): the fill is no worse than the harmonic one
    noise = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(0)) * 0.2
    a = pull_push(noise * known, known, smooth=True)
    b = _harmonic_fill(noise * known, known)
    assert (a - noise)[hole].pow(2).mean() < 1.05 * (b - noise)[hole].pow(2).mean()


def _harmonic_fill(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The membrane (harmonic) fill of a hole (N = 1) away from the image's edge, solved
    exactly: every hole pixel the mean of its 4 neighbours."""
    k = known[0, 0] > 0.5
    hy, hx = (~k).nonzero(as_tuple=True)
    n = len(hy)
    index = torch.full(k.shape, -1, dtype=torch.long)
    index[hy, hx] = torch.arange(n)
    system = 4 * torch.eye(n, dtype=torch.float64)
    rhs = torch.zeros(n, image.shape[1], dtype=torch.float64)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = hy + dy, hx + dx
        inside = ~k[ny, nx]
        system[torch.arange(n)[inside], index[ny, nx][inside]] = -1
        rhs[~inside] += image[0][:, ny[~inside], nx[~inside]].T.double()
    out = image.clone()
    out[0][:, hy, hx] = torch.linalg.solve(system, rhs).T.float()
    return out


def test_texture_brings_back_the_grain_of_matching_regions():
    from genrestore.tasks.texture import add_texture

    rng = np.random.default_rng(0)
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[:, :64] = np.clip(rng.normal((180, 60, 40), 12, (96, 64, 3)), 0, 255)  # grainy red
    rgb[:, 64:] = (40, 60, 180)  # flat blue
    missing = np.zeros((96, 128), bool)
    missing[30:60, 16:44] = True  # in the red
    missing[30:60, 88:116] = True  # in the blue
    x = uint8_to_tensor(rgb[None])
    known = torch.from_numpy(~missing)[None, None].float()
    smooth = pull_push(x, known, smooth=True)
    out = add_texture(x, known, smooth, match=1.0)
    assert torch.equal(out * known, smooth * known)  # outside the hole: untouched
    got, was = tensor_to_uint8(out)[0], tensor_to_uint8(smooth)[0]
    red, blue = missing.copy(), missing.copy()
    red[:, 64:], blue[:, :64] = False, False
    assert fill_detail(was, rgb, red) < 0.3  # a smooth fill loses the grain ...
    assert 0.7 < fill_detail(got, rgb, red) < 1.3  # ... the texture brings it back
    assert np.abs(got[blue].astype(int) - rgb[blue]).max() <= 1  # flat stays flat


def test_matched_texture_is_as_sharp_as_the_ring_around_the_hole():
    from genrestore.metrics import _abs_laplacian
    from genrestore.tasks.texture import add_texture

    rng = np.random.default_rng(1)
    rgb = np.clip(rng.normal(128, 6, (96, 128, 3)), 0, 255).astype(np.uint8)  # fine grain
    rgb[:, 64:] = np.clip(rng.normal(128, 20, (96, 64, 3)), 0, 255)  # coarse grain, right
    missing = np.zeros((96, 128), bool)
    missing[32:64, 20:44] = True  # in the fine grain: the fill must not copy the coarse one
    x = uint8_to_tensor(rgb[None])
    known = torch.from_numpy(~missing)[None, None].float()
    smooth = pull_push(x, known, smooth=True)
    ring = np.zeros_like(missing)
    ring[24:72, 12:52] = True
    ring &= ~np.pad(missing, 1)[:-2, 1:-1] & ~np.pad(missing, 1)[2:, 1:-1]
    ring &= ~np.pad(missing, 1)[1:-1, :-2] & ~np.pad(missing, 1)[1:-1, 2:] & ~missing
    around = _abs_laplacian(rgb)[ring].mean()
    for fraction in (0.5, 1.0):
        out = tensor_to_uint8(add_texture(x, known, smooth, match=fraction))[0]
        assert np.array_equal(out[~missing], tensor_to_uint8(smooth)[0][~missing])
        inside = _abs_laplacian(out)[missing].mean()
        assert abs(inside / around - fraction) < 0.1 * fraction, (fraction, inside, around)


def test_pyramid_halves_to_the_coarse_side():
    assert pyramid_sizes(512, 768, 256) == [(128, 192), (256, 384), (512, 768)]
    assert pyramid_sizes(100, 60, 256) == [(100, 60)]
    assert pyramid_sizes(301, 301, 100) == [(76, 76), (151, 151), (301, 301)]


def test_fill_detail_tells_sharp_from_blurred():
    rng = np.random.default_rng(0)
    orig = rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)
    missing = np.zeros((40, 40), bool)
    missing[10:30, 10:30] = True
    flat = orig.copy()
    flat[missing] = 128
    assert fill_detail(orig, orig, missing) == pytest.approx(1.0)
    assert fill_detail(flat, orig, missing) < 0.2


def _tiny_native(family: str, tmp_path, images: np.ndarray) -> str:
    """A photo preset shrunk to a tiny native model, trained 2 steps on ``images``."""
    cfg = preset(f"photo-{family}")
    small = {"size": 32, "nf": 4, "depth": 2, "n_res": 1}
    if family == "inpaint":
        small["coarse"] = 24  # so that a 40x56 image runs a 2-level pyramid
    model = dataclasses.replace(cfg.model, **small)
    cfg = dataclasses.replace(
        cfg, model=model, steps=2, batch=4, save_every=2, sample_every=2, log_every=1
    )
    run = tmp_path / f"run-{family}"
    train(cfg, images=images, progress=False, out=str(run))
    return str(run)


@pytest.fixture(scope="module")
def tiny_photo_models(tmp_path_factory):
    """Tiny native photo models as shipped files: {"inpaint": path, "colorize": path}."""
    folder = tmp_path_factory.mktemp("photo-models")
    crops = np.stack([_scene(32, 32, i) for i in range(8)])
    out = {}
    for family in ("inpaint", "colorize"):
        path = folder / f"photos-{family}.safetensors"
        run = _tiny_native(family, folder, crops)
        card = export(run, path)
        assert card["train_config"]["model"]["native"] is True
        out[family] = str(path)
        out[f"{family}-run"] = run
    return out


def test_chroma_set_at_export_scales_the_colours(tiny_photo_models, tmp_path):
    gray = np.asarray(Image.fromarray(_scene(45, 70, 4)).convert("L"))
    muted = tmp_path / "muted.safetensors"
    card = export(tiny_photo_models["colorize-run"], muted, settings={"chroma": 0.0})
    assert card["settings_at_export"] == {"chroma": 0.0}
    out = np.asarray(load(muted)(Image.fromarray(gray)))
    assert np.abs(out.astype(int) - gray[..., None]).max() <= 1  # no colour left: the gray
    with pytest.raises(UserError, match="not a colorize config field"):
        export(tiny_photo_models["colorize-run"], tmp_path / "x.safetensors", settings={"hue": 1})


def test_native_inpainting_keeps_the_size_and_the_known_pixels(tiny_photo_models):
    inpainter = load(tiny_photo_models["inpaint"])
    assert inpainter.native
    rgb = _scene(40, 56, 3)
    missing = np.zeros((40, 56), bool)
    missing[5:25, 10:30] = True
    out = np.asarray(inpainter(rgb, missing))
    assert out.shape == rgb.shape
    assert np.array_equal(out[~missing], rgb[~missing])
    assert np.abs(out[missing].astype(int) - rgb[missing]).mean() < 80


def test_native_colorization_keeps_the_size_and_the_luminance(tiny_photo_models):
    from genrestore.evaluate import _luminance_error

    colorizer = load(tiny_photo_models["colorize"])
    gray = np.asarray(Image.fromarray(_scene(45, 70, 4)).convert("L"))
    out = np.asarray(colorizer(Image.fromarray(gray)))
    assert out.shape == (45, 70, 3)
    assert _luminance_error([out], [gray]) < 1.0


def test_auto_sends_faces_to_the_face_model_and_photos_to_the_photo_model(
    tiny_photo_models, monkeypatch
):
    from genrestore.data.avatars import load_eval_faces
    from genrestore.tasks import auto

    monkeypatch.setenv(
        "GENRESTORE_CHECKPOINTS", str(tiny_photo_models["inpaint"]).rsplit("/", 1)[0]
    )
    task = auto("inpaint")
    assert "faces-inpaint-64" in task.name and "photos-inpaint" in task.name
    face = np.array(load_eval_faces(1, 128, progress=False)[0])
    photo = _scene(96, 128, 5)
    hole_face, hole_photo = np.zeros((128, 128), bool), np.zeros((96, 128), bool)
    hole_face[40:70, 40:70] = hole_photo[30:60, 40:80] = True
    assert task.pick((face, hole_face)) is task.face
    assert task.pick((photo, hole_photo)) is task.photo
    outs = task.batch_prepared([(photo, hole_photo), (face, hole_face), (photo, hole_photo)])
    assert [o.size for o in outs] == [(128, 96), (128, 128), (128, 96)]
    assert np.array_equal(np.asarray(outs[0]), np.asarray(outs[2]))
    colorizer = auto("colorize")
    gray_face = np.asarray(Image.fromarray(face).convert("L"))
    assert colorizer.pick(gray_face) is colorizer.face
    assert colorizer.pick(np.asarray(Image.fromarray(photo).convert("L"))) is colorizer.photo


def test_cli_default_model_restores_a_photo_at_its_size(
    tiny_photo_models, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(
        "GENRESTORE_CHECKPOINTS", str(tiny_photo_models["inpaint"]).rsplit("/", 1)[0]
    )
    rgb = _scene(70, 90, 6)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    mask = np.zeros((70, 90), np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    rc, _, err = run_cli(
        capsys, "inpaint", "--image", str(tmp_path / "p.png"), "--mask", str(tmp_path / "m.png"),
        "--out", str(tmp_path / "o.png"),
    )  # fmt: skip
    assert rc == 0, err
    result = np.asarray(Image.open(tmp_path / "o.png"))
    assert result.shape == rgb.shape and np.array_equal(result[mask == 0], rgb[mask == 0])
    rc, _, err = run_cli(
        capsys, "colorize", "--image", str(tmp_path / "p.png"), "--out", str(tmp_path / "c.png")
    )
    assert rc == 0, err
    assert Image.open(tmp_path / "c.png").size == (90, 70)


def test_auto_with_no_model_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("genrestore.tasks.shipped.checkpoint_dirs", lambda: [tmp_path])
    Image.fromarray(_scene(20, 20)).save(tmp_path / "p.png")
    rc, _, err = run_cli(
        capsys, "colorize", "--image", str(tmp_path / "p.png"), "--out", str(tmp_path / "c.png")
    )
    assert rc != 0
    assert_one_line_error(err, "no shipped colorize model")


def test_photo_evaluation_reports_the_baselines_and_detail(tiny_photo_models):
    from genrestore.evaluate import evaluate_colorizer, evaluate_inpainter

    report = evaluate_inpainter(load(tiny_photo_models["inpaint"]), 1)
    assert report["data"] == "skimage" and len(report["photos"]) == 6
    for kind in ("box", "stroke"):
        assert set(report["kinds"][kind]) == {"model", "telea", "biharmonic"}
        assert 0 <= report["kinds"][kind]["model"]["detail"] < 5
        assert "got_psnr_over_telea" in report["targets"][kind]
    report = evaluate_colorizer(load(tiny_photo_models["colorize"]), 2)
    assert report["n"] == 2 and "got_psnr_over_gray" in report["targets"]
    assert report["methods"]["model"]["luminance_error"] < 1.0


def test_an_untrained_native_inpainter_returns_the_smooth_fill():
    from genrestore.models import build_inference_model
    from genrestore.tasks import Inpainter

    cfg = dataclasses.replace(
        preset("photo-inpaint").model, nf=4, depth=2, n_res=1, context=0, texture=0.0
    )
    task = Inpainter(build_inference_model("inpaint", cfg).eval(), "inpaint", cfg, {})
    rgb = _scene(40, 50, 7)
    missing = np.zeros((40, 50), bool)
    missing[10:30, 5:25] = True
    known = torch.from_numpy(~missing)[None, None].float()
    smooth = tensor_to_uint8(pull_push(uint8_to_tensor(rgb[None]), known, smooth=True))[0]
    assert np.array_equal(np.asarray(task(rgb, missing)), smooth)
    big = _scene(300, 420, 9)  # several pyramid levels, texture: still the network-free method
    hole = np.zeros((300, 420), bool)
    hole[40:200, 100:180] = True
    task.config = dataclasses.replace(cfg, texture=load("pull-push").config.texture)
    assert np.array_equal(np.asarray(task(big, hole)), np.asarray(load("pull-push")(big, hole)))


def test_crops_are_colour_balanced(tmp_path):
    mate = tmp_path / "mate" / "nature"
    mate.mkdir(parents=True)
    plasma = tmp_path / "wallpapers" / "BytheWater" / "contents" / "images"
    plasma.mkdir(parents=True)
    for name in photos.PHOTOS["mate-backgrounds"][:3]:  # three green photos ...
        Image.new("RGB", (90, 60), (40, 160, 50)).save(mate / f"{name}.png")
    Image.new("RGB", (90, 60), (200, 40, 40)).save(plasma / "90x60.png")  # ... and a red one
    roots = {"mate-backgrounds": str(mate), "plasma-workspace-wallpapers": str(plasma.parents[2])}
    crops = photos.make_crops(photos.photo_files(roots), 40, 16)
    classes = photos.colour_class(crops)
    assert len(set(classes)) == 2
    red = photos.colour_class(np.full((1, 16, 16, 3), (200, 40, 40), np.uint8))[0]
    assert (classes == red).mean() >= 0.4  # 1 of 4 photos, half of the crops kept


def test_eval_size_is_not_for_completion(capsys):
    rc, _, err = run_cli(capsys, "eval", "complete", "--size", "128", "-n", "2")
    assert rc != 0
    assert_one_line_error(err, "--size")


def test_pull_push_is_the_photo_inpainter_while_none_is_shipped(tmp_path, monkeypatch):
    from genrestore.tasks import auto

    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(tmp_path))  # no photo models here
    task = auto("inpaint")
    assert task.photo.name == "pull-push" and "faces-inpaint-64" in task.name
    rgb = _scene(300, 420, 8)
    missing = np.zeros((300, 420), bool)
    missing[100:180, 150:260] = True  # a 3-level pyramid at the default coarse side
    out = np.asarray(task(rgb, missing))
    assert task.pick((rgb, missing)) is task.photo
    assert out.shape == rgb.shape and np.array_equal(out[~missing], rgb[~missing])
    assert np.array_equal(out, np.asarray(load("pull-push")(rgb, missing)))


def test_auto_is_not_a_model_file(capsys, tmp_path):
    with pytest.raises(UserError, match=r"genrestore.auto\('inpaint'\)"):
        load("auto")
    out = str(tmp_path / "x.png")
    rc, _, err = run_cli(capsys, "generate", "--model", "auto", "-n", "1", "--out", out)
    assert rc != 0
    assert_one_line_error(err, "auto")


def test_upscaled_colours_follow_the_sharp_luminance_edge():
    from genrestore.color import guided_upsample

    lum = torch.full((1, 1, 64, 64), -0.6)
    lum[:, :, 29:] = 0.4  # a sharp light/dark edge between rows 28 and 29
    ab_true = torch.zeros(1, 2, 64, 64)
    ab_true[:, 0, :29], ab_true[:, 1, 29:] = 0.3, -0.3  # one colour each side of it
    lum_small = F.interpolate(lum, size=(16, 16), mode="area")  # the edge is blurred there
    ab_small = F.interpolate(ab_true, size=(16, 16), mode="area")
    guided = guided_upsample(ab_small, lum_small, lum)
    plain = F.interpolate(ab_small, size=(64, 64), mode="bicubic")
    assert guided.shape == (1, 2, 64, 64)
    assert (guided - ab_true).abs().mean() < 0.5 * (plain - ab_true).abs().mean()
    flat = torch.full((1, 2, 16, 16), 0.2)  # flat colour stays flat, whatever the L
    assert torch.allclose(guided_upsample(flat, lum_small, lum), torch.full((1, 2, 64, 64), 0.2))


def _rcc(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A Qt resource archive (format 2, as Qt's rcc writes it) holding ``files``."""
    import struct
    import zlib

    tree: dict = {}
    for path in files:
        node = tree
        parts = path.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = path
    names, data, entries = bytearray(), bytearray(), []

    def name_at(n: str) -> int:
        at = len(names)
        names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))
        return at

    # breadth-first, as rcc does: a folder's children are consecutive entries
    entries.append(["", tree])
    i = 0
    while i < len(entries):
        name, node = entries[i]
        if isinstance(node, dict):
            entries[i].append(len(entries))
            entries.extend([k, v] for k, v in sorted(node.items()))
        i += 1
    out = bytearray()
    for name, node, *first in entries:
        n = name_at(name) if name else 0
        if isinstance(node, dict):
            out += struct.pack(">IHII", n, 2, len(node), first[0]) + bytes(8)
        else:
            raw = files[node]
            flags = 0
            if node in compress:
                raw, flags = struct.pack(">I", len(raw)) + zlib.compress(raw), 1
            out += struct.pack(">IHHHI", n, flags, 0, 0, len(data)) + bytes(8)
            data.extend(struct.pack(">I", len(raw)) + raw)
    tree_at = 20
    data_at = tree_at + len(out)
    names_at = data_at + len(data)
    return b"qres" + struct.pack(">IIII", 2, tree_at, data_at, names_at) + out + data + names


def _webp(w: int, h: int, seed: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(_scene(h, w, seed)).save(buf, "WEBP")
    return buf.getvalue()


def test_photos_are_read_out_of_qt_resource_archives(tmp_path):
    from genrestore.data.qtresource import read_archive

    files = {"a/res/x.webp": _webp(40, 30, 1), "a/res/deep/y.txt": b"hello" * 50, "z.txt": b"z"}
    archive = tmp_path / "erase.rcc"
    archive.write_bytes(_rcc(files, compress={"a/res/deep/y.txt"}))
    assert read_archive(str(archive)) == files
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a Qt resource archive"):
        read_archive(str(bad))
    # GCompris: an activity's large pictures are its photographs; its drawings are smaller
    side = photos.GCOMPRIS_PHOTO_SIDE
    gc = tmp_path / "gcompris"
    gc.mkdir()
    (gc / "erase.rcc").write_bytes(
        _rcc({"g/erase/swans.webp": _webp(side, 60, 2), "g/erase/drawing.webp": _webp(90, 60, 3)})
    )
    (gc / "explore_monuments.rcc").write_bytes(
        _rcc({"g/m/france/montStMichel.webp": _webp(side + 8, 50, 4)})
    )
    # ... or named one by one where an activity mixes photographs with paintings
    (gc / "details.rcc").write_bytes(
        _rcc({"g/d/Nagoya_background.webp": _webp(68, 40, 5), "g/d/Gogh4.webp": _webp(side, 40, 6)})
    )
    roots = {"gcompris-qt-data": str(gc)}
    train = photos.photo_files(roots)
    assert photos.photo_names(train) == ["erase/swans.webp", "details/Nagoya_background.webp"]
    held = photos.photo_files(roots, split="validation")  # montStMichel is a validation photo
    assert photos.photo_names(held) == ["explore_monuments/montStMichel.webp"]
    assert photos.open_photo(train[0]).size == (side, 60)
    crops = photos.make_crops(train + held, 6, 16)
    assert crops.shape == (6, 16, 16, 3)
    (gc / "explore_farm_animals.rcc").write_bytes(b"qres" + bytes(8))  # cut short
    with pytest.raises(UserError, match="unreadable"):
        photos.photo_files(roots)
    with pytest.raises(UserError, match="apt-get install gcompris-qt-data"):
        photos.photo_files({"gcompris-qt-data": str(tmp_path / "none")})


def test_texture_copies_gray_grain_not_colour_noise():
    from genrestore.tasks.texture import add_texture

    rng = np.random.default_rng(2)
    gray = np.clip(rng.normal(128, 10, (96, 128, 1)), 0, 255)  # grain in lightness ...
    noise = rng.normal(0, 8, (96, 128, 1)) * np.array([1.0, -1.0, 0.0])  # ... and in colour
    rgb = np.clip(gray + noise, 0, 255).astype(np.uint8)
    missing = np.zeros((96, 128), bool)
    missing[32:64, 40:88] = True
    x = uint8_to_tensor(rgb[None])
    known = torch.from_numpy(~missing)[None, None].float()
    smooth = pull_push(x, known, smooth=True)
    grain = (add_texture(x, known, smooth) - smooth)[0]  # (3, H, W), 0 outside the hole
    assert grain[:, torch.from_numpy(missing)].abs().mean() > 0.02  # the grain is copied ...
    assert torch.allclose(grain[0], grain[1]) and torch.allclose(grain[1], grain[2])  # gray
    colour = (add_texture(x, known, smooth, gray=False) - smooth)[0]
    assert (colour[0] - colour[1]).abs().max() > 0.05  # (the colour band has the noise)
