"""One module per database dialect behind the ``DatabaseSession`` protocol in ``base``."""
