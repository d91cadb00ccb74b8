"""Jet images: unit sum, centring, orientation, invariances, accumulation, bad input."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.jet_image import constituent_coordinates, jet_images


def _transform(sample, angle, shift_eta, shift_phi):
    """Rotate each jet's constituents by `angle` about the jet axis in (eta, phi), then translate."""
    pt, eta, dphi, mask = constituent_coordinates(
        sample.constituents.astype(np.float64), sample.n_constituents, sample.jets["phi"]
    )
    deta = eta - sample.jets["eta"][:, None]
    c, s = np.cos(angle), np.sin(angle)
    new_eta = c * deta - s * dphi + sample.jets["eta"][:, None] + shift_eta
    new_phi = s * deta + c * dphi + sample.jets["phi"][:, None] + shift_phi
    p4 = physics.from_pt_eta_phi(pt, new_eta, new_phi)
    return np.where(mask[..., None], p4, 0.0)


def _centroid_and_moments(images):
    n = images.shape[-1]
    rows, cols = np.mgrid[0:n, 0:n] + 0.5 - n / 2.0
    cy, cx = (images * rows).sum((1, 2)), (images * cols).sum((1, 2))
    vy = (images * (rows - cy[:, None, None]) ** 2).sum((1, 2))
    vx = (images * (cols - cx[:, None, None]) ** 2).sum((1, 2))
    return cy, cx, vy, vx


def test_unit_sum_centred_vertical_and_flipped(small_samples):
    s = small_samples["top"]
    img = jet_images(s.constituents, s.n_constituents)
    assert img.shape == (600, 40, 40) and img.dtype == np.float32
    np.testing.assert_allclose(img.sum((1, 2)), 1.0, rtol=1e-5)
    cy, cx, vy, vx = _centroid_and_moments(img)
    # centroid within a pixel of the centre (cropping moves it a little)
    assert np.median(np.abs(cy)) < 0.5 and np.median(np.abs(cx)) < 0.5
    # principal axis vertical: more spread along phi (rows) than along eta (columns), in physical units
    assert np.mean(vy * 0.035**2 >= vx * 0.029**2) > 0.95
    # flipped: most intensity in the upper half and in the right half
    assert np.mean(img[:, 20:, :].sum((1, 2)) >= img[:, :20, :].sum((1, 2))) > 0.9
    assert np.mean(img[:, :, 20:].sum((1, 2)) >= img[:, :, :20].sum((1, 2))) > 0.9


def test_rotation_and_translation_invariance(small_samples):
    s = small_samples["top"].subset(np.arange(200))
    base = jet_images(s.constituents, s.n_constituents)
    moved = jet_images(_transform(s, 0.7, 0.4, 2.5), s.n_constituents)
    same = np.abs(base - moved).sum((1, 2))
    other = np.abs(base - np.roll(base, 1, axis=0)).sum((1, 2))
    # identical up to pixel boundaries; unrelated jets differ by far more
    assert np.median(same) < 0.1
    assert np.median(other) > 0.8


def test_pixels_accumulate_pt():
    # three massless constituents: two in one direction (one pixel), one far away with a quarter of the pT;
    # filling by assignment instead of accumulation would give 3/8 and 1/4
    pt = np.array([[100.0, 100.0, 66.6667]])
    eta = np.array([[0.0, 0.0, 0.3]])
    phi = np.array([[0.0, 0.0, 0.0]])
    c = physics.from_pt_eta_phi(pt, eta, phi)
    img = jet_images(c, np.array([3]))[0]
    assert np.count_nonzero(img) == 2
    np.testing.assert_allclose(np.sort(img[img > 0]), [0.25, 0.75], rtol=1e-4)


def test_bad_jets_are_named():
    c = np.zeros((3, 5, 4))
    c[:, 0] = physics.from_pt_eta_phi(np.array([100.0]), np.array([0.0]), np.array([0.0]))
    with pytest.raises(DataError, match="jets.h5: jet 1 has no constituents"):
        jet_images(c, np.array([1, 0, 1]), source="jets.h5")
    c[2, 0, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        jet_images(c, np.array([1, 1, 1]))
