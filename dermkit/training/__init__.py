"""dermkit.training."""
