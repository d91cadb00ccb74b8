"""Samples: the project's one HDF5 jet-sample format, converters of public data sets into it,
signal mixing, mass resampling and file summaries. Nothing here imports the generator."""
