"""Everything that touches the outside: the store, the CLI, logging (later: HTTP, exporters)."""
