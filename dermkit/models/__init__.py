"""dermkit.models."""
