"""catt.context."""
