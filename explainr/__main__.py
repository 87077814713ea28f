"""``python -m explainr``: the same as the ``explainr`` command."""

import sys

try:
    from explainr.cli import main
except KeyboardInterrupt:  # Ctrl-C before main() owns it (the import is light; rare)
    print("explainr: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
