"""The built-in photo set: natural photographs that Debian packages install (wallpapers, the
photos of GCompris' activities and of the Palapeli jigsaw puzzles).

``--data photos`` trains on random square crops of these photos at many scales (a crop may
be a whole scene shrunk or a patch at nearly full resolution), with flips and a mild
brightness / contrast / saturation jitter (never hue: colorization learns real colours).
The crops are cut once per (size, count, seed), balanced over colours (``make_crops``) and
cached as a memory-mapped .npy like the face set. Only photographs are used (not the
packages' abstract and vector wallpapers, nor GCompris' drawings); ``PHOTOS`` names each
one (GCompris: whole activities, whose photos sit in Qt resource archives), and the model
card records the list.

Missing packages are one clear error naming the ``apt-get install`` that brings them.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from ..errors import UserError
from .cache import cache_dir, cache_lock, load_array, save_array
from .qtresource import archive_member, read_archive

FORMAT_VERSION = 5  # 2: colour-balanced crops; 3: Lomiri, validation held out; 4: GCompris;
# 5: GCompris' world music and monument details
SOURCE = "photos"
PACKAGES = (
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "gcompris-qt-data",
    "palapeli-data",
)
MAX_SIDE = 1600  # each photo is shrunk to this long side once; crops come from that copy
_ROOTS = {
    "mate-backgrounds": "/usr/share/backgrounds/mate/nature",
    "plasma-workspace-wallpapers": "/usr/share/wallpapers",
    "lomiri-wallpapers-16.04": "/usr/share/backgrounds",
    "lomiri-wallpapers-20.04": "/usr/share/backgrounds",
    "gcompris-qt-data": "/usr/share/gcompris-qt/rcc",
    "palapeli-data": "/usr/share/palapeli/collection",
}
GCOMPRIS_PHOTO_SIDE = 1000  # an activity's pictures this long or longer are its photographs
# The photographs among the packages' wallpapers (the others are drawings and renders).
PHOTOS = {
    "mate-backgrounds": (
        "Aqua",
        "Blinds",
        "Dune",
        "FreshFlower",
        "Garden",
        "GreenMeadow",
        "LadyBird",
        "RainDrops",
        "Storm",
        "TwoWings",
        "Wood",
        "YellowFlower",
    ),
    "plasma-workspace-wallpapers": (
        "BytheWater",
        "ColdRipple",
        "ColorfulCups",
        "DarkestHour",
        "EveningGlow",
        "FallenLeaf",
        "Grey",
        "Kite",
        "OneStandsOut",
        "Path",
        "Volna",
        "summer_1am",
    ),
    "lomiri-wallpapers-16.04": (
        "Bridge_by_Sander_Klootwijk",
        "Dragonfly_by_Bolly",
        "Picture_0B_by_freespace",
        "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede",
        "aitzgorri_by_Aitzol_Berasategi",
        "free_by_Peter_Nerlich",
        "friends_by_Aitzol_Berasategi",
        "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt",
        "sunset_by_Aitzol_Berasategi",
    ),
    "lomiri-wallpapers-20.04": ("Kleiber_by_Lukas_Baubkus",),
    # GCompris: activities (one .rcc archive each) whose large pictures are all photographs:
    # animals in the wild (1920x1080), monuments, animals, musicians and instruments (about
    # 1024 on the long side); "activity:stem" names one picture of an activity that mixes
    # photographs with paintings (the monuments of "details", about 680 px, beside Van Gogh's)
    "gcompris-qt-data": (
        "erase",
        "explore_monuments",
        "explore_world_animals",
        "explore_farm_animals",
        "explore_world_music",
        *(
            f"details:{stem}_background"
            for stem in (
                "OperaSidney",
                "Neuschwanstein",
                "TourEiffel",
                "TajMahal",
                "Nagoya",
                "NDP",
                "Chenonceau",
                "TowerBridgeLondon",
                "EilanDonanCastle",
                "GizahPyramids",
                "EgeskovSlotSpejling",
                "FanoeWindmill",
                "Louvre_2007_02_24_c",
            )
        ),
    ),
    "palapeli-data": (
        "castle-maintenon",
        "cincinnati-bridge",
        "citrus-fruits",
        "european-honey-bee",
        "panther-chameleon-female",
    ),
}
# Held out of the training crops: the photos that choose a model's settings (e.g. how far a
# colorizer's colours are trusted) and checkpoints, so that the test photos (scikit-image's)
# are never used for a choice. Objects, animals, landscapes under sky, buildings.
VALIDATION = (
    "Picture_0B_by_freespace",
    "friends_by_Aitzol_Berasategi",
    "picosdeeuropa_by_Aitzol_Berasategi",
    "Kleiber_by_Lukas_Baubkus",
    "red_panda",
    "toucan",
    "montStMichel",
    "hawaMahal",
    "koala",
    "cow",
)

log = logging.getLogger("genrestore")


def _largest(folder: Path) -> Path | None:
    """A plasma wallpaper folder's largest rendition (names like 2560x1600.jpg)."""

    def pixels(p: Path) -> int:
        m = re.match(r"(\d+)x(\d+)", p.stem)
        return int(m[1]) * int(m[2]) if m else 0

    files = [p for p in (folder / "contents" / "images").glob("*") if pixels(p)]
    return max(files, key=pixels) if files else None


def photo_files(roots: dict[str, str] | None = None, split: str = "train") -> list[Path]:
    """The photo files of ``split`` ("train": all but ``VALIDATION``; "validation"; "all"),
    in a fixed order; UserError naming the packages that are missing.

    ``roots``: {package: folder}, by default where Debian installs them; a package not in
    ``roots`` is skipped.
    """
    roots = roots or _ROOTS
    found, missing = [], []
    for package, names in PHOTOS.items():
        if package not in roots:
            continue
        root = Path(roots[package])
        if package == "plasma-workspace-wallpapers":
            files = [_largest(root / n) for n in names]
        elif package == "gcompris-qt-data":
            files = _gcompris_photos(root, names) or [None]
            names = [f.stem if f else "" for f in files]
        else:
            files = [next(iter(_images(root.glob(n + ".*"))), None) for n in names]
        if not any(files):
            missing.append(package)
        keep = [split == "all" or (n in VALIDATION) == (split == "validation") for n in names]
        found += [f for f, k in zip(files, keep) if f is not None and k]
    if missing:
        raise UserError(
            f"--data {SOURCE} needs Debian's {' and '.join(missing)}: "
            f"sudo apt-get install {' '.join(missing)}"
        )
    return found


_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def _images(paths) -> list[Path]:
    """The image files among ``paths``, sorted (Palapeli keeps a .desktop beside each)."""
    return sorted(p for p in paths if p.suffix.lower() in _SUFFIXES)


def _gcompris_photos(root: Path, entries: tuple[str, ...]) -> list[Path]:
    """The photographs ``PHOTOS["gcompris-qt-data"]`` names, as archive.rcc/member paths.

    An entry is "activity" (its pictures of ``GCOMPRIS_PHOTO_SIDE`` px or more) or
    "activity:stem" (that one picture); each activity's archive is read once.
    """
    wanted: dict[str, set[str] | None] = {}
    for entry in entries:
        activity, _, stem = entry.partition(":")
        if stem:
            wanted.setdefault(activity, set()).add(stem)
        else:
            wanted[activity] = None
    found = []
    for activity, stems in wanted.items():
        archive = root / f"{activity}.rcc"
        if not archive.is_file():
            continue
        try:
            members = read_archive(str(archive))
        except (OSError, ValueError, struct.error, zlib.error) as exc:
            raise UserError(f"{archive}: unreadable ({exc}); reinstall gcompris-qt-data") from None
        for member in sorted(members):
            if Path(member).suffix.lower() not in _SUFFIXES:
                continue
            if stems is not None:
                if Path(member).stem in stems:
                    found.append(archive / member)
                continue
            with Image.open(io.BytesIO(members[member])) as img:
                if max(img.size) >= GCOMPRIS_PHOTO_SIDE:
                    found.append(archive / member)
    return found


def open_photo(path: Path) -> Image.Image:
    """A photo file, or a file inside a Qt resource archive (archive.rcc/member), opened."""
    inside = archive_member(path)
    if inside is None:
        return Image.open(path)
    return Image.open(io.BytesIO(read_archive(str(inside[0]))[inside[1]]))


def photo_names(files: list[Path]) -> list[str]:
    """Short names for a model card: folder + file, e.g. 'nature/Aqua.jpg' (GCompris: the
    activity + file, e.g. 'erase/swans.webp')."""

    def folder(f: Path) -> str:
        inside = archive_member(f)
        if inside is not None:
            return inside[0].stem
        return f.parts[-4] if "contents" in f.parts else f.parent.name

    return [f"{folder(f)}/{f.name}" for f in files]


def _shrunk(path: Path) -> Image.Image:
    img = open_photo(path)
    img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale, much faster
    img = img.convert("RGB")
    scale = MAX_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return img


def random_crop(photo: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (size, size, 3) crop at a random scale, position and mild jitter.

    The crop's side in the photo is log-uniform between ``size`` pixels (full detail) and
    the photo's short side (the whole scene, shrunk), so the network sees every scale a
    user's photo may come at.
    """
    short = min(photo.size)
    side = round(float(np.exp(rng.uniform(np.log(min(size, short)), np.log(short)))))
    x0 = int(rng.integers(0, photo.width - side + 1))
    y0 = int(rng.integers(0, photo.height - side + 1))
    crop = photo.resize((size, size), Image.LANCZOS, box=(x0, y0, x0 + side, y0 + side))
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        crop = enhance(crop).enhance(float(rng.uniform(0.9, 1.1)))
    return np.asarray(crop, dtype=np.uint8)


HUE_BINS = 8  # colour classes for balancing: 8 hue sectors, plus one for near-gray crops
NEUTRAL_CHROMA = 8.0  # a crop whose mean Lab chroma is below this counts as near-gray
CANDIDATES = 2  # crops cut per crop kept, to choose a colour-balanced set from


def colour_class(crops: np.ndarray) -> np.ndarray:
    """(N,) int: each crop's colour class from its mean Lab a/b (0 = near gray, 1-8 = hue)."""
    import torch

    from ..color import rgb_to_lab_scaled

    x = torch.from_numpy(np.ascontiguousarray(crops[:, ::8, ::8])).permute(0, 3, 1, 2)
    _, ab = rgb_to_lab_scaled(x.float() / 127.5 - 1.0)
    a, b = (ab.mean((2, 3)) * 110.0).numpy().T
    hue = np.floor((np.arctan2(b, a) + np.pi) / (2 * np.pi) * HUE_BINS).astype(int) % HUE_BINS
    return np.where(np.hypot(a, b) < NEUTRAL_CHROMA, 0, 1 + hue)


def make_crops(files: list[Path], count: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 (count, size, size, 3): colour-balanced crops from ``files``.

    ``CANDIDATES * count`` crops are cut, spread evenly over the files, and ``count`` of
    them are drawn with weights inversely proportional to the size of their colour class
    (as Zhang et al.'s colorization rebalances rare colours): the wallpapers are mostly
    green leaves and yellow flowers, and a colorizer trained on them as they are paints
    every unfamiliar photo green.
    """
    rng = np.random.default_rng([seed, size, count])
    n = CANDIDATES * count
    cut = np.empty((n, size, size, 3), np.uint8)
    which = np.arange(n) % len(files)
    for k, path in enumerate(files):
        photo = _shrunk(path)
        for i in np.flatnonzero(which == k):
            cut[i] = random_crop(photo, size, rng)
    classes = colour_class(cut)
    weight = 1.0 / np.bincount(classes, minlength=HUE_BINS + 1)[classes]
    keep = rng.choice(n, size=count, replace=False, p=weight / weight.sum())
    return cut[keep]


def load_photo_crops(count: int, size: int, *, seed: int = 0) -> np.ndarray:
    """The training crops, cut once and cached (memory-mapped on later calls)."""
    files = photo_files()
    name = f"photos-v{FORMAT_VERSION}-{len(files)}files-{size}px-{count}-seed{seed}.npy"
    path = cache_dir() / name
    arr = load_array(path)
    if arr is not None and arr.shape == (count, size, size, 3):
        return arr
    with cache_lock(name):
        arr = load_array(path)
        if arr is not None and arr.shape == (count, size, size, 3):
            return arr
        t0 = time.perf_counter()
        save_array(path, make_crops(files, count, size, seed))
        log.info("cut %d photo crops at %dpx in %.1f s", count, size, time.perf_counter() - t0)
        return load_array(path)
