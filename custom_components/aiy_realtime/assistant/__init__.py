"""An assistant's settings and the OpenAI account behind it: the settings a subentry makes into a
session (settings.py), the client and key check (client.py), the models and their retirements
(models.py, retirements.py), what the usage costs (usage.py) and the account's problems as
repairs and turn errors (problems.py). It may import chat/ (the tools a session offers),
realtime/, const and entity; never terminal/, agent/, flows/, the platform modules or the
package's `__init__`."""
