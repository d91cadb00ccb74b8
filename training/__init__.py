"""Command lines to fit, export and score taggers."""

from preprocessing.cli import quiet_tensorflow

# keep TensorFlow's C++ start-up chatter (the CUDA probe on machines without a GPU) out of the
# command output; a user's own TF_CPP_MIN_LOG_LEVEL wins
quiet_tensorflow()
