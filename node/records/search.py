"""Search over titles and bodies (``GET /api/v1/records?q=``): the query, and its SQL.

What can match: the content the searching user may **read**, and nothing else. A record matches
only if the policy's ``read`` condition holds for it (the same SQL ``enforce()`` is held to), so a
stub never matches (its content is not here, or is not the user's to read: a security officer at
the origin of a restricted record sees its stub in a listing but its words never match), and a
record the user may not see at all never shows. Content released to the user under an active grant
matches as the stub it was released for. The reporter is sealed and never searched.

What is indexed where (migration 0019): the titles and bodies the ``records`` table holds in clear
at this node, which is only what this node is entitled to (DESIGN §2). Released content is searched
by ``LIKE`` over the user's own active grants' rows, never indexed.

The query: whitespace separates terms; a record matches when its title or its body contains every
term (a term never spans title and body). Latin letters match either case. Terms of three
characters or more use the trigram index (SQLite FTS5 ``trigram``, PostgreSQL ``pg_trgm``). A
term of two characters (most Chinese words have two) cannot use a trigram index: it is matched by
``LIKE`` on the rows the policy and the other filters already let through, newest first, so it costs
more the rarer it is among them. A term of one character is refused (``query_too_short``): it
would match nearly everything and, unindexed, cost a scan of the whole table.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    column,
    func,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.orm import QueryableAttribute, Session

from node.db import session_engine, truncate_wal
from node.errors import InvalidInput
from node.models import Record

MAX_QUERY_CHARS = 100
"""The longest query accepted (characters, before splitting into terms)."""
MAX_TERMS = 8
MIN_TERM_CHARS = 2
TRIGRAM = 3
"""Terms at least this long use the trigram index."""
MERGE_PAGES = 500
"""Pages of the search index one step of a purge's merge rewrites (``merge_purged``): about a
quarter of a second of the write lock on the development machine."""
INDEX_DRIVEN_MATCHES = 5_000
"""SQLite: up to this many index matches, a search reads the matches and sorts them; past it,
a page walks the records newest first and tests each one (a frequent term fills a page after a
few hundred rows, where reading and sorting every match would not)."""

# A title or body column: the records table's, or released content's.
TextColumn = (
    ColumnElement[str | None]
    | ColumnElement[str]
    | QueryableAttribute[str | None]
    | QueryableAttribute[str]
)

_WHITESPACE = re.compile(r"\s+")

# The FTS5 index and its stable keys (migration 0019; SQLite only). Lightweight table clauses:
# they are no part of the ORM metadata, as the virtual table cannot be.
_FTS = table("records_fts", column("rowid"), column("records_fts"))
_KEYS = table("record_search_keys", column("key"), column("record_origin"), column("record_id"))


class QueryTooShort(InvalidInput):
    code = "query_too_short"


class QueryTooLong(InvalidInput):
    code = "query_too_long"


class InvalidQuery(InvalidInput):
    code = "invalid_query"


@dataclass(frozen=True)
class SearchQuery:
    """A parsed ``q``: its terms, each at least ``MIN_TERM_CHARS`` long, without duplicates."""

    terms: tuple[str, ...]

    @property
    def indexed(self) -> tuple[str, ...]:
        """The terms a trigram index can find."""
        return tuple(term for term in self.terms if len(term) >= TRIGRAM)


def parse_query(value: str) -> SearchQuery:
    """``q`` as terms; 422 ``query_too_long`` / ``invalid_query`` / ``query_too_short``.
    Messages never echo the query (it may name a person)."""
    if len(value) > MAX_QUERY_CHARS:
        raise QueryTooLong(f"the search text is longer than {MAX_QUERY_CHARS} characters")
    for char in value:
        # Control, format, surrogate, private-use and unassigned code points: none is text a
        # title or body holds (they refuse control characters too), all can confuse a reader.
        if unicodedata.category(char).startswith("C") and char not in "\t\n\r":
            raise InvalidQuery("the search text contains a control or non-text character")
    terms = tuple(dict.fromkeys(term for term in _WHITESPACE.split(value) if term))
    if not terms:
        raise QueryTooShort("the search text is empty")
    if len(terms) > MAX_TERMS:
        raise QueryTooLong(f"the search text has more than {MAX_TERMS} words")
    if any(len(term) < MIN_TERM_CHARS for term in terms):
        raise QueryTooShort(f"each search word needs at least {MIN_TERM_CHARS} characters")
    return SearchQuery(terms)


def like_pattern(term: str) -> str:
    """``%term%`` with ``\\``, ``%`` and ``_`` escaped (``ESCAPE '\\'``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column_: TextColumn, term: str, dialect: str) -> ColumnElement[bool]:
    """``column`` contains ``term``, Latin letters in either case (SQLite's ``LIKE`` folds them;
    PostgreSQL's ``ILIKE`` does, and uses the ``pg_trgm`` index for terms of three characters)."""
    pattern = like_pattern(term)
    if dialect == "postgresql" and len(term) < TRIGRAM:
        # A pattern of two characters holds no trigram: pg_trgm's index would hand every row
        # over for a recheck (3.4 s a class at 1,000,000 records). A plain substring test, which
        # no index answers, keeps the planner on the newest-first walk the listing uses.
        return func.strpos(func.lower(column_), term.lower()) > 0
    if dialect == "postgresql":
        return column_.ilike(pattern, escape="\\")
    return column_.like(pattern, escape="\\")


def text_matches(
    title: TextColumn,
    body: TextColumn,
    query: SearchQuery,
    dialect: str,
) -> ColumnElement[bool]:
    """Every term of ``query`` is in ``title`` or in ``body`` (row by row, no index needed)."""
    return and_(
        true(), *(or_(contains(title, t, dialect), contains(body, t, dialect)) for t in query.terms)
    )


def fts_expression(terms: tuple[str, ...]) -> str:
    """An FTS5 query: each term a quoted phrase (FTS5 syntax inside it is plain text), all
    required. With the trigram tokenizer a phrase of three or more characters is a substring."""
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)


def indexed_keys(query: SearchQuery) -> Select[str, str]:
    """SQLite: (origin, id) of every record whose indexed content holds all indexed terms."""
    matched = select(_FTS.c.rowid).where(
        _FTS.c.records_fts.op("MATCH")(fts_expression(query.indexed))
    )
    return select(_KEYS.c.record_origin, _KEYS.c.record_id).where(_KEYS.c.key.in_(matched))


def index_matches_at_most(session: Session, query: SearchQuery, limit: int) -> bool:
    """SQLite: whether the index finds at most ``limit`` records for the indexed terms (stops
    reading after ``limit + 1``). It counts every record with content here, whatever the user
    may read; only the query plan depends on it, never what is shown."""
    matched = (
        select(_FTS.c.rowid)
        .where(_FTS.c.records_fts.op("MATCH")(fts_expression(query.indexed)))
        .limit(limit + 1)
        .subquery()
    )
    found = session.execute(select(func.count()).select_from(matched)).scalar_one()
    return int(found) <= limit


def forget_purged(session: Session) -> None:
    """SQLite: a tombstone nulled a record's title and body (its trigger wrote FTS5's delete
    entries); the index still holds the deleted terms in older segments until they merge (FTS5
    before SQLite 3.42 has no ``secure-delete``), and the trigrams with their positions would
    spell the text. Owe a full merge of the index (``merge_purged``), done in small steps by the
    sweep, so a purge does not hold the write lock while the whole index is rewritten (11 s at
    1,000,000 records). No-op on PostgreSQL (whose deleted tuples wait for VACUUM like the
    table's own: deploy/README.md)."""
    owe_merge(session_engine(session))


# Engines whose FTS5 index owes a full merge, with a count of purges (``merge_purged``).
_merge_owed: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def owe_merge(engine: Engine) -> None:
    """Note that ``engine``'s search index holds deleted terms until it is fully merged (also
    owed once when a node starts: a purge's merge may not have finished before it stopped)."""
    if engine.dialect.name == "sqlite":
        _merge_owed[engine] = _merge_owed.get(engine, 0) + 1


def merge_owed(engine: Engine) -> bool:
    return engine in _merge_owed


def merge_purged(engine: Engine, pages: int = MERGE_PAGES) -> bool:
    """One step of the full merge a purge owes (FTS5 ``merge`` with a negative page count: every
    segment, whatever its level), in a transaction of its own; when a step finds nothing left to
    merge the index holds no deleted term, and the WAL is truncated so that no older page image
    of it stays there (``node.db.truncate_wal``). Returns whether more is owed."""
    owed = _merge_owed.get(engine)
    if owed is None:
        return False
    with engine.begin() as conn:
        before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
        conn.exec_driver_sql(
            "INSERT INTO records_fts (records_fts, rank) VALUES ('merge', ?)", (-pages,)
        )
        after = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
    # FTS5: a change count below 2 means the command found nothing to merge.
    if after - before >= 2:
        return True
    if _merge_owed.get(engine) == owed:  # no purge owed another merge meanwhile
        del _merge_owed[engine]
        truncate_wal(engine)
        return False
    return True


def content_condition(
    session: Session, query: SearchQuery, dialect: str, *, index_driven: bool
) -> ColumnElement[bool]:
    """The records table's own content matches ``query`` (a stub, whose content is not in the
    table, never does). ``index_driven`` (SQLite): through the FTS5 index."""
    own = and_(Record.is_stub.is_(False), text_matches(Record.title, Record.body, query, dialect))
    if not index_driven:
        return own
    short = SearchQuery(tuple(t for t in query.terms if len(t) < TRIGRAM))
    return and_(
        Record.is_stub.is_(False),
        tuple_(Record.origin, Record.id).in_(indexed_keys(query)),
        text_matches(Record.title, Record.body, short, dialect) if short.terms else true(),
    )
