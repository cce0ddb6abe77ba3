"""Read side writers: one module per read model, the projector runtime, the read-store port."""
