"""HTTP and WebSocket edge: routes, auth, settings, the composition root and entry points."""
