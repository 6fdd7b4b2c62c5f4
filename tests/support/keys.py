"""The PII key every test runs with (set in the environment by ``tests/conftest.py``)."""

TEST_PII_KEY = "test-pii-key-0123456789abcdef"
