"""Command lines to fit, export and score taggers."""
