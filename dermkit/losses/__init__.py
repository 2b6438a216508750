"""dermkit.losses."""
