"""Feature scalers fitted on training jets (bortolato2021: MaxAbsScaler; cheng2020: standardisation;
RobustScaler as the outlier-safe alternative), with parameters that travel in the model card.

Every scaler is an affine map per feature (the last array axis),

    x' = (x - offset) / scale,

    maxabs:    offset = 0,          scale = max |x|
    robust:    offset = median(x),  scale = q75(x) - q25(x)
    standard:  offset = mean(x),    scale = std(x)

The max-abs scale is ``max_abs_scale`` (the one implementation, also for models that hold the
scale as a weight); the robust and standard parameters are fitted with scikit-learn's
RobustScaler and StandardScaler. All are fitted on the training jets only; a feature with zero
spread gets scale 1, as scikit-learn does. Padded entries (mask 0) are left out of the fit and
stay 0 after the transform. ``to_dict``/``from_dict`` give a JSON-safe record for
``model_card.json``; ``offset``/``scale`` are what an exported graph needs to apply the same map.
"""

import json

import numpy as np

from preprocessing.errors import DataError

KINDS = ("maxabs", "robust", "standard")


def max_abs_scale(x, axis=0, dtype=np.float32):
    """Per-feature max |x| along `axis`, with 1 where it is 0 (a feature that is zero everywhere).

    Args:
        x: array of raw features, e.g. (events, features).
        axis: the axis reduced over (the rows).
        dtype: dtype of the result.

    Returns:
        the scale that x is divided by, as `dtype`.
    """
    scale = np.max(np.abs(x), axis=axis)
    return np.where(scale > 0, scale, 1.0).astype(dtype)


class FeatureScaler:
    """A fitted per-feature affine scaler.

    Args:
        kind: one of KINDS.
        offset, scale: (features,) parameters; None until fitted.
        n_fit: number of rows the scaler was fitted on.
    """

    def __init__(self, kind, offset=None, scale=None, n_fit=0):
        if kind not in KINDS:
            raise DataError(f"unknown scaler {kind!r}; choose from {list(KINDS)}")
        self.kind = kind
        self.offset = None if offset is None else np.asarray(offset, np.float64)
        self.scale = None if scale is None else np.asarray(scale, np.float64)
        self.n_fit = int(n_fit)

    @staticmethod
    def _rows(x, mask):
        """(rows, features) of real entries: all leading axes flattened, padding removed."""
        x = np.asarray(x, np.float64)
        rows = x.reshape(-1, x.shape[-1])
        if mask is not None:
            m = np.asarray(mask) > 0
            if m.shape != x.shape[:-1]:
                raise DataError(f"scaler mask has shape {m.shape}, features have {x.shape[:-1]} + (features,)")
            rows = rows[m.reshape(-1)]
        return rows

    def fit(self, x, mask=None):
        """Fit on x (..., features); rows where mask (same leading shape) is 0 are ignored."""
        from sklearn import preprocessing as skp

        rows = self._rows(x, mask)
        if len(rows) == 0:
            raise DataError(f"{self.kind} scaler: nothing to fit (no unmasked rows)")
        if not np.all(np.isfinite(rows)):
            raise DataError(f"{self.kind} scaler: training features contain NaN or infinity")
        if self.kind == "maxabs":
            offset, scale = np.zeros(rows.shape[1]), max_abs_scale(rows, axis=0, dtype=np.float64)
        elif self.kind == "robust":
            sk = skp.RobustScaler().fit(rows)
            offset, scale = sk.center_, sk.scale_
        else:
            sk = skp.StandardScaler().fit(rows)
            offset, scale = sk.mean_, sk.scale_
        self.offset = np.asarray(offset, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.n_fit = len(rows)
        return self

    def _check(self, x):
        if self.scale is None:
            raise DataError(f"{self.kind} scaler used before it was fitted")
        if np.shape(x)[-1] != len(self.scale):
            raise DataError(f"{self.kind} scaler was fitted on {len(self.scale)} features, got {np.shape(x)[-1]}")

    def transform(self, x, mask=None):
        """(x - offset) / scale as float32, zero where mask is 0."""
        self._check(x)
        out = (np.asarray(x, np.float64) - self.offset) / self.scale
        if mask is not None:
            out = np.where((np.asarray(mask) > 0)[..., None], out, 0.0)
        return out.astype(np.float32)

    def inverse_transform(self, x, mask=None):
        """x * scale + offset as float32, zero where mask is 0."""
        self._check(x)
        out = np.asarray(x, np.float64) * self.scale + self.offset
        if mask is not None:
            out = np.where((np.asarray(mask) > 0)[..., None], out, 0.0)
        return out.astype(np.float32)

    def to_dict(self):
        """JSON-safe record for the model card."""
        self._check(np.zeros(len(self.scale) if self.scale is not None else 0))
        return {
            "kind": self.kind,
            "offset": self.offset.tolist(),
            "scale": self.scale.tolist(),
            "n_fit": self.n_fit,
            "formula": "(x - offset) / scale",
        }

    @classmethod
    def from_dict(cls, record):
        """Rebuild a scaler from `to_dict` output (e.g. read back from model_card.json)."""
        try:
            kind, offset, scale = record["kind"], record["offset"], record["scale"]
        except (KeyError, TypeError) as err:
            raise DataError(f"scaler record lacks {err}; expected keys kind, offset, scale") from None
        if len(offset) != len(scale):
            raise DataError(f"scaler record has {len(offset)} offsets but {len(scale)} scales")
        return cls(kind, offset, scale, record.get("n_fit", 0))

    def to_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


def fit_scaler(kind, x, mask=None):
    """A FeatureScaler of `kind` fitted on x (..., features) with optional mask."""
    return FeatureScaler(kind).fit(x, mask)
