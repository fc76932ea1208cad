"""Every sentence the plugin says to users, and every fix, lives in this package.

Option names are rendered from ``settings.OPTIONS`` (``names``), never retyped, so the
help, the header and the fixes cannot drift from the options that exist.
"""
