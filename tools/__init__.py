"""Authoring tools for the book: re-execute notebooks cleanly, time them."""
