"""The command line: results to stdout, diagnostics to stderr; exit 0, 1 (spec errors), 2 (usage)."""
