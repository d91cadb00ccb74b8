"""Primary Lund-plane images: a hand-built jet with known splittings, unit sum, bad jets."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.lund_image import lund_images, primary_declusterings

BIN_X, BIN_Y = 6.0 / 40, 7.0 / 40  # pixel sizes in ln 1/dR and ln kT


def _centre(col, row):
    """(Delta R, k_T) at the centre of pixel (row, col)."""
    return np.exp(-(col + 0.5) * BIN_X), np.exp(-2.0 + (row + 0.5) * BIN_Y)


def _hand_jet():
    """A 400 GeV core with two primary emissions and one secondary one.

    Emission c (narrow): dR_c from the core, pT_c = kT_c / dR_c, pixel (row 12, column 25).
    Emission b (wide): dR_b from the core, pT_b = kT_b / dR_b, pixel (row 30, column 5).
    d: 0.3 GeV next to b; C/A clusters it with b, so it is a secondary splitting (not drawn),
    and it shifts b's k_T by 0.5 %, far less than a pixel (19 %).
    """
    dr_c, kt_c = _centre(25, 12)
    dr_b, kt_b = _centre(5, 30)
    pt = np.array([400.0, kt_c / dr_c, kt_b / dr_b, 0.3])
    eta = np.array([0.0, 0.0, dr_b, dr_b + 0.06])
    phi = np.array([0.0, dr_c, 0.0, 0.0])
    c = np.zeros((1, 6, 4))
    c[0, :4] = physics.from_pt_eta_phi(pt, eta + 0.3, phi + 1.0)  # anywhere in the detector
    return c, np.array([4]), (dr_b, kt_b, dr_c, kt_c)


def test_hand_built_splittings_land_in_their_pixels():
    c, n, (dr_b, kt_b, dr_c, kt_c) = _hand_jet()
    delta, kt, counts = primary_declusterings(c, n)
    assert counts.tolist() == [2]  # primary only: the b-d splitting is secondary
    # C/A undoes the widest-angle merging first
    np.testing.assert_allclose(delta, [dr_b, dr_c], rtol=0.01)
    np.testing.assert_allclose(kt, [kt_b, kt_c], rtol=0.01)
    img = lund_images(c, n)[0]
    assert img.shape == (40, 40)
    assert sorted(zip(*np.nonzero(img))) == [(12, 25), (30, 5)]
    np.testing.assert_allclose(img[img > 0], 0.5)


def test_real_jets_unit_sum_and_classes_differ(small_samples):
    imgs = {
        k: lund_images(small_samples[k].constituents[:300], small_samples[k].n_constituents[:300])
        for k in ("qcd", "top")
    }
    for img in imgs.values():
        assert img.shape == (300, 40, 40) and img.dtype == np.float32
        np.testing.assert_allclose(img.sum((1, 2)), 1.0, rtol=1e-5)
    # tops have hard wide-angle splittings (the decay prongs): more weight at large kT and large dR
    region = (slice(24, 40), slice(0, 12))  # ln kT > 2.2, dR > 0.3
    assert (
        imgs["top"][:, region[0], region[1]].sum((1, 2)).mean()
        > 1.5 * imgs["qcd"][:, region[0], region[1]].sum((1, 2)).mean()
    )


def test_jet_without_splittings_is_named():
    c = np.zeros((2, 3, 4))
    c[0, :2] = physics.from_pt_eta_phi(np.array([300.0, 50.0]), np.array([0.0, 0.2]), np.array([0.0, 0.0]))
    c[1, 0] = physics.from_pt_eta_phi(np.array([300.0]), np.array([0.0]), np.array([0.0]))
    with pytest.raises(DataError, match="top.h5: jet 1 has no primary Lund splitting"):
        lund_images(c, np.array([2, 1]), source="top.h5")


def test_jet_with_splittings_only_outside_the_window_keeps_a_border_pixel():
    # one soft, very wide splitting: Delta R = 1.5 (ln 1/dR < 0) and kT = 0.1 GeV (ln kT < -2)
    c = np.zeros((1, 2, 4))
    c[0] = physics.from_pt_eta_phi(np.array([300.0, 0.0667]), np.array([0.0, 1.5]), np.array([0.0, 0.0]))
    img = lund_images(c, np.array([2]))[0]
    assert img.sum() == pytest.approx(1.0)
    assert img[0, 0] == pytest.approx(1.0)  # clipped to the lowest ln kT row and ln 1/dR column


def test_jet_without_splittings_gets_an_empty_image_when_allowed():
    c = np.zeros((2, 3, 4))
    c[0, :2] = physics.from_pt_eta_phi(np.array([300.0, 50.0]), np.array([0.0, 0.2]), np.array([0.0, 0.0]))
    c[1, 0] = physics.from_pt_eta_phi(np.array([300.0]), np.array([0.0]), np.array([0.0]))
    images = lund_images(c, np.array([2, 1]), allow_empty=True)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), [1.0, 0.0], atol=1e-6)
