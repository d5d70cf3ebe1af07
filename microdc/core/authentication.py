from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from . import tokens


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token mdc_<id>_<secret>` for people and their scripts (not node agents)."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = tokens.check_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return token.user, token
