"""repo's contract: what each message is on the wire, and what it refuses."""

from __future__ import annotations

import pytest

from jobico.errors import UserError
from jobico.repo import api
from jobico.rpc.errors import BadReply


def test_messages_round_trip_in_the_wire_shapes_of_docs_internals() -> None:
    info = api.FileInfo("acme", "s/x.json", "ab" * 32, 2)
    assert info.to_wire() == {"tenant": "acme", "path": "s/x.json", "sha256": "ab" * 32, "size": 2,
                              "error": None}
    snapshot = api.Snapshot((info,))
    assert snapshot.to_wire() == {"kind": "snapshot", "files": [info.to_wire()]}
    deleted = api.FileChange("acme", "s/x.json", None)
    assert deleted.to_wire() == {"kind": "change", "tenant": "acme", "path": "s/x.json", "sha256": None,
                                 "error": None}
    for item in (snapshot, deleted):
        assert api.change_from_wire(item.to_wire()) == item
    listing = api.FileList((info, api.FileInfo("acme", "fifo", None, 0, "is a FIFO")))
    assert api.FileList.from_wire(listing.to_wire()) == listing
    assert api.Content.from_wire(b"\x00") == api.Content(b"\x00")
    assert api.ListFiles().to_wire() == {} and api.ListFiles.from_wire({}) == api.ListFiles()


def test_an_upload_over_the_limit_is_refused_before_it_reaches_the_disk() -> None:
    big = {"tenant": "acme", "path": "big.wasm", "data": b"\0" * (api.MAX_FILE_BYTES + 1)}
    with pytest.raises(UserError, match=f"file 'big.wasm' is {api.MAX_FILE_BYTES + 1} bytes; the limit"):
        api.Upload.from_wire(big)
    assert api.Upload.from_wire({**big, "data": b"{}"}) == api.Upload("acme", "big.wasm", b"{}")


@pytest.mark.parametrize(
    ("read", "data", "message"),
    [
        (api.Upload.from_wire, {"tenant": "acme", "path": "x", "data": "text"},
         "params 'data' must be bytes, got str"),
        (api.Read.from_wire, {"tenant": "acme"}, "params 'path' must be a string, is missing"),
        (api.ListFiles.from_wire, {"tenant": "Acme"}, "tenant 'Acme' is not a valid id"),
        (api.change_from_wire, {"kind": "moved"}, "item 'kind' must be 'snapshot' or 'change', got 'moved'"),
    ],
)
def test_bad_requests_and_items_name_the_field(read: object, data: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read(data)  # type: ignore[operator]


def test_a_listing_with_a_bad_entry_is_a_bad_reply_naming_it() -> None:
    good = api.FileInfo("acme", "a", None, 0).to_wire()
    with pytest.raises(BadReply, match=r"'files' answered off contract: files\[1\]: file 'size'"):
        api.files.decode([good, {**good, "size": "0"}])
