"""``python -m training.serve``: an alias of ``python -m serving``, kept for one release.

The server moved to ``serving/``; this is the one import out of ``training/`` into it, allowed by
``tests/test_layers.py`` by name until the alias is removed.
"""

from serving.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
