"""People: accounts, passwords, sign-in and server-side sessions."""
