"""Write side: command Structs, one handler per command, and the event-store adapters."""
