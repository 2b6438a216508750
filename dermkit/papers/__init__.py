"""dermkit.papers."""
