"""Operations: one module per verb family; they take plain arguments and return results."""
