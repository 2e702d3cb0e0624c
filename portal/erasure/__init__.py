"""Erasure on request: the queue of people's requests to be erased, and carrying them out."""
