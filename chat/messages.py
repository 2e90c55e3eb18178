"""What flows between a channel and the core: an Incoming message in, Replies out. No channel types here."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """A file sent or to send: an imported list, an export, a links file."""

    file_name: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Incoming:
    """One thing a person did in a chat: a text, a command, a button press or a shared contact."""

    channel: str  # telegram / sandbox
    user_id: str
    chat_id: str
    chat_type: str = "private"  # private / group
    text: str | None = None
    button: str | None = None  # payload of the pressed button
    contact_phone: str | None = None
    contact_is_own: bool = True
    language_code: str | None = None
    user_name: str = ""  # display name, for "taken by …" in staff groups
    message_id: str | None = None  # the message the pressed button was on
    photo_id: str | None = None  # the channel's id of a sent photo (reused to forward it)
    document: Attachment | None = None  # a sent file, already downloaded by the channel
    document_too_large: bool = False  # a file the channel would not download
    update_id: str | None = None  # the channel's id of this update, to act on a redelivered one only once
    chat_moved: tuple[str, str] | None = None  # (old, new): the chat got a new id (a group became a supergroup)
    unreadable: str | None = None  # a message the bot cannot read, by kind: voice, sticker, video, location, other

    @property
    def command(self) -> tuple[str, list[str]] | None:
        """('/khaibao', ['args']) for a command, command name lower-cased and without @botname."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, *args = self.text.split()
        return head.split("@", 1)[0].lower(), args


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass
class Reply:
    """A message to show: text and optional rows of buttons.

    `edit_id` replaces that earlier message of the chat instead of sending a new one; `toast` marks a
    short notice that a channel may show as a pop-up on the pressed button.
    """

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    request_contact: str | None = None  # label of a share-my-phone button, where the channel has one
    remove_keyboard: bool = False  # drop a share-contact keyboard shown earlier
    edit_id: str | None = None
    toast: bool = False
    chat_id: str | None = None  # another chat of the same channel; None: the chat it answers
    photo: bytes | None = None  # a PNG image; `text` is then its caption
    photo_id: str | None = None  # a photo already on the channel (a person's), by its id; `text` its caption
    document: Attachment | None = None  # a file; `text` is then its caption
    force_reply: bool = False  # ask the channel to open a reply to this message (answers in a group)

    def to_payload(self) -> dict:
        payload: dict[str, object] = {"text": self.text,
                                      "buttons": [[[b.label, b.payload] for b in row] for row in self.buttons]}
        if self.photo is not None:
            payload["photo"] = base64.b64encode(self.photo).decode("ascii")
        if self.photo_id is not None:
            payload["photo_id"] = self.photo_id
        if self.edit_id is not None:  # an outbox row editing a message it sent before (an alert updated)
            payload["edit_id"] = self.edit_id
        if self.document is not None:
            payload["document"] = {"file_name": self.document.file_name, "mime_type": self.document.mime_type,
                                   "content": base64.b64encode(self.document.content).decode("ascii")}
        return payload

    @classmethod
    def from_payload(cls, payload: dict) -> Reply:
        rows = [[Button(label, data) for label, data in row] for row in payload.get("buttons", [])]
        photo = base64.b64decode(payload["photo"]) if payload.get("photo") else None
        doc = payload.get("document")
        document = Attachment(doc["file_name"], base64.b64decode(doc["content"]), doc["mime_type"]) if doc else None
        return cls(text=payload["text"], buttons=rows, photo=photo, photo_id=payload.get("photo_id"),
                   document=document, edit_id=payload.get("edit_id"))


def one_per_row(buttons: list[Button]) -> list[list[Button]]:
    return [[b] for b in buttons]
