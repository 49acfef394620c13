"""Surfaces turn result objects into text, JSON and pages; they hold no analytics logic."""
