"""The safety gate: formats sniffed by content and layout, the pickle walk, the allowlist, verdicts."""
