import pytest
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from microdc.dashboard.routing import websocket_urlpatterns

application = URLRouter(websocket_urlpatterns)


async def connect(user):
    communicator = WebsocketCommunicator(application, "/ws/live/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
async def test_unauthenticated_connection_is_refused():
    communicator, connected, code = await connect(AnonymousUser())
    assert not connected and code == 4401


@pytest.mark.django_db(transaction=True)
async def test_viewer_gets_updates_of_joined_groups_only(users):
    communicator, connected, _ = await connect(users["viewer"])
    assert connected
    await communicator.send_json_to({"subscribe": ["node.1"]})
    assert await communicator.receive_json_from() == {"type": "subscribed", "groups": ["node.1"]}
    layer = get_channel_layer()
    await layer.group_send("node.2", {"type": "live.update", "group": "node.2", "data": {"x": 2}})
    await layer.group_send("node.1", {"type": "live.update", "group": "node.1", "data": {"x": 1}})
    assert await communicator.receive_json_from() == {"type": "update", "group": "node.1", "data": {"x": 1}}
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.send_json_to({"subscribe": ["users.1; drop"]})
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.disconnect()


def test_websocket_route_requires_session_auth_stack():
    from microdc.asgi import application as asgi_app

    assert "websocket" in asgi_app.application_mapping
    assert isinstance(AuthMiddlewareStack, type(lambda: None))
