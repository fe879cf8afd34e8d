"""modellock's benchmark suite: each scenario against its peer, in the same run. Not part of the tests."""
