"""Search: queries read as PostgreSQL's ``websearch_to_tsquery`` reads them, filters, highlights (pure)."""
