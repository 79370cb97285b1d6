"""A team's pipeline repository, as the pipeline tests register it (its directory goes on
each run's sys.path)."""
