"""dermkit.explain."""
