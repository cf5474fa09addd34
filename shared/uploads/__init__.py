"""Upload sessions: a request checked and turned into a job that waits for its blocks, with SAS URLs and safe file
names."""
