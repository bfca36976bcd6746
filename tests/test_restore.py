"""Restoration behaviour of the shipped face models (the API, no training)."""

import numpy as np
from PIL import Image

from genrestore.data.avatars import render_face
from genrestore.tasks import load


def test_face_inpainting_treats_a_face_and_its_mirror_alike():
    """The face inpainter learnt faces and their mirror images alike, and its answer is
    the mean of both: inpainting the mirrored face gives the mirrored answer."""
    inp = load("faces-inpaint-64")
    face = render_face(3, 64)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:32, 8:32] = 255  # a box off the middle
    out = np.asarray(inp(Image.fromarray(face), Image.fromarray(mask)), np.int16)
    flipped = inp(Image.fromarray(face[:, ::-1].copy()), Image.fromarray(mask[:, ::-1].copy()))
    diff = np.abs(np.asarray(flipped, np.int16)[:, ::-1] - out)
    assert diff.max() <= 1
    assert np.abs(out - face).max() > 10  # the hole was filled, not left as it was
