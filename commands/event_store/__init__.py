"""Where events are stored: the event-store adapters (SQLite, KurrentDB)."""
