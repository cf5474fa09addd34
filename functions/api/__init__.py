"""The HTTP API: uploads, jobs, transcripts, health and the OpenAPI documents. Talks to the pipeline only through
shared/ (job records, the durable client), never by importing it."""
