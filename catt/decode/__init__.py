"""catt.decode."""
