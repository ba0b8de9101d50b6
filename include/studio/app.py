"""The studio's FastAPI app: JSON API under ``/studio/api``, server-rendered pages, error mapping.

Every route passes the doors of :mod:`include.studio.doors` (declared once, on the app): who
(:func:`include.studio.auth.studio_user`, 401 without an Airflow session or token; including the
OpenAPI document and the static files), csrf (cookie writes are same-origin JSON), rate (per
user) and slot. Handlers that call Airflow's REST API are plain ``def``: FastAPI runs them in its
thread pool, so they never block the api-server's loop, and the slot door keeps them from taking
the threads Airflow's own API needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from include.airflow_client import AirflowAPIError
from include.core.errors import FatalError
from include.stages.script import MAX_REVIEW_CHARS
from include.storage import ArtifactStore
from include.studio import doors, uploads
from include.studio.auth import StudioUser, login_url, studio_user
from include.studio.idempotency import Idempotency, idempotency_key
from include.studio.presign import is_s3, presigned_url
from include.studio.videos import StudioAirflow, Videos

HERE = Path(__file__).parent
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}

User = Annotated[StudioUser, Depends(studio_user)]
VideoId = Annotated[str, PathParam(max_length=80, description="`<tenant>-<sha256[:16]>`")]
UploadId = Annotated[str, PathParam(max_length=100, description="`<tenant>.<32 hex>` from POST /api/uploads")]
IdempotencyKey = Annotated[Idempotency | None, Depends(idempotency_key)]

app = FastAPI(
    title="Video studio",
    version="1.0",
    description="Upload footage, review scripts and rerun stages of `video_pipeline`. Every route needs an "
    "Airflow user (bearer token from `POST /auth/token`, or the Airflow UI's session cookie). Writes with "
    "the cookie must be same-origin and send JSON bodies; every user has a request rate (429, Retry-After).",
    dependencies=[
        Depends(doors.same_origin),
        Depends(doors.rate_limit),
        Depends(doors.slot, scope="function"),  # held while the handler runs, not while a reply streams
    ],
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)
templates = Jinja2Templates(directory=str(HERE / "templates"))


Revision = Annotated[
    str | None,
    Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
          description="The script revision the reviewer saw (GET .../script); another one answers 409."),
]


class SegmentEdit(BaseModel):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(max_length=MAX_REVIEW_CHARS)


class ScriptEdit(BaseModel):
    segments: list[SegmentEdit] = Field(max_length=1000)
    revision: Revision = None


class Approval(BaseModel):
    segments: list[SegmentEdit] = Field([], max_length=1000, description="Optional last edits, saved first.")
    revision: Revision = None


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, pattern=r"\S")
    revision: Revision = None


class QcDecision(BaseModel):
    decision: Literal["approved", "rejected"]
    reason: str = Field("", max_length=1000)
    final_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="The final.mp4 the reviewer watched (qc.json's final_sha256); another one answers 409.")


class Rerun(BaseModel):
    from_stage: str = Field(
        max_length=250, pattern=r"^[A-Za-z0-9_.-]+$", description="A task of video_pipeline, e.g. voiceover."
    )


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _edits(body: ScriptEdit | Approval) -> list[dict]:
    return [s.model_dump() for s in body.segments]


# --------------------------------------------------------------------------- errors


@app.exception_handler(FatalError)
def _fatal(request: Request, exc: FatalError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


@app.exception_handler(AirflowAPIError)
def _airflow(request: Request, exc: AirflowAPIError) -> JSONResponse:
    status = exc.status if exc.status in (400, 401, 403, 404, 409) else 502
    return JSONResponse({"detail": f"Airflow: {exc.detail}"}, status_code=status)


@app.exception_handler(RequestValidationError)
def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with where and what, without echoing the input (FastAPI's own handler fails on undecodable bytes)."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


@app.exception_handler(HTTPException)
async def _http(request: Request, exc: HTTPException):
    from_browser = "text/html" in request.headers.get("accept", "") and "authorization" not in request.headers
    if exc.status_code == 401 and request.method == "GET" and from_browser:
        return RedirectResponse(login_url(str(request.url)), status_code=303)
    return await http_exception_handler(request, exc)


# --------------------------------------------------------------------------- REST: uploads


@app.post(
    "/api/uploads",
    status_code=201,
    response_model=uploads.UploadTicket,
    tags=["uploads"],
    responses={413: {"description": "over the size limit"}, 415: {"description": "not a video"}},
)
def init_upload(
    user: User, request: Request, body: uploads.UploadInit, idempotency_key: IdempotencyKey = None
):
    """Start an upload: where to send the bytes (presigned S3 PUT, or parts to this server)."""
    return uploads.init_upload(user, ArtifactStore(), body, _base(request), idempotency_key)


@app.put(
    "/api/uploads/{upload_id}/parts/{n}",
    tags=["uploads"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_part(
    user: User, request: Request, upload_id: UploadId, n: Annotated[int, PathParam(ge=1, le=100_000)]
) -> dict:
    """Store part ``n`` (1-based, ``part_size`` bytes except the last) of a file-store upload."""
    return await uploads.put_part(user, ArtifactStore(), upload_id, n, request)


@app.post("/api/uploads/{upload_id}/finalize", response_model=uploads.Finalized, tags=["uploads"])
def finalize_upload(
    user: User, request: Request, upload_id: UploadId, idempotency_key: IdempotencyKey = None
):
    """Hash the upload and start its run. The same file for the same tenant returns the existing video."""
    return uploads.finalize(
        user, ArtifactStore(), StudioAirflow.service(), upload_id, _base(request), idempotency_key
    )


# --------------------------------------------------------------------------- REST: videos


@app.get("/api/videos", tags=["videos"])
def list_videos(user: User) -> dict:
    """The caller's tenant's videos (admins: all), newest first, with each stage's state."""
    return {"videos": Videos(user).list()}


@app.get("/api/videos/{video_id}", tags=["videos"])
def get_video(user: User, video_id: VideoId) -> dict:
    """One video: stages (state, duration, tries), artifact names, metadata, receipt, rerun plan."""
    return Videos(user).detail(video_id)


@app.get("/api/videos/{video_id}/script", tags=["review"])
def get_script(user: User, video_id: VideoId) -> dict:
    """The script under review (the saved draft if any), with word budgets and the decision."""
    return Videos(user).script(video_id)


@app.put("/api/videos/{video_id}/script", tags=["review"])
def put_script(user: User, video_id: VideoId, body: ScriptEdit) -> dict:
    """Save a draft: validated edits (existing segment ids, ≤ 1000 characters, no control characters),
    bound to the current script revision (409 if `revision` is given and no longer current)."""
    return Videos(user).save_script(video_id, _edits(body), body.revision)


@app.post("/api/videos/{video_id}/approve", tags=["review"])
def approve(user: User, video_id: VideoId, body: Annotated[Approval | None, Body()] = None) -> dict:
    """Approve the script (with optional last edits): the review gate releases, the voiceover starts.
    A decision is final: 409 when this script revision was already approved or rejected."""
    return Videos(user).decide(
        video_id, "approved", segments=_edits(body) if body else None, revision=body.revision if body else None
    )


@app.post("/api/videos/{video_id}/reject", tags=["review"])
def reject(user: User, video_id: VideoId, body: Rejection) -> dict:
    """Reject the script with a reason: the review gate fails with it. 409 when already decided."""
    return Videos(user).decide(video_id, "rejected", reason=body.reason, revision=body.revision)


@app.post("/api/videos/{video_id}/qc-review", tags=["review"])
def qc_review(user: User, video_id: VideoId, body: QcDecision) -> dict:
    """Decide on a video that failed QC while ``on_qc_fail=review``: ``approved`` publishes it
    anyway, ``rejected`` (with a reason) fails the run. 409 when already decided."""
    return Videos(user).decide_qc(video_id, body.decision, body.reason, body.final_sha256)


@app.post("/api/videos/{video_id}/rerun", tags=["videos"])
def rerun(user: User, video_id: VideoId, body: Rerun) -> dict:
    """Rerun from a stage: clears it and everything downstream (upstream results stay)."""
    return Videos(user).rerun(video_id, body.from_stage)


@app.get(
    "/api/videos/{video_id}/artifacts/{name:path}",
    tags=["videos"],
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "a Range"}},
)
def get_artifact(user: User, request: Request, video_id: VideoId, name: str):
    """An artifact such as ``render/final.mp4`` (HTTP Range supported; S3 stores redirect to S3)."""
    videos = Videos(user)
    key = videos.artifact_key(video_id, name, request.scope.get("raw_path", b"").decode("latin-1"))
    if is_s3(videos.store):
        return RedirectResponse(presigned_url(videos.store, key, "GET"), status_code=307)
    return FileResponse(videos.store.path(key).path)


@app.get("/openapi.json", include_in_schema=False)
def openapi(user: User, request: Request) -> dict:
    return {**app.openapi(), "servers": [{"url": _base(request)}]}


# --------------------------------------------------------------------------- pages


def _page(request: Request, user: StudioUser, template: str, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"user": user, "base": _base(request), **context})


@app.get("/", include_in_schema=False)
def home(user: User, request: Request):
    return RedirectResponse(f"{_base(request)}/videos", status_code=303)


@app.get("/upload", include_in_schema=False, response_class=HTMLResponse)
def upload_page(user: User, request: Request):
    from include.core.options import BY_NAME, STUDIO_OPTIONS

    return _page(
        request,
        user,
        "upload.html",
        options=BY_NAME,
        studio_options=[BY_NAME[n] for n in STUDIO_OPTIONS],
        # the studio proposes reviewing the script before the voiceover (the DAG's default is
        # autopilot); every other field starts at the table's default
        form_defaults={"script_mode": "review_before_tts"},
        placeholders={"title_hint": "What is this video about?", "outro_url": "example.com/start",
                      "brand_font": "DejaVu Sans"},
        max_bytes=uploads.MAX_UPLOAD_BYTES,
    )


@app.get("/videos", include_in_schema=False, response_class=HTMLResponse)
def videos_page(user: User, request: Request):
    return _page(request, user, "videos.html", videos=Videos(user).list())


@app.get("/videos/{video_id}", include_in_schema=False, response_class=HTMLResponse)
def video_page(user: User, request: Request, video_id: VideoId):
    return _page(request, user, "video.html", video=Videos(user).detail(video_id))


@app.get("/videos/{video_id}/review", include_in_schema=False, response_class=HTMLResponse)
def review_page(user: User, request: Request, video_id: VideoId):
    videos = Videos(user)
    video = videos.detail(video_id)
    try:
        script, problem = videos.script(video_id), None
    except HTTPException as exc:
        if exc.status_code != 409:
            raise
        script, problem = None, exc.detail
    return _page(request, user, "review.html", video=video, script=script, problem=problem)


@app.get("/static/{name}", include_in_schema=False)
def static(user: User, name: str):
    if name not in STATIC:
        raise HTTPException(404, "not found")
    return FileResponse(
        HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "private, max-age=300"}
    )
