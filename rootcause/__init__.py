"""Root-cause localisation from the edge's view: tag map, historian, knowledge file (issue 5)."""
