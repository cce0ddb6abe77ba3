"""Where read models are stored: the read-store adapters (SQLite, MongoDB)."""
