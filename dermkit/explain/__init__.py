"""dermkit.explain."""

from dermkit.explain.activation_maps import query_result_activation_maps  # noqa: F401
