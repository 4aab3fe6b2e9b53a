"""Demo data for `flask seed-demo` and the tests; never imported on a request path."""
