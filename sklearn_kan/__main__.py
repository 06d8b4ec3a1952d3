"""``python -m sklearn_kan``: the same as the ``sklearn-kan`` command."""

from .cli import main

raise SystemExit(main())
