"""catt.data."""
