"""The live feed: the bus follower (MQTT, in the API's lifespan) and the hub that fans out."""
