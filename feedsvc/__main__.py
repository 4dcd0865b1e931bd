"""``python -m feedsvc`` runs the command line."""

from feedsvc.cli import entry

raise SystemExit(entry())
