"""The one error type for configuration mistakes: every checker raises it, naming the key and the fix."""

class ConfigError(ValueError):
    """A config value is wrong: the message names the key, what was expected and how to fix it."""
