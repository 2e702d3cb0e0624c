"""Field-level encryption at rest (security.md item 37): AES-256-GCM per value, keys from configuration.

A value is stored as `v{key_id}:` + base64(nonce ‖ ciphertext ‖ tag), with a fresh 96-bit nonce
each time and `table|column|row id` as associated data, so a ciphertext copied onto another row
or column does not decrypt. The key ring (several keys, one current) never touches the database;
the rotate command re-encrypts every value with the current key so older ones can be retired.

A column type alone cannot do this: it sees the value but not the row it belongs to. So
`EncryptedText` only stores what it is given and refuses plain text (an SQL comparison or a bulk
UPDATE on an encrypted column fails loudly instead of leaking or never matching), while ORM events
do the work with the row at hand: before INSERT/UPDATE they seal changed values (and compute the
blind indexes, HMAC-SHA-256 with a separate key, that exact lookups query), after it they put the
plain text back in the object; on load and refresh they open what came from the database. The key
ring rides on the engine (an execution option), so every session of an app, in a request or not,
uses that app's keys.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import event
from sqlalchemy.orm import Mapper, QueryContext, attributes
from sqlalchemy.orm.state import InstanceState
from sqlmodel import Field

KEYRING_OPTION = "portal_keyring"
NONCE_BYTES = 12
KEY_BYTES = 32


class KeyConfigError(ValueError):
    """The configured keys are missing or malformed."""


class UndecryptableValue(InvalidTag):
    """A stored value does not open with its key and its row: moved, altered, or the key is gone."""


class Sealed(str):
    """Ciphertext as stored: the only kind of string `EncryptedText` writes to the database."""

    __slots__ = ()


@dataclass(frozen=True)
class KeyRing:
    """The data keys by id, the one new values are sealed with, and the blind-index key."""

    keys: Mapping[int, bytes]
    current: int
    blind_key: bytes

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyConfigError(f"the current data key {self.current} is not in the key ring")
        if any(len(key) != KEY_BYTES for key in self.keys.values()) or len(self.blind_key) != KEY_BYTES:
            raise KeyConfigError("every key must be 32 bytes (256 bits), base64-encoded")
        if self.blind_key in self.keys.values():
            raise KeyConfigError("the blind-index key must differ from every data key")
        # One cipher object per key, made once: a caseload page opens thousands of values.
        object.__setattr__(self, "_ciphers", {key_id: AESGCM(key) for key_id, key in self.keys.items()})

    def seal(self, plain: str, aad: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(self.current).encrypt(nonce, plain.encode(), aad.encode())
        return Sealed(f"v{self.current}:{base64.b64encode(nonce + sealed).decode()}")

    def open(self, stored: str, aad: str) -> str:
        """The plain text, or UndecryptableValue naming what failed (never a wrong value)."""
        key_id = key_id_of(stored)
        if key_id is None:
            raise UndecryptableValue(f"{aad}: the stored value is not in the v<key>: format")
        if key_id not in self.keys:
            raise UndecryptableValue(f"{aad}: sealed with data key {key_id}, which is not configured")
        try:
            raw = base64.b64decode(stored.partition(":")[2], validate=True)
            return self._cipher(key_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise UndecryptableValue(
                f"{aad}: the stored value does not decrypt with key {key_id}; it was altered or copied from another row"
            ) from exc

    def _cipher(self, key_id: int) -> AESGCM:
        ciphers: dict[int, AESGCM] = self.__dict__["_ciphers"]
        return ciphers[key_id]

    def blind(self, purpose: str, normalised: str) -> str:
        """A keyed HMAC for exact lookups; empty for an empty value, so blanks never match each other."""
        if not normalised:
            return ""
        message = f"{purpose}|{normalised}".encode()
        return hmac.new(self.blind_key, message, hashlib.sha256).hexdigest()


def key_id_of(stored: str) -> int | None:
    prefix, separator, _ = stored.partition(":")
    if not separator or not prefix.startswith("v") or not prefix[1:].isdigit():
        return None
    return int(prefix[1:])


def aad(table: str, column: str, row_id: object) -> str:
    """`table|column|row id`, the id in one spelling whether the database gave a UUID or 32 hex digits."""
    try:
        row = str(row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id)))
    except ValueError:
        row = str(row_id)
    return f"{table}|{column}|{row}"


def decode_key(text: str, name: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(f"{name} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyConfigError(f"{name} must be 32 bytes (256 bits), base64-encoded")
    return key


def keyring_from_settings(data_keys: str | Mapping[str, str], current: object, blind_key: str) -> KeyRing:
    """The key ring from configuration: `{"1": base64, "2": base64}` (a JSON string or a mapping),
    the current key id, and the blind-index key."""
    if isinstance(data_keys, str):
        try:
            data_keys = json.loads(data_keys) if data_keys.strip() else {}
        except json.JSONDecodeError as exc:
            raise KeyConfigError("PORTAL_DATA_KEYS must be a JSON object of key id to base64 key") from exc
    if not isinstance(data_keys, Mapping) or not data_keys:
        raise KeyConfigError("PORTAL_DATA_KEYS must name at least one key")
    keys = {}
    for key_id, text in data_keys.items():
        if not str(key_id).isdigit():
            raise KeyConfigError("PORTAL_DATA_KEYS ids must be whole numbers")
        keys[int(key_id)] = decode_key(str(text), f"PORTAL_DATA_KEYS[{key_id}]")
    if current in (None, ""):
        raise KeyConfigError("PORTAL_DATA_KEY_CURRENT must name the key new values are sealed with")
    if not str(current).isdigit():
        raise KeyConfigError("PORTAL_DATA_KEY_CURRENT must be a key id")
    if not blind_key:
        raise KeyConfigError("PORTAL_BLIND_INDEX_KEY must be set")
    return KeyRing(keys, int(str(current)), decode_key(blind_key, "PORTAL_BLIND_INDEX_KEY"))


def keyring_of(bind: sa.Engine | sa.Connection) -> KeyRing:
    ring = bind.get_execution_options().get(KEYRING_OPTION)
    if not isinstance(ring, KeyRing):
        raise RuntimeError("this engine has no key ring: create it with portal.db.make_engine(..., keyring=...)")
    return ring


# --- Columns -----------------------------------------------------------------------------------


class EncryptedText(sa.types.TypeDecorator[str]):
    """Ciphertext in a TEXT column; plain text is refused (see the module docstring)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None or isinstance(value, Sealed):
            return value
        raise TypeError("plain text given for an encrypted column: write it through the ORM, never compare it in SQL")

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else Sealed(value)


def encrypted_column(**kwargs: Any) -> Any:
    """A free-text or identifying field stored encrypted (the length limit is the form's)."""
    return Field(sa_type=EncryptedText, **kwargs)


@dataclass(frozen=True)
class BlindIndexOf:
    """Marks a column as the blind index of another: HMAC of `normalise(source)`."""

    source: str
    normalise: Callable[[str], str]


def blind_index_column(source: str, normalise: Callable[[str], str]) -> Any:
    """An HMAC-SHA-256 (hex) of a normalised encrypted field, for exact lookups in SQL."""
    return Field(
        default="",
        max_length=64,
        index=True,
        sa_column_kwargs={"info": {"blind_index": BlindIndexOf(source, normalise)}},
    )


def blind_index_value(ring: KeyRing, table: str, column: sa.Column[Any], plain: str) -> str:
    index: BlindIndexOf = column.info["blind_index"]
    return ring.blind(f"{table}.{index.source}", index.normalise(plain))


def blind_lookup(session: Any, index: Any, plain: str) -> str:
    """The value to compare a blind-index attribute (e.g. `Person.phone_index`) with, for `plain`;
    empty when there is nothing to look up."""
    column = index.property.columns[0]
    return blind_index_value(keyring_of(session.connection()), column.table.name, column, plain)


def open_selected(session: Any, attribute: Any, rows: Any) -> list[tuple[Any, str]]:
    """(row id, plain text) for `(id, stored value)` pairs of one encrypted attribute selected as a
    column with the row's id: a search that needs one field of many rows
    opens that field only, where loading the objects would open every encrypted field of each."""
    ring = keyring_of(session.connection())
    column = attribute.property.columns[0]
    return [(row_id, ring.open(stored, aad(column.table.name, attribute.key, row_id))) for row_id, stored in rows]


@dataclass(frozen=True)
class _Plan:
    table: str
    pk: str
    encrypted: tuple[str, ...]  # attribute keys; the column names are the same in this portal
    indexes: tuple[tuple[str, sa.Column[Any]], ...]  # (index attribute, its column)


_PLANS: dict[Mapper[Any], _Plan | None] = {}


def _plan(mapper: Mapper[Any]) -> _Plan | None:
    if mapper not in _PLANS:
        table = mapper.local_table
        columns = list(mapper.columns.items())
        encrypted = tuple(key for key, c in columns if isinstance(c.type, EncryptedText))
        indexes = tuple((key, c) for key, c in columns if "blind_index" in c.info)
        if encrypted or indexes:
            assert isinstance(table, sa.Table) and len(mapper.primary_key) == 1
            pk = mapper.get_property_by_column(mapper.primary_key[0]).key
            _PLANS[mapper] = _Plan(table.name, pk, encrypted, indexes)
        else:
            _PLANS[mapper] = None
    return _PLANS[mapper]


_PLAIN = "portal_plain_values"


def _seal(mapper: Mapper[Any], connection: sa.Connection, target: Any, inserting: bool) -> None:
    plan = _plan(mapper)
    if plan is None:
        return
    ring = keyring_of(connection)
    state: InstanceState[Any] = sa.inspect(target)
    row_id = getattr(target, plan.pk)

    def changed(key: str) -> bool:
        return inserting or state.attrs[key].history.has_changes()

    for key, column in plan.indexes:
        source = column.info["blind_index"].source
        value = state.dict.get(source)
        if changed(source) and isinstance(value, str) and not isinstance(value, Sealed):
            setattr(target, key, blind_index_value(ring, plan.table, column, value))
    # The plain text waits in state.info until after the write. Should the flush fail, an object
    # never written keeps the sealed values (a later flush writes them as they are: same row, same
    # associated data); the portal builds a new object to retry (people.services.create_person).
    plain: dict[str, str] = {}
    for key in plan.encrypted:
        value = state.dict.get(key)
        if value is None or isinstance(value, Sealed) or not changed(key):
            continue
        plain[key] = value
        attributes.set_attribute(target, key, ring.seal(value, aad(plan.table, key, row_id)))
    if plain:
        state.info[_PLAIN] = plain


def _unseal_after_write(mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    state: InstanceState[Any] = sa.inspect(target)
    for key, value in state.info.pop(_PLAIN, {}).items():
        attributes.set_committed_value(target, key, value)


def _open_loaded(target: Any, context: QueryContext, *_: Any) -> None:
    state: InstanceState[Any] = sa.inspect(target)
    plan = _plan(state.mapper)
    if plan is None or not plan.encrypted:
        return
    sealed = [key for key in plan.encrypted if isinstance(state.dict.get(key), Sealed)]
    if not sealed:
        return
    ring = keyring_of(context.session.connection())
    row_id = state.dict.get(plan.pk)
    for key in sealed:
        attributes.set_committed_value(target, key, ring.open(state.dict[key], aad(plan.table, key, row_id)))


event.listen(Mapper, "before_insert", lambda m, c, t: _seal(m, c, t, inserting=True))
event.listen(Mapper, "before_update", lambda m, c, t: _seal(m, c, t, inserting=False))
event.listen(Mapper, "after_insert", _unseal_after_write)
event.listen(Mapper, "after_update", _unseal_after_write)
event.listen(Mapper, "load", _open_loaded)
event.listen(Mapper, "refresh", _open_loaded)


def sealed_rows(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for one Core INSERT of many, which the ORM events above never see, with every encrypted
    value sealed as they seal it (each row carries its id: the associated data names it)."""
    if any("blind_index" in column.info for column in table.columns):
        raise ValueError(f"{table.name} has blind indexes: write its rows through the ORM")
    ring = keyring_of(connection)
    (pk,) = table.primary_key.columns
    encrypted = [column.name for column in table.columns if isinstance(column.type, EncryptedText)]

    def sealed(row: dict[str, Any]) -> dict[str, Any]:
        plain = {
            name: row[name]
            for name in encrypted
            if isinstance(row.get(name), str) and not isinstance(row[name], Sealed)
        }
        return {**row, **{name: ring.seal(value, aad(table.name, name, row[pk.name])) for name, value in plain.items()}}

    return [sealed(row) for row in rows]


# --- Rotation ----------------------------------------------------------------------------------


def reindex(session: Any, mappers: Any) -> int:
    """Recompute every blind index with the configured blind-index key, from the decrypted values:
    after that key was changed, lookups find nothing until this has run. Returns the rows changed
    (committed here). The blind-index key has no id to keep two at once, so run it with the portal
    stopped."""
    ring = keyring_of(session.connection())
    changed = 0
    for mapper in mappers:
        plan = _plan(mapper)
        if plan is None or not plan.indexes:
            continue
        for obj in session.execute(sa.select(mapper.class_)).scalars():
            fresh = {
                key: blind_index_value(ring, plan.table, column, getattr(obj, column.info["blind_index"].source) or "")
                for key, column in plan.indexes
            }
            if any(getattr(obj, key) != value for key, value in fresh.items()):
                for key, value in fresh.items():
                    setattr(obj, key, value)
                changed += 1
    session.commit()
    return changed


def encrypted_columns(metadata: sa.MetaData) -> dict[sa.Table, list[sa.Column[Any]]]:
    found: dict[sa.Table, list[sa.Column[Any]]] = {}
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedText)]
        if columns:
            found[table] = columns
    return found


def reseal_table(
    connection: sa.Connection,
    table: str,
    pk: str,
    columns: list[str],
    opener: Callable[[str, str], str] | None,
    sealer: Callable[[str, str], str] | None,
    only: Callable[[str], bool] | None = None,
    batch: int = 500,
) -> int:
    """Rewrite every value of some columns of a table, in batches: open each with `opener` (None:
    it is plain text) and seal it with `sealer` (None: store plain text), skipping values `only`
    turns down. Used by the migration and by key rotation; works on plain SQL so that it needs no
    model of the table. Returns the rows changed."""
    t = sa.table(table, sa.column(pk), *(sa.column(c, sa.Text) for c in columns))
    count = 0
    query = sa.select(t.c[pk], *(t.c[c] for c in columns)).order_by(t.c[pk]).limit(batch)
    rows = connection.execute(query).all()
    while rows:
        for row in rows:
            values = {}
            for name, stored in zip(columns, row[1:], strict=True):
                if stored is None or (only is not None and not only(stored)):
                    continue
                where = aad(table, name, row[0])
                plain = opener(stored, where) if opener else stored
                values[name] = sealer(plain, where) if sealer else plain
            if values:
                connection.execute(sa.update(t).where(t.c[pk] == row[0]).values(**values))
                count += 1
        # The next batch after the last id seen, so a large table is never read into memory whole.
        rows = connection.execute(query.where(t.c[pk] > rows[-1][0])).all()
    return count


def rotate(connection: sa.Connection, ring: KeyRing, metadata: sa.MetaData) -> dict[str, int]:
    """Re-encrypt with the current key every value sealed with another one; rows changed per table.
    Run in one transaction: afterwards no value needs an older key."""
    changed = {}
    for table, columns in encrypted_columns(metadata).items():
        [pk] = table.primary_key.columns
        changed[table.name] = reseal_table(
            connection,
            table.name,
            pk.name,
            [c.name for c in columns],
            opener=ring.open,
            sealer=ring.seal,
            only=lambda stored: key_id_of(stored) != ring.current,
        )
    return changed


def values_by_key(connection: sa.Connection, metadata: sa.MetaData) -> dict[int | None, int]:
    """How many stored values each key id sealed (None: not in the sealed format)."""
    counts: dict[int | None, int] = {}
    for table, columns in encrypted_columns(metadata).items():
        for column in columns:
            raw = sa.select(sa.column(column.name, sa.Text)).select_from(sa.table(table.name))
            for (stored,) in connection.execute(raw.where(sa.column(column.name).is_not(None))):
                key_id = key_id_of(stored)
                counts[key_id] = counts.get(key_id, 0) + 1
    return counts
