"""Paper reproductions, one module per paper, run through ``python -m evaluation.reproduce PAPER``.

Every module exposes the same three names, so the dispatcher needs nothing else:

* ``SCALES``: {scale name: sizes}; "smoke" is a minutes-long end-to-end check (used by the tests);
* ``run(scale, out, seed, paths=None) -> results``: train, score and draw the figures into `out`;
* ``write_report(results, out, scale, seed, seconds) -> summary``: write ``out/report.md`` and
  return the JSON-serialisable rows of the summary line.
"""
