"""The consent ledger: who may receive which part of a person's record, for what, and until when."""
