import hashlib

import numpy as np

from genrestore.data import avatars


def _digest(arr):
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def test_same_index_same_pixels_always():
    # Golden digests: the built-in face set must never change under a user's feet.
    assert _digest(avatars.render_face(0, 32)) == "b109dcbcdde0297d"
    assert _digest(avatars.render_face(1, 32)) == "d56637c75b428d56"
    assert _digest(avatars.render_face(avatars.EVAL_START, 32)) == "29f51bf41d0538e5"


def test_faces_differ_and_are_square_rgb():
    a, b = avatars.render_face(3, 24), avatars.render_face(4, 24)
    assert a.shape == (24, 24, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert (a[0, 0] == 255).all()  # rendered on white


def test_render_does_not_disturb_global_random():
    import random

    random.seed(7)
    expected = random.random()
    random.seed(7)
    avatars.render_face(5, 16)
    assert random.random() == expected


def test_parallel_equals_sequential():
    seq = avatars.render_faces(10, 70, 16, workers=1, progress=False)
    par = avatars.render_faces(10, 70, 16, workers=2, progress=False)
    assert np.array_equal(seq, par)


def test_cache_hit_and_slice(monkeypatch):
    first = np.array(avatars.load_faces(12, 16, progress=False))

    def boom(*a, **k):
        raise AssertionError("rendered again instead of using the cache")

    monkeypatch.setattr(avatars, "render_faces", boom)
    again = avatars.load_faces(12, 16, progress=False)
    fewer = avatars.load_faces(5, 16, progress=False)
    assert np.array_equal(first, again)
    assert np.array_equal(first[:5], fewer)


def test_eval_faces_are_disjoint_from_training():
    train = avatars.load_faces(4, 16, progress=False)
    held = avatars.load_eval_faces(4, 16, progress=False)
    assert np.array_equal(held[0], avatars.render_face(avatars.EVAL_START, 16))
    assert not np.array_equal(train[0], held[0])


def test_bad_size_rejected():
    import pytest

    with pytest.raises(ValueError):
        avatars.load_faces(4, 8)
