"""Memory: session buffer, long-term per-user memory, knowledge. Headless."""
