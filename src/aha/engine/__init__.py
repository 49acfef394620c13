"""Definitions compiled into backend-neutral Ibis expressions. Nothing here connects to a database or executes."""
