"""Pronunciation dictionaries: rules for how words are said, edited here or imported as PLS lexicons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from ..database import session_scope
from ..errors import ErrorResponse, UtterError
from ..pronunciation import repository, service
from ..pronunciation.pls import MAX_PLS_BYTES
from ..pronunciation.schemas import DictionariesPublic, DictionaryCreate, DictionaryPublic, DictionaryUpdate
from .deps import ContextDep, SessionDep

router = APIRouter(prefix="/api/pronunciation-dictionaries", tags=["pronunciation"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


def _public(session, dictionary) -> DictionaryPublic:
    return service.to_public(dictionary, repository.latest(session, dictionary))


@router.get("", response_model=DictionariesPublic)
def list_dictionaries(session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0) -> DictionariesPublic:
    """Dictionaries, newest first, each with the rules of its latest version."""
    rows = repository.list_with_latest(session, limit, offset)
    return DictionariesPublic(dictionaries=[service.to_public(d, v) for d, v in rows],
                              total=repository.count(session))


@router.post("", status_code=201, response_model=DictionaryPublic)
def create_dictionary(body: DictionaryCreate, session: SessionDep) -> DictionaryPublic:
    """A dictionary from rules: aliases (`{"string_to_replace": "SQL", "alias": "sequel"}`) and IPA phonemes."""
    rules = service.rules_from(body.rules)
    return _public(session, service.create(session, body.name, body.description, rules))


async def read_upload(upload: UploadFile | None) -> bytes:
    """An uploaded lexicon, read no further than the limit (a bigger one is refused, not buffered)."""
    if upload is None:
        raise UtterError(422, "file_missing", "Choose a PLS lexicon file (.pls or .xml) to import.", field="file")
    data = await upload.read(MAX_PLS_BYTES + 1)
    if len(data) > MAX_PLS_BYTES:
        raise UtterError(413, "pls_too_large", f"The lexicon file is over the limit of {MAX_PLS_BYTES:,} bytes.",
                         field="file")
    return data


@router.post("/import", status_code=201, response_model=DictionaryPublic, responses={413: {"model": ErrorResponse}})
async def import_dictionary(ctx: ContextDep, file: Annotated[UploadFile | None, File(description="A W3C PLS lexicon")] = None,
                            name: Annotated[str | None, Form()] = None,
                            description: Annotated[str | None, Form()] = None) -> DictionaryPublic:
    """A dictionary from a W3C PLS lexicon file (as ElevenLabs exports them); nothing is saved if any of it is unusable."""
    data = await read_upload(file)
    default_name = (file.filename or "Imported lexicon").rsplit(".", 1)[0]

    def create() -> DictionaryPublic:
        with session_scope(ctx.sessions) as session:
            return _public(session, service.create_from_pls(session, name or default_name, description, data))

    return await run_in_threadpool(create)


@router.get("/{dictionary_id}", response_model=DictionaryPublic)
def get_dictionary(dictionary_id: str, session: SessionDep) -> DictionaryPublic:
    return _public(session, service.get(session, dictionary_id))


@router.patch("/{dictionary_id}", response_model=DictionaryPublic)
def update_dictionary(dictionary_id: str, change: DictionaryUpdate, session: SessionDep) -> DictionaryPublic:
    """Rename it, describe it, or replace its rules (which makes a new version; older versions stay readable)."""
    rules = service.rules_from(change.rules) if change.rules is not None else None
    dictionary = service.update(session, dictionary_id, name=change.name, description=change.description,
                                rules=rules, fields=change.model_fields_set)
    return _public(session, dictionary)


@router.delete("/{dictionary_id}", status_code=204)
def delete_dictionary(dictionary_id: str, session: SessionDep) -> Response:
    service.delete(session, dictionary_id)
    return Response(status_code=204)


@router.get("/{dictionary_id}/pls", response_class=Response,
            responses={200: {"content": {"application/pls+xml": {}}}})
def export_dictionary(dictionary_id: str, session: SessionDep,
                      version_id: Annotated[str | None, Query(description="A version; the latest by default")] = None
                      ) -> Response:
    """The dictionary (or one of its versions) as a W3C PLS lexicon file."""
    dictionary, data = service.pls(session, dictionary_id, version_id)
    return Response(data, media_type="application/pls+xml",
                    headers={"Content-Disposition": f'attachment; filename="{service.file_name(dictionary)}"'})
