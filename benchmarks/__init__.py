"""Every speed and memory benchmark of the project, one module per thing measured, one runner.

- ``generation``: Pythia8 generation events/s against bare Pythia, 1 -> 2 workers, end to end;
- ``representations``: jets/s of every registered representation, the VRNN 100k-jet check;
- ``dvae``: the DVAE path (jet images, training, scoring in memory and through the SavedModel);
- ``vrnn``: the VRNN path (sequences, training, scoring in memory and through the SavedModel);
- ``cheng2020``: training and scoring of the cheng2020 VAEs;
- ``cheng2022``: training and scoring of ParticleNet and the FCN per preset, ParticleNet alternated
  with ``stock_particlenet`` (the same network in stock Keras layers, the reference row);
- ``emd``: the EMD score against EnergyFlow's, at 1 and 2 workers;
- ``batches``: Keras' array batching against ``training.data.batches.BatchSource``;
- ``memory``: peak memory of a streamed ``fit`` against its ``--memory-budget``;
- ``scaling``: generation and training over Dask workers, extrapolated to 100;
- ``serving``: REST and gRPC latency and throughput of ``python -m serving``;
- ``timing``: the one timing helper (training and scoring rows/s) the benchmarks share.

Each keeps its own command, ``python -m benchmarks.NAME``; ``python -m benchmarks [NAME ...]``
runs any subset in turn. This package is the top layer beside ``serving``: it may import any
package, and nothing but the tests imports it (``tests/test_layers.py``).
"""
