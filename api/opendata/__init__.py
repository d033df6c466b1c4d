"""Open data in standard shapes: the datasets, their daily bulk CSV files and the DCAT-AP catalogue."""
