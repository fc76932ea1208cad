"""One pytest run's lifecycle: the session, the early sidecar start, and what the run
says (header and summary lines, test reports, the JSON report)."""
