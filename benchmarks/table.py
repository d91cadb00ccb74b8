"""One row per figure: what a benchmark measured beside its reference and its target.

Each benchmark module lists its figures (``FIGURES``: a list of ``Figure``, or a function of the
result giving one when the rows depend on what was run). A figure names a value of the module's
result dict by a dotted path (``"representations.vrnn.jets_per_s"``, ``"rows.0.jets_per_s"``).
Its reference is either another value of the same result (``same_run``: a peer measured beside it
in the same run, e.g. bare Pythia, EnergyFlow's EMD, the in-process caller), a value with the
place it came from, or nothing where no reference is known: the cell stays empty rather than
invented.
"""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured quantity of a benchmark.

    Args:
        key: dotted path of the value in the benchmark's result.
        quantity: what it is, with its unit.
        reference: a reference value (a number, or text such as a range) from elsewhere, or None.
        source: where the reference comes from.
        target: the value aimed at, in words (empty where none is set).
        same_run: dotted path of the reference in the same result (instead of `reference`).
        scale: factor of the value and of a same-run reference (e.g. 1e-6 for bytes to MB).
    """

    key: str
    quantity: str
    reference: float | str | None = None
    source: str = ""
    target: str = ""
    same_run: str | None = None
    scale: float = 1.0


def lookup(result, key):
    """The value at dotted path `key` of `result` (list items by index), or None if it is absent."""
    value = result
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def figures_of(module, result):
    """The module's figures for `result` (``FIGURES`` may be a function of the result)."""
    figures = getattr(module, "FIGURES", [])
    return list(figures(result) if callable(figures) else figures)


def rows(name, figures, result):
    """JSON-ready rows {benchmark, quantity, value, reference, source, target} of one result; a
    figure whose value the result lacks (e.g. measured only with --data) has no row."""
    out = []
    for figure in figures:
        value = _scaled(lookup(result, figure.key), figure.scale)
        if value is None:
            continue
        reference = figure.reference
        if figure.same_run is not None:
            reference = _scaled(lookup(result, figure.same_run), figure.scale)
        out.append(
            {
                "benchmark": name,
                "quantity": figure.quantity,
                "value": value,
                "reference": reference,
                "source": figure.source if reference is not None else "",
                "target": figure.target,
            }
        )
    return out


def _scaled(value, scale):
    if isinstance(value, int | float) and not isinstance(value, bool) and scale != 1.0:
        return value * scale
    return value


def fmt(value):
    """A table cell: numbers to about three significant digits, booleans as yes/no, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def markdown(all_rows):
    """The markdown table of `all_rows`."""
    lines = [
        "| benchmark | quantity | measured | reference | reference from | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in all_rows:
        cells = [r["benchmark"], r["quantity"], fmt(r["value"]), fmt(r["reference"]), r["source"], r["target"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
