"""Image-quality metrics: multi-scale sliced Wasserstein distance (ProGAN-style), PSNR, SSIM.

SWD compares the distributions of 7x7 patches drawn from each level of a Laplacian
pyramid of two image sets; lower is closer. Numbers are reported x1e3 per level and as
their mean, as in Karras et al. 2018. SSIM is scikit-image's (an optional dependency,
``pip install 'genrestore[eval]'``), not a copy of it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def binomial_blur(x: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """(N, C, H, W) blurred by the 5x5 binomial kernel, edges padded by ``padding``."""
    k = (_GAUSS[:, None] * _GAUSS[None, :]).to(x)
    k = k.expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, [2, 2, 2, 2], mode=padding), k, groups=x.shape[1])


def laplacian_pyramid(
    x: torch.Tensor, min_size: int = 16, *, levels: int | None = None, padding: str = "reflect"
) -> list[torch.Tensor]:
    """(N, C, H, W) -> [band-pass levels..., low-pass residual], coarsest at least min_size
    wide; at most ``levels`` band-pass levels, each taken only while both sides are even.
    ``collapse_pyramid`` inverts it exactly."""
    bands = []
    while (
        x.shape[-1] > min_size
        and (levels is None or len(bands) < levels)
        and not (x.shape[-1] % 2 or x.shape[-2] % 2)
    ):
        low = pyramid_down(x, padding)
        bands.append(x - _expand(low, padding))
        x = low
    bands.append(x)
    return bands


def pyramid_down(x: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2): one step down a pyramid, blurred and halved; the
    low-pass of ``laplacian_pyramid`` after one level."""
    return binomial_blur(x, padding)[..., ::2, ::2]


def collapse_pyramid(levels: list[torch.Tensor], padding: str = "reflect") -> torch.Tensor:
    """The image whose ``laplacian_pyramid`` (with this ``padding``) is ``levels``."""
    x = levels[-1]
    for band in reversed(levels[:-1]):
        x = band + _expand(x, padding)
    return x


def _expand(low: torch.Tensor, padding: str) -> torch.Tensor:
    """A pyramid level's low-pass (N, C, h, w) back at (N, C, 2h, 2w)."""
    return binomial_blur(F.interpolate(low, scale_factor=2, mode="nearest"), padding)


def _descriptors(
    level: torch.Tensor, per_image: int, patch: int, g: torch.Generator
) -> torch.Tensor:
    n, c, h, w = level.shape
    ys = torch.randint(0, h - patch + 1, (n, per_image), generator=g)
    xs = torch.randint(0, w - patch + 1, (n, per_image), generator=g)
    patches = level.unfold(2, patch, 1).unfold(3, patch, 1)  # (N, C, H', W', p, p)
    idx_n = torch.arange(n).view(n, 1).expand(n, per_image)
    d = patches[idx_n, :, ys, xs]  # (N, per_image, C, p, p)
    d = d.reshape(n * per_image, c, patch * patch)
    d = d - d.mean(dim=(0, 2), keepdim=True)
    d = d / d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    return d.reshape(n * per_image, -1)


def _sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, dirs: int, repeats: int, g: torch.Generator
) -> float:
    total = 0.0
    for _ in range(repeats):
        proj = torch.randn(a.shape[1], dirs, generator=g)
        proj = proj / proj.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ proj, dim=0)
        pb, _ = torch.sort(b @ proj, dim=0)
        total += (pa - pb).abs().mean().item()
    return total / repeats


@torch.no_grad()
def swd(
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    *,
    patches_per_image: int = 128,
    patch: int = 7,
    dirs: int = 128,
    repeats: int = 4,
    seed: int = 0,
) -> dict:
    """SWD between two sets (N, 3, H, W) in [-1, 1] (same N recommended).

    Returns ``{"levels": [per-level x1e3, finest first], "mean": float}``.
    """
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(
            f"image sets differ in shape: {tuple(images_a.shape)} vs {tuple(images_b.shape)}"
        )
    g = torch.Generator().manual_seed(seed)
    pa = laplacian_pyramid(images_a.float())
    pb = laplacian_pyramid(images_b.float())
    levels = []
    for la, lb in zip(pa, pb):
        da = _descriptors(la, patches_per_image, patch, g)
        db = _descriptors(lb, patches_per_image, patch, g)
        levels.append(_sliced_wasserstein(da, db, dirs, repeats, g) * 1e3)
    return {"levels": [round(v, 2) for v in levels], "mean": round(float(np.mean(levels)), 2)}


def psnr(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-image PSNR in dB for (N, C, H, W) in [-1, 1]; over ``mask`` == 1 pixels if given."""
    diff2 = ((pred.float() - target.float()) / 2).pow(2)
    if mask is None:
        mse = diff2.flatten(1).mean(1)
    else:
        m = mask.expand_as(diff2).float()
        mse = (diff2 * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


PSNR_CAP_DB = 100.0  # what identical images score, so that means and JSON stay finite


def psnr_uint8(a: np.ndarray, b: np.ndarray, max_db: float = PSNR_CAP_DB) -> float:
    """PSNR in dB of two uint8 images of one shape (data range 255), at most ``max_db``."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse == 0:
        return float(max_db)
    return float(min(max_db, 10 * np.log10(255.0**2 / mse)))


def ssim_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 (H, W, 3) images (scikit-image, 7x7 window, data range 255)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=-1, data_range=255))


def gray_laplacian(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 1, H, W): the 4-neighbour Laplacian of the gray level (the mean
    of the channels; edges replicated). Its magnitude is the fine-detail measure."""
    g = F.pad(x.mean(1, keepdim=True), (1, 1, 1, 1), mode="replicate")
    c = g[..., 1:-1, 1:-1]
    return g[..., :-2, 1:-1] + g[..., 2:, 1:-1] + g[..., 1:-1, :-2] + g[..., 1:-1, 2:] - 4 * c


def _abs_laplacian(rgb: np.ndarray) -> np.ndarray:
    """|``gray_laplacian``| of a uint8 (H, W, 3) image, in float64: (H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float64)).permute(2, 0, 1)[None]
    return gray_laplacian(x)[0, 0].abs().numpy()


def fill_detail(output: np.ndarray, original: np.ndarray, missing: np.ndarray) -> float:
    """How sharp a fill is: mean |Laplacian| inside the hole, the output's over the original's.

    uint8 (H, W, 3) images, bool (H, W) hole. 1.0 = as much fine detail as the photo had
    there; a smooth (blurry) fill scores near 0. NaN if the original is flat in the hole.
    """
    ref = _abs_laplacian(original)[missing].mean()
    return float(_abs_laplacian(output)[missing].mean() / ref) if ref > 0 else float("nan")
