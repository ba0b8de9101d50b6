"""Presigned S3 requests (SigV4) for an ``s3://<conn>@bucket/prefix`` artifact store.

With an S3 store the browser POSTs uploads straight to the bucket and plays ``final.mp4`` from it
(S3 answers Range requests itself), so video bytes never pass through the api-server. The bucket
needs a CORS rule allowing POST and GET from the Airflow UI's origin.

An upload is a presigned POST whose policy pins the key, the Content-Type and the exact size
(``content-length-range``), so S3 itself refuses a bigger file. The policy can be used again
until it expires, so finalize never reads the upload key: it first copies the object to a key no
URL was ever signed for (:func:`copy`) and checks and hashes that copy.
"""

from __future__ import annotations

from functools import lru_cache

from include.storage import ArtifactStore

EXPIRES_SECONDS = 3600


def is_s3(store: ArtifactStore) -> bool:
    return store.root.protocol in ("s3", "s3a")


def _client(store: ArtifactStore):
    return _client_for(store.root.conn_id)


@lru_cache(maxsize=8)
def _client_for(conn_id: str):
    """One boto3 client per connection (thread-safe; making one takes a connection lookup)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id).get_conn()


def presigned_url(store: ArtifactStore, key: str, method: str, content_type: str | None = None) -> str:
    """A URL to ``GET`` or ``PUT`` ``key`` directly; the signature pins the Content-Type of a PUT."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    target = store.path(key)
    params = {"Bucket": target.bucket, "Key": target.key}
    if content_type:
        params["ContentType"] = content_type
    operation = {"GET": "get_object", "PUT": "put_object"}[method]
    hook = S3Hook(aws_conn_id=store.root.conn_id)
    return hook.generate_presigned_url(
        operation, params=params, expires_in=EXPIRES_SECONDS, http_method=method
    )


def presigned_post(store: ArtifactStore, key: str, content_type: str, size: int) -> dict:
    """``{"url", "fields"}`` for a browser form POST of exactly ``size`` bytes to ``key``."""
    target = store.path(key)
    return _client(store).generate_presigned_post(
        Bucket=target.bucket,
        Key=target.key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
        ExpiresIn=EXPIRES_SECONDS,
    )


def head(store: ArtifactStore, key: str) -> dict | None:
    """``{"size", "etag"}`` of the object as S3 reports it now (no cache), or None if there is none."""
    from botocore.exceptions import ClientError

    target = store.path(key)
    try:
        info = _client(store).head_object(Bucket=target.bucket, Key=target.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return {"size": info["ContentLength"], "etag": info["ETag"]}


def copy(store: ArtifactStore, src: str, dst: str, etag: str) -> None:
    """Server-side copy of the version ``etag`` of ``src`` (multipart above 8 MiB); S3 refuses
    it (412) if ``src`` was replaced in between, so the copy is exactly what was checked."""
    source, target = store.path(src), store.path(dst)
    _client(store).copy(
        {"Bucket": source.bucket, "Key": source.key}, target.bucket, target.key,
        ExtraArgs={"CopySourceIfMatch": etag},
    )  # fmt: skip
    # boto3 wrote behind s3fs's back: forget its listing of the folder, or it says "no such file"
    target.fs.invalidate_cache(target.path.rsplit("/", 1)[0])
