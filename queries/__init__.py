"""Read side: one module per read use case, returning view Structs."""
