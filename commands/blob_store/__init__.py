"""Where uploaded file bytes are stored: the blob-store adapter behind ``domain.blobs``."""
