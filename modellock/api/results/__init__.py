"""What the public API returns: frozen, typed results, one module per verb (so a command imports only its own).

These are a contract: fields are only ever added. Each keeps the internal result it was built from
in `detail` (for modellock's own renderers; its shape is not part of the contract).
"""
