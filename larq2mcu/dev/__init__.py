"""Developer-only code, kept apart from what users import: the model zoo of the tests and the
benchmark (`zoo`) and the differential fuzzer (`fuzz`: random model generator, campaign runner,
campaign report). Nothing outside this package imports it except the CLI's `fuzz` command
(tests/test_structure.py checks that)."""
