"""Restoration behaviour of the shipped face models (the API, no training)."""

import numpy as np
from PIL import Image

from genrestore.data.avatars import render_face
from genrestore.tasks import load


def _mirror(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(a[:, ::-1]))


def test_face_models_treat_a_face_and_its_mirror_alike():
    """The face models learnt faces and their mirror images alike, and answer with the mean
    of both: the mirrored face gets the mirrored answer."""
    face = render_face(3, 64)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:32, 8:32] = 255  # a box off the middle
    inp = load("faces-inpaint-64")
    out = np.asarray(inp(Image.fromarray(face), Image.fromarray(mask)), np.int16)
    flipped = np.asarray(inp(_mirror(face), _mirror(mask)), np.int16)[:, ::-1]
    assert np.abs(flipped - out).max() <= 1
    assert np.abs(out - face).max() > 10  # the hole was filled, not left as it was

    gray = np.asarray(Image.fromarray(face).convert("L"))
    col = load("faces-colorize-64")
    out = np.asarray(col(Image.fromarray(gray)), np.int16)
    flipped = np.asarray(col(_mirror(gray)), np.int16)[:, ::-1]
    assert np.abs(flipped - out).max() <= 1
    assert np.abs(out[..., 0] - out[..., 2]).max() > 10  # colours, not gray
