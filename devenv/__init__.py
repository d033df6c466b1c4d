"""The development environment: what runs citysense on a developer's or CI machine, never in the
product. `citysense services` (local_services.py, its pure half layout.py) and the Mosquitto
launcher that tests and the bench use. The service image leaves this package out."""
