"""Model inputs built from samples: one module per representation, each described by one
``Representation`` record, collected in one registry (``preprocessing.representations.registry``).

The registry's functions are the package's interface::

    from preprocessing import representations
    inputs = representations.build("jet_image", sample)
    fitted = representations.fit("jet_image", inputs)
"""

from preprocessing.representations.registry import (
    NAMES,
    build,
    fit,
    input_shapes,
    resolve_params,
    row_level,
    rows,
)

__all__ = ["NAMES", "build", "fit", "input_shapes", "resolve_params", "row_level", "rows"]
