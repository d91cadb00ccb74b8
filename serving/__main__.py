"""``python -m serving``: the model server with TF Serving's flags (``serving.serve``)."""

import sys

from serving.serve import main

sys.exit(main())
