"""Jet images (dillon2021, Sec. 2; after the top-tagging image preprocessing).

Per jet, on the constituents, before pixelisation:

1. centre: subtract the pT-weighted centroid, eta_c = sum(pT_i eta_i) / sum(pT_i), and the same
   for phi (differences wrapped into [-pi, pi) around the jet axis first);
2. rotate about the centre so the principal axis of the pT-weighted (eta, phi) covariance points
   along the vertical (phi) axis;
3. flip each axis so the pT sum in the positive half is at least the sum in the negative half
   (most pT in the upper-right quadrant, a fixed convention);
4. pixelise into a 40 x 40 grid with pixel size (d_eta, d_phi) = (0.029, 0.035), accumulating
   the pT of every constituent that falls into a pixel (constituents outside are cropped);
5. normalise each image to unit sum.

Images are (jets, 40, 40) float32 arrays indexed [phi_row, eta_column], row 0 at the lowest phi.
"""

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.record import Representation

DEFAULT_PARAMS = {"n_pixels": 40, "pixel_eta": 0.029, "pixel_phi": 0.035}


def constituent_coordinates(constituents, n_constituents, jet_phi=None):
    """pT, eta, phi of padded constituents with a validity mask.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz).
        n_constituents: (jets,) real constituents per jet.
        jet_phi: (jets,) reference azimuth used to unwrap phi; the hardest constituent if None.

    Returns:
        pt, eta, dphi, mask, each (jets, particles); dphi is phi minus the reference, wrapped.
    """
    mask = np.arange(constituents.shape[1])[None, :] < np.asarray(n_constituents)[:, None]
    pt = np.where(mask, physics.pt(constituents), 0.0)
    eta = np.where(mask, physics.eta(constituents), 0.0)
    phi = physics.phi(constituents)
    ref = phi[:, 0] if jet_phi is None else np.asarray(jet_phi)
    dphi = np.where(mask, physics.wrap_phi(phi - ref[:, None]), 0.0)
    return pt, eta, dphi, mask


def align(pt, eta, phi):
    """Centre, rotate and flip (steps 1-3) constituent coordinates of a batch of jets.

    Args:
        pt, eta, phi: (jets, particles); padding must have pt = 0.

    Returns:
        (x, y): (jets, particles) coordinates in the aligned frame, x along eta and y along phi.
    """
    w = pt / pt.sum(axis=1, keepdims=True)  # (jets, particles)
    x = eta - (w * eta).sum(axis=1, keepdims=True)
    y = phi - (w * phi).sum(axis=1, keepdims=True)
    sxx, syy, sxy = (w * x * x).sum(1), (w * y * y).sum(1), (w * x * y).sum(1)
    # angle of the principal (largest-variance) axis, measured from the eta axis
    theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    # rotate by (pi/2 - theta) so that axis becomes vertical
    a = (0.5 * np.pi - theta)[:, None]
    xr = x * np.cos(a) - y * np.sin(a)
    yr = x * np.sin(a) + y * np.cos(a)
    sx = np.where((pt * (xr > 0)).sum(1) >= (pt * (xr < 0)).sum(1), 1.0, -1.0)[:, None]
    sy = np.where((pt * (yr > 0)).sum(1) >= (pt * (yr < 0)).sum(1), 1.0, -1.0)[:, None]
    return xr * sx, yr * sy


def pixelise(x, y, weight, n_pixels=40, pixel_eta=0.029, pixel_phi=0.035):
    """Accumulate `weight` into (jets, n, n) images centred on (0, 0); outside pixels are dropped."""
    n_jets = x.shape[0]
    col = np.floor(x / pixel_eta + 0.5 * n_pixels).astype(np.int64)
    row = np.floor(y / pixel_phi + 0.5 * n_pixels).astype(np.int64)
    inside = (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels) & (weight > 0)
    jet = np.broadcast_to(np.arange(n_jets)[:, None], x.shape)
    flat = (jet * n_pixels + row) * n_pixels + col
    images = np.bincount(flat[inside], weights=weight[inside], minlength=n_jets * n_pixels * n_pixels)
    return images.reshape(n_jets, n_pixels, n_pixels)


def jet_images(
    constituents, n_constituents, n_pixels=40, pixel_eta=0.029, pixel_phi=0.035, batch_size=4096, source="input"
):
    """Unit-sum jet images from padded constituents.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz).
        n_constituents: (jets,) number of real constituents.
        source: name of where the jets came from, used in error messages.

    Returns:
        (jets, n_pixels, n_pixels) float32 images, each summing to one.
    """
    n_constituents = np.asarray(n_constituents)
    empty = np.nonzero(n_constituents <= 0)[0]
    if len(empty):
        raise DataError(
            f"{source}: jet {int(empty[0])} has no constituents ({len(empty)} such jets); "
            f"remove them before building images"
        )
    if not np.all(np.isfinite(constituents)):
        raise DataError(f"{source}: constituents contain NaN or infinity")
    out = np.empty((len(constituents), n_pixels, n_pixels), np.float32)
    for start in range(0, len(constituents), batch_size):
        sl = slice(start, start + batch_size)
        pt, eta, dphi, _ = constituent_coordinates(constituents[sl].astype(np.float64), n_constituents[sl])
        x, y = align(pt, eta, dphi)
        img = pixelise(x, y, pt, n_pixels, pixel_eta, pixel_phi)
        total = img.sum(axis=(1, 2), keepdims=True)
        bad = np.nonzero(total[:, 0, 0] <= 0)[0]
        if len(bad):
            raise DataError(f"{source}: jet {start + int(bad[0])} has no pT inside the image")
        out[sl] = img / total
    return out


def _build(sample, source="input", **params):
    return {"jet_image": jet_images(sample.constituents, sample.n_constituents, source=source, **params)}


REPRESENTATION = Representation(
    name="jet_image",
    build=_build,
    default_params=DEFAULT_PARAMS,
    shapes=lambda p: {"jet_image": (p["n_pixels"], p["n_pixels"])},
)
