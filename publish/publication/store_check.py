"""``civrisk store check``: the store, each publication's digest and the published folders, compared.

Every mismatch is one :class:`Finding` line naming the publication or the file and what to do:

- the database: its guard triggers (publish/store/guards.py), on SQLite ``PRAGMA quick_check`` and the
  foreign keys;
- each recorded publication: sealed, its rows match ``n_scores`` and ``scores_digest``;
- its folder ``<week>/r<revision>``: present, ``manifest.json`` names the same publication, every file has
  the sha256 the manifest gives (and no file is unlisted), and ``scores.json`` holds the recorded scores
  (its digest is the publication's);
- folders of revisions the store does not record.

Folders kept aside under ``<week>/.orphaned/`` are listed as notes, not mismatches: publish put them there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from publish.publication.outputs import MANIFEST, ORPHANED, SCORES_JSON
from publish.store.errors import PublicationDamaged
from publish.store.schema import SCORE_KEY, STORED_COLUMNS
from publish.store.score_rows import digest_columns
from publish.store.store import Publication, ScoreStore

_META = ("id", "week_label", "revision", "model_name", "model_version", "data_fingerprint", "n_scores")


@dataclass(frozen=True)
class Finding:
    """One line of the check: a ``mismatch`` (the check fails) or a ``note``."""

    kind: str
    where: str
    what: str

    def line(self) -> str:
        """Return the finding as one line."""
        return f"{self.kind}: {self.where}: {self.what}"


def check_store(store: ScoreStore, publications_dir: Path) -> list[Finding]:
    """Return every mismatch (and note) between the store, its digests and the folders under
    ``publications_dir``."""
    out: list[Finding] = [Finding("mismatch", "database", p) for p in store.guard_problems]
    out += _database(store)
    recorded: set[tuple[str, int]] = set()
    for pub in store.publications():
        recorded.add((pub.week_label, pub.revision))
        where = f"{pub.week_label} r{pub.revision} (id {pub.id})"
        if pub.status == "open":
            out.append(Finding("mismatch", where, "publication was never sealed (status open)"))
        try:
            store.verify_publication(pub)
        except PublicationDamaged as exc:
            out.append(Finding("mismatch", where, str(exc)))
        out += _folder(pub, publications_dir / pub.week_label / f"r{pub.revision}", where)
    if publications_dir.is_dir():
        for week_dir in sorted(p for p in publications_dir.iterdir() if p.is_dir()):
            for folder in sorted(week_dir.glob("r*")):
                rev = folder.name[1:]
                if folder.is_dir() and (not rev.isdigit() or (week_dir.name, int(rev)) not in recorded):
                    out.append(
                        Finding(
                            "mismatch",
                            str(folder),
                            "folder of a revision the store does not record: restore the store from its "
                            f"backup, or move the folder under {week_dir / ORPHANED} if it was never "
                            "published",
                        )
                    )
            for kept in sorted((week_dir / ORPHANED).glob("*")):
                out.append(Finding("note", str(kept), "kept aside by publish (a revision never recorded)"))
    return out


def _database(store: ScoreStore) -> list[Finding]:
    if store.engine.dialect.name != "sqlite":
        return []
    with store.engine.connect() as conn:
        quick = [r[0] for r in conn.execute(text("PRAGMA quick_check")).all()]
        orphans = conn.execute(text("PRAGMA foreign_key_check")).all()
    out = []
    if quick != ["ok"]:
        out.append(Finding("mismatch", "database", f"PRAGMA quick_check: {'; '.join(quick[:5])}"))
    if orphans:
        out.append(Finding("mismatch", "database", f"{len(orphans)} rows point to missing parents"))
    return out


def _folder(pub: Publication, folder: Path, where: str) -> list[Finding]:
    if not folder.is_dir():
        return [
            Finding(
                "mismatch",
                where,
                f"recorded, but its folder {folder} is missing: restore it from the backup of the "
                "publications folder (for the week's latest revision `civrisk publish` writes it again)",
            )
        ]
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        meta, files = manifest["publication"], manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Finding("mismatch", str(folder / MANIFEST), f"unreadable ({exc.__class__.__name__}: {exc})")]
    out = []
    stored = {"published_at": pub.created_at.isoformat(), **{k: getattr(pub, k) for k in _META}}
    differ = sorted(k for k, v in stored.items() if meta.get(k) != v)
    if differ:
        out.append(
            Finding(
                "mismatch",
                str(folder / MANIFEST),
                f"names another publication than the store's {where}: {differ} differ "
                f"(e.g. {differ[0]} {meta.get(differ[0])!r} vs {stored[differ[0]]!r})",
            )
        )
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(set(files) | on_disk):
        path = folder / name
        if name not in files:
            out.append(Finding("mismatch", str(path), "file is not listed in manifest.json"))
        elif not path.is_file():
            out.append(Finding("mismatch", str(path), "listed in manifest.json but missing"))
        elif hashlib.sha256(path.read_bytes()).hexdigest() != files[name]:
            out.append(
                Finding("mismatch", str(path), "sha256 differs from manifest.json: the file was changed")
            )
    out += _scores_json(pub, folder / SCORES_JSON)
    return out


def _scores_json(pub: Publication, path: Path) -> list[Finding]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["scores"]
        rows.sort(key=lambda r: tuple(r[c] for c in SCORE_KEY))
        digest = digest_columns({c: [r.get(c) for r in rows] for c in STORED_COLUMNS})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Finding("mismatch", str(path), f"unreadable ({exc.__class__.__name__}: {exc})")]
    if digest != pub.scores_digest:
        return [Finding("mismatch", str(path), "its scores differ from the store's (digest mismatch)")]
    return []
