"""Pure domain: events, aggregates, the event codec and the event-store port. No I/O."""
