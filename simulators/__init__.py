"""`citysense simulate` and `citysense backfill`: simulated devices that publish exactly what real
ones do. See simulators/README.md for the modules."""
