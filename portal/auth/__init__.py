"""Sign-up, sign-in, sign-out, the language switch, and the role checks every view uses."""
