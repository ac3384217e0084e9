"""Runs before any other test plugin (pyproject's addopts load this with `-p`, which pytest
honours before the plugins it finds installed): what the newest Home Assistant needs of a test
harness made for an older release (scripts/test-newest).

- From 2026.11, `homeassistant/__init__.py` points `httpx` at httpx2 and `voluptuous` at
  probatio, and refuses to once `httpx` is imported; the harness's plugin imports respx (and so
  httpx) first. Importing the package here first is all it takes.
- The harness imports private names from where the release it was made for kept them; those
  that moved are put back where it looks (on the newest release only).
"""

import importlib

import homeassistant  # noqa: F401

_MOVED = {
    # name: (where the harness looks, where it is now)
    "_clear_logger_overwrites": (
        "homeassistant.components.logger",
        "homeassistant.components.logger.helpers",
    ),
}

for _name, (_expected, _actual) in _MOVED.items():
    _module = importlib.import_module(_expected)
    if not hasattr(_module, _name):
        setattr(_module, _name, getattr(importlib.import_module(_actual), _name))


def _restore_cache_by_entity_id() -> None:
    """From 2026.11, states to restore are kept by entity registry id once an entity has one,
    and by entity id (`last_states_by_entity_id`) until its registry entry is made (a listener
    that `async_setup` starts moves them); the harness fills `last_states`, the one map of
    before, and starts no listener."""
    from homeassistant.helpers import restore_state
    from homeassistant.helpers.entity_registry import EVENT_ENTITY_REGISTRY_UPDATED

    data_class = restore_state.RestoreStateData
    if hasattr(data_class, "last_states") or "last_states_by_entity_id" not in (
        data_class.__init__.__code__.co_names
    ):
        return

    def get(data: restore_state.RestoreStateData) -> object:
        return data.last_states_by_entity_id

    def put(data: restore_state.RestoreStateData, states: dict[str, object]) -> None:
        data.last_states_by_entity_id = dict(states)  # type: ignore[arg-type]
        data.hass.bus.async_listen(
            EVENT_ENTITY_REGISTRY_UPDATED,
            data._async_entity_registry_entry_created,
            event_filter=restore_state._entity_registry_entry_created_filter,
        )

    data_class.last_states = property(get, put)  # type: ignore[attr-defined]


_restore_cache_by_entity_id()
