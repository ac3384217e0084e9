"""Form pieces the config and subentry flows share."""

from __future__ import annotations

from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)


def select(options: tuple[str, ...] | list[str], key: str) -> SelectSelector:
    """A dropdown whose option labels are translated under `selector.<key>`."""
    return SelectSelector(
        SelectSelectorConfig(
            options=list(options), translation_key=key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def models(names: tuple[str, ...]) -> SelectSelector:
    """OpenAI's current models to pick from, or any other name typed in: an Azure deployment's,
    an OpenAI-compatible server's, or a model newer than this list."""
    return SelectSelector(
        SelectSelectorConfig(
            options=list(names), custom_value=True, mode=SelectSelectorMode.DROPDOWN
        )
    )
