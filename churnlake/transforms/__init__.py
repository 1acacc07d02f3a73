"""Pure DataFrame -> DataFrame transforms. They never read, write or create a session."""
