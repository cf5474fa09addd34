"""Queue message bodies as the queue extension reads them, and the ``QueueMessage`` the Python worker builds.

The extension's ``messageEncoding`` (default ``base64``) decides how stored text becomes the body. A message
that does not decode is moved straight to the poison queue without calling the function, as extension 5.x
does: retrying it could never succeed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueMessage as StoredMessage

from devhost.triggers.signature import annotation_of


class UndecodableMessage(ValueError):
    pass


def decode_body(text: str, encoding: str) -> bytes:
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UndecodableMessage("message decoding has failed: check extensions.queues.messageEncoding") from exc


def encode_body(body: bytes, encoding: str) -> str:
    return body.decode("utf-8") if encoding == "none" else base64.b64encode(body).decode("ascii")


def to_function_message(message: StoredMessage, body: bytes) -> FunctionQueueMessage:
    """What the worker's ``QueueMessageInConverter`` builds (a ``func.QueueMessage`` with the trigger metadata)."""
    return FunctionQueueMessage(
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on,
        insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


def trigger_value(handler: Any, arg_name: str, message: StoredMessage, body: bytes) -> Any:
    """``str`` and ``bytes`` annotations get the body itself; anything else gets a ``func.QueueMessage``."""
    annotation = annotation_of(handler, arg_name)
    if annotation is str:
        return body.decode("utf-8")
    if annotation is bytes:
        return body
    return to_function_message(message, body)
