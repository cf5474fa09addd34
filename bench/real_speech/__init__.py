"""Real speech benchmark corpus (docstring pending)."""
