"""What a deployment may show: environment values and artifact URL credentials are secrets.

Operators and admins write them and see them in the deployments API; viewers, the audit log and job
summaries get them masked. The keys of an environment and the host and path of a URL stay visible, so a
reader can still tell what changed.
"""

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from microdc.core.audit import MASK

# Values shorter than this are not searched for in free text (they would mask ordinary words and numbers).
MIN_SECRET_LENGTH = 6
_URL = re.compile(r"\bhttps?://[^\s'\"<>]+", re.IGNORECASE)


def mask_env(env) -> dict:
    """Keys kept, every value masked."""
    return {name: MASK for name in env} if isinstance(env, dict) else env


def mask_url(url):
    """An http(s) URL without its user info and query values (signed URLs carry their signature there)."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK  # not a URL we can take apart: show none of it
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{port}" if port else ""
    query = "&".join(f"{key}={MASK}" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    if parts.query and not query:
        query = MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, MASK if parts.fragment else ""))


def mask_text(text: str, secrets=(), urls=()) -> str:
    """Free text (a job summary) with the given URLs and every URL-looking word masked, and the given secret
    values replaced."""
    if not text:
        return text
    for url in sorted({u for u in urls if isinstance(u, str) and u}, key=len, reverse=True):
        text = text.replace(url, mask_url(url))
    for secret in sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH},
                         key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _URL.sub(lambda match: mask_url(match.group(0)), text)


def mask_summary(job) -> str:
    """A job's summary as anyone may read it: no environment value or artifact URL credential of any revision
    of its deployment (a rollback names the previous one)."""
    revisions = list(job.deployment.revisions.all()) if job.deployment_id else []
    if job.revision_id and job.revision not in revisions:
        revisions.append(job.revision)
    secrets = [value for r in revisions for value in (r.env or {}).values()]
    return mask_text(job.summary, secrets, [r.artifact for r in revisions])
