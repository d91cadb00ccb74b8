"""Model zoo: one model family per file; `models.registry` maps command-line names to them."""
