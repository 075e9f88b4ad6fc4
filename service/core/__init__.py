"""Settings, database engine, API-key hashing, rate limiting, request logging and metrics."""
