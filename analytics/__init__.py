"""The analysts' query layer: small-cell suppression (pure), the queries behind `kim query`, the read API
and the dashboard, and the generated docs of the ``analytics`` SQL schema."""
