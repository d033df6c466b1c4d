"""Between routes and SQL: each service runs the queries a response needs and applies the pure maths."""
