"""The policy maths: pure functions over plain values (no FastAPI, no database), unit-tested."""
