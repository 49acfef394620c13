"""Pure statistics on counts and durations. Imports nothing from aha, touches no data store."""
