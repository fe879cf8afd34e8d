"""The safety gate: recognise formats by content, scan what may run code, apply the policy."""
