"""Settings: the option table (written once), parsing of values, and one precedence
(CLI > env > ini > default). The bottom layer: it imports nothing of the package but ``errors``."""
