-- create_hypertable gave `readings` an index on time alone. No query uses it: every read of
-- raw readings names a metric (readings_metric_time) or a sensor and metric (readings_key),
-- chunk exclusion and retention work from the chunks' time ranges, not from an index. Each
-- inserted reading paid for it all the same. Measured on the 2-core development VM, 40
-- batches of 2,000 bench messages (~9,900 readings) into fresh databases: the ingest
-- statement 176 -> 161 ms per batch, PostgreSQL backend CPU 15.3 -> 14.1 us per reading.
DROP INDEX IF EXISTS readings_time_idx;
