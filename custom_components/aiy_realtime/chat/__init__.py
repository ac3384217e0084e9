"""Home Assistant's chat log and LLM API, as the agent and the terminal share them: what a
session has been told of the log (conversation.py, history.py, bridge.py), HA's chat sessions
(sessions.py), the tools and their guard (toolset.py, tool_guard.py) and the prompt's
parts (instructions.py, prompts.py). It may import realtime/, const and entity; never
assistant/, terminal/, agent/, flows/, the platform modules or the package's `__init__`."""
