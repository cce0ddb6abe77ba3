"""Event-store adapters. Driver libraries are imported only here."""
