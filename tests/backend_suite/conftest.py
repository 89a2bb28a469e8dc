"""tests/backend_suite runs in a process of its own on a Keras backend other than
TensorFlow: tests/test_backends.py starts ``pytest tests/backend_suite`` with
``KERAS_BACKEND`` set and ``KEXP_BACKEND_SUITE=1``. The main suite's process, on
TensorFlow, does not collect it."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("KEXP_BACKEND_SUITE") == "1" else ["test_*.py"]
