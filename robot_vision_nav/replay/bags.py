"""Reading any bag the `rosbags` library knows and writing rosbag2 mcap bags, without a ROS install.

Reads rosbag2 directories (sqlite3 `.db3` or `.mcap` storage, with `metadata.yaml`), a bare `.mcap`
file and ROS 1 `.bag` files. Every message comes out as ROS 2 CDR bytes (ROS 1 messages are
converted, `std_msgs/Header.seq` dropped), so the same bytes feed `rclpy.serialization` and
rosbags' own deserializer. Writes rosbag2 mcap bags (zstd chunks, `ros2msg` schemas) that
`ros2 bag info/play` and the `mcap` tools accept; a bag is written under a temporary name beside
its destination and renamed there only when complete, so a failure never leaves half a bag and
never replaces an existing one.

Every failure is a `BagError` naming the bag (and the topic where there is one); it must never
hand out a half-read message silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.replay.errors import BagError

try:  # the zstd module rosbags itself compresses with
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]

TYPESTORE_ROS2 = get_typestore(Stores.ROS2_KILTED)


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag."""

    name: str
    msgtype: str  # ROS 2 spelling: sensor_msgs/msg/Image
    count: int
    serialization: str  # cdr (rosbag2) or ros1


@dataclass(frozen=True)
class BagInfo:
    """What `rvn bag info` prints."""

    path: str
    storage: str  # sqlite3, mcap or rosbag1
    size_bytes: int
    messages: int
    start_ns: int
    end_ns: int
    topics: tuple[TopicInfo, ...]

    @property
    def duration_ns(self) -> int:
        """End minus start of the messages' log times (0 for an empty bag)."""
        return max(0, self.end_ns - self.start_ns) if self.messages else 0

    def as_dict(self) -> dict[str, object]:
        """The `--json` form."""
        return {
            "path": self.path,
            "storage": self.storage,
            "size_bytes": self.size_bytes,
            "messages": self.messages,
            "start_ns": self.start_ns if self.messages else None,
            "end_ns": self.end_ns if self.messages else None,
            "duration_s": self.duration_ns / NS_PER_S,
            "topics": [
                {"name": t.name, "type": t.msgtype, "count": t.count, "serialization": t.serialization}
                for t in self.topics
            ],
        }

    def format(self) -> str:
        """A `ros2 bag info`-like text block."""
        lines = [
            f"Files:             {self.path}",
            f"Bag size:          {_human_size(self.size_bytes)}",
            f"Storage id:        {self.storage}",
            f"Duration:          {self.duration_ns / NS_PER_S:.3f} s",
        ]
        if self.messages:
            lines.append(f"Start:             {self.start_ns / NS_PER_S:.9f} s")
            lines.append(f"End:               {self.end_ns / NS_PER_S:.9f} s")
        lines.append(f"Messages:          {self.messages}")
        width = max((len(t.name) for t in self.topics), default=0)
        for i, t in enumerate(self.topics):
            head = "Topic information: " if i == 0 else " " * 19
            lines.append(
                f"{head}Topic: {t.name:<{width}} | Type: {t.msgtype} | Count: {t.count} | "
                f"Serialization Format: {t.serialization}"
            )
        return "\n".join(lines)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{size} B"


def bag_storage(path: Path) -> str:
    """The storage of the bag at `path`: `sqlite3`, `mcap` or `rosbag1`.

    Raises:
        BagError: `path` does not exist or is not a bag.

    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag (a rosbag2 folder, a .mcap file or a ROS 1 .bag file)")
    if path.is_file():
        if path.suffix == ".bag":
            return "rosbag1"
        if path.suffix == ".mcap":
            return "mcap"
        if path.suffix == ".db3":
            raise BagError(f"{path}: a .db3 file is read through its rosbag2 folder ({path.parent}) with metadata.yaml")
        raise BagError(f"{path}: not a bag (expected a rosbag2 folder, a .mcap file or a ROS 1 .bag file)")
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path}: a folder without metadata.yaml is not a rosbag2 bag")
    if any(path.glob("*.mcap")):
        return "mcap"
    if any(path.glob("*.db3")):
        return "sqlite3"
    raise BagError(f"{path}: metadata.yaml but neither .mcap nor .db3 files")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class BagReader:
    """An open bag: its topics and its messages as ROS 2 CDR bytes, in log-time order.

    Use as a context manager. `messages()` yields `(topic, msgtype, log_ns, cdr_bytes)`;
    `deserialize(cdr, msgtype)` turns those bytes into rosbags' message dataclasses.

    Raises:
        BagError: the bag is missing, truncated or corrupt, or has messages of a type without a definition.

    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.storage = bag_storage(self.path)
        self._reader: AnyReader | None = None
        self._connections: dict[str, list[Connection]] = {}

    def __enter__(self) -> BagReader:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the bag and read its index (the whole file for an unindexed one)."""
        try:
            reader = AnyReader([self.path], default_typestore=TYPESTORE_ROS2)
            reader.open()
        except Exception as err:  # rosbags raises several types (ReaderError, AnyReaderError, KeyError, struct.error)
            raise BagError(f"{self.path}: cannot open the {self.storage} bag: {_describe(err)}") from err
        self._reader = reader
        self._connections = {}
        for conn in reader.connections:
            self._connections.setdefault(conn.topic, []).append(conn)

    def close(self) -> None:
        """Close the bag (idempotent)."""
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None

    @property
    def reader(self) -> AnyReader:
        """The open rosbags reader."""
        if self._reader is None:
            raise BagError(f"{self.path}: the bag is not open")
        return self._reader

    @property
    def is_ros1(self) -> bool:
        """A ROS 1 .bag (its messages are converted to ROS 2 CDR)."""
        return self.storage == "rosbag1"

    def topics(self) -> dict[str, TopicInfo]:
        """Every topic with its type, message count and serialization, sorted by name."""
        out: dict[str, TopicInfo] = {}
        for name in sorted(self._connections):
            conns = self._connections[name]
            types = sorted({c.msgtype for c in conns})
            if len(types) > 1:
                raise BagError(f"{self.path}: topic {name} has several types ({', '.join(types)})")
            count = sum(c.msgcount for c in conns)
            out[name] = TopicInfo(name, types[0], count, "ros1" if self.is_ros1 else _serialization(conns[0]))
        return out

    def info(self) -> BagInfo:
        """Topics, counts, duration and storage, like `ros2 bag info`."""
        reader = self.reader
        topics = self.topics()
        messages = sum(t.count for t in topics.values())
        start, end = (reader.start_time, reader.end_time) if messages else (0, 0)
        if messages:
            end -= 1  # the readers report the end as one past the last message
        return BagInfo(
            str(self.path), self.storage, _size(self.path), messages, start, max(start, end), tuple(topics.values())
        )

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
        """`(topic, msgtype, log_ns, cdr)` of `topics` (default all) in log-time order.

        Raises:
            BagError: a message cannot be read (truncated chunk, bad checksum) or converted from ROS 1.

        """
        reader = self.reader
        wanted = set(self._connections) if topics is None else set(topics)
        missing = sorted(wanted - set(self._connections))
        if missing:
            raise BagError(f"{self.path}: no topic {', '.join(missing)} in the bag")
        conns = [c for t in sorted(wanted) for c in self._connections[t]]
        topic = ""
        try:
            for conn, log_ns, raw in reader.messages(connections=conns):
                topic = conn.topic
                data = self._to_cdr(conn, raw)
                yield conn.topic, conn.msgtype, int(log_ns), data
        except BagError:
            raise
        except Exception as err:
            where = f" after topic {topic}" if topic else ""
            raise BagError(f"{self.path}: cannot read the messages{where}: {_describe(err)}") from err

    def _to_cdr(self, conn: Connection, raw: bytes) -> bytes:
        if not self.is_ros1:
            if _serialization(conn) != "cdr":
                raise BagError(f"{self.path}: topic {conn.topic} is serialized as {_serialization(conn)}, not cdr")
            return bytes(raw)
        # rosbags' converter drops Header.seq itself and then reads the Header fields of the typestore it
        # is called on: that must be the ROS 2 one (the bag's own ROS 1 definitions still have seq).
        store = TYPESTORE_ROS2 if conn.msgtype in TYPESTORE_ROS2.types else self.reader.typestore
        try:
            return bytes(store.ros1_to_cdr(raw, conn.msgtype))
        except Exception as err:
            raise BagError(
                f"{self.path}: topic {conn.topic}: cannot convert the ROS 1 {conn.msgtype} message: {_describe(err)}"
            ) from err

    def deserialize(self, cdr: bytes, msgtype: str, topic: str = "") -> Any:  # Any: the class `msgtype` names
        """The rosbags dataclass of `cdr` (ROS 2 CDR bytes from `messages()`).

        Raises:
            BagError: the type has no definition here or the bytes do not hold one such message.

        """
        store = TYPESTORE_ROS2 if msgtype in TYPESTORE_ROS2.types else self.reader.typestore
        if self.is_ros1 and msgtype not in TYPESTORE_ROS2.types:
            raise BagError(f"{self.path}: topic {topic}: ROS 1 type {msgtype} has no ROS 2 definition here")
        try:
            return store.deserialize_cdr(cdr, msgtype)
        except Exception as err:
            raise BagError(f"{self.path}: topic {topic}: not a valid {msgtype} message: {_describe(err)}") from err


def _serialization(conn: Connection) -> str:
    return str(getattr(conn.ext, "serialization_format", "cdr"))


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."


def read_info(path: Path | str) -> BagInfo:
    """`BagInfo` of the bag at `path` (any format the reader accepts)."""
    with BagReader(path) as bag:
        return bag.info()


class BagWriter:
    """A rosbag2 mcap bag written atomically: under a temporary folder, renamed to `path` on `close()`.

    `abort()` (or an exception inside `with`) removes everything written. Messages are given as
    ROS 2 CDR bytes (`rclpy.serialization.serialize_message` or rosbags' `serialize_cdr`) with
    their log time in ns; types come from the ROS 2 Kilted definitions.

    Raises:
        BagError: `path` exists already (a bag is never overwritten), its folder does not exist,
            or a type is unknown.

    """

    def __init__(self, path: Path | str, *, compress: bool = True, custom_data: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        if self.path.exists() or self.path.is_symlink():
            raise BagError(f"{self.path}: exists already; choose another output path (bags are never overwritten)")
        if not self.path.parent.is_dir():
            raise BagError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            self._tmp_dir = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.partial-"))
        except OSError as err:
            raise BagError(f"{self.path}: cannot write in {self.path.parent}: {err.strerror or err}") from err
        try:
            self._writer: Writer | None = Writer(
                self._tmp_dir / self.path.name, version=9, storage_plugin=StoragePlugin.MCAP
            )
            if compress:
                # zstd chunks (mcap storage compression), as `ros2 bag record -s mcap` with a zstd preset writes
                self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, value)
            self._writer.open()
        except BaseException as err:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            if isinstance(err, (OSError, WriterError)):
                raise BagError(f"{self.path}: cannot start the bag: {_describe(err)}") from err
            raise
        self._connections: dict[str, Connection] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare `topic` with ROS 2 type `msgtype` (idempotent for the same type)."""
        writer = self._open_writer()
        old = self._connections.get(topic)
        if old is not None:
            if old.msgtype != msgtype:
                raise BagError(f"{self.path}: topic {topic} is already {old.msgtype}, cannot also be {msgtype}")
            return
        if msgtype not in TYPESTORE_ROS2.types:
            raise BagError(f"{self.path}: topic {topic}: unknown message type {msgtype}")
        try:
            self._connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE_ROS2)
        except WriterError as err:
            raise BagError(f"{self.path}: topic {topic}: {_describe(err)}") from err
        self.counts[topic] = 0

    def write(self, topic: str, log_ns: int, cdr: bytes) -> None:
        """Append one message of a declared topic."""
        writer = self._open_writer()
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"{self.path}: topic {topic} was not declared with add_topic")
        try:
            writer.write(conn, int(log_ns), cdr)
        except (OSError, WriterError) as err:
            raise BagError(f"{self.path}: topic {topic}: cannot write: {_describe(err)}") from err
        self.counts[topic] += 1

    def _open_writer(self) -> Writer:
        if self._writer is None:
            raise BagError(f"{self.path}: the bag is closed")
        return self._writer

    def close(self) -> None:
        """Finish the bag and move it to `path`. Refuses (and keeps nothing) if `path` appeared meanwhile."""
        writer = self._writer
        if writer is None:
            return
        self._writer = None
        try:
            writer.close()
            _add_chunk_crcs(self._tmp_dir / self.path.name / f"{self.path.name}.mcap")
            if self.path.exists():
                raise BagError(f"{self.path}: appeared while the bag was being written; not overwritten")
            os.rename(self._tmp_dir / self.path.name, self.path)
        except BaseException as err:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            if isinstance(err, (OSError, WriterError)):
                raise BagError(f"{self.path}: cannot finish the bag: {_describe(err)}") from err
            raise
        shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written; `path` is left as it was."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # best effort: the folder goes anyway
                writer.close()
        shutil.rmtree(self._tmp_dir, ignore_errors=True)


def _add_chunk_crcs(mcap: Path) -> None:
    """Fill in each chunk's CRC32 of its uncompressed records, which rosbags' writer leaves 0 ("none").

    Without it a damaged chunk that still decompresses is read back as wrong messages, silently;
    `ros2 bag record -s mcap` writes these CRCs too, and rosbags and the mcap tools check them.
    """
    with mcap.open("r+b") as f:
        f.seek(8)  # magic
        while head := f.read(9):
            opcode, length = struct.unpack("<BQ", head)
            start = f.tell()
            if opcode == 0x0F:  # DataEnd: the chunks are all behind
                return
            if opcode == 0x06:  # Chunk: start, end, uncompressed size, crc, compression, records
                body = f.read(length)
                (size,) = struct.unpack_from("<Q", body, 16)
                (name_len,) = struct.unpack_from("<I", body, 28)
                compression = body[32 : 32 + name_len].decode()
                data = body[40 + name_len :]
                raw = zstd.decompress(data) if compression == "zstd" else data
                if compression not in ("", "zstd") or len(raw) != size:
                    raise BagError(f"{mcap}: unexpected chunk (compression {compression!r}) at byte {start - 9}")
                f.seek(start + 24)
                f.write(struct.pack("<I", zlib.crc32(raw)))
            f.seek(start + length)


def copy_messages(reader: BagReader, writer: BagWriter, topics: Sequence[str] | None = None) -> int:
    """Copy `topics` (default all) from `reader` to `writer`; returns the number of messages."""
    infos = reader.topics()
    for name in topics or list(infos):
        writer.add_topic(name, infos[name].msgtype)
    count = 0
    for topic, _msgtype, log_ns, cdr in reader.messages(topics):
        writer.write(topic, log_ns, cdr)
        count += 1
    return count


def typestore() -> Typestore:
    """The ROS 2 Kilted type definitions bags are written with."""
    return TYPESTORE_ROS2
