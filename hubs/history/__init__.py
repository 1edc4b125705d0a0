"""The bus's past: backfilling the message store from datagrepper (planning, jobs, the engine, the CLI)."""
