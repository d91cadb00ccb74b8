"""Command lines to fit, export and score taggers."""

import os

# keep TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) out of the command output;
# a user's own setting wins
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
