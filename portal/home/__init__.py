"""The home page: what each role sees first."""
