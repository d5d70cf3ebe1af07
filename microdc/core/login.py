"""The login pages (/login/ and /admin/login/) with the API's login throttle: one policy for every password check.

A throttled attempt shows the form again with the reason, answered 429 with Retry-After.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from . import throttles


class ThrottledLoginMixin:
    """AuthenticationForm.clean with the throttled password check."""

    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = throttles.authenticate(self.request, username, password)
            except throttles.LoginThrottled as exc:
                self.retry_after = exc.wait
                raise ValidationError(str(exc), code="throttled") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": "Wrong username or password."}


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


def with_retry_after(response, form):
    wait = getattr(form, "retry_after", None)
    if wait is not None:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm

    def form_invalid(self, form):
        return with_retry_after(super().form_invalid(form), form)


def admin_login(request):
    """The admin site's own login view (its login_form is AdminLoginForm), with the throttle's answer."""
    response = admin.site.login(request)
    context = getattr(response, "context_data", None) or {}
    return with_retry_after(response, context.get("form"))
