"""Azure Storage as the service uses it: clients built once from settings, queues, SAS signing."""
