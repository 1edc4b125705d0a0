"""Testing helpers shipped with Hubs (canned outside services, message fixtures)."""
