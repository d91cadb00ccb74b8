"""The data room: sample files -> rows -> split -> batches, in one place.

``training.data.rows`` is its interface to the fit pipeline (``load_inputs``, ``split_rows``,
``class_targets``); the parts below it are ``datasets`` (sample files, their checks, generated
default datasets), ``sample_chunks`` / ``row_cache`` / ``streaming`` / ``memory`` (the on-disk path
under a memory budget), ``inputs`` (the rows' container), ``training_arrays`` (jet masses, class
targets, outliers), ``augment`` and ``batches`` (the seeded batch source of every fit).
"""
