"""From raw events to model inputs, one subsystem per subpackage.

* ``events`` -- Pythia8 generation: process catalogue, Pythia set-up, truth matching, Les Houches
  input, shard cache and the sharded generator;
* ``jets`` -- four-vector helpers, FastJet clustering and jet selections, substructure observables;
* ``samples`` -- the project's HDF5 sample format, converters of public files, mixing, mass
  resampling, summaries;
* ``representations`` -- model inputs built from samples (one module per representation, one
  registry) and fitted feature scalers.

Command lines: ``python -m preprocessing.generate|convert|mix|inspect``; their speed is measured by
``python -m benchmarks.generation`` and ``python -m benchmarks.representations``.
"""

from preprocessing.errors import DataError

__all__ = ["DataError"]
