"""repo's RPC contract: tenant files read, uploaded, listed, and their changes as a stream.

The service (``jobico.repo.service``), ctl (which follows ``changes``), the CLI
(``jobico deploy``/``upload``) and the TUI import this module; the pattern is
``jobico.rpc.api``'s. ``FileInfo`` and ``FileChange`` are also what repo's own
listing and watcher produce, so a file looks the same on disk, in memory and on
the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobico import caps
from jobico.errors import UserError
from jobico.names import check_id
from jobico.rpc.api import Call, Empty, Fields, Stream, each_of

MAX_FILE_BYTES = max(caps.MAX_WASM_BYTES, caps.MAX_SCHEMA_BYTES, caps.MAX_PACKAGE_BYTES)
"""The largest file any use of a tenant file accepts (a module). Anything bigger is
listed as unusable, never read: not to hash it, not to serve it, not to upload it."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One tenant file as listed by repo: path is relative to the tenant folder.

    A file that is there but cannot be used (a FIFO, a symlink loop, too big...)
    is listed too, with ``sha256`` None and ``error`` saying why, so the package
    naming it gets that reason as its load error instead of "not found".
    """

    tenant: str
    path: str
    sha256: str | None
    size: int
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "path": self.path, "sha256": self.sha256, "size": self.size,
                "error": self.error}

    @classmethod
    def from_wire(cls, data: object) -> FileInfo:
        f = Fields(data, "file")
        return cls(f.text("tenant"), f.text("path"), f.text_or_none("sha256"), f.integer("size"),
                   f.text_or_none("error"))


@dataclass(frozen=True, slots=True)
class FileChange:
    """A file appeared, changed (new ``sha256``) or disappeared (``sha256`` and ``error`` None).

    A file that is there but cannot be used has ``sha256`` None and ``error`` set.
    """

    tenant: str
    path: str
    sha256: str | None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "change", "tenant": self.tenant, "path": self.path, "sha256": self.sha256,
                "error": self.error}

    @classmethod
    def from_wire(cls, data: object) -> FileChange:
        f = Fields(data, "change")
        return cls(f.text("tenant"), f.text("path"), f.text_or_none("sha256"), f.text_or_none("error"))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The first item of ``changes``: every file at the moment of subscribing."""

    files: tuple[FileInfo, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "snapshot", "files": [f.to_wire() for f in self.files]}

    @classmethod
    def from_wire(cls, data: object) -> Snapshot:
        return cls(Fields(data, "snapshot").each("files", FileInfo.from_wire))


def change_from_wire(data: object) -> Snapshot | FileChange:
    """An item of ``changes``, told apart by its ``kind``."""
    kind = Fields(data, "item").text("kind")
    if kind == "snapshot":
        return Snapshot.from_wire(data)
    if kind == "change":
        return FileChange.from_wire(data)
    raise UserError(f"item 'kind' must be 'snapshot' or 'change', got {kind!r:.40}")


@dataclass(frozen=True, slots=True)
class Read:
    """Read a file; the path is checked (confined to the tenant folder) where it is opened."""

    tenant: str
    path: str

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "path": self.path}

    @classmethod
    def from_wire(cls, data: object) -> Read:
        f = Fields(data)
        return cls(f.text("tenant"), f.text("path"))


@dataclass(frozen=True, slots=True)
class Content:
    """A file's bytes (bytes on the wire)."""

    data: bytes

    def to_wire(self) -> bytes:
        return self.data

    @classmethod
    def from_wire(cls, data: object) -> Content:
        if type(data) is not bytes:
            raise UserError(f"file content must be bytes, got {type(data).__name__}")
        return cls(data)


@dataclass(frozen=True, slots=True)
class Upload:
    """Store a file atomically; at most ``MAX_FILE_BYTES``."""

    tenant: str
    path: str
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "path": self.path, "data": self.data}

    @classmethod
    def from_wire(cls, data: object) -> Upload:
        f = Fields(data)
        upload = cls(f.text("tenant"), f.text("path"), f.blob("data"))
        if len(upload.data) > MAX_FILE_BYTES:
            raise UserError(f"file {upload.path!r} is {len(upload.data)} bytes; "
                            f"the limit is {MAX_FILE_BYTES}")
        return upload


@dataclass(frozen=True, slots=True)
class Uploaded:
    sha256: str

    def to_wire(self) -> dict[str, Any]:
        return {"sha256": self.sha256}

    @classmethod
    def from_wire(cls, data: object) -> Uploaded:
        return cls(Fields(data, "reply").text("sha256"))


@dataclass(frozen=True, slots=True)
class ListFiles:
    """Every file, or one tenant's (``tenant`` None: all)."""

    tenant: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {} if self.tenant is None else {"tenant": self.tenant}

    @classmethod
    def from_wire(cls, data: object) -> ListFiles:
        tenant = Fields(data).text_or_none("tenant")
        return cls(None if tenant is None else check_id(tenant))


@dataclass(frozen=True, slots=True)
class FileList:
    """Files sorted by tenant then path (an array on the wire)."""

    files: tuple[FileInfo, ...]

    def to_wire(self) -> list[dict[str, Any]]:
        return [f.to_wire() for f in self.files]

    @classmethod
    def from_wire(cls, data: object) -> FileList:
        return cls(each_of(data, FileInfo.from_wire, "files"))


read = Call("read", Read.from_wire, Content.from_wire)
"""**Errors:** ``UserError`` for a bad tenant or path or a file that cannot be read
(not a regular file, over ``MAX_FILE_BYTES``...); ``NotFound`` for a missing file."""

upload = Call("upload", Upload.from_wire, Uploaded.from_wire)
"""The watcher then publishes the file as a change. **Errors:** ``UserError``."""

files = Call("files", ListFiles.from_wire, FileList.from_wire)

changes = Stream("changes", Empty.from_wire, change_from_wire)
"""A ``Snapshot`` of every file, then each ``FileChange`` as it happens. The stream
ends when the subscriber falls too far behind; it then subscribes again."""
