"""dermkit.preprocessing."""
