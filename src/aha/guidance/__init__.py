"""Guidance: checklists per user and account, read from the engine's state (docs/semantics.md, "Checklist")."""
