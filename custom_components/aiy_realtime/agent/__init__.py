"""The typed-turn agent behind the conversation entity: a turn on a warm Realtime session
(turn.py) and the entry's pool of those sessions, one per agent and conversation
(conversations.py). It may import chat/, assistant/, realtime/, const and entity; never
terminal/, flows/, the platform modules or the package's `__init__`."""
