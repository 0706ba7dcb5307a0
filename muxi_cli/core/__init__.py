"""The agent engine: events, the agent loop, orchestration. Headless."""
