"""dermkit.metrics."""
