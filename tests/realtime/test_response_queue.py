"""The response queue on its own: which `response.created` it takes, which it ignores."""

from __future__ import annotations

from openai.types.realtime import RealtimeResponse

from custom_components.aiy_realtime.realtime.response_queue import REQUEST_KEY, ResponseQueue
from custom_components.aiy_realtime.realtime.responses import Turn


def _response(response_id: str, request_id: str | None = None) -> RealtimeResponse:
    metadata = {REQUEST_KEY: request_id} if request_id else None
    return RealtimeResponse(
        id=response_id, object="realtime.response", status="in_progress", metadata=metadata
    )


async def test_a_server_response_supersedes_one_whose_done_was_lost() -> None:
    """With turn detection on, a new server response means the last one is over: its turn ends
    (incomplete) and the new one is followed, not ignored for the rest of the session."""
    queue = ResponseQueue(lambda event: None)
    queue.server_starts_responses = True
    first = queue.on_created(_response("resp_1"))
    assert first is not None
    first_turn, asked = first
    assert not asked

    second = queue.on_created(_response("resp_2"))  # resp_1's response.done never came

    assert second is not None
    assert (await first_turn.result()).status == "incomplete"
    second_turn, _ = second
    finished = queue.on_done(_response("resp_2").model_copy(update={"status": "completed"}))
    assert finished is not None
    assert finished[0] is second_turn


async def test_with_turn_detection_off_a_stray_response_is_ignored() -> None:
    """Nobody asked, and the server starts none of its own: the active one stays followed."""
    queue = ResponseQueue(lambda event: None)
    turn = Turn()
    queue.ask(turn)
    taken = queue.on_created(_response("resp_1", "req_1"))
    assert taken is not None
    assert taken[0] is turn

    assert queue.on_created(_response("resp_stray")) is None
    assert not turn.done
    finished = queue.on_done(_response("resp_1").model_copy(update={"status": "completed"}))
    assert finished is not None
    assert finished[0] is turn
