"""``python -m tinygrad_adam``: the same as the ``tinygrad-adam`` command."""

from .cli import main

raise SystemExit(main())
