"""Issue, check and revoke users' API tokens."""

import datetime
import hmac

from django.utils import timezone

from .models import ApiToken, hash_secret

# Writing last_used on every request would turn every read into a write; a minute's resolution is enough.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


def issue_token(user, name: str = "", expires: datetime.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; the returned key is the only copy there will ever be."""
    key, key_id, key_hash = ApiToken.new_key()
    token = ApiToken.objects.create(user=user, name=name, key_id=key_id, key_hash=key_hash, expires=expires)
    return token, key


def parse_key(key: str, prefix: str) -> str | None:
    """Return the key id of a `<prefix>_<id>_<secret>` key, or None when the key is not of that form."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1]


def check_key(key: str) -> ApiToken | None:
    key_id = parse_key(key, ApiToken.PREFIX)
    if key_id is None:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    if token is None or not hmac.compare_digest(token.key_hash, hash_secret(key)):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token


def revoke(token: ApiToken) -> None:
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
