"""``python -m feedsvc`` runs the command line."""

from feedsvc.cli import main

raise SystemExit(main())
