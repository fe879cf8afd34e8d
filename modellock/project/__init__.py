"""The project's two files, the manifest and the lock: pure data, readers, canonical writer, path rules, policy."""
