"""Presigned S3 URLs (SigV4) for an ``s3://<conn>@bucket/prefix`` artifact store.

With an S3 store the browser PUTs uploads straight to the bucket and plays ``final.mp4`` from it
(S3 answers Range requests itself), so video bytes never pass through the api-server. The bucket
needs a CORS rule allowing PUT/GET from the Airflow UI's origin.
"""

from __future__ import annotations

from include.storage import ArtifactStore

EXPIRES_SECONDS = 3600


def is_s3(store: ArtifactStore) -> bool:
    return store.root.protocol in ("s3", "s3a")


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
