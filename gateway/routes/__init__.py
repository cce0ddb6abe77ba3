"""Route modules; each exposes ``api``, an ``Api`` of its prefix."""
