"""OpenSSF Model Signing: statements, bundle verification (keyless, key, certificate), trust roots."""
