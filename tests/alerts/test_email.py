"""E-mail receivers through Django's mailer to a real SMTP server (aiosmtpd) on loopback."""

import pytest

from microdc.alerts.delivery import deliver_due
from microdc.alerts.models import Notification, Receiver
from microdc.alerts.routing import route

from .alerts import at, firing, resolve
from .peers import SmtpServer

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.integration
@pytest.mark.django_db
def test_alerts_arrive_by_mail_with_alertmanagers_subject(settings):
    with SmtpServer() as smtp:
        settings.MAILERS = {"default": {"BACKEND": SMTP, "OPTIONS": {"host": "127.0.0.1", "port": smtp.port,
                                                                     "timeout": 5}}}
        settings.DEFAULT_FROM_EMAIL = "microdc@site.example"
        Receiver.objects.create(name="facilities", kind="email", email_to=["night@site.example", "ops@site.example"],
                                group_wait_seconds=0)
        one = firing(node="gpu-1")
        firing(node="gpu-2")
        route(at(0))
        assert deliver_due(at(0)) == 1
        resolve(one, 400)
        route(at(400))
        deliver_due(at(400))
    [(rcpts, message), (_, resolved)] = smtp.messages
    assert rcpts == ["night@site.example", "ops@site.example"]
    assert message["Subject"] == "[FIRING:2] gpu_temperature_high lab" and message["From"] == "microdc@site.example"
    text = message.get_payload(decode=True).decode()
    assert "gpu_temperature_high on gpu-1" in text and "http://127.0.0.1:8000/nodes/1/" in text
    assert resolved["Subject"] == "[FIRING:1] gpu_temperature_high lab"  # one still fires; the other resolved
    assert "Resolved:" in resolved.get_payload(decode=True).decode()


@pytest.mark.django_db
def test_an_unreachable_mail_server_is_retried_not_lost(settings):
    from tests.support import free_port

    settings.MAILERS = {"default": {"BACKEND": SMTP, "OPTIONS": {"host": "127.0.0.1", "port": free_port(),
                                                                 "timeout": 2}}}
    Receiver.objects.create(name="facilities", kind="email", email_to=["night@site.example"], group_wait_seconds=0)
    firing(node="gpu-1")
    route(at(0))
    deliver_due(at(0))
    notification = Notification.objects.get()
    assert notification.status == "pending" and "Connection" in notification.last_error
