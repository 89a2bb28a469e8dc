"""Custom code that kexp specs refer to as ``examples.<module>:<attribute>``."""
