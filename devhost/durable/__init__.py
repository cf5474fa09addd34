"""A local Durable Functions backend that drives the real azure-functions-durable SDK replay.

See the team's ``durable-protocol.md`` handout for the protocol this follows: context JSON in, OrchestratorState
JSON out, DTFx history events, id numbering, retries, the client's HTTP API and status JSON.
"""
