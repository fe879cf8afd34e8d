"""What users see: console text, progress, JSON, SARIF; one module per output format."""
