"""ElevenLabs' pronunciation dictionary routes, over Utter's dictionaries (the same ones /pronunciation edits).

`client.pronunciation_dictionaries.create_from_file / create_from_rules / list / get /
download` and `.rules.add / remove / set` work as with ElevenLabs; what a request's
`pronunciation_dictionary_locators` name is applied in compat/elevenlabs.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from ..api.deps import ContextDep, SessionDep
from ..api.pronunciation import read_upload
from ..database import session_scope
from ..errors import UtterError
from ..models import PronunciationDictionary, PronunciationDictionaryVersion
from ..pronunciation import repository, service
from ..pronunciation.schemas import RuleIn
from .errors import ElevenLabsRoute

router = APIRouter(prefix="/v1/pronunciation-dictionaries", tags=["elevenlabs-compatible"],
                   route_class=ElevenLabsRoute)

CREATED_BY = "utter"  # there are no user accounts: one studio, one owner


class RulesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rules: list[RuleIn]


class AddFromRulesRequest(RulesRequest):
    name: str
    description: str | None = None


class RemoveRulesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rule_strings: list[str]


def _created(dictionary: PronunciationDictionary, version: PronunciationDictionaryVersion) -> dict[str, Any]:
    return {"id": str(dictionary.id), "name": dictionary.name, "created_by": CREATED_BY,
            "creation_time_unix": int(dictionary.created_at.timestamp()), "version_id": str(version.id),
            "version_rules_num": len(version.rules), "description": dictionary.description,
            "permission_on_resource": "admin"}


def _metadata(dictionary: PronunciationDictionary, version: PronunciationDictionaryVersion) -> dict[str, Any]:
    return {"id": str(dictionary.id), "latest_version_id": str(version.id),
            "latest_version_rules_num": len(version.rules), "name": dictionary.name,
            "permission_on_resource": "admin", "created_by": CREATED_BY,
            "creation_time_unix": int(dictionary.created_at.timestamp()), "archived_time_unix": None,
            "description": dictionary.description}


def _version_changed(dictionary_id: str, version: PronunciationDictionaryVersion) -> dict[str, Any]:
    return {"id": dictionary_id, "version_id": str(version.id), "version_rules_num": len(version.rules)}


@router.post("/add-from-file")
async def add_from_file(ctx: ContextDep, name: Annotated[str, Form()],
                        file: Annotated[UploadFile | None, File()] = None,
                        description: Annotated[str | None, Form()] = None,
                        workspace_access: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    """A dictionary from a PLS lexicon file. workspace_access is accepted and ignored (no workspaces)."""
    data = await read_upload(file)

    def create() -> dict[str, Any]:
        with session_scope(ctx.sessions) as session:
            dictionary = service.create_from_pls(session, name, description, data)
            return _created(dictionary, repository.latest(session, dictionary))

    return await run_in_threadpool(create)


@router.post("/add-from-rules")
def add_from_rules(body: AddFromRulesRequest, session: SessionDep) -> dict[str, Any]:
    dictionary = service.create(session, body.name, body.description, service.rules_from(body.rules))
    return _created(dictionary, repository.latest(session, dictionary))


@router.get("")
def list_dictionaries(session: SessionDep, cursor: str | None = None,
                      page_size: Annotated[int, Query(ge=1, le=100)] = 30) -> dict[str, Any]:
    """Newest first; `cursor` is the one the previous page gave."""
    if cursor and not (cursor.isdigit() and len(cursor) <= 9):
        raise UtterError(422, "invalid_cursor", "cursor must be the next_cursor a previous page gave.",
                         field="cursor")
    start = int(cursor) if cursor else 0
    rows = repository.list_with_latest(session, page_size + 1, start)
    more = len(rows) > page_size
    return {"pronunciation_dictionaries": [_metadata(d, v) for d, v in rows[:page_size]],
            "next_cursor": str(start + page_size) if more else None, "has_more": more}


@router.get("/{dictionary_id}")
def get_dictionary(dictionary_id: str, session: SessionDep) -> dict[str, Any]:
    dictionary = service.get(session, dictionary_id)
    version = repository.latest(session, dictionary)
    rules = [rule.to_json() for rule in service.rules_of(version)]
    return _metadata(dictionary, version) | {"rules": rules}


@router.get("/{dictionary_id}/{version_id}/download", response_class=Response,
            responses={200: {"content": {"application/pls+xml": {}}}})
def download(dictionary_id: str, version_id: str, session: SessionDep) -> Response:
    """One version of a dictionary as a PLS lexicon file."""
    dictionary, data = service.pls(session, dictionary_id, version_id)
    return Response(data, media_type="application/pls+xml",
                    headers={"Content-Disposition": f'attachment; filename="{service.file_name(dictionary)}"'})


@router.post("/{dictionary_id}/add-rules")
def add_rules(dictionary_id: str, body: RulesRequest, session: SessionDep) -> dict[str, Any]:
    return _version_changed(dictionary_id, service.add_rules(session, dictionary_id, service.rules_from(body.rules)))


@router.post("/{dictionary_id}/remove-rules")
def remove_rules(dictionary_id: str, body: RemoveRulesRequest, session: SessionDep) -> dict[str, Any]:
    return _version_changed(dictionary_id, service.remove_rules(session, dictionary_id, body.rule_strings))


@router.post("/{dictionary_id}/set-rules")
def set_rules(dictionary_id: str, body: RulesRequest, session: SessionDep) -> dict[str, Any]:
    return _version_changed(dictionary_id, service.set_rules(session, dictionary_id, service.rules_from(body.rules)))
