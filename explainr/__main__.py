"""``python -m explainr``: the same as the ``explainr`` command."""

from explainr.cli import main

raise SystemExit(main())
