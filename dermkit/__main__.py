"""``python -m dermkit``: the ``dermkit`` command line (:mod:`dermkit.cli`)."""

from dermkit.cli import main

raise SystemExit(main())
