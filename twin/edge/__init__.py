"""The edge: what would run next to a real line. Knows only an endpoint file and a tag map."""
