"""Defaults of the analyses' options that `Project`'s signatures show, apart from the analyses (which import Ibis)."""

ACCOUNTS_TOP = 50  # accounts listed by default (analyses.accounts)
PATHS_TOP = 10  # milestone orders listed by default (analyses.paths)
