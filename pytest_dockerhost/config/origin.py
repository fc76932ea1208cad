"""Which of the four places, in precedence order, a setting's value came from."""

from __future__ import annotations

import enum


class Origin(enum.Enum):
    CLI = "cli"  # a command-line flag
    ENV = "env"  # an environment variable
    INI = "ini"  # an ini key
    DEFAULT = "default"
