"""Configuration storage: the schema, its migrations and the store adapters."""
