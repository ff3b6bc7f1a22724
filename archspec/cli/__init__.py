"""The command line: results to stdout, diagnostics to stderr.

Exit codes: 0 ok, 1 spec errors, 2 usage errors.
"""
