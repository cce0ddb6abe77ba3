"""The WebSocket side of realtime: connections, the hub, the endpoint, typing, presence push."""
