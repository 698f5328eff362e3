"""catt.text."""
